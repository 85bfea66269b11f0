"""End-to-end response streams over loopback: ours vs aiobotocore vs the raw-aiohttp ceiling.

One ``stream_server.py`` process serves every client; each client runs in a fresh subprocess
per round (clients rotate order from round to round), so no client inherits another's imports,
caches or heap. Clients:

* ``ours-aiohttp``  ``SageMakerRuntimeClient(transport="aiohttp")`` (the asyncio default);
* ``ours-httpx``    ``SageMakerRuntimeClient(transport="httpx")`` (httpx's own pool);
* ``aiobotocore``   ``invoke_endpoint_with_response_stream`` then ``async for event in
                    resp["Body"]``, reading ``event["PayloadPart"]["Bytes"]``;
* ``raw-aiohttp``   aiohttp (the library under ``ours-aiohttp``), no signing and no decoding:
                    the bytes of ``content.iter_any()`` counted. The ceiling for ours.

Workloads: 2000 parts of 64 B (a token stream) and 200 parts of 64 KiB (bulk output). In each
child, per workload: 2 warm-up streams on the same client (connection, caches), then the
measured streams. Reported per round: parts/s and payload MB/s (parts and bytes over the summed
wall time of the measured streams, request included), time to first part (median of the
child's streams), client CPU per part (``getrusage`` of the child: user + system over the
measured streams) and the server's CPU share (its ``getrusage`` delta over the same interval,
divided by that wall time: 1.0 would be one core busy). Medians and min–max over rounds;
ratios are medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import stream_server
from _common import Figure, Target, machine_note, median, print_targets, write_results

from sagemaker_rt_async._eventstream import payload_part

CLIENTS = ("ours-aiohttp", "ours-httpx", "aiobotocore", "raw-aiohttp")
WORKLOADS = (("64B", 2000, 64), ("64KiB", 200, 64 * 1024))
BODY = b'{"inputs": "Tell me a story.", "parameters": {"max_new_tokens": 2000}}'
AKID, SECRET = "AKIDEXAMPLE0000BENCH", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
STREAM_TIMEOUT_S = 30.0
CHILD_TIMEOUT_S = 120.0

# One stream: returns (wall seconds, seconds to first part, parts, payload bytes).
Runner = Callable[[str], Awaitable[tuple[float, float, int, int]]]


# ---------------------------------------------------------------------------- the children


def _ours(url: str, transport: Literal["aiohttp", "httpx"]) -> tuple[Any, Runner]:
    from sagemaker_rt_async import SageMakerRuntimeClient

    rt = SageMakerRuntimeClient(
        region="us-east-1", endpoint_url=url, credentials=(AKID, SECRET), transport=transport
    )

    async def run(name: str) -> tuple[float, float, int, int]:
        start = time.perf_counter()
        first = 0.0
        parts = size = 0
        async with rt.invoke_endpoint_with_response_stream(
            name, BODY, content_type="application/json"
        ) as stream:
            async for part in stream:
                if not parts:
                    first = time.perf_counter() - start
                parts += 1
                size += len(part)
        return time.perf_counter() - start, first, parts, size

    return rt, run


async def _aiobotocore(url: str) -> tuple[Any, Runner]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(
        retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
    )
    context = get_session().create_client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=config,
    )
    client = await context.__aenter__()

    async def run(name: str) -> tuple[float, float, int, int]:
        start = time.perf_counter()
        first = 0.0
        parts = size = 0
        response = await client.invoke_endpoint_with_response_stream(
            EndpointName=name, Body=BODY, ContentType="application/json"
        )
        body = response["Body"]
        try:
            async for event in body:
                payload = event.get("PayloadPart")
                if payload is not None:
                    if not parts:
                        first = time.perf_counter() - start
                    parts += 1
                    size += len(payload["Bytes"])
        finally:
            body.close()
        return time.perf_counter() - start, first, parts, size

    class Closer:
        async def aclose(self) -> None:
            await context.__aexit__(None, None, None)

    return Closer(), run


def _raw(url: str) -> tuple[Any, Runner]:
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, limit_per_host=0),
        skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
        auto_decompress=False,
        trust_env=False,
    )

    async def run(name: str) -> tuple[float, float, int, int]:
        parts, part_size = (int(x) for x in name.removeprefix("bench-").split("x"))
        wire = len(payload_part(bytes(part_size)))
        start = time.perf_counter()
        first = 0.0
        received = 0
        async with session.post(
            f"{url}/endpoints/{name}/invocations-response-stream",
            data=BODY,
            headers={"Content-Type": "application/json"},
        ) as response:
            async for chunk in response.content.iter_any():
                if not received:
                    first = time.perf_counter() - start
                received += len(chunk)
        if received != parts * wire:
            raise RuntimeError(f"raw-aiohttp: {received} bytes, expected {parts * wire}")
        # No decoding: the parts are the ones the server is known to have sent.
        return time.perf_counter() - start, first, parts, parts * part_size

    class Closer:
        async def aclose(self) -> None:
            await session.close()

    return Closer(), run


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def child(client: str, url: str, streams: int, warmup: int) -> None:
    if client == "ours-aiohttp":
        closer, run = _ours(url, "aiohttp")
    elif client == "ours-httpx":
        closer, run = _ours(url, "httpx")
    elif client == "aiobotocore":
        closer, run = await _aiobotocore(url)
    elif client == "raw-aiohttp":
        closer, run = _raw(url)
    else:
        raise SystemExit(f"unknown client {client!r}")
    try:
        for label, parts, size in WORKLOADS:
            name = f"bench-{parts}x{size}"
            for _ in range(warmup):
                await asyncio.wait_for(run(name), STREAM_TIMEOUT_S)
            server_before = stream_server.stats(url)["cpu"]
            cpu_before = _cpu()
            results = [await asyncio.wait_for(run(name), STREAM_TIMEOUT_S) for _ in range(streams)]
            cpu = _cpu() - cpu_before
            server_cpu = stream_server.stats(url)["cpu"] - server_before
            for _, _, got_parts, got_bytes in results:
                if (got_parts, got_bytes) != (parts, parts * size):
                    raise RuntimeError(f"{client} {label}: got {got_parts} parts / {got_bytes} B")
            wall = sum(r[0] for r in results)
            record = {
                "client": client,
                "workload": label,
                "parts_per_s": parts * streams / wall,
                "mb_per_s": parts * size * streams / wall / 1e6,
                "ttfp_ms": median([r[1] for r in results]) * 1e3,
                "cpu_us_per_part": cpu / (parts * streams) * 1e6,
                "client_cpu_share": cpu / wall,
                "server_cpu_share": server_cpu / wall,
            }
            print(json.dumps(record), flush=True)
    finally:
        await closer.aclose()


# ---------------------------------------------------------------------------- the parent


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Hermetic: no shared config, no IMDS probes, no proxies; credentials are passed in code.
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1",
    )
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(key, None)
    return env


def run_child(client: str, url: str, streams: int, warmup: int) -> list[dict[str, Any]]:
    proc = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            client,
            "--url",
            url,
            "--streams",
            str(streams),
            "--warmup",
            str(warmup),
        ],
        capture_output=True,
        timeout=CHILD_TIMEOUT_S,
        env=_child_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{client} child failed:\n{proc.stderr.decode()[-3000:]}")
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.startswith("{")]


def _fmt(values: list[float], spec: str) -> str:
    return f"{median(values):{spec}} [{min(values):{spec}}–{max(values):{spec}}]"


def parent(rounds: int, streams: int, warmup: int, json_path: str | None) -> None:
    print(
        f"bench_stream: {rounds} rounds x {len(CLIENTS)} clients (fresh process each), "
        f"{warmup} warm-up + {streams} measured streams per workload; {machine_note()}"
    )
    started = time.perf_counter()
    proc, url = stream_server.start(max_seconds=600)
    # series[workload][client][metric] -> one value per round
    series: dict[str, dict[str, dict[str, list[float]]]] = {
        label: {c: {} for c in CLIENTS} for label, _, _ in WORKLOADS
    }
    try:
        order = list(CLIENTS)
        for index in range(rounds):
            for client in order:
                for record in run_child(client, url, streams, warmup):
                    metrics = series[record["workload"]][client]
                    for key, value in record.items():
                        if isinstance(value, float):
                            metrics.setdefault(key, []).append(value)
            order = order[1:] + order[:1]
            print(
                f"  round {index + 1}/{rounds} done ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    finally:
        stream_server.stop(proc)

    targets: list[Target] = []
    figures: list[Figure] = []
    needs = {"64B": 5.0, "64KiB": 1.3}
    for label, parts, size in WORKLOADS:
        print(f"\n{label}: {parts} parts x {size} B per stream  (median [min–max] over rounds)")
        print(
            f"  {'client':<13} {'parts/s':>22} {'MB/s':>20} {'TTFP ms':>19} "
            f"{'CPU µs/part':>20} {'client CPU':>10} {'server CPU':>10}"
        )
        for client in CLIENTS:
            m = series[label][client]
            print(
                f"  {client:<13} {_fmt(m['parts_per_s'], '.0f'):>22} "
                f"{_fmt(m['mb_per_s'], '.1f'):>20} {_fmt(m['ttfp_ms'], '.2f'):>19} "
                f"{_fmt(m['cpu_us_per_part'], '.1f'):>20} "
                f"{median(m['client_cpu_share']):>10.2f} {median(m['server_cpu_share']):>10.3f}"
            )

        def paired(
            a: str, b: str, data: dict[str, dict[str, list[float]]] = series[label]
        ) -> list[float]:
            return [
                x / y for x, y in zip(data[a]["parts_per_s"], data[b]["parts_per_s"], strict=True)
            ]

        def cpu_paired(
            a: str, b: str, data: dict[str, dict[str, list[float]]] = series[label]
        ) -> list[float]:
            # Inverse CPU per part: less sensitive than wall time to the other tenants' load.
            return [
                y / x
                for x, y in zip(data[a]["cpu_us_per_part"], data[b]["cpu_us_per_part"], strict=True)
            ]

        for a in ("ours-aiohttp", "ours-httpx"):
            r = cpu_paired(a, "aiobotocore")
            print(
                f"  CPU-per-part ratio aiobotocore/{a}: {median(r):.2f}x  "
                f"[per-round {min(r):.2f}–{max(r):.2f}]"
            )
            figures.append(Figure(f"stream_{label} CPU/part aiobotocore/{a}", r))
        for a, b in (
            ("ours-aiohttp", "aiobotocore"),
            ("ours-httpx", "aiobotocore"),
            ("ours-aiohttp", "raw-aiohttp"),
            ("ours-httpx", "raw-aiohttp"),
        ):
            r = paired(a, b)
            print(f"  ratio {a}/{b}: {median(r):.2f}x  [per-round {min(r):.2f}–{max(r):.2f}]")
            if a != "ours-aiohttp" or b != "aiobotocore":  # that one is the target
                figures.append(Figure(f"stream_{label} parts/s {a}/{b}", r))
        targets.append(
            Target(
                f"stream_{label} ours-aiohttp/aiobotocore",
                paired("ours-aiohttp", "aiobotocore"),
                needs[label],
            )
        )
        # The targets are for the client as users get it (the default aiohttp engine on
        # asyncio); the httpx engine (trio's) is reported above for information.
    seconds = time.perf_counter() - started
    print(f"\ntotal {seconds:.0f} s")
    print_targets(targets)
    write_results(json_path, "bench_stream", targets, figures, notes={"seconds": round(seconds, 1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (>= 5)")
    parser.add_argument("--streams", type=int, default=20, help="measured streams per child")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up streams per child")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--child", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.url, args.streams, args.warmup))
    else:
        parent(max(5, args.rounds), args.streams, args.warmup, args.json)


if __name__ == "__main__":
    main()
