"""A bidirectional stream that goes wrong on the wire: each fault is a typed error, raised from
the iteration after the parts before it, and the client stays usable; HTTP/2 control frames
(PING, GOAWAY, RST_STREAM) are handled. Real sockets (h2c), asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio
import pytest

from sagemaker_rt_async import (
    EventStreamProtocolError,
    InternalStreamFailure,
    SageMakerRuntimeClient,
    StreamError,
    TransportError,
)
from sagemaker_rt_async._eventstream import error_message, exception_message
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer, FakeBidiSession

pytestmark = pytest.mark.anyio

WAIT_S = 10.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


@pytest.fixture
def server() -> Iterator[FakeBidiServer]:
    """The fake endpoint over h2c."""
    with FakeBidiServer() as fake:
        yield fake


@pytest.fixture
async def rt(server: FakeBidiServer) -> AsyncIterator[SageMakerRuntimeClient]:
    """A client of the fake; the server holds no connection once it is closed."""
    async with SageMakerRuntimeClient(
        region="us-east-1", endpoint_url=server.url, credentials=TEST_CREDENTIALS, retry=False
    ) as client:
        yield client
    with anyio.move_on_after(WAIT_S):
        while server.open_connections:
            await anyio.sleep(0.01)
    assert server.open_connections == 0


def after_one_part(fault: Callable[[FakeBidiSession], Awaitable[None]]) -> Callable[..., object]:
    """A handler that echoes the first part, then does ``fault``."""

    async def handler(session: FakeBidiSession) -> None:
        part = await session.receive()
        assert part is not None
        await session.send(part.data)
        await fault(session)
        async for _ in session:
            pass

    return handler


async def truncated(session: FakeBidiSession) -> None:
    wire = exception_message("ModelStreamError", b"{}")
    await session.send_raw(wire[: len(wire) // 2])
    await session.end()


async def corrupted(session: FakeBidiSession) -> None:
    wire = bytearray(exception_message("ModelStreamError", b'{"Message": "x"}'))
    wire[-6] ^= 0xFF  # inside the payload: the message CRC no longer matches
    await session.send_raw(bytes(wire))


async def internal_failure(session: FakeBidiSession) -> None:
    await session.send_raw(exception_message("InternalStreamFailure", b'{"Message": "boom"}'))
    await session.end()


async def unmodeled(session: FakeBidiSession) -> None:
    await session.send_raw(error_message("InternalFailure", "boom"))
    await session.end()


async def reset(session: FakeBidiSession) -> None:
    await session.reset()


FAULTS: list[tuple[str, Callable[[FakeBidiSession], Awaitable[None]], type[Exception], str]] = [
    ("truncated", truncated, EventStreamProtocolError, "Truncated"),
    ("crc", corrupted, EventStreamProtocolError, "MessageChecksumMismatch"),
    ("internal-stream-failure", internal_failure, InternalStreamFailure, "InternalStreamFailure"),
    ("error-message", unmodeled, StreamError, "InternalFailure"),
    ("server-reset", reset, TransportError, ""),
]


@pytest.mark.parametrize(("name", "fault", "error", "code"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_faults_after_a_part(
    rt: SageMakerRuntimeClient,
    server: FakeBidiServer,
    name: str,
    fault: Callable[[FakeBidiSession], Awaitable[None]],
    error: type[Exception],
    code: str,
) -> None:
    """The part before the fault is delivered; then the typed error (with its code), which
    every later send repeats; the next session works."""
    server.add_endpoint(name, after_one_part(fault))  # type: ignore[arg-type]
    with pytest.raises(error) as caught:
        async with rt.invoke_endpoint_with_bidirectional_stream(name) as session:
            await session.send(b"first")
            parts = []
            with anyio.fail_after(WAIT_S):
                try:
                    async for part in session:
                        parts.append(part.data)
                finally:
                    assert parts == [b"first"]
    if code:
        assert getattr(caught.value, "error_code", None) == code
    if name == "server-reset":
        assert "INTERNAL_ERROR" in str(caught.value)
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        await session.send(b"next")
        await session.end_input()
        assert [p.data async for p in session] == [b"next"]


async def test_ping_is_answered_while_the_session_is_idle(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """A PING from the server is acknowledged even when the caller neither sends nor reads."""

    async def pinger(session: FakeBidiSession) -> None:
        await session.ping()
        async for _ in session:
            pass

    server.add_endpoint("pinger", pinger)
    async with rt.invoke_endpoint_with_bidirectional_stream("pinger") as session:
        with anyio.fail_after(WAIT_S):
            while server.pings_acked == 0:
                await anyio.sleep(0.01)
        await session.end_input()
    assert server.pings_acked == 1


async def test_goaway_moves_the_next_session_to_a_new_connection(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """A GOAWAY after a session (a server shutting down gracefully): the next session opens a
    new connection and the old one is closed."""

    async def leaving(session: FakeBidiSession) -> None:
        async for part in session:
            await session.send(part.data)
        await session.end()
        await session.goaway()

    server.add_endpoint("leaving", leaving)
    async with rt.invoke_endpoint_with_bidirectional_stream("leaving") as session:
        await session.send(b"served")
        await session.end_input()
        assert [p.data async for p in session] == [b"served"]
    # The GOAWAY follows the session's end: let it reach the socket. The engine reads what
    # waits on an idle connection before reusing it; a GOAWAY still in flight would make the
    # server refuse the next stream (REFUSED_STREAM, a TransportError after the first send).
    await anyio.sleep(0.2)
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        await session.send(b"elsewhere")
        await session.end_input()
        assert [p.data async for p in session] == [b"elsewhere"]
    assert server.total_connections == 2
    assert rt._h2 is not None and rt._h2.open_connections == 1


async def test_goaway_mid_session_is_a_typed_error(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """A GOAWAY while a session is sending: the next send raises TransportError (h2 stops all
    sending on the connection), nothing hangs, and the client opens a new connection next."""

    async def leaving(session: FakeBidiSession) -> None:
        await session.receive()
        await session.goaway()
        async for _ in session:
            pass

    server.add_endpoint("leaving-now", leaving)
    with pytest.raises(TransportError):
        async with rt.invoke_endpoint_with_bidirectional_stream("leaving-now") as session:
            await session.send(b"one")
            with anyio.fail_after(WAIT_S):
                while True:
                    await session.send(b"more")
                    await anyio.sleep(0.01)
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        await session.send(b"fresh")
        await session.end_input()
        assert [p.data async for p in session] == [b"fresh"]
