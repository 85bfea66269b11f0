"""Batch scoring over loopback: rows/s of map_invoke_iter vs aiobotocore and boto3; its memory.

Throughput. One ``stream_server.py`` process answers InvokeEndpoint (it echoes the body; no
signature checks). Each round runs three contenders, each in a **fresh subprocess**, in an order
that rotates from round to round, each scoring the same ``--rows`` rows from a generator at the
same ``--concurrency`` (every pool sized to it, one attempt per call):

* ``map_invoke_iter``        ``rt.map_invoke_iter(endpoint, rows, concurrency=C)``;
* ``aiobotocore-semaphore``  aiobotocore, one task per row gated by an ``asyncio.Semaphore(C)``
                             and gathered (the usual hand-written pattern);
* ``boto3-threads``          one boto3 client, ``ThreadPoolExecutor(C).map`` over the rows.

Every answer is checked (the echoed body). Reported: rows/s per contender (median and min–max
over rounds) and the ratios ``map_invoke_iter ÷ each``, computed per round, median taken.

Memory. A fresh subprocess streams ``--rss-rows`` (1,000,000) inputs from a generator through
``map_invoke_iter`` (concurrency 64) against an in-process ``Invoker`` that answers at once, so
the map's own bookkeeping is what is measured, not a server's pace: RSS (VmRSS) is sampled
after a 20,000-row warm-up and then every 50,000 rows; the growth after warm-up is reported
against the issue's bound (≤ 64 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import stream_server
from _common import (
    Figure,
    Target,
    child_env,
    machine_note,
    median,
    print_row,
    print_targets,
    proc_status_kib,
    write_results,
)

CONTENDERS = ("map_invoke_iter", "aiobotocore-semaphore", "boto3-threads")
ENDPOINT = "bench-echo"
AKID, SECRET = "AKIDEXAMPLE0000BENCH", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CHILD_TIMEOUT_S = 240.0
RSS_BOUND_MIB = 64.0
RSS_WARMUP = 20_000
RSS_EVERY = 50_000


def _rows(count: int) -> Iterator[bytes]:
    for i in range(count):
        yield b'{"inputs": "row %d of the batch, a short review to score"}' % i


def _check(body: bytes, index: int) -> None:
    if b"row %d of" % index not in body:
        raise RuntimeError(f"row {index} answered {body[:80]!r}")


# ---------------------------------------------------------------------------- the contenders


async def _map_invoke_iter(url: str, rows: int, concurrency: int) -> None:
    from sagemaker_rt_async import SageMakerRuntimeClient, SageMakerRuntimeError

    async with (
        SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=url,
            credentials=(AKID, SECRET),
            max_connections=concurrency,
            retry=False,
        ) as rt,
        rt.map_invoke_iter(
            ENDPOINT,
            _rows(rows),
            concurrency=concurrency,
            content_type="application/json",
            accept="application/json",
        ) as results,
    ):
        async for index, outcome in results:
            if isinstance(outcome, SageMakerRuntimeError):
                raise outcome
            _check(outcome.body, index)


async def _aiobotocore(url: str, rows: int, concurrency: int) -> None:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=concurrency,
    )
    async with get_session().create_client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=config,
    ) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, body: bytes) -> None:
            async with gate:
                response = await client.invoke_endpoint(
                    EndpointName=ENDPOINT,
                    Body=body,
                    ContentType="application/json",
                    Accept="application/json",
                )
                _check(await response["Body"].read(), index)

        await asyncio.gather(*(one(i, body) for i, body in enumerate(_rows(rows))))


def _boto3(url: str, rows: int, concurrency: int) -> None:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=concurrency,
    )
    client = boto3.session.Session().client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=config,
    )

    def one(pair: tuple[int, bytes]) -> None:
        index, body = pair
        response = client.invoke_endpoint(
            EndpointName=ENDPOINT,
            Body=body,
            ContentType="application/json",
            Accept="application/json",
        )
        _check(response["Body"].read(), index)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in pool.map(one, enumerate(_rows(rows))):
            pass


def run_child(name: str, url: str, rows: int, concurrency: int) -> dict[str, float]:
    """Score ``rows`` rows with one contender (warm-up first); its rows/s."""
    warmup = 2 * concurrency
    if name == "boto3-threads":
        _boto3(url, warmup, concurrency)
        start = time.perf_counter()
        _boto3(url, rows, concurrency)
    else:
        call = _map_invoke_iter if name == "map_invoke_iter" else _aiobotocore

        async def both() -> float:
            await call(url, warmup, concurrency)  # imports, caches; a separate pool, alas
            begin = time.perf_counter()
            await call(url, rows, concurrency)
            return begin

        start = asyncio.run(both())
    return {"rows_per_s": rows / (time.perf_counter() - start)}


# ---------------------------------------------------------------------------- memory


class _Instant:
    """An ``Invoker`` answering at once: the map's own memory, not a server's pace."""

    def __init__(self) -> None:
        from sagemaker_rt_async import InvokeEndpointResult

        self._result = InvokeEndpointResult(body=b"{}", content_type="application/json")

    @property
    def invoke_endpoint(self) -> Any:
        return self._invoke

    async def _invoke(self, endpoint_name: str, **options: Any) -> Any:
        await asyncio.sleep(0)
        return self._result


def run_rss_child(rows: int) -> dict[str, float]:
    """Stream ``rows`` generated inputs through map_invoke_iter; RSS growth after warm-up."""
    from sagemaker_rt_async._batch import map_invoke_iter

    samples: list[int] = []

    async def go() -> float:
        begin = time.perf_counter()
        async with map_invoke_iter(_Instant(), ENDPOINT, _rows(rows), concurrency=64) as results:
            async for _index, _outcome in results:
                done = results.done
                if done == RSS_WARMUP or (done > RSS_WARMUP and done % RSS_EVERY == 0):
                    samples.append(proc_status_kib("VmRSS"))
        return time.perf_counter() - begin

    seconds = asyncio.run(go())
    return {
        "growth_mib": (max(samples) - samples[0]) / 1024,
        "base_mib": samples[0] / 1024,
        "rows_per_s": rows / seconds,
    }


# ---------------------------------------------------------------------------- the parent


def _spawn(args: list[str], timeout: float) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=3000, help="rows per contender per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rss-rows", type=int, default=1_000_000)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.url, args.rows, args.concurrency)))
        return
    if args.rss_child:
        print(json.dumps(run_rss_child(args.rss_rows)))
        return

    print(f"bench_batch: {machine_note()}")
    print(f"  {args.rows} rows per contender per round, concurrency {args.concurrency}")
    rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    ratios: dict[str, list[float]] = {name: [] for name in CONTENDERS[1:]}
    server, url = stream_server.start()
    try:
        for round_number in range(args.rounds):
            order = CONTENDERS[round_number % 3 :] + CONTENDERS[: round_number % 3]
            measured: dict[str, float] = {}
            for name in order:
                child = ["--child", name, "--url", url, "--rows", str(args.rows)]
                child += ["--concurrency", str(args.concurrency)]
                measured[name] = _spawn(child, CHILD_TIMEOUT_S)["rows_per_s"]
                rates[name].append(measured[name])
            for name in CONTENDERS[1:]:
                ratios[name].append(measured["map_invoke_iter"] / measured[name])
            said = ", ".join(f"{n} {measured[n]:.0f}" for n in order)
            print(f"  round {round_number + 1}: {said}", flush=True)
    finally:
        stream_server.stop(server)
    print("rows/s:")
    for name in CONTENDERS:
        print_row(name, rates[name], "rows/s")
    print("map_invoke_iter ÷ each (median of per-round ratios):")
    for name, values in ratios.items():
        print(f"  ÷ {name:<24} {median(values):.2f}×  [{min(values):.2f}–{max(values):.2f}]")

    rss = _spawn(["--rss-child", "--rss-rows", str(args.rss_rows)], CHILD_TIMEOUT_S * 2)
    print(
        f"memory: {args.rss_rows:,} generated inputs through map_invoke_iter (instant Invoker): "
        f"RSS {rss['base_mib']:.1f} MiB after warm-up, growth {rss['growth_mib']:.1f} MiB, "
        f"{rss['rows_per_s']:.0f} rows/s"
    )
    targets = [
        Target(
            f"map_iter_{args.rss_rows // 1000}k_rows rss_growth MiB",
            [rss["growth_mib"]],
            RSS_BOUND_MIB,
            at_most=True,
            worst=True,
        )
    ]
    figures = [
        Figure(f"batch_c{args.concurrency} rows/s map_invoke_iter/{name}", values)
        for name, values in ratios.items()
    ]
    figures += [
        Figure(f"batch_c{args.concurrency} rows/s {name}", rates[name], "rows/s")
        for name in CONTENDERS
    ]
    print_targets(targets)
    write_results(args.json, "bench_batch.py", targets, figures)


if __name__ == "__main__":
    main()
