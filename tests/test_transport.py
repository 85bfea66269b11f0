"""Both HTTP engines honour the same limits and deadlines, and fail with the same typed errors."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async._engines import httpx_engine
from sagemaker_rt_async._engines.aiohttp_engine import AiohttpEngine
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, LoopbackServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """A loopback fake with an endpoint that sleeps as long as the body says."""
    fake = FakeSageMakerRuntime()

    async def slow(inv: Invocation) -> bytes:
        import asyncio  # the server thread always runs asyncio

        await asyncio.sleep(float(inv.body or b"0"))
        return b"done"

    fake.add_endpoint("slow", slow)
    with fake.serve() as srv:
        yield srv


async def _until(condition: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)


async def test_max_connections_bounds_sockets(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str
) -> None:
    """max_connections=2: six concurrent calls all succeed over at most two sockets."""
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, server.open_connections)
            await anyio.sleep(0.005)

    async with server.fake.client(
        endpoint_url=server.url, transport=transport, max_connections=2
    ) as rt:
        results: list[bytes] = []

        async def call() -> None:
            results.append((await rt.invoke_endpoint("slow", b"0.1")).body)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            async with anyio.create_task_group() as calls:
                for _ in range(6):
                    calls.start_soon(call)
            tg.cancel_scope.cancel()
    assert results == [b"done"] * 6
    assert 1 <= peak <= 2
    assert server.total_connections <= 2
    await _until(lambda: server.open_connections == 0)


async def test_read_timeout(server: LoopbackServer[FakeSageMakerRuntime], transport: str) -> None:
    """A model slower than the read deadline raises RequestTimeout(timeout='read')."""
    async with server.fake.client(endpoint_url=server.url, transport=transport) as rt:
        with pytest.raises(sm.RequestTimeout) as info:
            await rt.invoke_endpoint("slow", b"2", timeout=sm.Timeout(read=0.2))
        assert info.value.timeout == "first_byte"
        assert info.value.request_sent is True
        assert not info.value.retryable  # inference may have run: never assumed safe
        assert "no complete response head within 0.2 s" in str(info.value)
        # The client stays usable after a timeout.
        assert (await rt.invoke_endpoint("slow", b"0")).body == b"done"


async def test_per_call_timeout_overrides_client(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str
) -> None:
    """A generous per-call timeout wins over a tight client default, and vice versa."""
    async with server.fake.client(
        endpoint_url=server.url, transport=transport, timeout=sm.Timeout(read=0.1)
    ) as rt:
        r = await rt.invoke_endpoint("slow", b"0.3", timeout=5)
        assert r.body == b"done"
        with pytest.raises(sm.RequestTimeout):
            await rt.invoke_endpoint("slow", b"0.3")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused(transport: str) -> None:
    """Nothing listening: TransportError with request_sent=False (so a retry would be safe)."""
    fake = FakeSageMakerRuntime()
    url = f"http://127.0.0.1:{_closed_port()}"
    async with fake.client(endpoint_url=url, transport=transport) as rt:
        with pytest.raises(sm.TransportError) as info:
            await rt.invoke_endpoint("ep", b"x")
    assert info.value.request_sent is False
    assert info.value.retryable
    assert "could not connect" in str(info.value)


async def test_server_closes_without_answer(transport: str) -> None:
    """A server that reads the request and hangs up: TransportError, retryable, one attempt."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve_once() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    fake = FakeSageMakerRuntime()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, serve_once)
            async with fake.client(
                endpoint_url=f"http://127.0.0.1:{port}", transport=transport, retry=False
            ) as rt:
                with pytest.raises(sm.TransportError) as info:
                    await rt.invoke_endpoint("ep", b"x", timeout=5)
    finally:
        listener.close()
    assert info.value.request_sent is True
    assert not isinstance(info.value, sm.RequestTimeout)
    # Closed before any answer (a stale pooled connection, mostly): safe to retry.
    assert info.value.closed_before_response is True
    assert info.value.retryable


@pytest.mark.parametrize("package", ["httpx", "httpx2"])
async def test_translate_classifies_httpx_native_errors(package: str) -> None:
    """httpx's (and httpx2's) exceptions map to ours with the right phase and retry safety.

    ``started``: whether the request had started going out; a protocol error other than "no
    response at all" means the server answered with bytes we cannot read: never retryable.
    """
    hx = pytest.importorskip(package)
    req = hx.Request("POST", "http://x")
    no_answer = "Server disconnected without sending a response."
    cases: list[tuple[Exception, bool, type[sm.TransportError], str | None, bool, bool]] = [
        (hx.ConnectError("refused", request=req), False, sm.TransportError, None, False, True),
        (hx.ConnectTimeout("slow", request=req), False, sm.RequestTimeout, "connect", False, True),
        (hx.PoolTimeout("full", request=req), False, sm.RequestTimeout, "pool", False, True),
        (hx.WriteTimeout("slow", request=req), True, sm.RequestTimeout, "write", True, False),
        (hx.ReadError("reset", request=req), True, sm.TransportError, None, True, True),
        (hx.RemoteProtocolError(no_answer, request=req), True, sm.TransportError, None, True, True),
        (hx.RemoteProtocolError("bad status", request=req), True, sm.TransportError, None, True,
         False),
    ]  # fmt: skip
    for exc, started, cls, phase, sent, retryable in cases:
        err = httpx_engine._translate(exc, started=started, head=False)
        assert type(err) is cls, exc
        assert isinstance(err, sm.TransportError)
        assert err.request_sent is sent, exc
        assert err.retryable is retryable, exc
        if phase is not None:
            assert isinstance(err, sm.RequestTimeout) and err.timeout == phase
    # After the head, nothing is retryable.
    late = httpx_engine._translate(hx.ReadError("reset", request=req), started=True, head=True)
    assert isinstance(late, sm.TransportError) and not late.retryable


async def test_redirects_are_never_followed_even_by_a_lent_client() -> None:
    """A 307 from the endpoint is an error: a signed request never goes anywhere else."""
    from sagemaker_rt_async.testing import ServiceFailure

    fake = FakeSageMakerRuntime()

    def moved(inv: Invocation) -> bytes:
        raise ServiceFailure(
            307, "TemporaryRedirect", headers=[("Location", "http://127.0.0.2:1/elsewhere")]
        )

    fake.add_endpoint("moved", moved)
    lent = httpx.AsyncClient(transport=fake.transport(), follow_redirects=True)
    async with sm.SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url="http://sagemaker.fake",
        credentials=fake.credentials,
        http_client=lent,
    ) as rt:
        with pytest.raises(sm.ServiceError) as info:
            await rt.invoke_endpoint("moved", b"x")
    await lent.aclose()
    assert info.value.status_code == 307
    assert len(fake.requests) == 1


async def test_bodiless_responses_end_at_once_every_time(
    server: LoopbackServer[FakeSageMakerRuntime], anyio_backend: str
) -> None:
    """On the aiohttp engine, HEAD answers (no body) each end at once, the third as the first.

    Every bodiless aiohttp response shares one reader, which reports its end once and then
    (b"", True) forever; a read loop that took that for a chunk boundary would spin without
    yielding. SIGALRM turns such a spin into a failure instead of a hang.
    """
    if anyio_backend != "asyncio":
        pytest.skip("the aiohttp engine runs on asyncio only")
    engine = AiohttpEngine(max_connections=2, keepalive_expiry=5.0)

    def spinning(signum: int, frame: Any) -> None:
        raise AssertionError("reading an empty body did not end")

    previous = signal.signal(signal.SIGALRM, spinning)
    signal.setitimer(signal.ITIMER_REAL, 10.0)
    try:
        for _ in range(3):
            response = await engine.send(
                "HEAD", f"{server.url}/ping", [], b"", sm.Timeout(), lambda phase: None
            )
            assert await response.read_chunk() == b""
            assert await response.read_chunk() == b""
            await response.aclose()
        await engine.aclose()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def paced() -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """Endpoints with a slow start and a steady or stalled trickle of parts."""
    from sagemaker_rt_async.testing import ModelStream

    fake = FakeSageMakerRuntime()

    def trickle(inv: Invocation) -> ModelStream:
        first, gap, count = (float(x) for x in inv.text.split(","))

        async def parts() -> Any:
            await anyio.sleep(first)
            for i in range(int(count)):
                yield f"p{i} ".encode()
                await anyio.sleep(gap)

        return ModelStream(parts())

    fake.add_endpoint("trickle", trickle)
    with fake.serve() as srv:
        yield srv


DEADLINES = [
    # (operation, body "first,gap,count", Timeout, which deadline passes, parts before it)
    ("invoke", "0.5,0,1", sm.Timeout(read=0.2), "first_byte", 0),
    ("invoke", "0.5,0,1", sm.Timeout(first_byte=0.2, read=5), "first_byte", 0),
    ("invoke", "0.5,0,1", sm.Timeout(total=0.2), "total", 0),
    ("stream", "0,0.6,3", sm.Timeout(read=0.2), "idle", 1),
    ("stream", "0.3,0.6,3", sm.Timeout(first_byte=2, read=0.2), "idle", 1),
    ("stream", "0.6,0,3", sm.Timeout(first_byte=0.2, read=5), "first_byte", 0),
    ("stream", "0,0.1,100", sm.Timeout(total=0.5), "total", None),
]


@pytest.mark.parametrize(("op", "body", "timeout", "which", "parts"), DEADLINES)
async def test_each_deadline_says_which_passed(
    paced: LoopbackServer[FakeSageMakerRuntime],
    transport: str,
    op: str,
    body: str,
    timeout: sm.Timeout,
    which: str,
    parts: int | None,
) -> None:
    """connect/first_byte/idle/total: a passed deadline raises RequestTimeout naming it, in time."""
    start = anyio.current_time()
    async with paced.fake.client(endpoint_url=paced.url, transport=transport) as rt:
        with pytest.raises(sm.RequestTimeout) as info:
            if op == "invoke":
                await rt.invoke_endpoint("trickle", body, timeout=timeout)
            else:
                async for _ in rt.invoke_endpoint_with_response_stream(
                    "trickle", body, timeout=timeout
                ):
                    pass
        elapsed = anyio.current_time() - start
        # The client stays usable after any deadline.
        assert (await rt.invoke_endpoint("trickle", "0,0,1")).body == b"p0 "
    assert info.value.timeout == which
    assert elapsed < 2.0
    if parts is not None:
        assert info.value.parts_received == parts
    else:
        assert info.value.parts_received > 0


@pytest.mark.parametrize("bad", [0, -1, True, "5"])
def test_timeout_values_are_validated(bad: Any) -> None:
    """A deadline must be a positive number of seconds (or None)."""
    with pytest.raises(sm.ParamValidationError):
        sm.Timeout(read=bad)


class _Flood:
    """An engine response whose bytes are always already there: reads never suspend."""

    status = 200

    def __init__(self, until: float) -> None:
        from sagemaker_rt_async._errors import ResponseHeaders

        self.headers = ResponseHeaders.from_pairs([])
        self.reads = 0
        self._until = until

    async def read_chunk(self) -> bytes:
        self.reads += 1
        if anyio.current_time() > self._until:  # (no checkpoint here, so no fail_after either)
            raise AssertionError("still reading 5 s past the stream's total deadline")
        return b"x" * 64

    async def aclose(self) -> None:
        return None


async def test_total_passes_even_when_reads_never_wait() -> None:
    """A server that never lets the client wait (every read finds bytes buffered: no cancel
    scope is ever checked) still meets the stream's ``total``: the deadline is compared on
    every read, not only when one suspends."""
    from sagemaker_rt_async._exchange import Response

    # Short: every read that never suspends leaves a cancelled timer in the loop's heap until
    # the loop runs again, and a long flood made a GC pass stall past a tight margin under load.
    deadline = anyio.current_time() + 0.05
    raw = _Flood(until=deadline + 5.0)
    response = Response(
        raw, where="InvokeEndpointWithResponseStream", idle=5.0, gate=anyio.Semaphore(1)
    )
    with pytest.raises(sm.RequestTimeout) as info:
        while True:
            await response.read_chunk(deadline, 0.05)
    assert info.value.timeout == "total"
    assert "took longer than 0.05 s" in str(info.value)
    assert raw.reads > 0
