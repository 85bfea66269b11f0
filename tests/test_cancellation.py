"""Cancellation anywhere releases the connection and leaves the client usable.

Every test uses a pool of ONE connection: if a cancelled call kept its connection, the next
call would wait for the pool and fail with RequestTimeout(pool) instead of succeeding.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, LoopbackServer

pytestmark = pytest.mark.anyio

POOL_OF_ONE: dict[str, Any] = {"max_connections": 1, "timeout": sm.Timeout(pool=3, read=10)}


@pytest.fixture
def server() -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """A fake with a quick endpoint, a slow one, a slow stream and a slow async endpoint."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("quick")

    async def slow(inv: Invocation) -> bytes:
        # Four times the latest cancel (0.5 s), and short: the server's exit waits for it.
        await anyio.sleep(2)
        return b"late"

    async def drip(inv: Invocation) -> AsyncIterator[bytes]:
        for i in range(100):
            yield f"{i} ".encode()
            await anyio.sleep(0.05)

    fake.add_endpoint("slow", slow)
    fake.add_endpoint("drip", drip)
    fake.add_endpoint(
        "queued", async_output_path="s3://o/p", async_failure_path="s3://o/f", processing_time=60
    )
    with fake.serve() as srv:
        yield srv


async def _still_usable(rt: sm.SageMakerRuntimeClient) -> None:
    assert (await rt.invoke_endpoint("quick", b"ok")).body == b"ok"


async def _cancel_after(delay: float, call: Any) -> None:
    with anyio.move_on_after(delay) as scope:
        await call()
    assert scope.cancelled_caught, "the call should still have been running"


async def test_cancel_while_waiting_for_headers(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str
) -> None:
    """Cancelled while the model thinks: the connection is dropped, the pool stays usable."""
    async with server.fake.client(
        endpoint_url=server.url, transport=transport, **POOL_OF_ONE
    ) as rt:
        await _cancel_after(0.2, lambda: rt.invoke_endpoint("slow", b"x"))
        await _still_usable(rt)


async def test_cancel_while_waiting_for_the_pool(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str
) -> None:
    """A call cancelled while queued for the only connection takes nothing with it."""
    async with server.fake.client(
        endpoint_url=server.url, transport=transport, **POOL_OF_ONE
    ) as rt:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_after, 0.5, lambda: rt.invoke_endpoint("slow", b"x"))
            await anyio.sleep(0.1)  # the slow call holds the only connection
            await _cancel_after(0.2, lambda: rt.invoke_endpoint("quick", b"queued"))
        await _still_usable(rt)


async def test_cancel_mid_stream_and_before_the_first_part(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str
) -> None:
    """Cancelled inside the stream, or while opening it: released either way."""
    async with server.fake.client(
        endpoint_url=server.url, transport=transport, **POOL_OF_ONE
    ) as rt:

        async def consume() -> None:
            async with rt.invoke_endpoint_with_response_stream("drip", b"") as stream:
                async for _ in stream:
                    pass

        await _cancel_after(0.3, consume)
        await _still_usable(rt)
        await _cancel_after(0.01, consume)
        await _still_usable(rt)


async def test_cancel_while_polling_an_async_job(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str
) -> None:
    """Cancelling job.result() between or during polls leaves nothing open."""
    async with server.fake.client(
        endpoint_url=server.url, transport=transport, **POOL_OF_ONE
    ) as rt:
        job = await rt.invoke_endpoint_async("queued", body=b"{}")
        await _cancel_after(0.3, lambda: job.result(poll_interval=0.01, max_poll_interval=0.02))
        await _still_usable(rt)


class DeafServer:
    """Accepts connections and never reads: a large upload stalls in send."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.held.append(conn)

    def hang_up(self) -> None:
        """Close (reset) every accepted connection."""
        for conn in self.held:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        self.held.clear()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.hang_up()
        self.listener.close()


@pytest.fixture
def deaf_server() -> Iterator[DeafServer]:
    """A peer that stopped reading."""
    server = DeafServer()
    try:
        yield server
    finally:
        server.close()


async def test_cancel_while_sending_a_large_body(deaf_server: DeafServer, transport: str) -> None:
    """Cancelled mid-upload (the peer stopped reading): the call ends promptly.

    Known limit of the aiohttp engine: aiohttp closes that connection gracefully, and asyncio
    keeps a socket whose write buffer cannot drain in "closing" until the peer reads or resets
    it (here: hang_up). The httpx engine drops it at once.
    """
    fake = FakeSageMakerRuntime()
    async with fake.client(endpoint_url=deaf_server.url, transport=transport, **POOL_OF_ONE) as rt:
        start = anyio.current_time()
        await _cancel_after(0.3, lambda: rt.invoke_endpoint("ep", b"x" * 6_000_000))
        assert anyio.current_time() - start < 2
        await anyio.to_thread.run_sync(deaf_server.hang_up)
        await anyio.sleep(0.1)  # let the engine see the reset before this loop ends


async def test_cancel_during_a_retry_backoff(
    server: LoopbackServer[FakeSageMakerRuntime], transport: str
) -> None:
    """Cancelled while sleeping before the next attempt: nothing is held, nothing else is sent."""
    from sagemaker_rt_async.testing import ServiceFailure

    calls = 0

    def busy(inv: Invocation) -> bytes:
        nonlocal calls
        calls += 1
        raise ServiceFailure(503, "ServiceUnavailable", "later", headers=[("Retry-After", "5")])

    server.fake.add_endpoint("busy", busy)
    async with server.fake.client(
        endpoint_url=server.url, transport=transport, **POOL_OF_ONE
    ) as rt:
        await _cancel_after(0.5, lambda: rt.invoke_endpoint("busy", b"x"))
        assert calls == 1  # the second attempt was never sent
        await _still_usable(rt)


@pytest.fixture
def unanswered_connect() -> Iterator[str]:
    """A listener whose accept queue is full: a new connection's handshake is never completed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue (backlog 0 still admits one or two)
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_cancel_during_connect(unanswered_connect: str, transport: str) -> None:
    """Cancelled while the TCP handshake hangs: the call ends at once, with no socket left."""
    fake = FakeSageMakerRuntime()
    async with fake.client(
        endpoint_url=unanswered_connect, transport=transport, retry=False, **POOL_OF_ONE
    ) as rt:
        start = anyio.current_time()
        with anyio.move_on_after(0.3):
            await rt.invoke_endpoint("ep", b"x")
        assert anyio.current_time() - start < 2


async def test_tls_is_verified_by_default(anyio_backend: str) -> None:
    """The engines we build verify certificates: a server whose CA is not trusted is refused
    before anything is sent (request_sent=False), on every engine."""
    import ssl
    import threading

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        listener.settimeout(5)
        for _ in range(2 if anyio_backend == "asyncio" else 1):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        received.append(tls.recv(1024))
                except (ssl.SSLError, OSError):
                    pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        for transport in ("aiohttp", "httpx") if anyio_backend == "asyncio" else ("httpx",):
            async with sm.SageMakerRuntimeClient(
                region="us-east-1",
                endpoint_url=f"https://localhost:{port}",
                credentials=("AKIDEXAMPLE", "secret"),
                transport=transport,
                retry=False,
            ) as rt:
                with pytest.raises(sm.TransportError) as info:
                    await rt.invoke_endpoint("x", b"{}")
                assert not info.value.request_sent
                assert "certif" in str(info.value).lower()
    finally:
        listener.close()
        thread.join(5)
    assert received == []
