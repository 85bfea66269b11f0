"""Load: 10,000 InvokeEndpoint calls at concurrency 256 and 1,000 concurrent streams, both engines.

The full version of ``tests/test_load.py``. One ``stream_server.py`` process (``--control``)
serves every run; each engine runs in a fresh child process (its RSS is its own), two phases:

* ``invoke``   ``--calls`` InvokeEndpoint calls by ``--concurrency`` workers over a pool of
               ``--invoke-connections`` (default 100, the client's default: fewer than the
               workers, so calls queue for the pool). The server echoes each body; an answer
               that is not the call's own body counts as wrong.
* ``streams``  ``--streams`` response streams, all started at once, of ``--parts`` parts of
               ``--part-size`` bytes, ``--gap-ms`` apart, over a pool of
               ``--stream-connections``; each stream's part count and sizes are checked.

Each phase first warms up (one call or stream per pool slot, so the pool is open), then
measures. Reported: calls (or streams) per second; p50/p99/max latency (from the call's start,
pool wait included; for streams also time to first part); outcomes by kind (``ok``, ``wrong``,
or the exception class: with a healthy server every error is a finding); the server's exact
peak of open connections against the pool limit, and its open connections once the client is
closed; the child's RSS at the baseline (after warm-up), its peak during the phase (sampled
every 10 ms, and ``VmHWM``) and after it; the Python memory blocks the phase left allocated;
client and server CPU shares.

Exits 1 if any call is unaccounted for or not ``ok``, a peak passes its pool limit, a
connection stays open after close, RSS grows past ``--rss-bound-mib`` (after the phase) or
``--rss-peak-bound-mib`` (during it), or blocks are left behind; 2 if ``--max-seconds`` ran out.
Every loop is bounded in count, every phase and child in time; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import stream_server
from _common import child_env, machine_note, percentile, proc_status_kib

AKID, SECRET = "AKIDEXAMPLE0000BENCH", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENGINES = ("aiohttp", "httpx", "trio-httpx")
SAMPLE_EVERY_S = 0.010
CLOSE_WAIT_S = 5.0  # the server sees every socket closed within this after the client closes
# Memory blocks a phase may leave allocated on top of one per ten units of work (calls, or
# parts): bounded caches and free lists settling (tests/test_load.py measures -300..+650), and
# trio's deadline heap (up to 1,000 stale entries of ~3 blocks before it is pruned).
SLACK_BLOCKS = 4_000
MiB = 1024


# ---------------------------------------------------------------------------- the child


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Phase:
    """One measured phase: outcomes, latencies, memory and the server's view."""

    def __init__(self, name: str, engine: str, expected: int, limit: int) -> None:
        self.name, self.engine, self.expected, self.limit = name, engine, expected, limit
        self.started = 0
        self.outcomes: Counter[str] = Counter()
        # Arrays, not lists: a list of 10,000 floats is 10,000 memory blocks of the harness's
        # own, and the phase counts the blocks it leaves behind.
        self.latency = array("d")
        self.first_part = array("d")
        self.rss_samples = array("q")
        self.per_worker: list[int] = []  # calls each worker completed: the pool's fairness

    async def sample_rss(self) -> None:
        import anyio

        while True:
            self.rss_samples.append(proc_status_kib("VmRSS"))
            await anyio.sleep(SAMPLE_EVERY_S)

    async def run(
        self,
        count: int,
        concurrency: int,
        one: Callable[[int], Awaitable[str]],
        deadline: float,
    ) -> float:
        """``count`` calls of ``one`` by ``concurrency`` workers; returns the wall time.

        A call that is still running when the deadline passes is left unaccounted for (and
        reported so); every other ends as exactly one outcome.
        """
        import anyio

        import sagemaker_rt_async as sm

        todo = iter(range(count))

        async def worker() -> None:
            slot = len(self.per_worker)
            self.per_worker.append(0)
            for i in todo:
                self.started += 1
                start = time.perf_counter()
                try:
                    outcome = await one(i)
                except sm.SageMakerRuntimeError as exc:
                    outcome = type(exc).__name__
                except Exception as exc:  # the client should have typed it: a finding
                    outcome = f"UNTYPED {type(exc).__module__}.{type(exc).__name__}"
                self.latency.append(time.perf_counter() - start)
                self.outcomes[outcome] += 1
                self.per_worker[slot] += 1

        began = time.perf_counter()
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
            async with anyio.create_task_group() as tg:
                for _ in range(min(concurrency, count)):
                    tg.start_soon(worker)
        return time.perf_counter() - began


async def _server_stats(control: str, *, reset: bool = False) -> dict[str, float]:
    import anyio.to_thread

    call = stream_server.reset_peak if reset else stream_server.stats
    return await anyio.to_thread.run_sync(call, control)


async def _open_after_close(control: str) -> int:
    """The server's open connections once they have had ``CLOSE_WAIT_S`` to go."""
    import anyio

    give_up = time.monotonic() + CLOSE_WAIT_S
    while True:
        open_now = int((await _server_stats(control))["open"])
        if open_now == 0 or time.monotonic() > give_up:
            return open_now
        await anyio.sleep(0.02)


async def _measure(
    phase: Phase,
    control: str,
    count: int,
    concurrency: int,
    one: Callable[[int], Awaitable[str]],
    deadline: float,
    work_units: int,
) -> dict[str, Any]:
    import anyio

    gc.collect()
    rss_before = proc_status_kib("VmRSS")
    blocks_before = sys.getallocatedblocks()
    server_before = await _server_stats(control, reset=True)
    cpu_before = _cpu()
    async with anyio.create_task_group() as tg:
        tg.start_soon(phase.sample_rss)
        wall = await phase.run(count, concurrency, one, deadline)
        tg.cancel_scope.cancel()
    cpu = _cpu() - cpu_before
    server_after = await _server_stats(control)
    gc.collect()
    rss_after = proc_status_kib("VmRSS")
    blocks = sys.getallocatedblocks() - blocks_before
    return {
        "phase": phase.name,
        "engine": phase.engine,
        "expected": phase.expected,
        "started": phase.started,
        "accounted": sum(phase.outcomes.values()),
        "outcomes": dict(phase.outcomes),
        "wall_s": wall,
        "rate": sum(phase.outcomes.values()) / wall if wall else 0.0,
        "p50_ms": percentile(phase.latency, 50) * 1e3,
        "p99_ms": percentile(phase.latency, 99) * 1e3,
        "max_ms": max(phase.latency, default=float("nan")) * 1e3,
        "ttfp_p50_ms": percentile(phase.first_part, 50) * 1e3,
        "ttfp_p99_ms": percentile(phase.first_part, 99) * 1e3,
        "worker_min": min(phase.per_worker, default=0),
        "worker_max": max(phase.per_worker, default=0),
        "limit": phase.limit,
        "peak": int(server_after["peak"]),
        "connections": int(server_after["connections"] - server_before["connections"]),
        "rss_before_kib": rss_before,
        "rss_peak_kib": max([*phase.rss_samples, rss_before]),
        "rss_after_kib": rss_after,
        "hwm_kib": proc_status_kib("VmHWM"),
        "blocks_left": blocks,
        "block_bound": SLACK_BLOCKS + work_units // 10,
        "client_cpu_share": cpu / wall if wall else 0.0,
        "server_cpu_share": (server_after["cpu"] - server_before["cpu"]) / wall if wall else 0.0,
    }


async def child(engine: str, url: str, control: str, args: argparse.Namespace) -> None:
    from sagemaker_rt_async import SageMakerRuntimeClient, Timeout

    deadline = time.monotonic() + args.max_seconds
    transport = "httpx" if engine == "trio-httpx" else engine
    # Generous per-call deadlines: under load a call may wait for the pool a long time, and
    # what must hold is that it ends, typed, before --max-seconds.
    timeout = Timeout(connect=30, read=60, write=30, pool=args.max_seconds)

    def client(limit: int) -> SageMakerRuntimeClient:
        return SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=url,
            credentials=(AKID, SECRET),
            transport=transport,  # type: ignore[arg-type]
            max_connections=limit,
            timeout=timeout,
        )

    # ------------------------------------------------------------------ InvokeEndpoint
    name = f"think-{args.think_ms}ms" if args.think_ms else "echo"
    phase = Phase("invoke", engine, args.calls, args.invoke_connections)
    async with client(args.invoke_connections) as rt:

        async def invoke(i: int) -> str:
            result = await rt.invoke_endpoint(name, json={"i": i})
            return "ok" if result.json() == {"i": i} else "wrong"

        # Warm-up at the measured concurrency: the pool opens, and the paths of calls waiting
        # for it (and every lazily built structure) are built before the baseline.
        await Phase("warm-up", engine, 0, 0).run(
            2 * args.concurrency, args.concurrency, invoke, deadline
        )
        record = await _measure(
            phase, control, args.calls, args.concurrency, invoke, deadline, args.calls
        )
    record["open_after_close"] = await _open_after_close(control)
    print(json.dumps(record), flush=True)

    if time.monotonic() >= deadline:
        return  # out of time: the parent reports the phase that did not run
    # ------------------------------------------------------------------ response streams
    stream_name = f"paced-{args.parts}x{args.part_size}x{args.gap_ms}ms"
    phase = Phase("streams", engine, args.streams, args.stream_connections)
    async with client(args.stream_connections) as rt:

        async def stream(k: int) -> str:
            start = time.perf_counter()
            parts = size = 0
            async with rt.invoke_endpoint_with_response_stream(stream_name, json={"s": k}) as s:
                async for part in s:
                    if not parts:
                        phase.first_part.append(time.perf_counter() - start)
                    parts += 1
                    size += len(part)
            return "ok" if (parts, size) == (args.parts, args.parts * args.part_size) else "wrong"

        warm = min(args.streams, args.stream_connections)
        await Phase("warm-up", engine, 0, 0).run(warm, warm, stream, deadline)
        del phase.first_part[:]
        record = await _measure(
            phase, control, args.streams, args.streams, stream, deadline, args.streams * args.parts
        )
    record["open_after_close"] = await _open_after_close(control)
    print(json.dumps(record), flush=True)


# ---------------------------------------------------------------------------- the parent


def _child_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for key in (
        "calls",
        "concurrency",
        "invoke_connections",
        "think_ms",
        "streams",
        "parts",
        "part_size",
        "gap_ms",
        "stream_connections",
    ):
        out += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    return out


def run_child(
    engine: str, url: str, control: str, args: argparse.Namespace, seconds: float
) -> tuple[list[dict[str, Any]], str]:
    """Run one engine's child; its records, and what went wrong ("" if nothing)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        engine,
        "--url",
        url,
        "--control",
        control,
        "--max-seconds",
        f"{seconds:.1f}",
        *_child_args(args),
    ]
    try:
        proc = subprocess.run(  # noqa: S603 - this script, fixed arguments
            command,
            capture_output=True,
            timeout=seconds + 15,  # the child bounds itself; this is the backstop
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else ""
        records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return records, f"killed after {seconds + 15:.0f} s"
    records = [
        json.loads(line) for line in proc.stdout.decode().splitlines() if line.startswith("{")
    ]
    problem = "" if proc.returncode == 0 else proc.stderr.decode()[-3000:]
    return records, problem


def _mib(kib: float) -> str:
    return f"{kib / MiB:.1f}"


def report(records: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """Print the table; return the failed checks."""
    failures: list[str] = []
    print(
        f"\n  {'engine':<11} {'phase':<8} {'n':>6} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'peak/limit':>10} {'conns':>6} {'open after':>10} "
        f"{'RSS MiB base→peak→after (HWM)':>31} {'blocks':>7} {'CPU c/s':>9}"
    )
    for r in records:
        rss = (
            f"{_mib(r['rss_before_kib'])}→{_mib(r['rss_peak_kib'])}→{_mib(r['rss_after_kib'])}"
            f" ({_mib(r['hwm_kib'])})"
        )
        print(
            f"  {r['engine']:<11} {r['phase']:<8} {r['accounted']:>6} {r['rate']:>7.0f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} "
            f"{r['peak']:>4}/{r['limit']:<5} {r['connections']:>6} {r['open_after_close']:>10} "
            f"{rss:>31} {r['blocks_left']:>7} "
            f"{r['client_cpu_share']:>4.2f}/{r['server_cpu_share']:.2f}"
        )
        if r["phase"] == "streams":
            print(
                f"  {'':<11} {'':<8} time to first part p50 {r['ttfp_p50_ms']:.1f} ms, "
                f"p99 {r['ttfp_p99_ms']:.1f} ms"
            )
        else:
            print(
                f"  {'':<11} {'':<8} calls per worker: min {r['worker_min']}, "
                f"max {r['worker_max']} (a fair pool gives each about the same)"
            )
    print()
    for r in records:
        who = f"{r['engine']}/{r['phase']}"
        errors = {k: v for k, v in r["outcomes"].items() if k != "ok"}
        checks = [
            (
                "accounted",
                r["started"] == r["accounted"] == r["expected"],
                f"{r['accounted']} of {r['expected']} ended ({r['started']} started)",
            ),
            ("no errors", not errors, f"errors by type: {errors or 'none'}"),
            ("pool limit", r["peak"] <= r["limit"], f"peak {r['peak']} <= {r['limit']}"),
            (
                "closed",
                r["open_after_close"] == 0,
                f"{r['open_after_close']} open after close",
            ),
            (
                "RSS after",
                r["rss_after_kib"] - r["rss_before_kib"] <= args.rss_bound_mib * MiB,
                f"+{_mib(r['rss_after_kib'] - r['rss_before_kib'])} MiB"
                f" <= {args.rss_bound_mib} MiB",
            ),
            (
                "RSS peak",
                r["rss_peak_kib"] - r["rss_before_kib"] <= args.rss_peak_bound_mib * MiB,
                f"+{_mib(r['rss_peak_kib'] - r['rss_before_kib'])} MiB"
                f" <= {args.rss_peak_bound_mib} MiB",
            ),
            (
                "blocks left",
                r["blocks_left"] < r["block_bound"],
                f"{r['blocks_left']} < {r['block_bound']}",
            ),
        ]
        for check, passed, detail in checks:
            print(f"check {who} {check}: {'PASS' if passed else 'FAIL'}  ({detail})")
            if not passed:
                failures.append(f"{who} {check}")
    return failures


def parent(args: argparse.Namespace) -> int:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for engine in engines:
        if engine not in ENGINES:
            raise SystemExit(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    print(
        f"load: {args.calls} InvokeEndpoint calls at concurrency {args.concurrency} over "
        f"{args.invoke_connections} connections; {args.streams} concurrent streams of "
        f"{args.parts} x {args.part_size} B, {args.gap_ms} ms apart, over "
        f"{args.stream_connections} connections; engines {', '.join(engines)}; "
        f"budget {args.max_seconds:g} s; {machine_note()}",
        flush=True,
    )
    started = time.monotonic()
    budget_end = started + args.max_seconds
    proc, url, control = stream_server.start_with_control(
        max_seconds=args.max_seconds + 30, backlog=max(128, args.streams + 64)
    )
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    out_of_time = False
    try:
        for engine in engines:
            remaining = budget_end - time.monotonic()
            if remaining < 1:
                out_of_time = True
                problems.append(f"{engine}: not run, --max-seconds spent")
                continue
            got, problem = run_child(engine, url, control, args, remaining)
            records += got
            if problem:
                problems.append(f"{engine}: {problem}")
            if len(got) < 2:
                out_of_time = out_of_time or time.monotonic() >= budget_end
                problems.append(f"{engine}: {2 - len(got)} phase(s) did not report")
            print(f"  {engine} done ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        stream_server.stop(proc)

    failures = report(records, args)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if out_of_time:
        print("FAIL: --max-seconds ran out")
        return 2
    if failures or problems:
        print(f"FAIL: {len(failures) + len(problems)} check(s) failed")
        return 1
    print("PASS: every call accounted for, within the pool limit, closed, memory bounded")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--invoke-connections", type=int, default=100)
    parser.add_argument("--think-ms", type=int, default=0, help="the model's think time per call")
    parser.add_argument("--streams", type=int, default=1_000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--part-size", type=int, default=64)
    parser.add_argument("--gap-ms", type=int, default=5, help="pause between a stream's parts")
    parser.add_argument("--stream-connections", type=int, default=256)
    parser.add_argument(
        "--engines", default="aiohttp,httpx", help=f"comma-separated, from {', '.join(ENGINES)}"
    )
    parser.add_argument("--rss-bound-mib", type=float, default=32.0, help="growth after a phase")
    parser.add_argument(
        "--rss-peak-bound-mib", type=float, default=256.0, help="growth during a phase"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="the whole run's budget")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--control", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for key in ("calls", "concurrency", "invoke_connections", "streams", "parts"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1")
    if args.child:
        import anyio

        backend = "trio" if args.child == "trio-httpx" else "asyncio"
        anyio.run(child, args.child, args.url, args.control, args, backend=backend)
    else:
        sys.exit(parent(args))


if __name__ == "__main__":
    main()
