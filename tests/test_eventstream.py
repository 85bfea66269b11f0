"""The event-stream codec: AWS vectors, spec examples, every split, round trips, botocore, errors.

botocore's ``EventStreamBuffer`` is the differential oracle for well-formed bytes. Where we differ
on purpose the test says so: we raise typed errors (botocore raises ``KeyError`` on an unknown
header type and accepts a header value cut short by its block) and we report truncation at end
of input (botocore drops the partial bytes silently, spec §4.5).
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import tracemalloc
import uuid
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from conftest import VECTORS
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sagemaker_rt_async._errors import EventStreamProtocolError, ParamValidationError
from sagemaker_rt_async._eventstream import (
    DEFAULT_MAX_HEADERS_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE,
    EventStreamDecoder,
    EventStreamMessage,
    HeaderType,
    HeaderValue,
    encode_message,
    error_message,
    exception_message,
    payload_part,
)

Triple = tuple[str, HeaderType, HeaderValue]

# ------------------------------------------------------------------------------------ helpers


def _decode_pieces(stream: bytes, cuts: Sequence[int] = ()) -> list[EventStreamMessage]:
    """Feed ``stream`` cut at ``cuts`` (sorted offsets), then close: nothing may stay buffered."""
    decoder = EventStreamDecoder()
    messages: list[EventStreamMessage] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        messages += decoder.feed(stream[previous:cut])
        previous = cut
    assert decoder.buffered == 0
    decoder.close()
    return messages


def _decode_bytewise(stream: bytes) -> list[EventStreamMessage]:
    return _decode_pieces(stream, range(1, len(stream)))


def _frame(
    block: bytes,
    payload: bytes = b"",
    *,
    total: int | None = None,
    headers_length: int | None = None,
    prelude_crc: int | None = None,
    message_crc: int | None = None,
) -> bytes:
    """An independent encoder for hostile bytes: any lengths, CRCs right unless overridden."""
    prelude = struct.pack(
        ">II",
        16 + len(block) + len(payload) if total is None else total,
        len(block) if headers_length is None else headers_length,
    )
    prelude += struct.pack(">I", zlib.crc32(prelude) if prelude_crc is None else prelude_crc)
    body = prelude + block + payload
    return body + struct.pack(">I", zlib.crc32(body) if message_crc is None else message_crc)


def _prelude(total: int, headers_length: int) -> bytes:
    """Just the 12-byte prelude, with a valid CRC."""
    return _frame(b"", total=total, headers_length=headers_length)[:12]


def _header(name: bytes, type_byte: int, value: bytes = b"") -> bytes:
    return bytes([len(name)]) + name + bytes([type_byte]) + value


def _triples(message: EventStreamMessage) -> list[Triple]:
    return [(name, message.header_types[name], value) for name, value in message.headers.items()]


def _typed(triples: Sequence[tuple[str, HeaderType, object]]) -> list[tuple[Any, ...]]:
    """Triples with each value's Python type: ``1 == True`` must not hide a type error."""
    return [(name, htype, type(value), value) for name, htype, value in triples]


def _expected_message(triples: Sequence[Triple], payload: bytes) -> EventStreamMessage:
    return EventStreamMessage(
        {name: value for name, _, value in triples},
        payload,
        {name: htype for name, htype, _ in triples},
    )


def _botocore_decode(stream: bytes, cuts: Sequence[int] = ()) -> list[Any]:
    buffer = EventStreamBuffer()
    messages: list[Any] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        buffer.add_data(stream[previous:cut])
        messages.extend(buffer)
        previous = cut
    return messages


def _as_botocore(headers: Any) -> dict[str, Any]:
    """Our header values as botocore returns them: a uuid as its 16 raw bytes."""
    return {k: (v.bytes if isinstance(v, uuid.UUID) else v) for k, v in headers.items()}


def _assert_fails_at_byte(wire: bytes, index: int, code: str) -> None:
    """Fed byte by byte, ``wire`` is accepted up to ``index`` and fails with ``code`` there."""
    decoder = EventStreamDecoder()
    for before in range(index):
        assert decoder.feed(wire[before : before + 1]) == []
    with pytest.raises(EventStreamProtocolError) as info:
        decoder.feed(wire[index : index + 1])
    assert info.value.error_code == code


# ------------------------------------------------------------------------ the AWS vectors

_MASK32 = 0xFFFFFFFF
_EXPECTED_POSITIVE = [
    "all_headers",
    "empty_message",
    "int32_header",
    "payload_no_headers",
    "payload_one_str_header",
]
_EXPECTED_NEGATIVE = [
    "corrupted_header_len",
    "corrupted_headers",
    "corrupted_length",
    "corrupted_payload",
]
_STAGES = {
    "Prelude checksum mismatch": "PreludeChecksumMismatch",
    "Message checksum mismatch": "MessageChecksumMismatch",
}


def _vector_names(kind: str) -> list[str]:
    # Collection must never fail: without the vectors the parameter list is empty and pytest
    # reports the test as skipped.
    folder = VECTORS / "eventstream" / "encoded" / kind
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


POSITIVE = _vector_names("positive")
NEGATIVE = _vector_names("negative")


def _wire(vectors_dir: Path, kind: str, name: str) -> bytes:
    return (vectors_dir / "eventstream" / "encoded" / kind / name).read_bytes()


def _doc(vectors_dir: Path, name: str) -> dict[str, Any]:
    text = (vectors_dir / "eventstream" / "decoded" / "positive" / name).read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def _json_triples(doc: dict[str, Any]) -> list[Triple]:
    """The README's JSON conventions: byte signed, bytes/strings/uuids base64."""
    triples: list[Triple] = []
    for header in doc["headers"]:
        htype = HeaderType(header["type"])
        raw = header["value"]
        value: HeaderValue
        if htype is HeaderType.BYTE_ARRAY:
            value = base64.b64decode(raw)
        elif htype is HeaderType.STRING:
            value = base64.b64decode(raw).decode("utf-8")
        elif htype is HeaderType.UUID:
            value = uuid.UUID(bytes=base64.b64decode(raw))
        elif htype in (HeaderType.BOOL_TRUE, HeaderType.BOOL_FALSE):
            assert raw is (htype is HeaderType.BOOL_TRUE)
            value = raw
        else:
            assert type(raw) is int
            value = raw
        triples.append((header["name"], htype, value))
    return triples


def test_vector_corpus_is_complete(vectors_dir: Path) -> None:
    """The corpus holds exactly the 5 positive and 4 negative vectors the README lists."""
    assert POSITIVE == _EXPECTED_POSITIVE
    assert NEGATIVE == _EXPECTED_NEGATIVE


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_vector_decodes_to_its_json(vectors_dir: Path, name: str) -> None:
    """Each positive vector is exactly one message whose fields all match its JSON."""
    wire = _wire(vectors_dir, "positive", name)
    doc = _doc(vectors_dir, name)
    decoder = EventStreamDecoder()
    [message] = decoder.feed(wire)
    decoder.close()

    total, headers_length, prelude_crc = struct.unpack(">III", wire[:12])
    (message_crc,) = struct.unpack(">I", wire[-4:])
    assert (
        (total, headers_length)
        == (doc["total_length"], doc["headers_length"])
        == (
            len(wire),
            headers_length,
        )
    )
    # The JSON writes CRCs as signed int32: compare modulo 2^32.
    assert doc["prelude_crc"] & _MASK32 == prelude_crc == zlib.crc32(wire[:8])
    assert doc["message_crc"] & _MASK32 == message_crc == zlib.crc32(wire[:-4])

    expected = _json_triples(doc)
    assert list(message.headers) == [name for name, _, _ in expected]  # wire order kept
    assert _typed(_triples(message)) == _typed(expected)
    assert message.payload == base64.b64decode(doc["payload"])


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_vector_reencodes_byte_exact(vectors_dir: Path, name: str) -> None:
    """Encoding the JSON's headers (in order, with their types) and payload gives the binary."""
    wire = _wire(vectors_dir, "positive", name)
    doc = _doc(vectors_dir, name)
    assert encode_message(_json_triples(doc), base64.b64decode(doc["payload"])) == wire
    [message] = EventStreamDecoder().feed(wire)
    assert message.to_bytes() == wire


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_vector_matches_botocore(vectors_dir: Path, name: str) -> None:
    """botocore decodes each positive vector to the same headers (in order) and payload."""
    wire = _wire(vectors_dir, "positive", name)
    [ours] = _decode_pieces(wire)
    [theirs] = _botocore_decode(wire)
    assert list(theirs.headers.items()) == list(_as_botocore(ours.headers).items())
    assert theirs.payload == ours.payload


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_vector_fails_at_the_named_stage(vectors_dir: Path, name: str) -> None:
    """Each negative vector raises the README's stage, as soon as that stage's bytes are in.

    A prelude failure fires on the 12th byte (``corrupted_length`` is 61 bytes claiming 62: it
    must not wait for a 62nd); a message failure fires on the last byte. botocore agrees that
    each one is a checksum mismatch.
    """
    wire = _wire(vectors_dir, "negative", name)
    description = (vectors_dir / "eventstream" / "decoded" / "negative" / name).read_text()
    code = _STAGES[description.strip()]

    with pytest.raises(EventStreamProtocolError) as whole:
        EventStreamDecoder().feed(wire)
    assert whole.value.error_code == code

    expected_at = 11 if code == "PreludeChecksumMismatch" else len(wire) - 1
    _assert_fails_at_byte(wire, expected_at, code)

    with pytest.raises(ChecksumMismatch):
        _botocore_decode(wire)


# ----------------------------------------------------------------------- spec §4.1 examples

SPEC_EMPTY = bytes.fromhex("000000100000000005c248eb7d98c8ff")
SPEC_PAYLOAD_PART = bytes.fromhex(
    "0000007800000059be379d370b3a6576656e742d7479706507000b5061796c6f6164506172740d3a636f6e74"
    "656e742d747970650700186170706c69636174696f6e2f6f637465742d73747265616d0d3a6d657373616765"
    "2d747970650700056576656e747b22746f6b656e223a2248656c227d4465d494"
)
PAYLOAD_PART_HEADERS = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}
ALL_TYPES: list[Triple] = [
    ("true", HeaderType.BOOL_TRUE, True),
    ("false", HeaderType.BOOL_FALSE, False),
    ("byte", HeaderType.BYTE, -49),
    ("short", HeaderType.SHORT, -32768),
    ("integer", HeaderType.INTEGER, 2**31 - 1),
    ("long", HeaderType.LONG, -(2**63)),
    ("bytes", HeaderType.BYTE_ARRAY, b"\x00\xff"),
    ("string", HeaderType.STRING, "h\u00e9llo \U0001f600"),
    ("timestamp", HeaderType.TIMESTAMP, 1_700_000_000_123),
    ("uuid", HeaderType.UUID, uuid.UUID(bytes=bytes(range(1, 17)))),
]


def test_spec_empty_message() -> None:
    """The 16-byte empty message decodes to no headers, no payload, and encodes back."""
    assert _decode_pieces(SPEC_EMPTY) == [EventStreamMessage({}, b"", {})]
    assert encode_message([], b"") == SPEC_EMPTY
    assert encode_message({}, b"") == SPEC_EMPTY


def test_spec_payload_part_example() -> None:
    """The spec's 120-byte PayloadPart decodes and encodes byte-exact (both CRCs as printed)."""
    assert len(SPEC_PAYLOAD_PART) == 120
    assert struct.unpack(">III", SPEC_PAYLOAD_PART[:12]) == (120, 89, 0xBE379D37)
    assert SPEC_PAYLOAD_PART[-4:] == bytes.fromhex("4465d494")
    [message] = _decode_pieces(SPEC_PAYLOAD_PART)
    assert list(message.headers.items()) == list(PAYLOAD_PART_HEADERS.items())
    assert set(message.header_types.values()) == {HeaderType.STRING}
    assert message.payload == b'{"token":"Hel"}'
    assert payload_part(b'{"token":"Hel"}') == SPEC_PAYLOAD_PART
    assert encode_message(PAYLOAD_PART_HEADERS, b'{"token":"Hel"}') == SPEC_PAYLOAD_PART
    assert message.to_bytes() == SPEC_PAYLOAD_PART


def test_exception_and_error_messages_carry_the_spec_headers() -> None:
    """``exception_message``/``error_message`` build the §4.4 headers, as botocore reads them."""
    body = b'{"Message":"boom","ErrorCode":"StreamBroken"}'
    stream = exception_message("ModelStreamError", body) + error_message("Oops", "it broke")
    exception, error = _decode_pieces(stream)
    assert dict(exception.headers) == {
        ":exception-type": "ModelStreamError",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    assert exception.payload == body
    assert dict(error.headers) == {
        ":error-code": "Oops",
        ":error-message": "it broke",
        ":message-type": "error",
    }
    assert error.payload == b""
    theirs = _botocore_decode(stream)
    assert [m.headers for m in theirs] == [dict(exception.headers), dict(error.headers)]


# ------------------------------------------------------------------------------ every split


def _assert_every_split(stream: bytes, expected: list[EventStreamMessage], *, three: int) -> None:
    """Whole, byte by byte, every 2-piece cut, and 3-piece cuts (``three`` = stride)."""
    assert _decode_pieces(stream) == expected
    assert _decode_bytewise(stream) == expected
    for cut in range(len(stream) + 1):
        assert _decode_pieces(stream, [cut]) == expected, cut
    for first in range(0, len(stream) + 1, three):
        for second in range(first, len(stream) + 1):
            assert _decode_pieces(stream, [first, second]) == expected, (first, second)


@pytest.mark.parametrize("name", POSITIVE)
def test_every_split_of_a_positive_vector(vectors_dir: Path, name: str) -> None:
    """A vector gives the same single message however its bytes are cut into 1, 2 or 3 pieces."""
    wire = _wire(vectors_dir, "positive", name)
    _assert_every_split(wire, _decode_pieces(wire), three=1)


def test_every_split_of_the_concatenated_vectors(vectors_dir: Path) -> None:
    """All positive vectors back to back decode to the same five messages at any cut."""
    wires = [_wire(vectors_dir, "positive", name) for name in POSITIVE]
    expected = [_decode_pieces(wire)[0] for wire in wires]
    _assert_every_split(b"".join(wires), expected, three=3)


def test_every_split_of_a_sagemaker_stream() -> None:
    """A SageMaker-shaped stream (parts, all header types, an error) survives every cut."""
    stream = (
        SPEC_PAYLOAD_PART
        + SPEC_EMPTY
        + encode_message(ALL_TYPES, b"payload")
        + payload_part(b"data: two\n\n")
    )
    expected = [
        EventStreamMessage(PAYLOAD_PART_HEADERS, b'{"token":"Hel"}'),
        EventStreamMessage({}, b""),
        _expected_message(ALL_TYPES, b"payload"),
        EventStreamMessage(PAYLOAD_PART_HEADERS, b"data: two\n\n"),
    ]
    _assert_every_split(stream, expected, three=4)


@pytest.mark.parametrize(
    "convert",
    [bytes, bytearray, memoryview, lambda b: memoryview(bytearray(b))],
    ids=["bytes", "bytearray", "memoryview", "memoryview-of-bytearray"],
)
def test_feed_accepts_any_bytes_like(convert: Callable[[bytes], Any]) -> None:
    """bytes, bytearray and memoryview chunks decode alike, whole and byte by byte."""
    stream = SPEC_PAYLOAD_PART + encode_message(ALL_TYPES, b"x" * 300) + SPEC_PAYLOAD_PART
    expected = _decode_pieces(stream)
    for size in (1, 7, 100, len(stream)):
        decoder = EventStreamDecoder()
        got: list[EventStreamMessage] = []
        for start in range(0, len(stream), size):
            got += decoder.feed(convert(stream[start : start + size]))
        decoder.close()
        assert got == expected


def test_feed_accepts_wide_and_strided_buffers() -> None:
    """A memoryview of 4-byte items or a strided view is read as its raw bytes."""
    stream = SPEC_PAYLOAD_PART * 2  # 240 bytes, a multiple of 4
    words = memoryview(array("I", stream))
    assert _decode_fed([words]) == _decode_pieces(stream)
    doubled = bytes(b for byte in stream for b in (byte, 0))
    assert _decode_fed([memoryview(doubled)[::2]]) == _decode_pieces(stream)


def _decode_fed(chunks: Sequence[Any]) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder()
    messages: list[EventStreamMessage] = []
    for chunk in chunks:
        messages += decoder.feed(chunk)
    decoder.close()
    return messages


def test_caller_may_reuse_its_buffer_after_feed() -> None:
    """Bytes kept for an incomplete message are copied: overwriting the fed buffer is safe."""
    chunk = bytearray(SPEC_PAYLOAD_PART[:50])
    decoder = EventStreamDecoder()
    assert decoder.feed(chunk) == []
    chunk[:] = b"\xff" * 50
    [message] = decoder.feed(SPEC_PAYLOAD_PART[50:])
    assert message.payload == b'{"token":"Hel"}'


# ------------------------------------------- a split message held as pieces (views, not copies)
#
# A piece of at least 4 KiB of a message that spans feeds is held as a view of the fed bytes (or
# one copy of a mutable buffer), shorter ones are copied together, and the message CRC is folded
# in piece by piece. The messages below are large enough to take every one of those paths.

LARGE_MESSAGE = encode_message(
    [*ALL_TYPES, ("big", HeaderType.STRING, "h" * 5000)], bytes(range(256)) * 40
)  # a 5 KiB header block, then a 10 KiB payload
LARGE_STREAM = SPEC_PAYLOAD_PART + LARGE_MESSAGE + payload_part(b"p" * 9000) + SPEC_PAYLOAD_PART


def _large_stream_cuts() -> list[int]:
    """Cuts in every region of the large message: prelude, header block, payload, CRC field."""
    start = len(SPEC_PAYLOAD_PART)
    end = start + len(LARGE_MESSAGE)
    offsets = [*range(0, 17), 4095, 4096, 4097, 5000, 5200, 6000, 9000, 12000]
    return sorted(
        {start + o for o in offsets}
        | {end - o for o in range(0, 9)}  # the 4-byte CRC field split in every way
        | {end + 4096, end + 4100, len(LARGE_STREAM) - 3}
    )


@pytest.mark.parametrize(
    "convert",
    [bytes, bytearray, lambda b: memoryview(bytearray(b))],
    ids=["bytes", "bytearray", "memoryview-of-bytearray"],
)
def test_a_large_message_split_anywhere_decodes_alike(convert: Callable[[bytes], Any]) -> None:
    """Cut in two or three anywhere (in its header block, payload or CRC), a message of 15 KiB
    decodes as when fed whole; a mutable fed buffer may be overwritten right after feed()."""
    expected = _decode_pieces(LARGE_STREAM)
    assert len(expected) == 4
    assert len(expected[1].headers["big"]) == 5000  # type: ignore[arg-type]
    cuts = _large_stream_cuts()
    splits = [[cut] for cut in cuts] + [
        [first, second] for first in cuts for second in cuts if first < second
    ]
    for split in splits:
        decoder = EventStreamDecoder()
        got: list[EventStreamMessage] = []
        previous = 0
        for cut in [*split, len(LARGE_STREAM)]:
            chunk = convert(LARGE_STREAM[previous:cut])
            got += decoder.feed(chunk)
            if not isinstance(chunk, bytes):
                chunk[:] = b"\xff" * len(chunk)  # held bytes must have been copied
            previous = cut
        assert decoder.buffered == 0
        decoder.close()
        assert got == expected, split


def test_a_large_message_split_in_pieces_still_fails_its_checksum() -> None:
    """A flipped payload or CRC byte of a message held in pieces fails as when fed whole."""
    start = len(SPEC_PAYLOAD_PART)
    end = start + len(LARGE_MESSAGE)
    for flip in (start + 9000, end - 1, end - 4):
        bad = bytearray(LARGE_STREAM)
        bad[flip] ^= 1
        with pytest.raises(EventStreamProtocolError) as whole:
            _decode_pieces(bytes(bad))  # the error comes after the message before it
        for cuts in ([start + 100, start + 6000], [start + 8000, end - 2], [end - 3]):
            with pytest.raises(EventStreamProtocolError) as split:
                _decode_pieces(bytes(bad), cuts)
            assert split.value.error_code == "MessageChecksumMismatch"
            assert str(split.value) == str(whole.value), (flip, cuts)


def test_a_split_message_is_not_pinned_once_delivered() -> None:
    """The pieces of a delivered message are let go: the decoder holds nothing afterwards."""
    decoder = EventStreamDecoder()
    assert decoder.feed(LARGE_MESSAGE[:8000]) == []
    assert decoder.buffered == 8000
    [message] = decoder.feed(LARGE_MESSAGE[8000:])
    assert decoder.buffered == 0
    assert decoder._parts == []
    assert message == _decode_pieces(LARGE_MESSAGE)[0]


def test_large_payload_in_small_chunks() -> None:
    """A 1 MiB payload fed 1000 bytes at a time arrives whole, once, and nothing stays buffered."""
    payload = bytes(range(256)) * 4096
    stream = payload_part(payload) + SPEC_PAYLOAD_PART
    decoder = EventStreamDecoder()
    got: list[EventStreamMessage] = []
    for start in range(0, len(stream), 1000):
        got += decoder.feed(stream[start : start + 1000])
        assert decoder.buffered < len(stream)
    decoder.close()
    assert [m.payload for m in got] == [payload, b'{"token":"Hel"}']


def test_a_message_fed_whole_is_copied_once() -> None:
    """Decoding from the fed chunk: peak allocation stays near one copy of the payload."""
    payload = b"z" * (8 * 1024 * 1024)
    wire = payload_part(payload)
    decoder = EventStreamDecoder()
    tracemalloc.start()
    try:
        [message] = decoder.feed(wire)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message.payload == payload
    assert peak < 1.25 * len(payload)


def test_a_message_fed_in_pieces_is_buffered_with_bounded_memory() -> None:
    """Arriving in 64 KiB pieces, an 8 MiB payload peaks near buffer + payload (no realloc pile-up),
    and once it is delivered the decoder does not keep its buffer alive."""
    payload = b"q" * (8 * 1024 * 1024)
    wire = payload_part(payload)
    pieces = [wire[start : start + 65536] for start in range(0, len(wire), 65536)]
    tracemalloc.start()
    try:
        decoder = EventStreamDecoder()
        got: list[EventStreamMessage] = []
        for piece in pieces:
            got += decoder.feed(piece)
        _, peak = tracemalloc.get_traced_memory()
        assert [m.payload for m in got] == [payload]
        del got
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.25 * len(payload)
    assert retained < 256 * 1024
    decoder.close()


# --------------------------------------------------------------------------- header cache


def test_identical_header_blocks_share_their_parsed_mappings() -> None:
    """Consecutive messages with equal header blocks reuse one parsed mapping (no re-parse)."""
    first, second = _decode_pieces(payload_part(b"a") + payload_part(b"b"))
    assert first.headers is second.headers
    assert first.header_types is second.header_types
    other, third = _decode_pieces(exception_message("X", b"{}") + payload_part(b"c"))
    assert other.headers[":exception-type"] == "X"
    assert dict(third.headers) == PAYLOAD_PART_HEADERS


def test_header_cache_never_skips_a_checksum() -> None:
    """A message whose header block equals the cached one still has its CRC checked."""
    good = payload_part(b"token")
    bad = good[:-1] + bytes([good[-1] ^ 1])
    decoder = EventStreamDecoder()
    assert len(decoder.feed(good)) == 1
    with pytest.raises(EventStreamProtocolError) as info:
        decoder.feed(bad)
    assert info.value.error_code == "MessageChecksumMismatch"


def _routed(
    stream: bytes, cuts: Sequence[int], convert: Callable[[bytes], Any] = bytes
) -> list[Any]:
    """Decode with the PayloadPart lane on, as the response stream does; return what a consumer
    sees in order: payload bytes from the lane (drained first), then the returned messages."""
    decoder = EventStreamDecoder()
    lane: deque[bytes] = deque()
    seen: list[Any] = []
    edges = [0, *cuts, len(stream)]
    for a, b in itertools.pairwise(edges):
        returned = decoder.feed(convert(stream[a:b]))
        seen.extend(lane)
        lane.clear()
        for message in returned:
            seen.append(message)
            if message.headers.get(":event-type") == "PayloadPart":
                decoder.route(message.headers, lane)
    decoder.close()
    return seen


def _same_stream(seen: list[Any], whole: list[EventStreamMessage]) -> bool:
    """``seen`` is ``whole`` in order, some PayloadParts as bare payload bytes."""
    return len(seen) == len(whole) and all(
        got == want
        or (isinstance(got, bytes) and want.headers == PAYLOAD_PART_HEADERS and got == want.payload)
        for got, want in zip(seen, whole, strict=True)
    )


def test_routed_parts_keep_stream_order_at_every_split() -> None:
    """With the lane on, parts go out as payloads, and an error message still comes after
    every part before it and before every part after it, at any cut (one or two), from any
    bytes-like chunk; the lane is really used (parts come as bytes once it is on)."""
    error = encode_message(
        {":message-type": "exception", ":exception-type": "ModelStreamError"}, b"{}"
    )
    parts = [payload_part(p) for p in (b"one", b"two", b"three")]
    stream = b"".join(parts) + error + payload_part(b"four")
    whole = _decode_pieces(stream)
    assert whole[3].headers[":exception-type"] == "ModelStreamError"
    lane_used = 0
    for cut in range(1, len(stream)):
        seen = _routed(stream, [cut])
        assert _same_stream(seen, whole), cut
        lane_used += any(isinstance(x, bytes) for x in seen)
    # Cut anywhere in the second part or later: the parts after the first come as bytes.
    assert lane_used >= len(stream) - len(parts[0]) - len(error) - len(payload_part(b"four"))
    for i in range(1, len(stream), 7):
        for j in range(i + 1, len(stream), 5):
            assert _same_stream(_routed(stream, [i, j], bytearray), whole), (i, j)


def test_routed_parts_still_have_their_checksum_checked() -> None:
    """A routed part with a flipped bit fails as any message would; the good ones before it
    in the same chunk are delivered first."""
    good = payload_part(b"token")
    bad = good[:-1] + bytes([good[-1] ^ 1])
    decoder = EventStreamDecoder()
    lane: deque[bytes] = deque()
    (first,) = decoder.feed(good)
    decoder.route(first.headers, lane)
    assert decoder.feed(good + good + bad) == []
    assert list(lane) == [b"token", b"token"]
    with pytest.raises(EventStreamProtocolError) as info:
        decoder.feed(b"")
    assert info.value.error_code == "MessageChecksumMismatch"


def test_route_ignores_headers_the_decoder_did_not_just_return() -> None:
    """Routing on a mapping that is not the decoder's current header block turns nothing on:
    messages keep coming back as messages."""
    decoder = EventStreamDecoder()
    lane: deque[bytes] = deque()
    decoder.route(dict(PAYLOAD_PART_HEADERS), lane)
    assert [m.payload for m in decoder.feed(payload_part(b"a") + payload_part(b"b"))] == [
        b"a",
        b"b",
    ]
    assert not lane


def test_decoded_headers_are_read_only() -> None:
    """Shared header mappings cannot be mutated by one consumer behind another's back."""
    [message] = _decode_pieces(SPEC_PAYLOAD_PART)
    with pytest.raises(TypeError):
        message.headers[":event-type"] = "x"  # type: ignore[index]


# ----------------------------------------------------------------------- negative table

_PRELUDE_STAGE = {"PreludeChecksumMismatch", "InvalidLength", "MessageTooLarge"}

NEGATIVE_CASES: list[tuple[str, bytes, str]] = [
    ("total-length-below-16", _prelude(15, 0), "InvalidLength"),
    ("total-length-zero", _prelude(0, 0), "InvalidLength"),
    ("headers-length-past-total", _frame(b"", b"abc", headers_length=4), "InvalidLength"),
    ("headers-length-past-total-no-payload", _prelude(16, 1), "InvalidLength"),
    (
        "headers-length-over-limit",
        _prelude(16 + DEFAULT_MAX_HEADERS_SIZE + 1, DEFAULT_MAX_HEADERS_SIZE + 1),
        "MessageTooLarge",
    ),
    ("total-length-4gib", _prelude(0xFFFFFFFF, 0), "MessageTooLarge"),
    ("total-length-over-limit", _prelude(DEFAULT_MAX_MESSAGE_SIZE + 1, 0), "MessageTooLarge"),
    ("prelude-crc-wrong", _frame(b"", b"x", prelude_crc=0), "PreludeChecksumMismatch"),
    ("message-crc-wrong", _frame(b"", b"x", message_crc=0), "MessageChecksumMismatch"),
    ("garbage-0xff", b"\xff" * 64, "PreludeChecksumMismatch"),
    ("garbage-zeros", b"\x00" * 64, "PreludeChecksumMismatch"),
    ("json-not-a-stream", b'{"message": "Internal Server Error"}', "PreludeChecksumMismatch"),
    ("unknown-type-10", _frame(_header(b"x", 10)), "UnknownHeaderType"),
    ("unknown-type-255", _frame(_header(b"x", 255)), "UnknownHeaderType"),
    ("zero-length-name", _frame(b"\x00\x00"), "InvalidHeader"),
    ("name-not-utf8", _frame(_header(b"\xff\xfe", 0)), "InvalidHeader"),
    ("name-past-block", _frame(b"\x05ab"), "InvalidHeader"),
    ("type-byte-missing", _frame(b"\x01a"), "InvalidHeader"),
    ("string-not-utf8", _frame(_header(b"s", 7, b"\x00\x02\xc3\x28")), "InvalidHeader"),
    ("string-surrogate", _frame(_header(b"s", 7, b"\x00\x03\xed\xa0\x80")), "InvalidHeader"),
    ("string-past-block", _frame(_header(b"s", 7, b"\x00\x10abc")), "InvalidHeader"),
    ("bytes-past-block", _frame(_header(b"b", 6, b"\xff\xffabc")), "InvalidHeader"),
    ("length-prefix-cut", _frame(_header(b"b", 6, b"\x00")), "InvalidHeader"),
    ("byte-missing", _frame(_header(b"i", 2)), "InvalidHeader"),
    ("short-past-block", _frame(_header(b"i", 3, b"\x00")), "InvalidHeader"),
    ("int32-past-block", _frame(_header(b"i", 4, b"\x00\x00\x00")), "InvalidHeader"),
    ("int64-past-block", _frame(_header(b"i", 5, b"\x00" * 7)), "InvalidHeader"),
    ("timestamp-past-block", _frame(_header(b"t", 8, b"\x00" * 7)), "InvalidHeader"),
    ("uuid-past-block", _frame(_header(b"u", 9, b"\x00" * 15)), "InvalidHeader"),
    (
        "string-runs-into-payload",  # the payload would satisfy the length: still an error
        _frame(_header(b"s", 7, b"\x00\x05ab"), b"cdefgh"),
        "InvalidHeader",
    ),
    ("duplicate-header", _frame(_header(b"a", 0) + _header(b"a", 1)), "DuplicateHeader"),
    (
        "duplicate-after-others",
        _frame(_header(b"a", 0) + _header(b"b", 2, b"\x01") + _header(b"a", 7, b"\x00\x00")),
        "DuplicateHeader",
    ),
]


@pytest.mark.parametrize(
    ("wire", "code"), [c[1:] for c in NEGATIVE_CASES], ids=[c[0] for c in NEGATIVE_CASES]
)
def test_malformed_input_raises_a_classified_protocol_error(wire: bytes, code: str) -> None:
    """Each malformed input raises EventStreamProtocolError with its code, at the right byte.

    Prelude-stage errors (CRC, lengths, limits) fire as soon as the 12th byte is in, before the
    rest of the message is waited for; message-stage errors fire when its last byte is in.
    """
    with pytest.raises(EventStreamProtocolError) as whole:
        EventStreamDecoder().feed(wire)
    assert whole.value.error_code == code
    assert code in str(whole.value)

    total = struct.unpack(">I", wire[:4])[0]
    _assert_fails_at_byte(wire, 11 if code in _PRELUDE_STAGE else total - 1, code)


def test_custom_limits_bound_message_and_header_sizes() -> None:
    """``max_message_size``/``max_headers_size`` accept exactly up to the limit."""
    wire = encode_message({"name": "value"}, b"p" * 100)
    headers_length = struct.unpack(">I", wire[4:8])[0]
    assert len(EventStreamDecoder(max_message_size=len(wire)).feed(wire)) == 1
    assert len(EventStreamDecoder(max_headers_size=headers_length).feed(wire)) == 1
    for decoder in (
        EventStreamDecoder(max_message_size=len(wire) - 1),
        EventStreamDecoder(max_headers_size=headers_length - 1),
    ):
        with pytest.raises(EventStreamProtocolError) as info:
            decoder.feed(wire[:12])
        assert info.value.error_code == "MessageTooLarge"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"max_message_size": 15}, "max_message_size"),
        ({"max_headers_size": -1}, "max_headers_size"),
    ],
)
def test_decoder_rejects_impossible_limits(kwargs: dict[str, int], param: str) -> None:
    """A limit no message could meet is a programming error, named in ParamValidationError."""
    with pytest.raises(ParamValidationError) as info:
        EventStreamDecoder(**kwargs)
    assert info.value.param == param


def test_hostile_length_is_rejected_without_allocating() -> None:
    """A prelude claiming 4 GiB fails after 12 bytes; one claiming the limit allocates nothing.

    The decoder never reserves ``total_length`` up front: memory grows only with bytes fed.
    """
    decoder = EventStreamDecoder()
    tracemalloc.start()
    try:
        with pytest.raises(EventStreamProtocolError) as info:
            decoder.feed(_prelude(0xFFFFFFFF, 0))
        assert info.value.error_code == "MessageTooLarge"
        accepted = EventStreamDecoder()
        assert accepted.feed(_prelude(DEFAULT_MAX_MESSAGE_SIZE, 0)) == []
        assert accepted.buffered == 12
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_truncated_stream_raises_on_close() -> None:
    """EOF inside a message raises Truncated (botocore silently drops these bytes, §4.5)."""
    wire = SPEC_PAYLOAD_PART
    for cut in range(1, len(wire)):
        decoder = EventStreamDecoder()
        assert decoder.feed(SPEC_EMPTY + wire[:cut]) == [EventStreamMessage({}, b"")]
        assert decoder.buffered == cut
        with pytest.raises(EventStreamProtocolError) as info:
            decoder.close()
        assert info.value.error_code == "Truncated"
        assert _botocore_decode(wire[:cut]) == []  # the difference on purpose


def test_clean_end_of_stream_closes_quietly() -> None:
    """close() after whole messages, or with nothing fed, raises nothing (and may repeat)."""
    decoder = EventStreamDecoder()
    decoder.close()
    assert len(decoder.feed(SPEC_PAYLOAD_PART)) == 1
    decoder.close()
    decoder.close()


def test_a_failed_decoder_stays_failed() -> None:
    """After an error every later feed() and close() raises it again: the stream is abandoned."""
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamProtocolError):
        decoder.feed(b"\xff" * 12)
    assert decoder.buffered == 0
    for call in (lambda: decoder.feed(SPEC_PAYLOAD_PART), lambda: decoder.feed(b""), decoder.close):
        with pytest.raises(EventStreamProtocolError) as info:
            call()
        assert info.value.error_code == "PreludeChecksumMismatch"


def test_messages_before_an_error_are_delivered_first() -> None:
    """Valid messages preceding bad bytes in one chunk are returned; the error comes next call."""
    bad = SPEC_PAYLOAD_PART[:-1] + b"\x00"
    decoder = EventStreamDecoder()
    got = decoder.feed(SPEC_EMPTY + SPEC_PAYLOAD_PART + bad + SPEC_PAYLOAD_PART)
    assert [m.payload for m in got] == [b"", b'{"token":"Hel"}']
    with pytest.raises(EventStreamProtocolError) as info:
        decoder.feed(b"")
    assert info.value.error_code == "MessageChecksumMismatch"
    with pytest.raises(EventStreamProtocolError):
        decoder.close()

    # The same when the good message completes a buffered one.
    decoder = EventStreamDecoder()
    assert decoder.feed(SPEC_PAYLOAD_PART[:30]) == []
    assert len(decoder.feed(SPEC_PAYLOAD_PART[30:] + b"\xff" * 20)) == 1
    with pytest.raises(EventStreamProtocolError) as info:
        decoder.close()
    assert info.value.error_code == "PreludeChecksumMismatch"


# -------------------------------------------------------------------------------- encoding


def test_mapping_headers_infer_their_types() -> None:
    """bool → true/false, int → INTEGER if it fits int32 else LONG, str, bytes, UUID."""
    value = uuid.uuid4()
    headers: dict[str, HeaderValue] = {
        "t": True,
        "f": False,
        "small": -(2**31),
        "big": 2**31,
        "s": "text",
        "b": b"\x00",
        "u": value,
    }
    [message] = _decode_pieces(encode_message(headers, b""))
    assert message.headers == headers
    assert dict(message.header_types) == {
        "t": HeaderType.BOOL_TRUE,
        "f": HeaderType.BOOL_FALSE,
        "small": HeaderType.INTEGER,
        "big": HeaderType.LONG,
        "s": HeaderType.STRING,
        "b": HeaderType.BYTE_ARRAY,
        "u": HeaderType.UUID,
    }
    assert EventStreamMessage(headers, b"").header_types == message.header_types


def test_explicit_triples_choose_the_type() -> None:
    """Triples fix types and order; bool values may be None; a uuid may be 16 raw bytes."""
    wire = encode_message(
        [
            ("t", HeaderType.BOOL_TRUE, None),
            ("f", HeaderType.BOOL_FALSE, None),
            ("ts", HeaderType.TIMESTAMP, 5),
            ("u", HeaderType.UUID, bytes(16)),
            ("b", HeaderType.BYTE, 5),
        ],
        b"",
    )
    [message] = _decode_pieces(wire)
    assert _typed(_triples(message)) == _typed(
        [
            ("t", HeaderType.BOOL_TRUE, True),
            ("f", HeaderType.BOOL_FALSE, False),
            ("ts", HeaderType.TIMESTAMP, 5),
            ("u", HeaderType.UUID, uuid.UUID(int=0)),
            ("b", HeaderType.BYTE, 5),
        ]
    )


BAD_HEADERS: list[tuple[str, Any]] = [
    ("empty-name", [("", HeaderType.STRING, "x")]),
    ("name-256-bytes", [("\u00e9" * 128, HeaderType.STRING, "x")]),
    ("name-not-str", [(b"x", HeaderType.STRING, "x")]),
    ("name-unencodable", [("\ud800", HeaderType.STRING, "x")]),
    ("not-a-triple", [("x", HeaderType.STRING)]),
    ("type-10", [("x", 10, "x")]),
    ("duplicate", [("x", HeaderType.BOOL_TRUE, True), ("x", HeaderType.BOOL_FALSE, False)]),
    ("true-carrying-false", [("x", HeaderType.BOOL_TRUE, False)]),
    ("false-carrying-true", [("x", HeaderType.BOOL_FALSE, True)]),
    ("byte-128", [("x", HeaderType.BYTE, 128)]),
    ("short-under", [("x", HeaderType.SHORT, -(2**15) - 1)]),
    ("integer-2^31", [("x", HeaderType.INTEGER, 2**31)]),
    ("long-2^63", [("x", HeaderType.LONG, 2**63)]),
    ("timestamp-float", [("x", HeaderType.TIMESTAMP, 1.5)]),
    ("integer-bool", [("x", HeaderType.INTEGER, True)]),
    ("string-bytes", [("x", HeaderType.STRING, b"x")]),
    ("string-unencodable", [("x", HeaderType.STRING, "\udc80")]),
    ("string-too-long", [("x", HeaderType.STRING, "a" * 32768)]),
    ("bytes-str", [("x", HeaderType.BYTE_ARRAY, "x")]),
    ("bytes-too-long", [("x", HeaderType.BYTE_ARRAY, b"a" * 32768)]),
    ("uuid-short", [("x", HeaderType.UUID, b"\x00" * 15)]),
    ("uuid-str", [("x", HeaderType.UUID, "00000000-0000-0000-0000-000000000000")]),
    ("mapping-float", {"x": 1.5}),
    ("mapping-beyond-int64", {"x": 2**63}),
]


@pytest.mark.parametrize("headers", [c[1] for c in BAD_HEADERS], ids=[c[0] for c in BAD_HEADERS])
def test_encoder_rejects_what_cannot_go_on_the_wire(headers: Any) -> None:
    """Unencodable headers raise ParamValidationError, never a half-built message."""
    with pytest.raises(ParamValidationError):
        encode_message(headers, b"")


def test_encoder_accepts_the_limits() -> None:
    """255-byte names and 32,767-byte values are the largest accepted, and round-trip."""
    triples: list[Triple] = [
        ("n" * 255, HeaderType.STRING, "s" * 32767),
        ("b", HeaderType.BYTE_ARRAY, b"b" * 32767),
    ]
    [message] = _decode_pieces(encode_message(triples, bytearray(b"payload")))
    assert _triples(message) == triples
    assert message.payload == b"payload"


def test_message_repr_is_bounded() -> None:
    """repr() of a message shows its headers and at most 64 payload bytes."""
    text = repr(EventStreamMessage({"a": 1}, b"x" * 10_000))
    assert "'a': 1" in text
    assert "10000 bytes" in text
    assert len(text) < 200


# ------------------------------------------------------------------------------ hypothesis

_INT_RANGES = {
    HeaderType.BYTE: 7,
    HeaderType.SHORT: 15,
    HeaderType.INTEGER: 31,
    HeaderType.LONG: 63,
    HeaderType.TIMESTAMP: 63,
}


def _value_strategy(htype: HeaderType) -> st.SearchStrategy[HeaderValue]:
    if htype is HeaderType.BOOL_TRUE:
        return st.just(True)
    if htype is HeaderType.BOOL_FALSE:
        return st.just(False)
    if htype in _INT_RANGES:
        bits = _INT_RANGES[htype]
        return st.integers(-(2**bits), 2**bits - 1)
    if htype is HeaderType.BYTE_ARRAY:
        return st.binary(max_size=40)
    if htype is HeaderType.STRING:
        return st.text(max_size=20)
    return st.uuids()


_names = st.text(min_size=1, max_size=12).filter(lambda s: len(s.encode("utf-8")) <= 255)
_typed_values = st.sampled_from(list(HeaderType)).flatmap(
    lambda t: st.tuples(st.just(t), _value_strategy(t))
)
_header_lists = st.lists(st.tuples(_names, _typed_values), max_size=10, unique_by=lambda h: h[0])
_headers = _header_lists.map(lambda hs: [(name, t, v) for name, (t, v) in hs])
_messages = st.tuples(_headers, st.binary(max_size=300))
_streams = st.lists(_messages, min_size=1, max_size=5)


def _cuts(data: st.DataObject, length: int) -> list[int]:
    return sorted(data.draw(st.lists(st.integers(0, length), max_size=6), label="cuts"))


@settings(max_examples=300, deadline=None)
@given(messages=_streams, data=st.data())
def test_round_trip_at_random_cuts(messages: list[tuple[list[Triple], bytes]], data: Any) -> None:
    """encode → concatenate → cut anywhere → decode gives back every header (name, order,
    type, value) and payload, and re-encoding each decoded message gives the same bytes."""
    wires = [encode_message(headers, payload) for headers, payload in messages]
    stream = b"".join(wires)
    decoded = _decode_pieces(stream, _cuts(data, len(stream)))
    assert decoded == [_expected_message(headers, payload) for headers, payload in messages]
    assert [_typed(_triples(m)) for m in decoded] == [_typed(h) for h, _ in messages]
    assert [m.to_bytes() for m in decoded] == wires


@settings(max_examples=300, deadline=None)
@given(messages=_streams, data=st.data())
def test_matches_botocore_on_valid_streams(
    messages: list[tuple[list[Triple], bytes]], data: Any
) -> None:
    """On the same bytes and cuts, botocore's EventStreamBuffer yields the same messages.

    botocore returns byte/short/int/long/timestamp as int, a uuid as its 16 raw bytes.
    """
    stream = b"".join(encode_message(headers, payload) for headers, payload in messages)
    cuts = _cuts(data, len(stream))
    ours = _decode_pieces(stream, cuts)
    theirs = _botocore_decode(stream, cuts)
    assert len(ours) == len(theirs) == len(messages)
    for mine, boto in zip(ours, theirs, strict=True):
        assert list(boto.headers.items()) == list(_as_botocore(mine.headers).items())
        assert boto.payload == mine.payload


def _refresh_crcs(wire: bytearray) -> None:
    """Make both CRCs of the first message right again, so mutations reach the parser."""
    if len(wire) >= 12:
        wire[8:12] = struct.pack(">I", zlib.crc32(wire[:8]))
        total = struct.unpack(">I", wire[:4])[0]
        if 16 <= total <= len(wire):
            wire[total - 4 : total] = struct.pack(">I", zlib.crc32(wire[: total - 4]))


def _decode_or_protocol_error(stream: bytes, cuts: Sequence[int]) -> list[EventStreamMessage]:
    """Decode; EventStreamProtocolError is the only exception allowed to escape."""
    decoder = EventStreamDecoder(max_message_size=4096, max_headers_size=1024)
    messages: list[EventStreamMessage] = []
    previous = 0
    try:
        for cut in [*cuts, len(stream)]:
            messages += decoder.feed(stream[previous:cut])
            previous = cut
        decoder.close()
    except EventStreamProtocolError as exc:
        error: EventStreamProtocolError | None = exc
    else:
        error = None
    assert error is None or error.error_code
    return messages


@settings(max_examples=500, deadline=None)
@given(stream=st.binary(max_size=400), data=st.data())
def test_random_bytes_raise_only_protocol_errors(stream: bytes, data: Any) -> None:
    """Arbitrary bytes, arbitrarily cut, decode or raise EventStreamProtocolError — nothing else."""
    _decode_or_protocol_error(stream, _cuts(data, len(stream)))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=_streams,
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    fix_crcs=st.booleans(),
    truncate=st.none() | st.integers(0, 10_000),
    data=st.data(),
)
def test_mutated_messages_raise_only_protocol_errors(
    messages: list[tuple[list[Triple], bytes]],
    edits: list[tuple[int, int]],
    fix_crcs: bool,
    truncate: int | None,
    data: Any,
) -> None:
    """Valid streams with bytes overwritten (CRCs recomputed or not) and cut short anywhere
    decode or raise EventStreamProtocolError — never struct/Index/Unicode/Key/MemoryError."""
    wire = bytearray(b"".join(encode_message(h, p) for h, p in messages))
    for index, byte in edits:
        wire[index % len(wire)] = byte
    if fix_crcs:
        _refresh_crcs(wire)
    if truncate is not None:
        del wire[truncate % (len(wire) + 1) :]
    stream = bytes(wire)
    _decode_or_protocol_error(stream, _cuts(data, len(stream)))


def _edited(raw: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(raw)
    for index, byte in edits:
        if out:
            out[index % len(out)] = byte
    return bytes(out)


# Header blocks: random bytes, or a valid block with a few bytes overwritten (mostly valid
# structure, so both the accept and the reject paths are exercised).
_blocks = st.binary(max_size=64) | st.builds(
    _edited,
    _headers.map(lambda h: encode_message(h, b"")[12:-4]),
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 255)), max_size=2),
)


@settings(max_examples=500, deadline=None)
@given(block=_blocks, payload=st.binary(max_size=16))
def test_random_header_blocks_parse_like_botocore_or_fail_cleanly(
    block: bytes, payload: bytes
) -> None:
    """Any header block in a correctly framed message either raises EventStreamProtocolError or
    parses to exactly what botocore parses (botocore is lenient where we reject: a value cut
    short by its block, a zero-length name, an unknown type → KeyError)."""
    wire = _frame(block, payload)
    try:
        [ours] = EventStreamDecoder().feed(wire)
    except EventStreamProtocolError as exc:
        event(f"rejected: {exc.error_code}")
        return
    event("accepted")
    [theirs] = _botocore_decode(wire)
    assert list(theirs.headers.items()) == list(_as_botocore(ours.headers).items())
    assert theirs.payload == ours.payload
    assert ours.to_bytes() == wire
