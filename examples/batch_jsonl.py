"""Score a JSON Lines file against an endpoint: one request per line, N at a time, in input order.

Each non-blank input line is one request body (a JSON value). The output has one line per input
line, in the same order, each either ``{"line": 3, "result": ...}`` or
``{"line": 3, "error": {"type": ..., "code": ..., "message": ..., "request_id": ...}}``: one failed
item never stops the batch. Lines that are not JSON are reported without being sent. A summary
goes to stdout; the exit status is 1 when any line failed (the output still has every line).

The file is streamed: ``map_invoke_iter`` reads the input lazily and yields each result as soon
as its turn comes (``ordered=True``), and each is written at once, so memory stays flat whatever
the file's size. For a resumable run (killed at 90 %, rerun, nothing lost or repeated) use the
``sagemaker-rt batch`` command instead.

Against the local fake, in one command (the sample has one line the toy model rejects)::

    .venv/bin/python examples/batch_jsonl.py examples/sentiment.jsonl /tmp/scored.jsonl --fake

or with ``sagemaker-rt serve-fake`` running in another terminal and its variables exported::

    .venv/bin/python examples/batch_jsonl.py examples/sentiment.jsonl /tmp/scored.jsonl --progress

Against a real endpoint (credentials and region from the usual AWS places)::

    AWS_REGION=us-east-1 python examples/batch_jsonl.py in.jsonl out.jsonl \\
        --endpoint my-endpoint --concurrency 32 --progress
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.to_thread

from sagemaker_rt_async import InvokeEndpointResult, SageMakerRuntimeClient, SageMakerRuntimeError

DEFAULT_ENDPOINT = "toy-sentiment"  # the classifier `sagemaker-rt serve-fake` (and --fake) serves

Record = dict[str, Any]


async def read_requests(
    path: Path, numbers: deque[int], refused: deque[Record]
) -> AsyncIterator[str]:
    """The input's request bodies, read lazily (1,000 lines per hop to a worker thread: the
    event loop never waits on the disk).

    The line number of each body yielded goes to ``numbers`` and a record for each line that
    is not JSON to ``refused`` (never sent), both in input order, for the writer to interleave.
    """
    lines = await anyio.to_thread.run_sync(partial(path.open, encoding="utf-8"))
    try:
        number = 0
        while chunk := await anyio.to_thread.run_sync(list, islice(lines, 1000)):
            for line in chunk:
                number += 1
                text = line.strip()
                if not text:
                    continue  # blank lines (a trailing newline, spacing) are not requests
                try:
                    json.loads(text)
                except ValueError as exc:
                    # Never pay for a model call that can only fail.
                    error = {"type": "InvalidJSON", "code": "InvalidJSON", "message": str(exc)}
                    refused.append({"line": number, "error": error})
                    continue
                numbers.append(number)
                yield text  # sent as it is, byte for byte
    finally:
        lines.close()


def to_record(number: int, outcome: InvokeEndpointResult | SageMakerRuntimeError) -> Record:
    """One output line: the model's answer (parsed when JSON), or the typed error."""
    if isinstance(outcome, SageMakerRuntimeError):
        error = {
            "type": type(outcome).__name__,
            "code": getattr(outcome, "error_code", None),
            # A ModelError's useful part is what the container said.
            "message": getattr(outcome, "original_message", None) or str(outcome),
            "request_id": getattr(outcome, "request_id", None),
        }
        return {"line": number, "error": error}
    if (outcome.content_type or "").startswith("application/json"):
        return {"line": number, "result": outcome.json()}
    return {"line": number, "result": outcome.text}


async def score(
    source: Path, target: Path, *, endpoint: str, concurrency: int, progress: bool
) -> Counter[str]:
    """Invoke the endpoint once per input line, ``concurrency`` at a time, writing each record
    as its turn comes; returns how many lines ended how (``"ok"`` or the error type)."""
    numbers: deque[int] = deque()  # line numbers of the requests read and not yet answered
    refused: deque[Record] = deque()  # lines that are not JSON, not yet written
    outcomes: Counter[str] = Counter()

    def write(out: TextIO, record: Record) -> None:
        # Buffered: the disk is written a few KiB at a time, not once per record.
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        outcomes[record["error"]["type"] if "error" in record else "ok"] += 1

    # No arguments: region, credentials and endpoint URL come from the environment exactly as
    # boto3 reads them (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, ...).
    async with SageMakerRuntimeClient() as rt:
        with target.open("w", encoding="utf-8") as out:
            async with rt.map_invoke_iter(
                endpoint,
                read_requests(source, numbers, refused),
                concurrency=concurrency,
                ordered=True,  # input order, holding at most 2 * concurrency lines
                progress=progress,  # a tqdm bar on stderr (the `progress` extra)
                content_type="application/json",
                accept="application/json",
            ) as results:
                async for _, outcome in results:  # a failed item holds its typed error
                    number = numbers.popleft()
                    while refused and refused[0]["line"] < number:
                        write(out, refused.popleft())
                    write(out, to_record(number, outcome))
            while refused:
                write(out, refused.popleft())
    return outcomes


def summary(outcomes: Counter[str], seconds: float) -> str:
    """``N lines in T s: X ok, Y failed (ModelError: 2, ...)``."""
    failed = Counter({kind: n for kind, n in outcomes.items() if kind != "ok"})
    total = sum(outcomes.values())
    text = f"{total} lines in {seconds:.2f} s: {outcomes['ok']} ok, {failed.total()} failed"
    if failed:
        text += " (" + ", ".join(f"{kind}: {n}" for kind, n in failed.most_common()) + ")"
    return text


@contextlib.contextmanager
def local_fake() -> Iterator[str]:
    """Serve ``sagemaker-rt serve-fake``'s toy endpoints on 127.0.0.1 and point this process there.

    It sets the variables ``serve-fake`` asks you to export, so ``score`` takes its production
    code path (``SageMakerRuntimeClient()`` reading the environment) against the fake.
    """
    from sagemaker_rt_async.cli import demo_fake

    fake = demo_fake()
    with fake.serve() as server:
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(server.environ())  # what serve-fake prints; public test keys
        yield server.url


def main(argv: list[str] | None = None) -> int:
    """Score the input file; returns the exit status (1 when any line failed)."""
    parser = argparse.ArgumentParser(description="Score a JSONL file against an endpoint.")
    parser.add_argument("input", type=Path, help="JSON Lines: one request body per line")
    parser.add_argument("output", type=Path, help="where to write one result line per input line")
    parser.add_argument(
        "--endpoint", default=os.environ.get("SAGEMAKER_ENDPOINT_NAME", DEFAULT_ENDPOINT)
    )
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight at most")
    parser.add_argument("--progress", action="store_true", help="show a progress bar (tqdm)")
    parser.add_argument("--fake", action="store_true", help="serve the toy endpoints locally")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if not args.input.is_file():
        parser.error(f"cannot read {args.input}: no such file")

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.fake:
            stack.enter_context(local_fake())
        outcomes = asyncio.run(
            score(
                args.input,
                args.output,
                endpoint=args.endpoint,
                concurrency=args.concurrency,
                progress=args.progress,
            )
        )
    print(f"{summary(outcomes, time.perf_counter() - start)} -> {args.output}")
    return 1 if set(outcomes) - {"ok"} else 0


if __name__ == "__main__":
    sys.exit(main())
