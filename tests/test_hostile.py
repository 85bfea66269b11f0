"""The engines against a hostile server: resets, trickles, mis-framing, unsolicited bytes.

Every case runs on each engine (aiohttp on asyncio; httpx on asyncio and trio) against
``_hostile.Hostile``, a raw socket server whose script decides every byte. The invariants:

- a response is never delivered to a request it does not answer;
- a malformed response after the request was sent is one attempt and a ``TransportError``
  (never retried: the server acted), and its connection is closed;
- each deadline phase (pool, connect, response head, gap between body bytes) is enforced as
  documented, the same way on every engine, and no call hangs past it;
- cancellation, deadlines and abandoned streams leave no connection open (counted server-side).
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from _hostile import Conn, Hostile, response

import sagemaker_rt_async as sm
from sagemaker_rt_async._eventstream import payload_part
from sagemaker_rt_async.testing import TEST_CREDENTIALS

pytestmark = pytest.mark.anyio

FAST = sm.Retry(max_attempts=3, max_backoff=0.01)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


def client(server: Hostile, transport: str, **kwargs: Any) -> sm.SageMakerRuntimeClient:
    """A client of the hostile server (retries on, so a wrong retry would show)."""
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeout", sm.Timeout(connect=2, read=3, pool=3))
    return sm.SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=TEST_CREDENTIALS,
        transport=transport,  # type: ignore[arg-type]
        **kwargs,
    )


async def until(condition: Any, seconds: float = 5.0) -> None:
    """Wait (bounded) until ``condition()``."""
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.01)


# --- malformed answers: one attempt, a TransportError, the connection closed ----------------

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

MALFORMED = {
    "garbage status line": b"HTTX/9 banana\r\n\r\n",
    "bad header line": b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok",
    "bad chunk size in the head's segment": CHUNKED_HEAD + b"zz\r\nxx\r\n0\r\n\r\n",
    "missing CRLF after a chunk": CHUNKED_HEAD + b"2\r\nokXX3\r\nabc\r\n0\r\n\r\n",
    "chunk size overflow": CHUNKED_HEAD + b"fffffffffffffffffffff\r\nx\r\n",
}


@pytest.mark.parametrize("wire", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_answers_are_one_attempt(transport: str, wire: bytes) -> None:
    """A response that cannot be parsed is the server's answer: never retried, typed."""

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(wire)

    with Hostile(answer) as server:
        async with client(server, transport) as rt:
            start = time.monotonic()
            with pytest.raises(sm.TransportError) as info:
                await rt.invoke_endpoint("x", b"{}")
            assert time.monotonic() - start < 2.5
            assert not info.value.retryable
        assert server.requests == 1
        await until(lambda: server.open_connections == 0)


LATER = {
    "chunk size not hex": b"zz\r\nxx\r\n",
    "missing CRLF": b"2\r\nokXX",
    "size overflow": b"fffffffffffffffffffffffff\r\n",
    "bad trailer": b"0\r\nno colon trailer\r\n\r\n",
}


@pytest.mark.parametrize("tail", list(LATER.values()), ids=list(LATER))
async def test_bad_chunking_in_a_later_segment_fails_fast(transport: str, tail: bytes) -> None:
    """Bad chunk framing that arrives after the head never hangs the call (it used to wait
    past every deadline on aiohttp): a TransportError long before the read deadline."""

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(CHUNKED_HEAD + b"5\r\nhello\r\n")
            await anyio.sleep(0.2)
            await conn.send(tail)

    with Hostile(answer) as server:
        async with client(server, transport, timeout=sm.Timeout(read=8)) as rt:
            start = time.monotonic()
            with pytest.raises(sm.TransportError) as info:
                await rt.invoke_endpoint("x", b"{}")
            assert time.monotonic() - start < 4, "waited for the read deadline"
            assert not isinstance(info.value, sm.RequestTimeout)
        assert server.requests == 1
        await until(lambda: server.open_connections == 0)


async def test_bad_chunking_mid_stream_fails_fast(transport: str) -> None:
    """The same on a response stream: the parts before it, then a TransportError, fast."""
    part = payload_part(b"first")
    head = CHUNKED_HEAD.replace(
        b"\r\n\r\n", b"\r\nContent-Type: application/vnd.amazon.eventstream\r\n\r\n"
    )

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await anyio.sleep(0.2)
            await conn.send(b"zz\r\nxx\r\n")

    with Hostile(answer) as server:
        async with client(server, transport, timeout=sm.Timeout(read=8)) as rt:
            got: list[bytes] = []
            start = time.monotonic()
            with pytest.raises(sm.TransportError):
                async with rt.invoke_endpoint_with_response_stream("x", b"{}") as stream:
                    async for p in stream:
                        got.append(p)
            assert time.monotonic() - start < 4
            assert got == [b"first"]
        assert server.requests == 1


# --- never an answer to the wrong request -----------------------------------------------------


async def test_unsolicited_response_on_an_idle_connection_is_never_an_answer(
    transport: str,
) -> None:
    """A load balancer's 408 written on an idle keep-alive connection is not the next
    request's response: that connection is discarded and the request goes on a fresh one."""

    async def answer(conn: Conn) -> None:
        body = await conn.request()
        if body is None:
            return
        await conn.send(response(b'"first"' if conn.index == 0 else body))
        if conn.index == 0:
            await anyio.sleep(0.05)
            await conn.send(response(b"", status="408 Request Timeout", close=True))

    with Hostile(answer) as server:
        async with client(server, transport, retry=False) as rt:
            assert (await rt.invoke_endpoint("x", b"1")).body == b'"first"'
            await anyio.sleep(0.3)
            assert (await rt.invoke_endpoint("x", b'"second"')).body == b'"second"'
        assert server.requests == 2


async def test_bytes_past_content_length_never_poison_the_next_answer(
    transport: str, request: pytest.FixtureRequest
) -> None:
    """A body longer than its Content-Length: the extra bytes are never read as the next
    response. The first call gets its answer or a TransportError (one attempt); the second
    gets its own answer."""

    async def answer(conn: Conn) -> None:
        while (body := await conn.request()) is not None:
            if server.requests == 1:
                await conn.send(
                    response(b"ok") + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"
                )
            else:
                await conn.send(response(body))

    with Hostile(answer) as server:
        async with client(server, transport) as rt:
            first: bytes | sm.TransportError
            try:
                first = (await rt.invoke_endpoint("x", b"1")).body
            except sm.TransportError as exc:
                first = exc
            assert first == b"ok" or (isinstance(first, sm.TransportError) and not first.retryable)
            assert server.requests == 1
            await anyio.sleep(0.1)
            assert (await rt.invoke_endpoint("x", b"second")).body == b"second"


@pytest.mark.parametrize("package", ["httpx", "httpx2"])
async def test_lent_clients_never_read_bytes_past_content_length_as_an_answer(
    package: str, anyio_backend: str
) -> None:
    """The same on a lent client of either httpx package: the connection that carried the
    stray bytes is closed, not pooled, so the next call gets its own answer on a new one."""
    import importlib

    lib: Any = importlib.import_module(package)

    async def answer(conn: Conn) -> None:
        while (body := await conn.request()) is not None:
            if server.requests == 1:
                await conn.send(
                    response(b"ok") + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"
                )
            else:
                await conn.send(response(body))

    with Hostile(answer) as server:
        async with lib.AsyncClient() as lent, client(server, "httpx", http_client=lent) as rt:
            assert (await rt.invoke_endpoint("x", b"1")).body == b"ok"
            await anyio.sleep(0.1)
            assert (await rt.invoke_endpoint("x", b"second")).body == b"second"
            assert (await rt.invoke_endpoint("x", b"third")).body == b"third"
        assert server.requests == 3
        assert server.total_connections == 2


async def test_a_connection_the_server_closed_is_not_reused(transport: str) -> None:
    """A server that closes after every response (no ``Connection: close``): a pooled socket
    whose FIN arrived is never reused, so calls do not pay retries (aiohttp reused them: 65% of
    calls paid a retry backoff). A FIN still in flight when the next call starts is the one
    race left: at most a few retries in 30 calls."""

    async def answer(conn: Conn) -> None:
        body = await conn.request()
        if body is not None:
            await conn.send(response(body))
            conn.writer.close()

    retries: list[sm.RetryScheduled] = []

    def hook(event: sm.Event) -> None:
        if isinstance(event, sm.RetryScheduled):
            retries.append(event)

    with Hostile(answer) as server:
        async with client(server, transport, event_hooks=[hook]) as rt:
            for i in range(30):
                await anyio.sleep(0.005)  # a client doing a little work between calls
                assert (await rt.invoke_endpoint("x", str(i))).body == str(i).encode()
        assert server.requests == 30
    assert len(retries) <= 3, [str(r.error) for r in retries]


# --- deadlines, phase by phase ----------------------------------------------------------------


async def test_a_trickled_head_is_cut_by_the_first_byte_deadline(transport: str) -> None:
    """Response headers sent a byte at a time never reset the head's deadline."""

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.trickle(response(b"late"), 0.1)

    with Hostile(answer) as server:
        async with client(
            server, transport, timeout=sm.Timeout(read=5, first_byte=0.8), retry=False
        ) as rt:
            start = time.monotonic()
            with pytest.raises(sm.RequestTimeout) as info:
                await rt.invoke_endpoint("x", b"{}")
            assert info.value.timeout == "first_byte"
            assert 0.7 < time.monotonic() - start < 2.5
        await until(lambda: server.open_connections == 0)


async def test_a_steady_trickle_of_body_bytes_is_not_idle(transport: str) -> None:
    """``read`` bounds each gap between body bytes, not the whole body: a byte every 0.05 s
    for ~1.5 s passes under ``Timeout(read=1, first_byte=5)``."""
    body = b"x" * 30

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(response(body)[: -len(body)])
            await conn.trickle(body, 0.05)

    with Hostile(answer) as server:
        async with client(server, transport, timeout=sm.Timeout(read=1, first_byte=5)) as rt:
            assert (await rt.invoke_endpoint("x", b"{}")).body == body


async def test_a_stalled_body_is_idle(transport: str) -> None:
    """A gap longer than ``read`` after some body bytes: RequestTimeout('idle'), one attempt."""

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(response(b"0123456789")[:-5])
            await conn.idle(5)

    with Hostile(answer) as server:
        async with client(server, transport, timeout=sm.Timeout(read=0.5, first_byte=5)) as rt:
            start = time.monotonic()
            with pytest.raises(sm.RequestTimeout) as info:
                await rt.invoke_endpoint("x", b"{}")
            assert info.value.timeout == "idle"
            assert time.monotonic() - start < 2
        assert server.requests == 1
        await until(lambda: server.open_connections == 0)


async def test_the_pool_deadline_bounds_the_wait_for_a_connection(transport: str) -> None:
    """max_connections=1 and one call holding it: the others fail with 'pool' on time (the
    httpx engine waited 3 s with pool=1: encode/httpcore#822)."""

    async def answer(conn: Conn) -> None:
        while (body := await conn.request()) is not None:
            await anyio.sleep(2)
            await conn.send(response(body))

    with Hostile(answer) as server:
        async with client(
            server, transport, max_connections=1, timeout=sm.Timeout(pool=0.3, read=5), retry=False
        ) as rt:
            outcomes: list[str] = []

            async def one() -> None:
                try:
                    await rt.invoke_endpoint("x", b"1")
                    outcomes.append("ok")
                except sm.RequestTimeout as exc:
                    outcomes.append(exc.timeout)

            start = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                await anyio.sleep(0.1)
                for _ in range(3):
                    tg.start_soon(one)
                await anyio.sleep(0.8)
                assert sorted(outcomes) == ["pool", "pool", "pool"]
            assert outcomes[-1] == "ok"
            assert time.monotonic() - start < 4
        assert server.requests == 1


# --- nothing left open --------------------------------------------------------------------------


async def test_cancellation_leaves_no_connection_open(transport: str) -> None:
    """A call cancelled while waiting for the head closes its connection (server-side count)."""

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.idle(10)  # no answer; notices the client going

    with Hostile(answer) as server:
        async with client(server, transport) as rt:
            with anyio.move_on_after(0.3):
                await rt.invoke_endpoint("x", b"{}")
            await until(lambda: server.open_connections == 0)


async def test_streams_left_by_break_without_async_with_give_their_connection_back(
    transport: str,
) -> None:
    """``async for`` on a stream without ``async with``, left by ``break``: 10 cycles on a pool
    of 2 run at full speed (it used to take 8.6 s on aiohttp) and leave nothing open."""
    parts = b"".join(payload_part(f"p{i}".encode()) for i in range(3))
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
        + f"Content-Length: {len(parts) + 1000}\r\n\r\n".encode()
    )

    async def answer(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(head + parts)  # and the rest never comes

    with Hostile(answer) as server:
        async with client(
            server, transport, max_connections=2, timeout=sm.Timeout(pool=2, read=5)
        ) as rt:
            start = time.monotonic()
            for _ in range(10):
                async for _part in rt.invoke_endpoint_with_response_stream("x", b"{}"):
                    break
            assert time.monotonic() - start < 2
        await until(lambda: server.open_connections == 0)
