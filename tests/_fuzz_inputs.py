"""Structure-aware fuzz inputs and oracles for the sans-IO decoders (no pytest, no hypothesis).

Shared by ``tests/test_fuzz.py`` (in CI: hypothesis draws the seed of the ``random.Random``
through ``st.randoms()``) and ``tools/fuzz_long.py`` (outside CI: a seeded ``random.Random``, or
atheris's input bytes through :class:`BytesRandom`). Every generator takes a ``random.Random``
and uses only ``random()``, ``randint()``, ``choice()``, ``getrandbits()`` and ``randbytes()``.

The contract checked (the issue: "only our protocol error ever escapes, and memory stays
bounded whatever lengths the input claims"):

* ``EventStreamDecoder.feed``/``close`` raise only ``EventStreamProtocolError``; the framing
  decoders only ``FramingError`` or ``ContainerError``; constructors only
  ``ParamValidationError``. Anything else (IndexError, struct.error, UnicodeDecodeError,
  KeyError, RecursionError, OverflowError, MemoryError, TypeError, ...) propagates out of the
  ``run_*`` helpers untouched, for the caller to report.
* What a caller observes (items delivered, then the error) does not depend on where the bytes
  were cut: see :func:`check_event_stream` and :func:`check_framing`.
* ``EventStreamDecoder.buffered`` never exceeds ``max_message_size``.
* After an error the decoder stays failed: ``close()`` raises the very same exception.
"""

from __future__ import annotations

import array
import functools
import json
import math
import random
import struct
import sys
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sagemaker_rt_async._errors import (
    ContainerError,
    EventStreamProtocolError,
    FramingError,
    StreamError,
)
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
from sagemaker_rt_async._framing import (
    DEFAULT_MAX_LINE_LENGTH,
    JSONLinesDecoder,
    LineDecoder,
    SSEDecoder,
    SSEEvent,
)
from sagemaker_rt_async._tokens import TOKEN_FORMATS, Token, TokenDecoder, TokenFormat

__all__ = [
    "ES_GENERATORS",
    "FRAMING_DECODERS",
    "FRAMING_GENERATORS",
    "KNOWN_BUGS",
    "BytesRandom",
    "EventStreamCase",
    "FramingCase",
    "Mismatch",
    "check_event_stream",
    "check_framing",
    "event_stream_case",
    "framing_case",
    "framing_generators",
    "known_bug",
    "split",
]


class Mismatch(AssertionError):
    """An invariant other than "which exceptions escape" failed (cut dependence, buffering)."""


#: Bugs found by this fuzzing and not fixed yet, by name: (exception type, library function
#: raising it). Each would have an xfail(strict=True) test in tests/test_fuzz.py holding its
#: input; the long run stops on them unless told ``--ignore-known-bugs``. Empty: the three found
#: so far (a RecursionError out of TokenDecoder, cut-dependent auto-detection, unchecked
#: constructor arguments) are fixed and their tests now pass.
KNOWN_BUGS: dict[str, tuple[type[BaseException], str]] = {}


def known_bug(exc: BaseException) -> str | None:
    """The name of the known bug ``exc`` is an instance of, if any (see :data:`KNOWN_BUGS`)."""
    library = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if "sagemaker_rt_async" in code.co_filename:
            library = code.co_name  # the innermost library frame wins
        tb = tb.tb_next
    for name, (kind, function) in KNOWN_BUGS.items():
        if isinstance(exc, kind) and library == function:
            return name
    return None


# ------------------------------------------------------------------------------- the drivers


class BytesRandom(random.Random):
    """A ``random.Random`` whose every choice is read from ``data`` (zeros once it runs out).

    This turns a coverage-guided fuzzer's byte string into a walk through the structure-aware
    generators: the mutator flips choices instead of bytes of the final input.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        super().__init__(0)

    def seed(self, a: object = None, version: int = 2) -> None:
        self._pos = 0

    def getrandbits(self, k: int, /) -> int:
        if k <= 0:
            return 0
        n = (k + 7) // 8
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return int.from_bytes(chunk, "little") & ((1 << k) - 1)

    def random(self) -> float:
        return self.getrandbits(53) / 9007199254740992.0


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def split(rng: random.Random, data: bytes, *, max_cuts: int = 24) -> list[bytes]:
    """``data`` cut at random points (empty chunks included), byte by byte when it is short."""
    n = len(data)
    mode = rng.randint(0, 9)
    if mode == 0 and n <= 96:
        return [data[i : i + 1] for i in range(n)]
    if mode == 1:  # cut around the 12-byte prelude and the 16-byte minimum message
        points = [p for p in (1, 4, 8, 11, 12, 13, 15, 16, 17) if p <= n]
    else:
        points = [rng.randint(0, n) for _ in range(rng.randint(1, max_cuts))]
    points.sort()
    chunks, previous = [], 0
    for point in points:
        chunks.append(data[previous:point])
        previous = point
    chunks.append(data[previous:])
    return chunks


# ---------------------------------------------------------------------------- event stream

# Lengths at and around every boundary the decoder checks: below the 12-byte prelude and the
# 16-byte minimum, the small test limits, the default limits, 2 GiB and 4 GiB.
HOSTILE_LENGTHS = (
    0,
    1,
    2,
    11,
    12,
    15,
    16,
    17,
    28,
    32,
    255,
    1023,
    1024,
    1025,
    4095,
    4096,
    4097,
    65535,
    65536,
    DEFAULT_MAX_HEADERS_SIZE,
    DEFAULT_MAX_HEADERS_SIZE + 1,
    2**24,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE + 1,
    2**31 - 1,
    2**31,
    2**31 + 1,
    2**32 - 17,
    2**32 - 16,
    2**32 - 2,
    2**32 - 1,
)

#: (max_message_size, max_headers_size) pairs the event-stream cases are decoded with. The
#: small ones make the "buffered never exceeds max_message_size" check bite; (2**32 - 1, ...)
#: accepts any claimed length, so only the bytes actually received may cost memory.
ES_LIMITS = (
    (4096, 1024),
    (4096, 4096),
    (16, 0),
    (64, 32),
    (DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_HEADERS_SIZE),
    (2**32 - 1, 2**32 - 1),
)


def hostile_length(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.6:
        return rng.choice(HOSTILE_LENGTHS)
    if r < 0.85:
        return rng.randint(0, 300)
    return rng.getrandbits(32)


def prelude(total: int, hlen: int, *, crc: int | None = None) -> bytes:
    head = struct.pack(">II", total & 0xFFFFFFFF, hlen & 0xFFFFFFFF)
    return head + struct.pack(">I", zlib.crc32(head) if crc is None else crc & 0xFFFFFFFF)


def frame(block: bytes, payload: bytes, *, hlen: int | None = None) -> bytes:
    """A message with both CRCs right around ``block``/``payload`` (``hlen`` may lie)."""
    total = 16 + len(block) + len(payload)
    body = prelude(total, len(block) if hlen is None else hlen) + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def refresh_crcs(wire: bytearray) -> None:
    """Walk the messages of ``wire`` and make every CRC right, so edits reach the parser."""
    pos = 0
    while len(wire) - pos >= 12:
        wire[pos + 8 : pos + 12] = struct.pack(">I", zlib.crc32(wire[pos : pos + 8]))
        (total,) = struct.unpack_from(">I", wire, pos)
        if not 16 <= total <= len(wire) - pos:
            return
        end = pos + total
        wire[end - 4 : end] = struct.pack(">I", zlib.crc32(wire[pos : end - 4]))
        pos = end


_NAME_POOL = (
    ":event-type",
    ":content-type",
    ":message-type",
    ":exception-type",
    ":error-code",
    ":error-message",
    "x",
    "é",
    "名前",
    "\x00",
    "𝄞",
)

_INVALID_UTF8 = (
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xbf",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xed\xa0\x80",  # an encoded surrogate (CESU-8 / WTF-8)
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xc3\x28",
    b"\xe2\x28\xa1",
)


def _unicode(rng: random.Random, max_len: int = 12) -> str:
    out = []
    for _ in range(rng.randint(0, max_len)):
        r = rng.random()
        if r < 0.5:
            out.append(chr(rng.randint(0x20, 0x7E)))
        elif r < 0.7:
            out.append(rng.choice(_CHAR_POOL))
        else:
            cp = rng.randint(0, 0x10FFFF)
            out.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "\ufffd")
    return "".join(out)


def _name_bytes(rng: random.Random, previous: Sequence[bytes]) -> bytes:
    r = rng.random()
    if r < 0.1 and previous:
        return rng.choice(previous)  # a duplicate
    if r < 0.4:
        return rng.choice(_NAME_POOL).encode()
    if r < 0.55:
        return rng.choice(_INVALID_UTF8) + _unicode(rng, 3).encode()
    if r < 0.6:
        return b""
    if r < 0.65:
        return b"n" * rng.choice((254, 255, 256))
    return _unicode(rng, 8).encode()


def header_block(rng: random.Random) -> bytes:
    """A hostile header block: every type byte 0-255, lengths that lie or overrun the block."""
    out = bytearray()
    names: list[bytes] = []
    for _ in range(rng.randint(0, 6)):
        name = _name_bytes(rng, names)
        names.append(name)
        name_len = len(name)
        if _chance(rng, 0.1):
            name_len = rng.choice((0, 1, 255, name_len + 1, max(name_len - 1, 0)))
        out.append(name_len & 0xFF)
        out += name[:255]
        htype = rng.randint(0, 255) if _chance(rng, 0.3) else rng.randint(0, 9)
        out.append(htype)
        width = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}.get(htype)
        if htype in (0, 1):
            pass
        elif width is not None:
            n = width if _chance(rng, 0.85) else rng.randint(0, width - 1)
            out += rng.randbytes(n)
        elif htype in (6, 7):
            if htype == 7 and _chance(rng, 0.6):
                value = _unicode(rng, 20).encode()
            elif htype == 7 and _chance(rng, 0.5):
                value = rng.choice(_INVALID_UTF8) + rng.randbytes(rng.randint(0, 4))
            else:
                value = rng.randbytes(rng.randint(0, 24))
            declared = len(value)
            if _chance(rng, 0.15):
                declared = rng.choice((0, 1, 0xFFFF, 32767, 32768, declared + 1, declared + 100))
            out += struct.pack(">H", declared & 0xFFFF) + value
        else:
            out += rng.randbytes(rng.randint(0, 8))
    if out and _chance(rng, 0.15):
        del out[rng.randint(0, len(out) - 1) :]
    return bytes(out)


def _typed_value(rng: random.Random, htype: HeaderType) -> HeaderValue:
    if htype is HeaderType.BOOL_TRUE:
        return True
    if htype is HeaderType.BOOL_FALSE:
        return False
    bits = {
        HeaderType.BYTE: 7,
        HeaderType.SHORT: 15,
        HeaderType.INTEGER: 31,
        HeaderType.LONG: 63,
        HeaderType.TIMESTAMP: 63,
    }.get(htype)
    if bits is not None:
        if _chance(rng, 0.3):
            return rng.choice((-(2**bits), 2**bits - 1, 0, -1))
        return rng.randint(-(2**bits), 2**bits - 1)
    if htype is HeaderType.BYTE_ARRAY:
        return rng.randbytes(rng.randint(0, 40))
    if htype is HeaderType.STRING:
        return _unicode(rng, 16)
    return uuid.UUID(int=rng.getrandbits(128))


def valid_message(rng: random.Random) -> bytes:
    kind = rng.randint(0, 9)
    if kind <= 3:
        size = rng.randint(0, 64) if _chance(rng, 0.9) else rng.randint(4000, 5000)
        return payload_part(rng.randbytes(size))
    if kind == 4:
        return exception_message(
            rng.choice(("ModelStreamError", "InternalStreamFailure", _unicode(rng, 8) or "x")),
            json.dumps({"Message": _unicode(rng, 20)}).encode(),
        )
    if kind == 5:
        return error_message(_unicode(rng, 8) or "E", _unicode(rng, 30))
    headers: list[tuple[str, HeaderType, HeaderValue]] = []
    seen: set[str] = set()
    for _ in range(rng.randint(0, 6)):
        name = rng.choice(_NAME_POOL) if _chance(rng, 0.5) else _unicode(rng, 6)
        if not name or name in seen or len(name.encode()) > 255:
            continue
        seen.add(name)
        htype = rng.choice(tuple(HeaderType))
        headers.append((name, htype, _typed_value(rng, htype)))
    return encode_message(headers, rng.randbytes(rng.randint(0, 48)))


def valid_stream(rng: random.Random) -> bytes:
    return b"".join(valid_message(rng) for _ in range(rng.randint(1, 4)))


def es_random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 300))


def es_hostile_preludes(rng: random.Random) -> bytes:
    """Preludes claiming hostile lengths (CRC usually right), with tails of various lengths."""
    out = bytearray(valid_stream(rng) if _chance(rng, 0.2) else b"")
    for _ in range(rng.randint(1, 3)):
        total = hostile_length(rng)
        r = rng.random()
        if r < 0.3:
            hlen = rng.choice((0, total - 16, total - 15, total - 12, total, total + 1))
        else:
            hlen = hostile_length(rng)
        crc = None if _chance(rng, 0.85) else rng.getrandbits(32)
        head = prelude(total, hlen, crc=crc)
        tail_kind = rng.randint(0, 4)
        if tail_kind == 0:
            tail = b""
        elif tail_kind == 1:
            tail = rng.randbytes(rng.randint(0, 200))
        elif tail_kind == 2 and 16 <= total <= 2048:  # complete it; message CRC right
            body = head + rng.randbytes(total - 16)
            out += body + struct.pack(">I", zlib.crc32(body))
            continue
        elif tail_kind == 3 and 12 <= total <= 2048:  # exactly total bytes, CRC wrong
            tail = rng.randbytes(total - 12)
        else:
            tail = rng.randbytes(min(max(total - 12, 0), rng.randint(0, 64)))
        out += head + tail
    return bytes(out)


def es_header_blocks(rng: random.Random) -> bytes:
    """Correctly framed messages (both CRCs right) around hostile header blocks."""
    out = bytearray()
    for _ in range(rng.randint(1, 3)):
        block = header_block(rng)
        payload = rng.randbytes(rng.randint(0, 16))
        hlen = None
        if _chance(rng, 0.15):
            hlen = rng.randint(0, len(block) + len(payload))
        out += frame(block, payload, hlen=hlen)
    return bytes(out)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Bit flips, byte stores, hostile uint32s, truncation, duplication, splices, insertion."""
    wire = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        n = len(wire)
        op = rng.randint(0, 8)
        if op == 0 and n:
            wire[rng.randint(0, n - 1)] ^= 1 << rng.randint(0, 7)
        elif op == 1 and n:
            wire[rng.randint(0, n - 1)] = rng.choice((0, 1, 9, 10, 0x7F, 0x80, 0xFF))
        elif op == 2 and n >= 4:
            at = rng.choice((0, 4)) if _chance(rng, 0.5) else rng.randint(0, n - 4)
            wire[at : at + 4] = struct.pack(">I", hostile_length(rng))
        elif op == 3:
            del wire[rng.randint(0, n) :]
        elif op == 4 and n:
            a = rng.randint(0, n - 1)
            b = rng.randint(a, min(n, a + 64))
            at = rng.randint(0, n)
            wire[at:at] = wire[a:b]
        elif op == 5:
            other = valid_stream(rng)
            wire = wire[: rng.randint(0, n)] + other[rng.randint(0, len(other)) :]
        elif op == 6 and n:
            a = rng.randint(0, n - 1)
            del wire[a : rng.randint(a, n)]
        elif op == 7:
            at = rng.randint(0, n)
            wire[at:at] = rng.randbytes(rng.randint(1, 16))
        else:
            wire += valid_message(rng)
    if _chance(rng, 0.5):
        refresh_crcs(wire)
    return bytes(wire)


def es_mutated(rng: random.Random) -> bytes:
    base = valid_stream(rng) if _chance(rng, 0.7) else es_header_blocks(rng)
    return mutate(rng, base)


def es_valid(rng: random.Random) -> bytes:
    return valid_stream(rng)


ES_GENERATORS: dict[str, Callable[[random.Random], bytes]] = {
    "es-random": es_random_bytes,
    "es-hostile-prelude": es_hostile_preludes,
    "es-header-block": es_header_blocks,
    "es-mutated": es_mutated,
    "es-valid": es_valid,
}


@dataclass(frozen=True)
class EventStreamCase:
    data: bytes
    chunks: list[bytes]
    max_message_size: int
    max_headers_size: int
    chunk_type: str  # "bytes", "bytearray" or "memoryview": the decoder has two input paths

    def __repr__(self) -> str:
        cuts = [len(c) for c in self.chunks]
        return (
            f"EventStreamCase(data=bytes.fromhex({self.data.hex()!r}), chunk_lengths={cuts}, "
            f"max_message_size={self.max_message_size}, "
            f"max_headers_size={self.max_headers_size}, chunk_type={self.chunk_type!r})"
        )


def event_stream_case(
    rng: random.Random, generator: Callable[[random.Random], bytes] | None = None
) -> EventStreamCase:
    gen = generator or rng.choice(tuple(ES_GENERATORS.values()))
    data = gen(rng)
    limits = rng.choice(ES_LIMITS)
    chunk_type = rng.choice(
        ("bytes", "bytes", "bytes", "bytearray", "memoryview", "strided", "u16")
    )
    return EventStreamCase(data, split(rng, data), *limits, chunk_type)


def _canon_message(message: EventStreamMessage) -> tuple[object, ...]:
    headers = tuple(
        (
            name,
            int(message.header_types[name]),
            str(value) if isinstance(value, uuid.UUID) else value,
        )
        for name, value in message.headers.items()
    )
    return headers, message.payload


def _as_chunk(chunk: bytes, chunk_type: str) -> bytes | bytearray | memoryview:
    if chunk_type == "bytearray":
        return bytearray(chunk)
    if chunk_type == "strided":  # not contiguous: the same bytes, every other one of a buffer
        doubled = bytearray(2 * len(chunk))
        doubled[::2] = chunk
        return memoryview(doubled)[::2]
    if chunk_type == "u16" and len(chunk) % 2 == 0:  # format "H", not "B"
        return memoryview(array.array("H", chunk))
    if chunk_type == "memoryview":
        return memoryview(b"\x00" + chunk)[1:]
    return chunk


def run_event_stream(
    chunks: Sequence[bytes],
    *,
    max_message_size: int,
    max_headers_size: int,
    chunk_type: str = "bytes",
) -> tuple[tuple[object, ...], tuple[object, ...] | None]:
    """Feed ``chunks`` then close: (messages, error) as a caller observes them.

    Only ``EventStreamProtocolError`` is caught; anything else propagates. Checks after every
    call that ``buffered`` stays within ``max_message_size``, and that an error is sticky.
    """
    decoder = EventStreamDecoder(
        max_message_size=max_message_size, max_headers_size=max_headers_size
    )
    messages: list[tuple[object, ...]] = []
    try:
        for chunk in chunks:
            messages += map(_canon_message, decoder.feed(_as_chunk(chunk, chunk_type)))
            if decoder.buffered > max_message_size:
                raise Mismatch(f"buffered {decoder.buffered} > max_message_size")
        decoder.close()
    except EventStreamProtocolError as exc:
        try:
            decoder.close()
        except EventStreamProtocolError as again:
            if again is not exc:
                raise Mismatch("a failed decoder raised a different error") from again
        else:
            raise Mismatch("a failed decoder closed without raising") from exc
        return tuple(messages), (exc.error_code, str(exc))
    if decoder.buffered:
        raise Mismatch("close() succeeded with bytes still buffered")
    return tuple(messages), None


def check_event_stream(case: EventStreamCase) -> str:
    """Run ``case`` whole and cut; the two must agree. Returns a label of the outcome."""
    whole = run_event_stream(
        [case.data],
        max_message_size=case.max_message_size,
        max_headers_size=case.max_headers_size,
    )
    cut = run_event_stream(
        case.chunks,
        max_message_size=case.max_message_size,
        max_headers_size=case.max_headers_size,
        chunk_type=case.chunk_type,
    )
    if cut != whole:
        raise Mismatch(f"cut {_short(cut)} != whole {_short(whole)}")
    return "ok" if whole[1] is None else str(whole[1][0])


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 600 else text[:600] + "..."


# -------------------------------------------------------------------------------- framing

_CHAR_POOL = (
    " ",
    "\t",
    "é",
    "€",
    "𝄞",
    "\ufeff",
    "\u2028",
    "\u2029",
    "\x85",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x7f",
    "\ud7ff",
    "\ue000",
    "\uffff",
    "\U0010ffff",
    "\\",
    '"',
)

_TERMINATORS = (b"\n", b"\r", b"\r\n", b"\n\r", b"\r\r\n", b"\n\n", b"\r\n\r\n")

_FRAGMENTS = (
    b"data:",
    b"data: ",
    b"data",
    b"event:",
    b"event: error",
    b"id:",
    b"id: \x00",
    b"retry:",
    b"retry: 1000",
    b":",
    b": keep-alive",
    b"[DONE]",
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b",",
    b":",
    b"\xef\xbb\xbf",
    b"   ",
    b'{"token":',
    b'{"choices":[',
    b'{"outputs":',
    b'{"error":',
    b"null",
    b"1e999",
    b"NaN",
)

#: Keys the token formats look at, so random objects hit the interpreters' branches.
_KEYS = (
    "token",
    "id",
    "text",
    "logprob",
    "log_prob",
    "special",
    "special_token",
    "error_msg",
    "details",
    "finish_reason",
    "generated_text",
    "choices",
    "delta",
    "content",
    "index",
    "logprobs",
    "token_logprobs",
    "object",
    "usage",
    "outputs",
    "error",
    "error_type",
    "message",
    "type",
    "code",
    "msg",
    "error_code",
    "reasoning_content",
    "reasoning",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "input_length",
    "generated_tokens",
    "body",
    "generation",
    "stop_reason",
    "generation_token_count",
    "response",
    "output_index",
    "item",
    "call_id",
    "status",
    "incomplete_details",
    "content_block",
    "partial_json",
    "thinking",
    "http_status_code",
)

_SCALARS = (
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "-0.0",
    "1E+2",
    "2147483648",
    "9223372036854775808",
    "18446744073709551616",
    "1e308",
    "1e309",
    "-1e999",
    "1e-999",
    "NaN",
    "Infinity",
    "-Infinity",
    '""',
    '"error"',
    '"chat.completion.chunk"',
    '"text_completion"',
    '"stop"',
    '"[DONE]"',
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\u0000"',
    '"</s>"',
    '"response.output_text.delta"',
    '"response.function_call_arguments.delta"',
    '"response.output_item.added"',
    '"response.completed"',
    '"response.failed"',
    '"function_call"',
    '"content_block_delta"',
    '"content_block_start"',
    '"message_delta"',
    '"text_delta"',
    '"thinking_delta"',
    '"input_json_delta"',
    '"tool_use"',
    "[]",
    "{}",
)


def _huge_number(rng: random.Random) -> str:
    digits = rng.choice((309, 400, 4300, 4301, 5000, rng.randint(1, 6000)))
    r = rng.random()
    if r < 0.5:
        return "9" * digits
    if r < 0.75:
        return "-1" + "0" * digits
    return "1" + "0" * digits + ".5e" + "9" * rng.randint(1, 6)


#: Nesting depths for deep JSON. Near the recursion limit (1000 by default) json.loads just
#: succeeds and later work on the value may not: see KNOWN_BUGS. ``near_limit=False`` keeps
#: to depths that either parse with room to spare or fail inside json.loads.
_DEPTHS_NEAR = (900, 950, 975, 990, 1000, 1010)
_DEPTHS_FAR = (5, 100, 300, 500, 1500, 5000, 100000)


_ERROR_WRAPS = (
    '{"error": %s}',
    '{"error": {"type": %s}}',
    '{"error": {"code": %s, "message": %s}}',
    '{"error": {"x": %s}}',
    '{"object": "error", "type": %s}',
    '{"object": "error", "message": %s}',
    '{"token": {"id": -1, "text": "a"}, "details": %s}',
    '{"token": {"id": -1}, "generated_text": %s}',
)
_OTHER_WRAPS = (
    "%s",
    '{"token": {"id": 1, "text": %s}}',
    '{"choices": [{"delta": %s}]}',
    '{"choices": [{"index": 0, "text": "a", "logprobs": %s}]}',
    '{"outputs": %s}',
)


def _deep(rng: random.Random, near_limit: bool) -> str:
    """Nesting near and far past the recursion limit, balanced or not, in the keys that count."""
    if near_limit:
        depth = rng.choice(_DEPTHS_NEAR + _DEPTHS_FAR)
        r = rng.random()
        if r < 0.5:  # just under the limit, whatever the caller's stack depth
            depth = sys.getrecursionlimit() - rng.randint(0, 40)
        elif r < 0.7:
            depth = rng.randint(1, 3000)
    else:
        depth = rng.choice(_DEPTHS_FAR)
        if _chance(rng, 0.3):
            depth = rng.randint(1, 500)
    kind = rng.randint(0, 3)
    if kind == 0:
        inner = "[" * depth
    elif kind == 1:
        inner = "[" * depth + "]" * depth
    elif kind == 2:
        inner = '{"a":' * depth + "1" + "}" * depth
    else:
        inner = '{"error":' * depth + '"x"' + "}" * depth
    # Half the time an error shape: the code that re-encodes or formats a value is there.
    wrap = rng.choice(_ERROR_WRAPS if _chance(rng, 0.5) else _ERROR_WRAPS + _OTHER_WRAPS)
    return wrap.replace("%s", inner)


def json_value(rng: random.Random, depth: int = 0) -> str:
    """JSON text, sometimes invalid, with the token formats' keys and hostile leaves."""
    r = rng.random()
    if depth > 3 or r < 0.35:
        s = rng.random()
        if s < 0.6:
            return rng.choice(_SCALARS)
        if s < 0.8:
            return json.dumps(_unicode(rng, 10), ensure_ascii=_chance(rng, 0.5))
        if s < 0.95:
            return str(rng.randint(-(2**70), 2**70))
        return _huge_number(rng) if _chance(rng, 0.7) else rng.choice(("[", "{", '"', "tru"))
    if r < 0.55:
        items = [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return "[" + ",".join(items) + "]"
    members = []
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(_KEYS) if _chance(rng, 0.85) else _unicode(rng, 5)
        members.append(json.dumps(key) + ":" + json_value(rng, depth + 1))
    return "{" + ",".join(members) + "}"


def _leaf(rng: random.Random, good: str) -> str:
    return good if _chance(rng, 0.88) else json_value(rng, 2)


def _text(rng: random.Random) -> str:
    return json.dumps(_unicode(rng, 6), ensure_ascii=_chance(rng, 0.5))


def shaped_value(rng: random.Random, near_limit: bool = True) -> str:
    """A JSON value shaped like one of the container formats (or their errors), leaves mutated."""
    kind = rng.randint(0, 11)
    if kind <= 1:  # TGI / LMI token event
        keys = ("logprob", "special") if _chance(rng, 0.5) else ("log_prob", "special_token")
        token = (
            f'{{"id":{_leaf(rng, str(rng.randint(-1, 50000)))},"text":{_leaf(rng, _text(rng))},'
            f'"{keys[0]}":{_leaf(rng, _logprob(rng))},"{keys[1]}":{_leaf(rng, "false")}'
        )
        if _chance(rng, 0.1):
            token += f',"error_msg":{_leaf(rng, _text(rng))}'
        value = f'{{"token":{token}}}}}'
        if _chance(rng, 0.3):
            finish = _leaf(rng, rng.choice(('"length"', '"eos_token"', '"error"', "null")))
            value = value[:-1] + (
                f',"generated_text":{_leaf(rng, _text(rng))},'
                f'"details":{{"finish_reason":{finish}}}}}'
            )
        return value
    if kind <= 3:  # OpenAI chat or legacy completion chunk
        if _chance(rng, 0.6):
            choice = f'{{"index":{_leaf(rng, "0")},"delta":{{"content":{_leaf(rng, _text(rng))}}}'
        else:
            choice = f'{{"index":{_leaf(rng, "0")},"text":{_leaf(rng, _text(rng))}'
        if _chance(rng, 0.3):
            choice += f',"finish_reason":{_leaf(rng, chr(34) + "stop" + chr(34))}'
        if _chance(rng, 0.3):
            logprob = _leaf(rng, _logprob(rng))
            if _chance(rng, 0.7):
                logprobs = '{"content":[{"logprob":' + logprob + "}]}"
            else:
                logprobs = '{"token_logprobs":[' + logprob + "]}"
            if _chance(rng, 0.2):
                logprobs = f"[{logprobs}]"  # DJL-LMI's stray list
            choice += f',"logprobs":{_leaf(rng, logprobs)}'
        choice += "}"
        obj = _leaf(rng, '"chat.completion.chunk"')
        return f'{{"object":{obj},"choices":[{choice}]}}'
    if kind == 4:  # older containers
        return f'{{"outputs":{_leaf(rng, "[" + _text(rng) + "]")}}}'
    if kind == 5:  # the error shapes
        return rng.choice(
            (
                f'{{"error":{_leaf(rng, _text(rng))},"error_type":{_leaf(rng, _text(rng))}}}',
                f'{{"error":{{"message":{_leaf(rng, _text(rng))},"type":{_leaf(rng, "1")}}}}}',
                f'{{"object":"error","message":{_leaf(rng, _text(rng))},"code":{_leaf(rng, "2")}}}',
                f'{{"error":{_leaf(rng, "1")}}}',
                f'{{"token":{{"id":-1,"text":""}},"generated_text":{_leaf(rng, _text(rng))}}}',
            )
        )
    if kind == 6:
        return f'{{"usage":{_leaf(rng, "{}")}}}'
    if kind == 7:
        return _deep(rng, near_limit) if _chance(rng, 0.5) else _huge_number(rng)
    if kind == 9:  # OpenAI deltas: reasoning, tool calls (a list, or TGI's one object)
        call = (
            f'{{"index":{_leaf(rng, "0")},"id":{_leaf(rng, _text(rng))},'
            f'"function":{{"name":{_leaf(rng, _text(rng))},"arguments":{_leaf(rng, _text(rng))}}}}}'
        )
        calls = f"[{call}]" if _chance(rng, 0.7) else call
        delta = rng.choice(
            (
                f'{{"reasoning_content":{_leaf(rng, _text(rng))}}}',
                f'{{"reasoning":{_leaf(rng, _text(rng))}}}',
                f'{{"tool_calls":{_leaf(rng, calls)}}}',
            )
        )
        return f'{{"object":"chat.completion.chunk","choices":[{{"index":0,"delta":{delta}}}]}}'
    if kind == 10:  # Responses and Anthropic events
        return rng.choice(
            (
                f'{{"type":"response.output_text.delta","delta":{_leaf(rng, _text(rng))}}}',
                f'{{"type":"response.function_call_arguments.delta","output_index":'
                f'{_leaf(rng, "0")},"delta":{_leaf(rng, _text(rng))}}}',
                f'{{"type":"response.output_item.added","output_index":{_leaf(rng, "1")},'
                f'"item":{{"type":"function_call","name":{_leaf(rng, _text(rng))}}}}}',
                f'{{"type":"response.completed","response":{_leaf(rng, "{}")}}}',
                f'{{"type":"response.failed","response":{_leaf(rng, "{}")}}}',
                f'{{"type":"error","code":{_leaf(rng, _text(rng))}}}',
                f'{{"type":"content_block_delta","index":{_leaf(rng, "0")},'
                f'"delta":{{"type":"text_delta","text":{_leaf(rng, _text(rng))}}}}}',
                f'{{"type":"content_block_start","index":{_leaf(rng, "1")},'
                f'"content_block":{{"type":"tool_use","id":{_leaf(rng, _text(rng))}}}}}',
                f'{{"type":"message_delta","delta":{{"stop_reason":{_leaf(rng, _text(rng))}}},'
                f'"usage":{_leaf(rng, "{}")}}}',
            )
        )
    if kind == 11:  # DJL's Bedrock-style 3p chunks and its frontend's error objects
        return rng.choice(
            (
                f'{{"body":{{"generation":{_leaf(rng, _text(rng))},'
                f'"stop_reason":{_leaf(rng, "null")}}}}}',
                f'{{"code":{_leaf(rng, "424")},"error":{_leaf(rng, _text(rng))}}}',
                f'{{"code":{_leaf(rng, "500")},"message":{_leaf(rng, _text(rng))}}}',
            )
        )
    return json_value(rng)


def _logprob(rng: random.Random) -> str:
    return rng.choice(("-0.25", "0", "-1e400", "1" + "0" * 400, "NaN", "null", '"-1"'))


def _terminator(rng: random.Random) -> bytes:
    return b"\n" if _chance(rng, 0.6) else rng.choice(_TERMINATORS)


def _sse_line(rng: random.Random, near_limit: bool) -> bytes:
    r = rng.random()
    if r < 0.5:
        sep = rng.choice((b"data:", b"data: ", b"data:  ", b"data"))
        return sep + shaped_value(rng, near_limit).encode()
    if r < 0.6:
        return b"data: [DONE]"
    if r < 0.7:
        return b"event: " + rng.choice((b"error", b"message", b"", b"x"))
    if r < 0.75:
        return b"id: " + _unicode(rng, 4).encode() + (b"\x00" if _chance(rng, 0.2) else b"")
    if r < 0.8:
        return b"retry: " + rng.choice((b"1000", b"-1", b"1e3", b"\xd9\xa3", b"9" * 5000))
    if r < 0.85:
        return b":" + _unicode(rng, 6).encode()
    if r < 0.9:
        return b""
    return _unicode(rng, 6).encode() + rng.choice((b"", b":", b": ")) + _unicode(rng, 6).encode()


def fr_random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 200))


def fr_soup(rng: random.Random) -> bytes:
    """Fragments: valid text, invalid UTF-8, terminators, SSE field names, JSON punctuation."""
    out = bytearray()
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.3:
            out += _unicode(rng, 6).encode()
        elif r < 0.45:
            out += rng.choice(_INVALID_UTF8)
        elif r < 0.65:
            out += rng.choice(_TERMINATORS)
        else:
            out += rng.choice(_FRAGMENTS)
    return bytes(out)


def fr_sse(rng: random.Random, near_limit: bool = True) -> bytes:
    """SSE field soup: data/event/id/retry/comments, blank lines or not, BOM, CR/LF/CRLF."""
    out = bytearray(b"\xef\xbb\xbf" if _chance(rng, 0.1) else b"")
    for _ in range(rng.randint(0, 12)):
        out += _sse_line(rng, near_limit) + _terminator(rng)
        if _chance(rng, 0.6):
            out += _terminator(rng)
    if out and _chance(rng, 0.2):
        del out[-1:]
    return bytes(out)


def fr_json_stream(rng: random.Random, near_limit: bool = True) -> bytes:
    """The container formats' wire shapes: SSE events, lmi-sse lines, JSON lines."""
    style = rng.choice(("sse", "sse-no-blank", "lmi-sse", "jsonl"))
    out = bytearray(b"\xef\xbb\xbf" if _chance(rng, 0.05) else b"")
    if _chance(rng, 0.1):
        out += b" " * rng.randint(1, 8) + b"\n"
    if style.startswith("sse") and _chance(rng, 0.15):
        out += b": keep-alive\n\n"
    for _ in range(rng.randint(1, 6)):
        value = shaped_value(rng, near_limit).encode()
        eol = _terminator(rng)
        if style == "jsonl":
            out += value + eol
            continue
        if _chance(rng, 0.1):
            out += b"event: error" + eol
        prefix = b"data:" if _chance(rng, 0.5) else b"data: "
        out += prefix + value + eol
        if style == "sse":
            out += eol
    if _chance(rng, 0.3):
        out += b"data: [DONE]\n\n" if style != "jsonl" else b"[DONE]\n"
        if _chance(rng, 0.3):
            out += rng.choice((b"\xff\xfe garbage", b'data: {"error": "after"}\n\n'))
    if out and _chance(rng, 0.1):
        del out[rng.randint(0, len(out) - 1) :]
    elif _chance(rng, 0.15):  # no final terminator: close() must finish the last line/event
        out = bytearray(out.rstrip(b"\r\n"))
    return bytes(out)


def fr_long_lines(rng: random.Random) -> bytes:
    """Lines at and around max_line_length (chosen small by framing_case), multibyte at edges."""
    out = bytearray()
    for _ in range(rng.randint(1, 4)):
        length = rng.choice((1, 2, 3, 7, 8, 9, 63, 64, 65, 100, 1000, 5000))
        filler = rng.choice(("x", "é", "€", "𝄞", "data: x", '{"outputs":["a"]}'))
        line = (filler * length).encode()[: length + rng.randint(-2, 4)]
        if _chance(rng, 0.3):
            line = b"data: " + line
        out += line + (_terminator(rng) if _chance(rng, 0.8) else b"")
    return bytes(out)


def fr_deep(rng: random.Random, near_limit: bool = True) -> bytes:
    """Deep JSON nesting and huge numbers, as JSON lines or SSE data."""
    value = (_deep(rng, near_limit) if _chance(rng, 0.7) else _huge_number(rng)).encode()
    r = rng.random()
    if r < 0.3:
        return value + b"\n"
    if r < 0.6:
        return b"data: " + value + b"\n\n"
    return b"event: error\ndata: " + value + b"\n\n"


def framing_generators(*, near_limit: bool) -> dict[str, Callable[[random.Random], bytes]]:
    """The framing generators by name; ``near_limit`` as for :data:`KNOWN_BUGS`."""
    return {
        "fr-random": fr_random_bytes,
        "fr-soup": fr_soup,
        "fr-sse": functools.partial(fr_sse, near_limit=near_limit),
        "fr-json": functools.partial(fr_json_stream, near_limit=near_limit),
        "fr-long-lines": fr_long_lines,
        "fr-deep": functools.partial(fr_deep, near_limit=near_limit),
    }


#: Everything, deep JSON near the recursion limit included (the long run).
FRAMING_GENERATORS = framing_generators(near_limit=True)

_MAX_LINES = (1, 2, 3, 8, 64, 100, 256, 4096, DEFAULT_MAX_LINE_LENGTH)
_CONTENT_TYPES = (
    None,
    None,
    "",
    "text/event-stream",
    "TEXT/Event-Stream; charset=utf-8",
    "application/jsonlines",
    "application/x-ndjson",
    "text/plain",
    "application/json",
    ";",
)


class Decoder(Protocol):
    def feed(self, data: bytes) -> Sequence[object]: ...

    def close(self) -> Sequence[object]: ...


DecoderFactory = Callable[[int, "str | None"], Decoder]


def _token_factory(fmt: TokenFormat) -> DecoderFactory:
    def make(max_line: int, content_type: str | None) -> Decoder:
        return TokenDecoder(fmt, content_type=content_type, max_line_length=max_line)

    return make


#: Every framing decoder, and TokenDecoder in every format, by name.
FRAMING_DECODERS: dict[str, DecoderFactory] = {
    "lines": lambda max_line, _: LineDecoder(max_line),
    "sse": lambda max_line, _: SSEDecoder(max_line_length=max_line),
    "jsonl": lambda max_line, _: JSONLinesDecoder(max_line_length=max_line),
    **{f"token-{fmt}": _token_factory(fmt) for fmt in TOKEN_FORMATS},
}


@dataclass(frozen=True)
class FramingCase:
    data: bytes
    chunks: list[bytes]
    max_line_length: int
    content_type: str | None

    def __repr__(self) -> str:
        cuts = [len(c) for c in self.chunks]
        return (
            f"FramingCase(data=bytes.fromhex({self.data.hex()!r}), chunk_lengths={cuts}, "
            f"max_line_length={self.max_line_length}, content_type={self.content_type!r})"
        )


def framing_case(
    rng: random.Random, generator: Callable[[random.Random], bytes] | None = None
) -> FramingCase:
    gen = generator or rng.choice(tuple(FRAMING_GENERATORS.values()))
    data = gen(rng)
    max_line = DEFAULT_MAX_LINE_LENGTH
    if gen is fr_long_lines or _chance(rng, 0.25):
        max_line = rng.choice(_MAX_LINES)
    return FramingCase(data, split(rng, data), max_line, rng.choice(_CONTENT_TYPES))


def canon_json(value: Any) -> str:
    """A canonical text of a decoded JSON value, without recursion (values may nest ~1000 deep)
    and with NaN equal to NaN (``float('nan') != float('nan')`` would fail any comparison)."""
    out: list[str] = []
    stack: list[Any] = [value]
    close = object()
    while stack:
        item = stack.pop()
        if item is close:
            out.append(")")
        elif isinstance(item, dict):
            out.append("{(")
            stack.append(close)
            for key, val in reversed(list(item.items())):
                stack.append(val)
                stack.append(("key", key))
        elif isinstance(item, list):
            out.append("[(")
            stack.append(close)
            stack.extend(reversed(item))
        elif isinstance(item, tuple):
            out.append(f"{item[1]!r}:")
        elif isinstance(item, float):
            out.append("nan," if math.isnan(item) else f"{item!r},")
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(f"i{item:x},")  # hex: no str-digits limit for huge ints
        else:
            out.append(f"{item!r},")
    return "".join(out)


def _canon_item(item: object) -> object:
    if isinstance(item, Token):
        logprob = None if item.logprob is None else repr(item.logprob)
        logprobs = tuple(map(repr, item.logprobs))
        return (
            "token",
            item.text,
            item.id,
            logprob,
            item.special,
            item.finish_reason,
            item.kind,
            item.tool_calls,
            logprobs,
            item.final,
        )
    if isinstance(item, (SSEEvent, str)):
        return item
    return ("json", canon_json(item))


@dataclass(frozen=True)
class Outcome:
    items: tuple[object, ...]
    error: tuple[object, ...] | None
    resolved: str | None  # TokenDecoder.format after the run


def run_framing(factory: DecoderFactory, case: FramingCase, chunks: Sequence[bytes]) -> Outcome:
    """Feed ``chunks`` then close: what a caller observes.

    Only ``FramingError`` and ``ContainerError`` are caught; anything else propagates.
    """
    decoder = factory(case.max_line_length, case.content_type)
    items: list[object] = []
    error: StreamError | None = None
    try:
        for chunk in chunks:
            items.extend(decoder.feed(chunk))
        items.extend(decoder.close())
    except (FramingError, ContainerError) as exc:
        error = exc
        try:
            decoder.close()
        except (FramingError, ContainerError) as again:
            if again is not exc:
                raise Mismatch("a failed decoder raised a different error") from again
        else:
            raise Mismatch("a failed decoder closed without raising") from exc
    resolved = decoder.format if isinstance(decoder, TokenDecoder) else None
    if resolved == "text":
        # Raw text: the chunking decides the tokens; only the text (and the error) is invariant.
        text = "".join(t.text for t in items if isinstance(t, Token))
        items = [Token(text)] if text else []
    described: tuple[object, ...] | None = None
    if isinstance(error, ContainerError):
        delivered = "".join(
            t.text
            for t in items
            if isinstance(t, Token) and t.kind == "text" and not t.special  # the answer's text
        )
        if error.partial_text != delivered:
            raise Mismatch(f"partial_text {error.partial_text!r} != delivered {delivered!r}")
        described = ("ContainerError", error.error_code, error.status_code, error.partial_text)
        described += (canon_json(error.payload),)
    elif error is not None:
        described = ("FramingError", error.error_code)
    return Outcome(tuple(map(_canon_item, items)), described, resolved)


def check_framing(name: str, case: FramingCase) -> str:
    """Run ``case`` through decoder ``name`` whole and cut; the two must agree."""
    factory = FRAMING_DECODERS[name]
    whole = run_framing(factory, case, [case.data])
    cut = run_framing(factory, case, case.chunks)
    if cut != whole:
        raise Mismatch(f"{name}: cut {_short(cut)} != whole {_short(whole)}")
    return "ok" if whole.error is None else str(whole.error[0])
