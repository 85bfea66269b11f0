"""Score a JSON Lines file against an endpoint: one request per line, N at a time, in input order.

Each non-blank input line is one request body (a JSON value). The output has one line per input
line, in the same order, each either ``{"line": 3, "result": ...}`` or
``{"line": 3, "error": {"type": ..., "code": ..., "message": ..., "request_id": ...}}``: one failed
item never stops the batch. Lines that are not JSON are reported without being sent. A summary
goes to stdout; the exit status is 1 when any line failed (the output still has every line).

Against the local fake, in one command (the sample has one line the toy model rejects)::

    .venv/bin/python examples/batch_jsonl.py examples/sentiment.jsonl /tmp/scored.jsonl --fake

or with ``sagemaker-rt serve-fake`` running in another terminal and its variables exported::

    .venv/bin/python examples/batch_jsonl.py examples/sentiment.jsonl /tmp/scored.jsonl --progress

Against a real endpoint (credentials and region from the usual AWS places)::

    AWS_REGION=us-east-1 python examples/batch_jsonl.py in.jsonl out.jsonl \\
        --endpoint my-endpoint --concurrency 32 --progress

``map_invoke`` returns all results at the end, so the whole batch is held in memory: split files
of millions of lines into chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sagemaker_rt_async import InvokeEndpointResult, SageMakerRuntimeClient, SageMakerRuntimeError

DEFAULT_ENDPOINT = "toy-sentiment"  # the classifier `sagemaker-rt serve-fake` (and --fake) serves

Record = dict[str, Any]


def read_requests(path: Path) -> tuple[list[tuple[int, str]], dict[int, Record]]:
    """The input's requests as (line number, text), and the lines refused before sending."""
    requests: list[tuple[int, str]] = []
    refused: dict[int, Record] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue  # blank lines (a trailing newline, spacing) are not requests
            try:
                json.loads(text)
            except ValueError as exc:
                # Never pay for a model call that can only fail.
                error = {"type": "InvalidJSON", "code": "InvalidJSON", "message": str(exc)}
                refused[number] = {"line": number, "error": error}
                continue
            requests.append((number, text))
    return requests, refused


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
    requests: Sequence[tuple[int, str]], *, endpoint: str, concurrency: int, progress: bool
) -> list[Record]:
    """Invoke the endpoint once per request, ``concurrency`` at a time; records in input order."""
    # No arguments: region, credentials and endpoint URL come from the environment exactly as
    # boto3 reads them (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, ...).
    async with SageMakerRuntimeClient() as rt:
        outcomes = await rt.map_invoke(
            endpoint,
            [text for _, text in requests],  # sent as they are, byte for byte
            concurrency=concurrency,
            return_exceptions=True,  # a failed item holds its error; the batch goes on
            progress=progress,  # a tqdm bar on stderr (the `progress` extra)
            content_type="application/json",
            accept="application/json",
        )
    return [
        to_record(number, outcome) for (number, _), outcome in zip(requests, outcomes, strict=True)
    ]


def write_records(path: Path, records: Sequence[Record]) -> None:
    """Write one JSON object per line."""
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def summary(records: Sequence[Record], seconds: float) -> str:
    """``N lines in T s: X ok, Y failed (ModelError: 2, ...)``."""
    failed = Counter(r["error"]["type"] for r in records if "error" in r)
    ok = len(records) - sum(failed.values())
    text = f"{len(records)} lines in {seconds:.2f} s: {ok} ok, {sum(failed.values())} failed"
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
    try:
        requests, refused = read_requests(args.input)
    except OSError as exc:
        parser.error(f"cannot read {args.input}: {exc}")

    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.fake:
            stack.enter_context(local_fake())
        scored = asyncio.run(
            score(
                requests,
                endpoint=args.endpoint,
                concurrency=args.concurrency,
                progress=args.progress,
            )
        )
    records = sorted([*scored, *refused.values()], key=lambda r: int(r["line"]))
    write_records(args.output, records)
    print(f"{summary(records, time.perf_counter() - start)} -> {args.output}")
    return 1 if any("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
