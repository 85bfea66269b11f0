"""A stream the server did not process is replayed, re-signed, on a new stream (RFC 9113 §8.7).

RST_STREAM(REFUSED_STREAM), or a GOAWAY whose last stream id is below ours, before the response
HEADERS: the server never acted on the stream, so the session opens a new one (a new initial
signature) and sends again what it had sent, each event signed anew on the new chain (the fake
verifies every signature). Once the HEADERS arrived the stream was accepted: a refusal then is
an error, not a replay. More than the replay buffer sent before the head: a retryable error that
says so. Our own h2 server (the test kit's fake), h2c, asyncio and trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

import sagemaker_rt_async._bidi as bidi
from sagemaker_rt_async import Retry, SageMakerRuntimeClient, TransportError
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer, FakeBidiSession

pytestmark = pytest.mark.anyio

WAIT_S = 10.0
REFUSED_STREAM = 7


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


@pytest.fixture
def server() -> Iterator[FakeBidiServer]:
    """The fake endpoint over h2c, checking every signature."""
    with FakeBidiServer() as fake:
        yield fake


@pytest.fixture
async def rt(server: FakeBidiServer) -> AsyncIterator[SageMakerRuntimeClient]:
    """A client retrying quickly; the server holds no connection once it is closed."""
    async with SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=TEST_CREDENTIALS,
        retry=Retry(max_attempts=3, max_backoff=0.01),
    ) as client:
        yield client
    with anyio.move_on_after(WAIT_S):
        while server.open_connections:
            await anyio.sleep(0.01)
    assert server.open_connections == 0


async def _echo(rt: SageMakerRuntimeClient, parts: list[bytes]) -> list[bytes]:
    with anyio.fail_after(WAIT_S):
        async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
            for part in parts:
                await session.send(part)
            await session.end_input()
            return [p.data async for p in session]


@pytest.mark.parametrize("how", ["reset", "goaway"])
async def test_a_refused_stream_is_replayed_re_signed(
    rt: SageMakerRuntimeClient, server: FakeBidiServer, how: str
) -> None:
    """Refused after two events: the session goes on on a new stream, every event (and the
    end frame) sent again on a new signature chain the server verifies; the caller sees one
    session with every answer."""
    server.refuse_next(how, after_parts=2)
    assert await _echo(rt, [b"one", b"two", b"three"]) == [b"one", b"two", b"three"]
    refused, served = server.sessions
    assert refused.refused == how
    assert [p.data for p in refused.parts] == [b"one", b"two"]
    assert [p.data for p in served.parts] == [b"one", b"two", b"three"]
    # The fake checks every event against the chain seeded by its own stream's initial
    # signature: the replayed events were signed on the new stream's chain, from event 1.
    assert served.input_ended and served.finished and served.signature_error is None
    assert refused.signature_error is None
    assert server.total_connections == (2 if how == "goaway" else 1)


async def test_a_stream_refused_before_any_event_is_replayed(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """Refused with nothing sent yet (the caller still waiting to send): a new stream."""
    server.refuse_next("reset", after_parts=0)
    async with rt.invoke_endpoint_with_bidirectional_stream("echo") as session:
        with anyio.fail_after(WAIT_S):
            while server.streams_opened < 2:
                await anyio.sleep(0.01)
        await session.send(b"late")
        await session.end_input()
        assert [p.data async for p in session] == [b"late"]
    assert [s.refused for s in server.sessions] == ["reset", None]


async def test_every_attempt_refused_is_the_last_refusal(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """The retry policy bounds the replays: three attempts refused, the third one's error
    (retryable: nothing was processed) is raised, by the send or the iteration."""
    for _ in range(3):
        server.refuse_next("reset", after_parts=1)
    with pytest.raises(TransportError, match="REFUSED_STREAM") as caught:
        await _echo(rt, [b"again"])
    assert caught.value.retryable and not caught.value.request_sent
    assert [s.refused for s in server.sessions] == ["reset"] * 3


async def test_past_the_replay_buffer_a_refusal_is_a_retryable_error(
    rt: SageMakerRuntimeClient, server: FakeBidiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More sent before the head than the replay buffer keeps: not replayed (it cannot be),
    but a TransportError that says why and is marked retryable for the caller."""
    monkeypatch.setattr(bidi, "REPLAY_LIMIT_BYTES", 1000)
    server.refuse_next("reset", after_parts=3)
    with pytest.raises(TransportError, match="replay buffer") as caught:
        await _echo(rt, [b"x" * 600, b"y" * 600, b"z" * 600])
    assert caught.value.retryable and not caught.value.request_sent
    assert len(server.sessions) == 1


async def test_without_retries_a_refusal_is_raised(server: FakeBidiServer) -> None:
    """``retry=False``: no replay; the refusal is a retryable TransportError."""
    server.refuse_next("reset", after_parts=1)
    async with SageMakerRuntimeClient(
        region="us-east-1", endpoint_url=server.url, credentials=TEST_CREDENTIALS, retry=False
    ) as rt:
        with pytest.raises(TransportError, match="REFUSED_STREAM") as caught:
            await _echo(rt, [b"once"])
        assert caught.value.retryable
        assert await _echo(rt, [b"next"]) == [b"next"]
    assert len(server.sessions) == 2


async def test_a_refusal_after_the_head_is_not_replayed(
    rt: SageMakerRuntimeClient, server: FakeBidiServer
) -> None:
    """The HEADERS arrived, so the server accepted the stream: a REFUSED_STREAM after them is
    a plain error (the model may have acted on what it read), and nothing is sent again."""

    async def accepts_then_refuses(session: FakeBidiSession) -> None:
        part = await session.receive()
        assert part is not None
        await session.send(part.data)
        await session.reset(REFUSED_STREAM)

    server.add_endpoint("flaky", accepts_then_refuses)
    received: list[bytes] = []
    with pytest.raises(TransportError, match="REFUSED_STREAM") as caught:
        async with rt.invoke_endpoint_with_bidirectional_stream("flaky") as session:
            await session.send(b"processed")
            with anyio.fail_after(WAIT_S):
                async for part in session:
                    received.append(part.data)
    assert received == [b"processed"]
    assert not caught.value.retryable
    assert len(server.sessions) == 1
