"""Memory while streaming 1 GiB: our client's RSS must stay flat, whatever the stream's length.

The server (``stream_server.py``, its own process) sends 16384 PayloadParts of 64 KiB, written
again and again from one ~256 KiB block, so it holds nothing like 1 GiB. The client
(``SageMakerRuntimeClient``, aiohttp transport) runs in a fresh subprocess per run. It warms up
(one 256-part stream, then the first 512 parts of the big one) and takes that moment's RSS as
the baseline; a background task reads ``VmRSS`` from ``/proc/self/status`` every 5 ms until the
stream ends. Reported per run: the largest sample minus the baseline (the growth), the final
RSS minus the baseline, and ``VmHWM`` (the kernel's peak since process start, which also
covers any spike between samples) minus the baseline. The verdict is on the worst run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import stream_server
from _common import Target, machine_note, median, write_results

PARTS, SIZE = 16384, 64 * 1024
WARMUP_PARTS = 512
SAMPLE_EVERY_S = 0.005
STREAM_TIMEOUT_S = 120.0
CHILD_TIMEOUT_S = 180.0
AKID, SECRET = "AKIDEXAMPLE0000BENCH", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
MiB = 1024 * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(field.encode() + b":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


async def child(url: str, retain_every: int) -> None:
    from sagemaker_rt_async import SageMakerRuntimeClient

    kept: list[bytes] = []  # --retain-every: a deliberate leak, to show the harness sees one
    samples: list[int] = []
    stop = asyncio.Event()

    async def sampler() -> None:
        while not stop.is_set():
            samples.append(_status_kib("VmRSS"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)

    async with SageMakerRuntimeClient(
        region="us-east-1", endpoint_url=url, credentials=(AKID, SECRET), transport="aiohttp"
    ) as rt:
        async with rt.invoke_endpoint_with_response_stream(f"bench-256x{SIZE}", b"{}") as s:
            async for _ in s:
                pass
        parts = size = 0
        baseline = 0
        task: asyncio.Task[None] | None = None
        started = time.perf_counter()
        async with rt.invoke_endpoint_with_response_stream(f"bench-{PARTS}x{SIZE}", b"{}") as s:
            async for part in s:
                parts += 1
                size += len(part)
                if retain_every and parts % retain_every == 0:
                    kept.append(part)
                if parts == WARMUP_PARTS:
                    baseline = _status_kib("VmRSS")
                    measured_from = time.perf_counter()
                    task = asyncio.create_task(sampler())
        stop.set()
        if task is not None:
            await task
        finished = time.perf_counter()
        final = _status_kib("VmRSS")
        hwm = _status_kib("VmHWM")
    if (parts, size) != (PARTS, PARTS * SIZE):
        raise RuntimeError(f"got {parts} parts / {size} bytes")
    print(
        json.dumps(
            {
                "baseline_mib": baseline / 1024,
                "growth_mib": (max(samples) - baseline) / 1024,
                "final_growth_mib": (final - baseline) / 1024,
                "hwm_growth_mib": (hwm - baseline) / 1024,
                "samples": len(samples),
                "seconds": finished - started,
                "mb_per_s": (PARTS - WARMUP_PARTS) * SIZE / (finished - measured_from) / 1e6,
            }
        ),
        flush=True,
    )


def run_child(url: str, retain_every: int) -> dict[str, Any]:
    env = dict(os.environ, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    proc = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--url",
            url,
            "--retain-every",
            str(retain_every),
        ],
        capture_output=True,
        timeout=CHILD_TIMEOUT_S,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return result


def parent(runs: int, retain_every: int, json_path: str | None) -> None:
    print(
        f"bench_rss: {runs} runs of {PARTS} x {SIZE // 1024} KiB = {PARTS * SIZE / MiB:.0f} MiB "
        f"through ours (aiohttp), fresh process each; {machine_note()}"
    )
    proc, url = stream_server.start(max_seconds=CHILD_TIMEOUT_S * runs + 60)
    results = []
    try:
        for index in range(runs):
            server_before = stream_server.stats(url)["cpu"]
            result = run_child(url, retain_every)
            result["server_cpu_s"] = stream_server.stats(url)["cpu"] - server_before
            results.append(result)
            print(
                f"  run {index + 1}: baseline {result['baseline_mib']:.1f} MiB, growth "
                f"{result['growth_mib']:+.1f} MiB (max of {result['samples']} samples), final "
                f"{result['final_growth_mib']:+.1f}, peak (VmHWM) {result['hwm_growth_mib']:+.1f};"
                f" {result['seconds']:.1f} s, {result['mb_per_s']:.0f} MB/s; server CPU "
                f"{result['server_cpu_s']:.2f} s",
                flush=True,
            )
    finally:
        stream_server.stop(proc)
    growth = [r["growth_mib"] for r in results]
    print(
        f"\nRSS growth after warm-up: median {median(growth):+.1f} MiB, "
        f"spread {min(growth):+.1f}–{max(growth):+.1f} MiB"
    )
    print()
    target = Target("rss_growth_1GiB_stream MiB", growth, 32, at_most=True, worst=True)
    print(target.line())
    write_results(json_path, "bench_rss", [target])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--retain-every",
        type=int,
        default=0,
        metavar="K",
        help="keep every K-th part (a deliberate leak: checks that the harness detects growth)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(asyncio.wait_for(child(args.url, args.retain_every), STREAM_TIMEOUT_S))
    else:
        parent(max(1, args.runs), args.retain_every, args.json)


if __name__ == "__main__":
    main()
