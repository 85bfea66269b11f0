"""InvokeEndpoint and InvokeEndpointAsync over loopback: ours vs aiobotocore, boto3 and raw clients.

One ``stream_server.py`` process serves every client (InvokeEndpoint echoes the body;
InvokeEndpointAsync answers 202 with its locations; no signature checks). Each client runs in a
**fresh subprocess per round**, clients in an order that rotates from round to round. Where the
machine allows it the server is pinned to one CPU and every client to another
(``os.sched_setaffinity``), so the two never share a core; the output says whether it was.

Clients (every pool sized for 64 connections):

* ``ours-aiohttp``       ``SageMakerRuntimeClient(transport="aiohttp")``, the asyncio default;
* ``ours-httpx``         ``SageMakerRuntimeClient(transport="httpx")`` (httpx's own pool);
* ``ours-httpx2``        ``SageMakerRuntimeClient(http_client=httpx2.AsyncClient(...))``: a lent
                         client of the maintained httpx fork;
* ``aiobotocore``        ``AioConfig(max_pool_connections=64)``, one attempt per call;
* ``boto3-threads``      one boto3 client shared by 1 or 64 plain threads (``max_pool_connections``
                         64): boto3's best case, no event loop handing calls to the threads;
* ``raw-httpx``          ``httpx.AsyncClient`` (own pool, 64 connections), no signing;
* ``raw-httpx-aiohttp``  httpx over ``httpx_aiohttp.AiohttpTransport``, no signing: the stack
                         under ``ours-aiohttp`` and so **our ceiling**;
* ``raw-aiohttp``        ``aiohttp.ClientSession.post``, no signing: the transport's ceiling.

Phases, each in every child after a warm-up at its own concurrency (which also opens the pool):

* ``invoke_c1``   InvokeEndpoint, one call at a time (``--calls-c1``);
* ``invoke_c64``  InvokeEndpoint, 64 workers (``--calls-c64``);
* ``async_c64``   InvokeEndpointAsync with ``InputLocation`` (so nothing is uploaded), 64
                  workers (``--calls-async``); ours-aiohttp, aiobotocore and boto3-threads only.

A phase ends after its count of calls, or when ``--phase-seconds`` have passed (then it is
marked ``capped``: the workers finish the call in hand and take no more); a hard timeout kills
any phase and child that hangs. Every answer is checked (the echoed body; an InferenceId and an
``s3://`` OutputLocation). Reported per phase: calls/s (completed calls over the phase's wall
time), p50 / p99 latency of the calls, client CPU per call (``getrusage`` of the child, user +
system, all threads, over the phase), client CPU share (that CPU over the wall time: near 1.0
means the client is the bottleneck) and the server's CPU share (its ``/stats`` delta over the
same interval). Medians and min–max over rounds; ratios are computed per round, then the median
of those is reported with their min–max.
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
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any, cast

import stream_server
from _common import (
    Figure,
    Target,
    child_env,
    machine_note,
    median,
    percentile,
    print_targets,
    write_results,
)

CLIENTS = (
    "ours-aiohttp",
    "ours-httpx",
    "ours-httpx2",
    "aiobotocore",
    "boto3-threads",
    "raw-httpx",
    "raw-httpx-aiohttp",
    "raw-aiohttp",
)
ASYNC_CLIENTS = ("ours-aiohttp", "aiobotocore", "boto3-threads")
PHASES = ("invoke_c1", "invoke_c64", "async_c64")
POOL = 64
ENDPOINT = "bench-echo"
BODY = b'{"inputs": "Is this review positive? The food was great.", "parameters": {}}'
INPUT_LOCATION = "s3://bench-bucket/input/request.json"
AKID, SECRET = "AKIDEXAMPLE0000BENCH", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WARMUP = {1: 20, POOL: 2 * POOL}  # warm-up calls per phase, by concurrency
HARD_TIMEOUT_S = 60.0  # one phase, whatever --phase-seconds says: a hang is a failure
CHILD_TIMEOUT_S = 240.0

# One call; raises if the answer is not the expected one.
AsyncCall = Callable[[], Awaitable[None]]
SyncCall = Callable[[], None]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------- the clients


class _Client:
    """One contender in a child: its InvokeEndpoint call, its async call if any, its close."""

    invoke: AsyncCall | SyncCall
    submit: AsyncCall | SyncCall | None = None
    threaded = False

    async def aclose(self) -> None:
        """Release the client's pool."""


def _check_echo(body: bytes) -> None:
    if body != BODY:
        raise RuntimeError(f"InvokeEndpoint answered {body[:80]!r}, not the request's body")


def _check_job(inference_id: object, output: object) -> None:
    if not isinstance(inference_id, str) or not str(output).startswith("s3://"):
        raise RuntimeError(f"InvokeEndpointAsync answered {inference_id!r}, {output!r}")


def _ours(url: str, transport: str) -> _Client:
    from sagemaker_rt_async import SageMakerRuntimeClient

    lent: Any = None
    if transport == "httpx2":
        # A lent client of the maintained httpx fork, sized like ours.
        import httpx2

        limits = httpx2.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        lent = httpx2.AsyncClient(limits=limits, trust_env=False)
    rt = SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=url,
        credentials=(AKID, SECRET),
        transport=None if lent is not None else transport,  # type: ignore[arg-type]
        http_client=lent,
        max_connections=POOL,
    )

    class Ours(_Client):
        async def invoke(self) -> None:
            result = await rt.invoke_endpoint(
                ENDPOINT, BODY, content_type="application/json", accept="application/json"
            )
            _check_echo(result.body)

        async def submit(self) -> None:
            job = await rt.invoke_endpoint_async(
                ENDPOINT, input_location=INPUT_LOCATION, content_type="application/json"
            )
            _check_job(job.inference_id, job.output_location)

        async def aclose(self) -> None:
            await rt.aclose()
            if lent is not None:
                await lent.aclose()

    return Ours()


async def _aiobotocore(url: str) -> _Client:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=POOL,
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

    class Aiobotocore(_Client):
        async def invoke(self) -> None:
            response = await client.invoke_endpoint(
                EndpointName=ENDPOINT,
                Body=BODY,
                ContentType="application/json",
                Accept="application/json",
            )
            _check_echo(await response["Body"].read())

        async def submit(self) -> None:
            response = await client.invoke_endpoint_async(
                EndpointName=ENDPOINT, InputLocation=INPUT_LOCATION, ContentType="application/json"
            )
            _check_job(response.get("InferenceId"), response.get("OutputLocation"))

        async def aclose(self) -> None:
            await context.__aexit__(None, None, None)

    return Aiobotocore()


def _boto3(url: str) -> _Client:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=POOL,
    )
    client = boto3.session.Session().client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=config,
    )

    class Boto3(_Client):
        threaded = True

        def invoke(self) -> None:
            response = client.invoke_endpoint(
                EndpointName=ENDPOINT,
                Body=BODY,
                ContentType="application/json",
                Accept="application/json",
            )
            _check_echo(response["Body"].read())

        def submit(self) -> None:
            response = client.invoke_endpoint_async(
                EndpointName=ENDPOINT, InputLocation=INPUT_LOCATION, ContentType="application/json"
            )
            _check_job(response.get("InferenceId"), response.get("OutputLocation"))

        async def aclose(self) -> None:
            client.close()

    return Boto3()


_RAW_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def _raw_httpx(url: str, *, over_aiohttp: bool) -> _Client:
    import httpx

    target = f"{url}/endpoints/{ENDPOINT}/invocations"
    if over_aiohttp:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport

        def session() -> aiohttp.ClientSession:
            # The session settings ours uses (no auto headers, no decompression).
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL, limit_per_host=0),
                skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
                auto_decompress=False,
                trust_env=False,
            )

        http = httpx.AsyncClient(transport=AiohttpTransport(client=session), trust_env=False)
    else:
        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        http = httpx.AsyncClient(limits=limits, trust_env=False)

    class RawHttpx(_Client):
        async def invoke(self) -> None:
            response = await http.post(target, content=BODY, headers=_RAW_HEADERS)
            _check_echo(response.content)

        async def aclose(self) -> None:
            await http.aclose()

    return RawHttpx()


def _raw_aiohttp(url: str) -> _Client:
    import aiohttp

    target = f"{url}/endpoints/{ENDPOINT}/invocations"
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL, limit_per_host=0),
        skip_auto_headers=("Accept-Encoding", "User-Agent"),
        auto_decompress=False,
        trust_env=False,
    )

    class RawAiohttp(_Client):
        async def invoke(self) -> None:
            async with session.post(target, data=BODY, headers=_RAW_HEADERS) as response:
                _check_echo(await response.read())

        async def aclose(self) -> None:
            await session.close()

    return RawAiohttp()


async def _make_client(name: str, url: str) -> _Client:
    if name == "ours-aiohttp":
        return _ours(url, "aiohttp")
    if name == "ours-httpx":
        return _ours(url, "httpx")
    if name == "ours-httpx2":
        return _ours(url, "httpx2")
    if name == "aiobotocore":
        return await _aiobotocore(url)
    if name == "boto3-threads":
        return _boto3(url)
    if name == "raw-httpx":
        return _raw_httpx(url, over_aiohttp=False)
    if name == "raw-httpx-aiohttp":
        return _raw_httpx(url, over_aiohttp=True)
    if name == "raw-aiohttp":
        return _raw_aiohttp(url)
    raise SystemExit(f"unknown client {name!r}")


# ---------------------------------------------------------------------------- one phase


class _Run:
    """The calls of one phase: a shared bounded counter, the latencies, the cut-off."""

    def __init__(self, count: int, seconds: float) -> None:
        self.todo = iter(range(count))  # next() on it is atomic under the GIL: threads share it
        self.stop_at = time.monotonic() + seconds
        self.latencies: list[float] = []  # list.append is atomic too
        self.capped = False

    def take(self) -> bool:
        """Claim the next call; False once all are claimed or the time is up."""
        if next(self.todo, None) is None:
            return False
        if time.monotonic() >= self.stop_at:
            self.capped = True  # calls were left: the phase was cut short
            return False
        return True


async def _run_async(call: AsyncCall, run: _Run, concurrency: int) -> None:
    clock = time.perf_counter
    latencies = run.latencies

    async def worker() -> None:
        while run.take():
            start = clock()
            await call()
            latencies.append(clock() - start)

    # One deadline over the phase, not one per call: asyncio.wait_for (before 3.12) wraps its
    # awaitable in a task of its own, a cost every client would then carry on every call.
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), HARD_TIMEOUT_S)


def _run_threads(call: SyncCall, run: _Run, concurrency: int) -> None:
    clock = time.perf_counter
    latencies = run.latencies

    def worker() -> None:
        while run.take():
            start = clock()
            call()
            latencies.append(clock() - start)

    with ThreadPoolExecutor(concurrency, thread_name_prefix="boto3") as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        done, pending = wait_futures(futures, timeout=HARD_TIMEOUT_S)
        if pending:
            # A thread cannot be cancelled; botocore's read timeout bounds each call, and this
            # process must not outlive the parent's patience either.
            print(f"boto3-threads: phase still running after {HARD_TIMEOUT_S:g} s", file=sys.stderr)
            os._exit(3)
        for future in done:
            future.result()  # re-raise a worker's failure


async def _phase(
    client: _Client, call: AsyncCall | SyncCall, concurrency: int, count: int, seconds: float
) -> tuple[_Run, float, float]:
    """Run ``count`` calls (or ``seconds``) at ``concurrency``; its run, wall and CPU seconds."""

    async def run_calls(run: _Run) -> None:
        if client.threaded:
            # The event loop only waits here; the calls run in the pool's threads.
            await asyncio.to_thread(_run_threads, cast(SyncCall, call), run, concurrency)
        else:
            await _run_async(cast(AsyncCall, call), run, concurrency)

    await run_calls(_Run(WARMUP[concurrency], HARD_TIMEOUT_S))
    run = _Run(count, seconds)
    cpu_before = _cpu()
    started = time.perf_counter()
    await run_calls(run)
    wall = time.perf_counter() - started
    return run, wall, _cpu() - cpu_before


async def child(name: str, url: str, args: argparse.Namespace) -> None:
    client = await _make_client(name, url)
    plan = [("invoke_c1", client.invoke, 1, args.calls_c1)]
    plan.append(("invoke_c64", client.invoke, POOL, args.calls_c64))
    if name in ASYNC_CLIENTS and client.submit is not None:
        plan.append(("async_c64", client.submit, POOL, args.calls_async))
    try:
        for phase, call, concurrency, count in plan:
            # Read outside the timed region: a blocking socket of its own, not the client's.
            server_before = stream_server.stats(url)["cpu"]
            run, wall, cpu = await _phase(client, call, concurrency, count, args.phase_seconds)
            server_cpu = stream_server.stats(url)["cpu"] - server_before
            calls = len(run.latencies)
            record = {
                "client": name,
                "phase": phase,
                "calls": calls,
                "capped": run.capped,
                "req_per_s": calls / wall,
                "p50_ms": percentile(run.latencies, 50) * 1e3,
                "p99_ms": percentile(run.latencies, 99) * 1e3,
                "cpu_us_per_req": cpu / calls * 1e6,
                "client_cpu_share": cpu / wall,
                "server_cpu_share": server_cpu / wall,
            }
            print(json.dumps(record), flush=True)
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------- the parent


def pinning(enabled: bool) -> tuple[int | None, int | None, str]:
    """(server CPU, client CPU, a note for the output); Nones when pinning is not applied."""
    if not enabled:
        return None, None, "pinning: off (--no-pin)"
    if not hasattr(os, "sched_setaffinity"):
        return None, None, "pinning: not applied (no sched_setaffinity on this platform)"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, f"pinning: not applied (only CPU {cpus} available)"
    try:
        # Children inherit nothing from this probe; it only tells whether the kernel lets us.
        os.sched_setaffinity(0, set(cpus))
    except OSError as exc:
        return None, None, f"pinning: not applied ({exc})"
    return cpus[0], cpus[1], f"pinning: applied, server on CPU {cpus[0]}, clients on CPU {cpus[1]}"


def run_child(
    name: str, url: str, cpu: int | None, args: argparse.Namespace
) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--url",
        url,
        "--calls-c1",
        str(args.calls_c1),
        "--calls-c64",
        str(args.calls_c64),
        "--calls-async",
        str(args.calls_async),
        "--phase-seconds",
        str(args.phase_seconds),
    ]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    # subprocess.run kills the child if the timeout passes.
    proc = subprocess.run(  # noqa: S603 - this script, fixed arguments
        command, capture_output=True, timeout=CHILD_TIMEOUT_S, env=child_env(), check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name} child failed:\n{proc.stderr.decode()[-3000:]}")
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.startswith("{")]


def _fmt(values: list[float], spec: str) -> str:
    return f"{median(values):{spec}} [{min(values):{spec}}–{max(values):{spec}}]"


Series = dict[str, dict[str, dict[str, list[float]]]]  # phase -> client -> metric -> per round


def _ratios(series: Series, phase: str, metric: str, a: str, b: str) -> list[float]:
    """Per-round ``a / b`` of ``metric`` (the rounds are paired: same round, same load)."""
    data = series[phase]
    return [x / y for x, y in zip(data[a][metric], data[b][metric], strict=True)]


def _report(series: Series, rounds: int) -> tuple[list[Target], list[Figure]]:
    figures: list[Figure] = []
    for phase in PHASES:
        clients = [c for c in CLIENTS if series[phase][c]]
        if not clients:
            continue
        print(f"\n{phase}  (median [min–max] over rounds)")
        print(
            f"  {'client':<18} {'req/s':>20} {'p50 ms':>19} {'p99 ms':>19} "
            f"{'CPU µs/req':>20} {'client CPU':>10} {'server CPU':>10} {'capped':>7}"
        )
        for client in clients:
            m = series[phase][client]
            capped = sum(m["capped"])
            print(
                f"  {client:<18} {_fmt(m['req_per_s'], '.0f'):>20} {_fmt(m['p50_ms'], '.2f'):>19} "
                f"{_fmt(m['p99_ms'], '.2f'):>19} {_fmt(m['cpu_us_per_req'], '.0f'):>20} "
                f"{median(m['client_cpu_share']):>10.2f} {median(m['server_cpu_share']):>10.3f} "
                f"{capped:>3}/{rounds}"
            )
        ours = "ours-aiohttp"
        print(
            f"  {ours} vs each (median of per-round ratios [min–max]; req/s: above 1 is "
            "faster; CPU/req: below 1 is cheaper)"
        )
        for other in clients:
            if other == ours:
                continue
            speed = _ratios(series, phase, "req_per_s", ours, other)
            cost = _ratios(series, phase, "cpu_us_per_req", ours, other)
            print(
                f"    vs {other:<18} req/s {median(speed):5.2f}x [{min(speed):.2f}–"
                f"{max(speed):.2f}]   CPU/req {median(cost):5.2f}x "
                f"[{min(cost):.2f}–{max(cost):.2f}]"
            )
            figures.append(Figure(f"{phase} req/s {ours}/{other}", speed))
            figures.append(Figure(f"{phase} CPU/req {ours}/{other}", cost))
        if {"raw-httpx-aiohttp", "aiobotocore"} <= set(clients):
            # What any client on our stack could reach at best: a target above it is out of
            # reach of a better client, only of a different stack.
            ceiling = _ratios(series, phase, "req_per_s", "raw-httpx-aiohttp", "aiobotocore")
            print(
                f"    ceiling: raw-httpx-aiohttp vs aiobotocore req/s {median(ceiling):5.2f}x "
                f"[{min(ceiling):.2f}–{max(ceiling):.2f}]"
            )
            figures.append(Figure(f"{phase} req/s raw-httpx-aiohttp/aiobotocore", ceiling))
        for engine in ("ours-httpx", "ours-httpx2"):
            if engine not in clients:
                continue
            for other in ("aiobotocore", "raw-httpx"):
                speed = _ratios(series, phase, "req_per_s", engine, other)
                print(
                    f"    {engine} vs {other:<10} req/s {median(speed):5.2f}x "
                    f"[{min(speed):.2f}–{max(speed):.2f}]"
                )
                figures.append(Figure(f"{phase} req/s {engine}/{other}", speed))
    targets = [
        Target(
            "invoke_c64 req/s ours-aiohttp/aiobotocore",
            _ratios(series, "invoke_c64", "req_per_s", "ours-aiohttp", "aiobotocore"),
            3.0,
        ),
        Target(
            "invoke_c64 CPU/req ours-aiohttp/raw-aiohttp",
            _ratios(series, "invoke_c64", "cpu_us_per_req", "ours-aiohttp", "raw-aiohttp"),
            2.0,
            at_most=True,
        ),
        Target(
            "invoke_c1 req/s ours-aiohttp/aiobotocore",
            _ratios(series, "invoke_c1", "req_per_s", "ours-aiohttp", "aiobotocore"),
            2.0,
        ),
        Target(
            "async_c64 req/s ours-aiohttp/aiobotocore",
            _ratios(series, "async_c64", "req_per_s", "ours-aiohttp", "aiobotocore"),
            3.0,
        ),
    ]
    return targets, figures


def parent(args: argparse.Namespace) -> None:
    server_cpu, client_cpu, pin_note = pinning(not args.no_pin)
    print(
        f"bench_invoke: {args.rounds} rounds x {len(CLIENTS)} clients (fresh process each); "
        f"per phase up to {args.calls_c1} calls at c1, {args.calls_c64} at c64, "
        f"{args.calls_async} async at c64, or {args.phase_seconds:g} s; {pin_note}; "
        f"{machine_note()}",
        flush=True,
    )
    started = time.perf_counter()
    series: Series = {phase: {c: {} for c in CLIENTS} for phase in PHASES}
    proc, url = stream_server.start(max_seconds=CHILD_TIMEOUT_S * 10, cpu=server_cpu)
    try:
        order = list(CLIENTS)
        for index in range(args.rounds):
            for client in order:
                for record in run_child(client, url, client_cpu, args):
                    metrics = series[record["phase"]][client]
                    for key, value in record.items():
                        if isinstance(value, int | float):  # bool too: "capped" counts
                            metrics.setdefault(key, []).append(float(value))
            order = order[1:] + order[:1]
            print(
                f"  round {index + 1}/{args.rounds} done ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    finally:
        stream_server.stop(proc)
    targets, figures = _report(series, args.rounds)
    seconds = time.perf_counter() - started
    print(f"\ntotal {seconds:.0f} s; {pin_note}")
    print_targets(targets)
    write_results(
        args.json,
        "bench_invoke",
        targets,
        figures,
        notes={"pinning": pin_note, "seconds": round(seconds, 1)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 3)")
    parser.add_argument("--calls-c1", type=int, default=400, help="InvokeEndpoint calls at c1")
    parser.add_argument("--calls-c64", type=int, default=4000, help="InvokeEndpoint calls at c64")
    parser.add_argument(
        "--calls-async", type=int, default=3000, help="InvokeEndpointAsync calls at c64"
    )
    parser.add_argument(
        "--phase-seconds", type=float, default=2.0, help="a phase stops taking calls after this"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--child", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for key in ("calls_c1", "calls_c64", "calls_async"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1")
    if not 0 < args.phase_seconds <= HARD_TIMEOUT_S:
        parser.error(f"--phase-seconds must be in (0, {HARD_TIMEOUT_S:g}]")
    if args.child:
        if args.cpu is not None:
            # First thing, before any import starts a thread: threads inherit this mask.
            os.sched_setaffinity(0, {args.cpu})
        asyncio.run(child(args.child, args.url, args))
    else:
        args.rounds = max(3, args.rounds)
        parent(args)


if __name__ == "__main__":
    main()
