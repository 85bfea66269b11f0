"""The token-sized stream's fast paths check and deliver exactly what the slow paths do.

Three shortcuts serve a burst of small PayloadParts (benchmarks/stream_callgrind.py measures
them): the decoder's lane prefix (a message starting with the very prelude and header block of
the last lane message skips the prelude work, one CRC over its payload), the stream's
``__anext__`` serving queued parts without counting each one, and the aiohttp engine's
``_drain`` taking everything aiohttp buffered at once. Each is checked against the plain path:
at every split, with every byte of a shortcut message corrupted, with errors after parts, on an
early exit, and (the engine) with the shortcut switched off on the same wire bytes.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
import anyio
import pytest
from _hostile import Conn, Hostile

import sagemaker_rt_async as sm
from sagemaker_rt_async._engines import aiohttp_engine
from sagemaker_rt_async._eventstream import (
    EventStreamDecoder,
    EventStreamMessage,
    exception_message,
    payload_part,
)
from sagemaker_rt_async.testing import TEST_CREDENTIALS

pytestmark = pytest.mark.anyio

MODEL_ERROR = exception_message(
    "ModelStreamError", b'{"ErrorCode": "ModelInvocationTimeExceeded", "Message": "late"}'
)
# Payload lengths in stream order: runs of one length (the shortcut), changes of length (the
# full path, then a new prefix), empty payloads, and a long one. The test below puts an
# exception event after the 8th: the 9th has the same length, so the shortcut would take it
# if it ignored that the lane had ended (its part would then overtake the event).
LENGTHS = [3, 3, 3, 5, 5, 3, 0, 0, 0, 0, 7, 300, 3, 3]


def _payloads() -> list[bytes]:
    return [bytes((65 + i + j) % 256 for j in range(n)) for i, n in enumerate(LENGTHS)]


def _events(decoder: EventStreamDecoder, chunks: list[bytes]) -> list[tuple[str, bytes]]:
    """Feed ``chunks`` as ``ResponseStream`` does (lane first, then messages, re-routing on
    each PayloadPart message); the stream of ("part", payload) / ("other", payload) events."""
    sink: list[bytes] = []
    out: list[tuple[str, bytes]] = []

    def take(messages: list[EventStreamMessage]) -> None:
        out.extend(("part", p) for p in sink)
        sink.clear()
        for m in messages:
            if m.headers.get(":event-type") == "PayloadPart":
                out.append(("part", m.payload))
                decoder.route(m.headers, sink)
            else:
                out.append(("other", m.payload))

    for chunk in chunks:
        take(decoder.feed(chunk))
    decoder.close()
    take([])
    return out


def test_lane_prefix_matches_the_plain_decoder_at_every_split() -> None:
    """Fed in two pieces split at every byte (and one byte at a time), the routed decoder
    yields the same events, in the same order, as a decoder that builds every message."""
    parts = _payloads()
    wire = b"".join(payload_part(p) for p in parts[:8]) + MODEL_ERROR
    wire += b"".join(payload_part(p) for p in parts[8:])
    expected = [
        ("part" if m.headers.get(":event-type") == "PayloadPart" else "other", m.payload)
        for m in EventStreamDecoder().feed(wire)
    ]
    assert [p for kind, p in expected if kind == "part"] == parts
    assert [kind for kind, _ in expected].index("other") == 8
    for cut in range(len(wire) + 1):
        assert _events(EventStreamDecoder(), [wire[:cut], wire[cut:]]) == expected, cut
    assert _events(EventStreamDecoder(), [wire[i : i + 1] for i in range(len(wire))]) == expected
    # A whole burst in one feed: after the first part, every later one of a known length
    # takes the shortcut.
    assert _events(EventStreamDecoder(), [wire]) == expected


@pytest.mark.parametrize("where", ["prelude", "prelude-crc", "headers", "payload", "crc"])
def test_lane_prefix_checks_every_byte_of_a_shortcut_message(where: str) -> None:
    """Each byte of a message that would take the shortcut, flipped, is caught with the same
    error as on the full path; the parts before it are delivered, nothing after it."""
    payload = b"0123456789abcdef"
    good = payload_part(payload)
    hlen = int.from_bytes(good[4:8], "big")
    regions = {
        "prelude": range(0, 8),
        "prelude-crc": range(8, 12),
        "headers": range(12, 12 + hlen),
        "payload": range(12 + hlen, len(good) - 4),
        "crc": range(len(good) - 4, len(good)),
    }
    code = "PreludeChecksumMismatch" if where.startswith("prelude") else "MessageChecksumMismatch"
    for index in regions[where]:
        bad = bytearray(good)
        bad[index] ^= 0x01
        decoder = EventStreamDecoder()
        sink: list[bytes] = []
        first = decoder.feed(good)
        decoder.route(first[0].headers, sink)
        # The second message sets the lane prefix (full path); the third is the shortcut's.
        assert decoder.feed(good + good + bytes(bad) + good) == []
        assert sink == [payload, payload], index
        with pytest.raises(sm.EventStreamProtocolError) as info:
            decoder.close()
        assert info.value.error_code == code, (where, index)
        assert sink == [payload, payload]


def test_lane_prefix_is_per_route() -> None:
    """A new route forgets the prefix: a message with the old block is no lane message."""
    decoder = EventStreamDecoder()
    sink: list[bytes] = []
    first = decoder.feed(payload_part(b"abc"))
    decoder.route(first[0].headers, sink)
    assert decoder.feed(payload_part(b"def") * 2) == []
    assert sink == [b"def", b"def"]
    other = decoder.feed(MODEL_ERROR)
    decoder.route(other[0].headers, [])
    # PayloadParts are now ordinary messages again, whatever prefix was learnt before.
    messages = decoder.feed(payload_part(b"ghi") * 2)
    assert [m.payload for m in messages] == [b"ghi", b"ghi"]
    assert sink == [b"def", b"def"]


# --- the stream: counts and order over both engines -----------------------------------------

CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/vnd.amazon.eventstream\r\nx-amzn-RequestId: rid-1\r\n\r\n"
)


def _chunked(messages: list[bytes], end: bool = True) -> bytes:
    """Each message in an HTTP chunk of its own, as the service frames them."""
    body = b"".join(b"%x\r\n%s\r\n" % (len(m), m) for m in messages)
    return body + (b"0\r\n\r\n" if end else b"")


def _pieces(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` cut at random points: inside chunk-size lines, CRLFs and messages alike."""
    cuts = sorted(rng.sample(range(1, len(data)), min(40, len(data) - 1)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def _client(server: Hostile, transport: str, **kwargs: Any) -> sm.SageMakerRuntimeClient:
    kwargs.setdefault("timeout", sm.Timeout(connect=2, read=5, pool=3))
    return sm.SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=TEST_CREDENTIALS,
        transport=transport,  # type: ignore[arg-type]
        retry=sm.Retry(max_attempts=1),
        **kwargs,
    )


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries (the stream's code is shared)."""
    return str(request.param)


async def test_counts_follow_the_parts_handed_out(transport: str) -> None:
    """``parts_received`` / ``bytes_received`` count what was handed out, part by part, even
    when a whole burst is queued at once; an error after the parts carries those counts."""
    payloads = [b"x" * (i % 7) for i in range(200)]
    wire = CHUNKED_HEAD + _chunked([payload_part(p) for p in payloads] + [MODEL_ERROR])

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(wire)

    with Hostile(answer) as server:
        async with _client(server, transport) as rt:
            stream = rt.invoke_endpoint_with_response_stream("x", b"{}")
            got: list[bytes] = []
            with pytest.raises(sm.ModelStreamError) as info:
                async with stream:
                    async for part in stream:
                        got.append(part)
                        assert stream.parts_received == len(got)
                        assert stream.bytes_received == sum(map(len, got))
    assert got == payloads
    assert info.value.parts_received == 200
    assert info.value.bytes_received == sum(map(len, payloads))
    assert stream.parts_received == 200


# --- the aiohttp engine's drain ------------------------------------------------------------


def test_drain_runs_only_on_readers_it_was_checked_against() -> None:
    """The private shortcut is taken only for the aiohttp releases it was written against and
    a reader with every field it uses; anything else takes the public path."""
    reader = aiohttp.StreamReader
    assert aiohttp_engine._drains(reader, "3.14.5")
    assert aiohttp_engine._drains(reader, "3.10.0")
    for version in ("3.9.5", "3.15.0", "4.0.0", "banana", ""):
        assert not aiohttp_engine._drains(reader, version), version

    class Changed(reader):  # type: ignore[misc, valid-type]
        __slots__ = ()

    assert aiohttp_engine._drains(Changed, "3.14.0")
    missing = type("Missing", (), {"__slots__": ("_buffer", "_size"), "_wait": lambda: None})
    assert not aiohttp_engine._drains(missing, "3.14.0")
    installed = aiohttp_engine._version(aiohttp.__version__)
    low, high = aiohttp_engine._DRAIN_VERSIONS
    assert (low <= installed < high) == aiohttp_engine._DRAIN


@pytest.fixture(params=["drain", "public"])
def drain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The aiohttp engine with its drain on (where this aiohttp allows it), and off."""
    on: bool = request.param == "drain"
    if on and not aiohttp_engine._DRAIN:
        pytest.skip(f"aiohttp {aiohttp.__version__} takes the public path only")
    monkeypatch.setattr(aiohttp_engine, "_DRAIN", on)
    return on


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_drain_and_public_path_deliver_the_same_parts(drain: bool, seed: int) -> None:
    """The same wire bytes, cut anywhere and paced, give the same parts then the same error on
    both paths; the second stream reuses the connection (aiohttp's reader state stayed
    consistent, so the body's end was seen and the connection released)."""
    rng = random.Random(seed)
    payloads = [
        bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 64, 64, 3000, 40000))))
        for _ in range(150)
    ]
    messages = [payload_part(p) for p in payloads]
    first = CHUNKED_HEAD + _chunked(messages)
    second = CHUNKED_HEAD + _chunked([*messages[:10], MODEL_ERROR])

    async def answer(conn: Conn) -> None:
        for wire in (first, second):
            if await conn.request() is None:
                return
            for piece in _pieces(wire, rng):
                await conn.send(piece)
                if rng.random() < 0.2:
                    await asyncio.sleep(0.002)

    with Hostile(answer) as server:
        async with _client(server, "aiohttp") as rt:
            async with rt.invoke_endpoint_with_response_stream("x", b"{}") as stream:
                assert [p async for p in stream] == payloads
            got: list[bytes] = []
            with pytest.raises(sm.ModelStreamError):
                async with rt.invoke_endpoint_with_response_stream("x", b"{}") as stream:
                    async for part in stream:
                        got.append(part)
            assert got == payloads[:10]
        assert server.total_connections == 1
        assert server.requests == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_drain_survives_flow_control(drain: bool) -> None:
    """A burst far above aiohttp's buffer limits, read by a slow consumer (aiohttp pauses the
    transport and its parser, and must be resumed by the reads), arrives whole and in order,
    and the connection is reused."""
    payloads = [i.to_bytes(4, "big") * 16 for i in range(6000)]  # ~1 MiB of 64 B parts
    wire = CHUNKED_HEAD + _chunked([payload_part(p) for p in payloads])

    async def answer(conn: Conn) -> None:
        for _ in range(2):
            if await conn.request() is None:
                return
            await conn.send(wire)

    with Hostile(answer) as server:
        with anyio.fail_after(30):
            async with _client(server, "aiohttp") as rt:
                for _ in range(2):
                    got: list[bytes] = []
                    async with rt.invoke_endpoint_with_response_stream("x", b"{}") as stream:
                        async for part in stream:
                            if len(got) % 1000 == 0:
                                await asyncio.sleep(0.02)  # let the buffer fill: reading pauses
                            got.append(part)
                    assert got == payloads
        assert server.total_connections == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_drain_early_break_closes_the_connection(drain: bool) -> None:
    """Leaving a stream with a burst still buffered closes that connection (its body was not
    read to the end); the next stream gets a new one and the server ends with none open."""

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(CHUNKED_HEAD + _chunked([payload_part(b"p" * 64)] * 3000, end=False))

    with Hostile(answer) as server:
        async with _client(server, "aiohttp") as rt:
            for _ in range(3):
                async with rt.invoke_endpoint_with_response_stream("x", b"{}") as stream:
                    async for _part in stream:
                        break
                assert stream.closed
        with anyio.fail_after(5):
            while server.open_connections:
                await anyio.sleep(0.01)
        assert server.total_connections == 3


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_drain_bad_chunking_after_parts_fails_fast(drain: bool) -> None:
    """Parts, then broken chunk framing: the parts are delivered, then a TransportError well
    before the read deadline (never a hang, never a retry)."""

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(CHUNKED_HEAD + _chunked([payload_part(b"ok")] * 50, end=False))
            await asyncio.sleep(0.1)
            await conn.send(b"zz\r\nxx\r\n")

    with Hostile(answer) as server:
        async with _client(server, "aiohttp", timeout=sm.Timeout(read=8)) as rt:
            got: list[bytes] = []
            with anyio.fail_after(4), pytest.raises(sm.TransportError):
                async with rt.invoke_endpoint_with_response_stream("x", b"{}") as stream:
                    async for part in stream:
                        got.append(part)
            assert got == [b"ok"] * 50
        assert server.requests == 1


class _ClosedReader:
    """An aiohttp reader whose connection went before the connection-lost callback ran."""

    async def readchunk(self) -> tuple[bytes, bool]:
        raise RuntimeError("Connection closed.")


class _Gone:
    status = 200
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()
    connection = None
    content = _ClosedReader()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_connection_closed_under_the_public_read_is_a_transport_error() -> None:
    """aiohttp's ``RuntimeError("Connection closed.")`` from ``readchunk`` (the connection
    dropped before our callback failed the reader) is the typed error of a broken body, not a
    bare RuntimeError nor a ParamValidationError."""
    response = aiohttp_engine._Response(_Gone())  # type: ignore[arg-type]
    with pytest.raises(sm.TransportError) as info:
        await response.read_chunk()
    assert "closed before the body ended" in str(info.value)
    assert not info.value.retryable
    assert await response.read_chunk() == b""
