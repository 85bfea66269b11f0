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
from sagemaker_rt_async._transport import make_http_client, translate
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, LoopbackServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
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


async def test_max_connections_bounds_sockets(server: LoopbackServer, transport: str) -> None:
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


async def test_read_timeout(server: LoopbackServer, transport: str) -> None:
    """A model slower than the read deadline raises RequestTimeout(timeout='read')."""
    async with server.fake.client(endpoint_url=server.url, transport=transport) as rt:
        with pytest.raises(sm.RequestTimeout) as info:
            await rt.invoke_endpoint("slow", b"2", timeout=sm.Timeout(read=0.2))
        assert info.value.timeout == "first_byte"
        assert info.value.request_sent is True
        assert not info.value.retryable  # inference may have run: never assumed safe
        assert isinstance(info.value.__cause__, httpx.HTTPError | Exception)
        # The client stays usable after a timeout.
        assert (await rt.invoke_endpoint("slow", b"0")).body == b"done"


async def test_per_call_timeout_overrides_client(server: LoopbackServer, transport: str) -> None:
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


async def test_translate_classifies_httpx_native_errors() -> None:
    """httpx's own exceptions map to our classes with the right phase and retry safety."""
    req = httpx.Request("POST", "http://x")
    cases: list[tuple[Exception, type[sm.TransportError], str | None, bool]] = [
        (httpx.ConnectError("refused", request=req), sm.TransportError, None, False),
        (httpx.ConnectTimeout("slow", request=req), sm.RequestTimeout, "connect", False),
        (httpx.PoolTimeout("full", request=req), sm.RequestTimeout, "pool", False),
        (httpx.ReadTimeout("slow", request=req), sm.RequestTimeout, "read", True),
        (httpx.WriteTimeout("slow", request=req), sm.RequestTimeout, "write", True),
        (httpx.ReadError("reset", request=req), sm.TransportError, None, True),
        (httpx.RemoteProtocolError("bad", request=req), sm.TransportError, None, True),
    ]
    for exc, cls, phase, sent in cases:
        err = translate(exc, where="op")
        assert type(err) is cls, exc
        assert err.request_sent is sent, exc
        if phase is not None:
            assert isinstance(err, sm.RequestTimeout) and err.timeout == phase


async def test_translate_looks_through_httpx_aiohttp_mapping() -> None:
    """httpx-aiohttp calls a server disconnect ConnectTimeout; the aiohttp cause decides."""
    import aiohttp

    disconnect = httpx.ConnectTimeout("Server disconnected")
    disconnect.__cause__ = aiohttp.ServerDisconnectedError()
    err = translate(disconnect, where="op")
    assert type(err) is sm.TransportError
    assert err.request_sent is True

    timeout = httpx.ConnectTimeout("x")
    timeout.__cause__ = aiohttp.ConnectionTimeoutError()
    err = translate(timeout, where="op")
    assert isinstance(err, sm.RequestTimeout) and err.timeout == "connect"
    assert err.request_sent is False


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
    server: LoopbackServer, anyio_backend: str
) -> None:
    """On the aiohttp engine, HEAD answers (no body) each end at once, the third as the first.

    Every bodiless aiohttp response shares one reader, which reports its end once and then
    (b"", True) forever; a read loop that took that for a chunk boundary would spin without
    yielding. SIGALRM turns such a spin into a failure instead of a hang.
    """
    if anyio_backend != "asyncio":
        pytest.skip("the aiohttp engine runs on asyncio only")
    http = make_http_client(
        backend="asyncio",
        transport="aiohttp",
        max_connections=2,
        keepalive_expiry=5.0,
        http2=False,
    )

    def spinning(signum: int, frame: Any) -> None:
        raise AssertionError("reading an empty body did not end")

    previous = signal.signal(signal.SIGALRM, spinning)
    signal.setitimer(signal.ITIMER_REAL, 10.0)
    try:
        async with http:
            for _ in range(3):
                response = await http.send(
                    http.build_request("HEAD", f"{server.url}/ping"), stream=True
                )
                assert [chunk async for chunk in response.aiter_raw()] == []
                await response.aclose()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def paced() -> Iterator[LoopbackServer]:
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
    paced: LoopbackServer,
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
