"""InvokeEndpointWithBidirectionalStream: our HTTP/2 engine against the official SDK, same run.

The fake endpoint (test kit, TLS with a trustme CA, ALPN h2, signature checks off so the server
costs the same for both clients) runs in its own process; each client in its own process.
Measured, per event size (64 B, 16 KiB): echo round-trip latency p50/p99 and the client's CPU
time per event, in interleaved rounds (ours, theirs, ours, ...), medians of the rounds. Then,
ours only: sustained throughput of one session and of 64 concurrent sessions, and resident
memory over a 100k-event session (flat = no growth per event).

The official SDK (``aws-sdk-sagemaker-runtime-http2`` with ``awscrt``, Python >= 3.12) runs in
a separate venv: ``--sdk-python /tmp/sdk312/bin/python``. Without it the comparison is skipped
and said so. Usage::

    .venv/bin/python benchmarks/bench_bidi.py --sdk-python /tmp/sdk312/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from sagemaker_rt_async import SageMakerRuntimeClient
from sagemaker_rt_async.testing import TEST_CREDENTIALS

ROOT = Path(__file__).resolve().parents[1]
SERVER = """
import sys
from sagemaker_rt_async.testing import FakeBidiServer
with FakeBidiServer(tls=True, verify_signatures=False, stream_window=1024 * 1024) as server:
    server.write_ca(sys.argv[1])
    print(server.port, flush=True)
    sys.stdin.read()
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def ours_round_trips(rt: SageMakerRuntimeClient, size: int, count: int) -> dict[str, Any]:
    payload = b"x" * size
    latencies = []
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        await session.send(payload)  # warm the session (head, windows)
        await session.__anext__()
        cpu0 = time.process_time()
        for _ in range(count):
            start = time.perf_counter()
            await session.send(payload)
            got = 0
            while got < size:
                got += len((await session.__anext__()).data)
            latencies.append(time.perf_counter() - start)
        cpu = time.process_time() - cpu0
        await session.end_input()
    return {"latencies": latencies, "cpu": cpu}


def theirs_round_trips(
    python: str, port: int, ca: str, size: int, count: int
) -> dict[str, Any] | None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS.access_key_id,
        "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS.secret_access_key,
    }
    script = str(Path(__file__).with_name("_sdk_bidi_client.py"))
    done = subprocess.run(  # noqa: S603 - our own script, a path we were given
        [python, script, f"https://localhost:{port}", ca, str(size), str(count + 1)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        print(f"official SDK failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["latencies"] = result["latencies"][1:]  # its first includes the session's set-up
    return result


async def throughput(rt: SageMakerRuntimeClient, sessions: int, events: int, size: int) -> float:
    """Events per second echoed, ``sessions`` at once, each sending while it reads."""
    payload = b"y" * size

    async def one() -> None:
        async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:

            async def produce() -> None:
                for _ in range(events):
                    await session.send(payload)
                await session.end_input()

            async with anyio.create_task_group() as group:
                group.start_soon(produce)
                async for _ in session:
                    pass

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(sessions):
            group.start_soon(one)
    return sessions * events / (time.perf_counter() - start)


async def memory(rt: SageMakerRuntimeClient, events: int) -> tuple[int, int]:
    """RSS (KiB) after 10% of a long session and at its end."""
    marks: list[int] = []
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:

        async def produce() -> None:
            for i in range(events):
                await session.send(b"z" * 64)
                if i in (events // 10, events - 1):
                    marks.append(rss_kib())
            await session.end_input()

        async with anyio.create_task_group() as group:
            group.start_soon(produce)
            async for _ in session:
                pass
    return marks[0], marks[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdk-python", help="a Python >= 3.12 with the official SDK installed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=300, help="round trips per round")
    parser.add_argument("--memory-events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ca = str(Path(tmp) / "ca.pem")
        server = subprocess.Popen(  # noqa: S603, ASYNC220 - started once, before any timing
            [sys.executable, "-c", SERVER, ca],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            await run(args, port, ca)
        finally:
            server.terminate()
            server.wait(10)


async def run(args: argparse.Namespace, port: int, ca: str) -> None:
    import ssl

    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2"])
    async with SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=f"https://127.0.0.1:{port}",
        credentials=TEST_CREDENTIALS,
        ssl_context=context,
    ) as rt:
        print(f"echo round trips over TLS, {args.events} per round, {args.rounds} rounds (medians)")
        print("| size | client | p50 ms | p99 ms | CPU µs/event | CPU ratio ours/theirs |")
        print("|---|---|---|---|---|---|")
        for size in (64, 16 * 1024):
            ours: list[dict[str, Any]] = []
            theirs: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                ours.append(await ours_round_trips(rt, size, args.events))
                if args.sdk_python:
                    got = await anyio.to_thread.run_sync(
                        theirs_round_trips, args.sdk_python, port, ca, size, args.events
                    )
                    if got is not None:
                        theirs.append(got)
            rows = [("ours", ours), ("official SDK", theirs)] if theirs else [("ours", ours)]
            cpu_ours = statistics.median(r["cpu"] / args.events for r in ours)
            for name, results in rows:
                p50 = statistics.median(percentile(r["latencies"], 50) for r in results)
                p99 = statistics.median(percentile(r["latencies"], 99) for r in results)
                cpu = statistics.median(r["cpu"] / args.events for r in results)
                ratio = f"{cpu_ours / cpu:.2f}" if name != "ours" else ""
                print(
                    f"| {size} B | {name} | {p50 * 1e3:.3f} | {p99 * 1e3:.3f} "
                    f"| {cpu * 1e6:.0f} | {ratio} |"
                )
        if not args.sdk_python:
            print("(official SDK not run: pass --sdk-python)")
        one = await throughput(rt, 1, 5000, 1024)
        many = await throughput(rt, 64, 200, 1024)
        print(
            f"\nthroughput, 1 KiB events: one session {one:,.0f} ev/s; 64 sessions {many:,.0f} ev/s"
        )
        big = await throughput(rt, 1, 500, 16 * 1024)
        print(f"throughput, 16 KiB events, one session: {big * 16 / 1024:,.1f} MiB/s")
        early, late = await memory(rt, args.memory_events)
        print(
            f"memory over {args.memory_events:,} events of 64 B: RSS {early:,} KiB at 10%, "
            f"{late:,} KiB at the end ({(late - early) * 1024 / (0.9 * args.memory_events):.2f} "
            "B/event growth)"
        )


if __name__ == "__main__":
    anyio.run(main)
