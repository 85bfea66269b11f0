"""Sans-IO codec for the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

One responsibility: bytes in, :class:`EventStreamMessage` values out (and the reverse). No I/O,
no clock, no logging; the streaming shell reads chunks and calls :meth:`EventStreamDecoder.feed`.

Wire format (spec §4.1; every integer big-endian)::

    0               4                8               12               12 + hlen
    +---------------+----------------+---------------+----------------+-----------+-------------+
    |  total_length | headers_length |  prelude_crc  |  header block  |  payload  | message_crc |
    |     uint32    |     uint32     |   CRC [0, 8)  |   hlen bytes   |           |    uint32   |
    +---------------+----------------+---------------+----------------+-----------+-------------+
    |<-------------------------------------- total_length ------------------------------------->|
                      hlen = headers_length;  message_crc = CRC-32 of bytes [0, total_length - 4)

    payload length = total_length - headers_length - 16      (minimum message: 16 bytes)
    CRC-32 is zlib's (CRC-32/ISO-HDLC, check value crc32(b"123456789") == 0xCBF43926)

Each header in the block (spec §4.2; names unique, order kept as on the wire)::

    +----------+-------------------+--------+---------------------------------------------+
    | name_len | name (UTF-8)      |  type  | value                                       |
    |  uint8   | 1..255 bytes      | uint8  | depends on type, see HeaderType             |
    +----------+-------------------+--------+---------------------------------------------+

    type 0 true · 1 false (no value bytes)   2 int8 · 3 int16 · 4 int32 · 5 int64
    6 bytes · 7 UTF-8 string (uint16 length + bytes)   8 timestamp int64 ms · 9 uuid (16 bytes)

Decoded values: booleans, ``int`` for the four integer types, ``bytes``, ``str``,
``uuid.UUID``, and a timestamp as ``int`` milliseconds since the Unix epoch (the wire value,
lossless; botocore returns the same ``int``). :attr:`EventStreamMessage.header_types` keeps each
header's wire type, so an int64 and a timestamp (or an int8 and an int32) stay distinguishable.

Every decoding failure raises :class:`~sagemaker_rt_async._errors.EventStreamProtocolError`
(never ``struct.error``, ``IndexError``, ``UnicodeDecodeError``, ``KeyError``), classified by
``error_code``:

===========================  =============================================================
``PreludeChecksumMismatch``  CRC of bytes [0, 8) differs from ``prelude_crc``
``MessageChecksumMismatch``  CRC of bytes [0, total - 4) differs from ``message_crc``
``InvalidLength``            ``total_length < 16`` or ``headers_length > total_length - 16``
``MessageTooLarge``          ``total_length`` or ``headers_length`` above the decoder's limit
``InvalidHeader``            zero-length name, bad UTF-8, a header running past its block
``DuplicateHeader``          the same header name twice in one message
``UnknownHeaderType``        a type byte above 9
``Truncated``                end of input (:meth:`EventStreamDecoder.close`) inside a message
===========================  =============================================================

The encoder raises :class:`~sagemaker_rt_async._errors.ParamValidationError` for values that
cannot be put on the wire (a programming error of the caller, not a protocol error).
"""

from __future__ import annotations

import enum
import struct
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, NoReturn, TypeAlias

from ._errors import EventStreamProtocolError, ParamValidationError

__all__ = [
    "DEFAULT_MAX_HEADERS_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EventStreamDecoder",
    "EventStreamMessage",
    "HeaderSpec",
    "HeaderType",
    "HeaderValue",
    "encode_message",
    "error_message",
    "exception_message",
    "frame_message",
    "header_block",
    "payload_part",
]


class HeaderType(enum.IntEnum):
    """The wire type byte of a header (spec §4.2); the value bytes that follow depend on it."""

    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    SHORT = 3
    INTEGER = 4
    LONG = 5
    BYTE_ARRAY = 6
    STRING = 7
    TIMESTAMP = 8
    UUID = 9


HeaderValue: TypeAlias = bool | int | bytes | str | uuid.UUID
"""A decoded header value; a timestamp is ``int`` milliseconds since the Unix epoch."""

_PRELUDE_LENGTH: Final = 12
_MESSAGE_OVERHEAD: Final = 16  # prelude + message CRC

DEFAULT_MAX_HEADERS_SIZE: Final = 128 * 1024
"""Largest header block accepted by default: 128 KiB, the limit of Smithy and botocore.

It also bounds the work of parsing one block (linear in its size) and the header cache, which
keeps a single block.
"""

DEFAULT_MAX_MESSAGE_SIZE: Final = 24 * 1024 * 1024 + DEFAULT_MAX_HEADERS_SIZE + _MESSAGE_OVERHEAD
"""Largest message accepted by default: a 24 MiB payload (botocore's cap) + headers + framing.

The Smithy spec tells clients not to enforce the size limits; we cap anyway, because the cap is
what bounds the memory one hostile ``total_length`` can make us hold (spec §4.3).
"""

# The encoder refuses longer string / byte-array values: 2^15 - 1 is the Smithy limit, although
# the uint16 prefix could carry 65,535 bytes (the decoder accepts up to that, being lenient).
_MAX_VALUE_LENGTH: Final = 32767
_MAX_NAME_LENGTH: Final = 255
_MAX_UINT32: Final = 0xFFFFFFFF
# A piece of a split message at least this long is held as it came (a view of the fed bytes, or
# one copy when they were mutable); shorter ones are copied together into one bytearray, so
# feeding a message a few bytes at a time cannot cost an object per byte.
_KEEP_PIECE: Final = 4096

_PRELUDE: Final = struct.Struct(">III")
_LENGTHS: Final = struct.Struct(">II")
_U32: Final = struct.Struct(">I")
_U16: Final = struct.Struct(">H")

# Fixed-width header values: type -> (struct, width, inclusive range).
_FIXED: Final[dict[int, tuple[struct.Struct, int, int, int]]] = {
    HeaderType.BYTE: (struct.Struct(">b"), 1, -(2**7), 2**7 - 1),
    HeaderType.SHORT: (struct.Struct(">h"), 2, -(2**15), 2**15 - 1),
    HeaderType.INTEGER: (struct.Struct(">i"), 4, -(2**31), 2**31 - 1),
    HeaderType.LONG: (struct.Struct(">q"), 8, -(2**63), 2**63 - 1),
    HeaderType.TIMESTAMP: (struct.Struct(">q"), 8, -(2**63), 2**63 - 1),
}
_HEADER_TYPES: Final = tuple(HeaderType)

_NO_HEADERS: Final[Mapping[str, HeaderValue]] = MappingProxyType({})
_NO_TYPES: Final[Mapping[str, HeaderType]] = MappingProxyType({})


class _InferTypes(dict[str, HeaderType]):
    """Marks an ``EventStreamMessage`` built without ``header_types``: infer them from values."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, repr=False)
class EventStreamMessage:
    """One decoded (or to-be-encoded) event-stream message.

    ``headers`` keeps wire order. ``header_types`` gives each header's wire type; the decoder
    fills it (the same read-only mappings are shared by every message carrying an identical
    header block, so it costs nothing per message). Built by hand without ``header_types``, the
    types are inferred from the values as :func:`encode_message` infers them.
    """

    headers: Mapping[str, HeaderValue]
    payload: bytes
    header_types: Mapping[str, HeaderType] = field(default_factory=_InferTypes)

    def __post_init__(self) -> None:
        if type(self.header_types) is _InferTypes:
            inferred = {name: _infer_type(name, value) for name, value in self.headers.items()}
            object.__setattr__(self, "header_types", MappingProxyType(inferred))

    def __repr__(self) -> str:
        payload = repr(self.payload[:64]) + ("..." if len(self.payload) > 64 else "")
        return (
            f"EventStreamMessage(headers={dict(self.headers)!r}, "
            f"payload={payload} ({len(self.payload)} bytes))"
        )

    def to_bytes(self) -> bytes:
        """Encode this message (headers in their order, with their ``header_types``)."""
        return encode_message(
            [(name, self.header_types[name], value) for name, value in self.headers.items()],
            self.payload,
        )


# --------------------------------------------------------------------------------- decoding


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    """A flat, contiguous, unsigned-byte view of ``data`` (copying only if it is strided)."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1 or not view.c_contiguous:
        view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    return view


def _error(code: str, message: str, offset: int) -> EventStreamProtocolError:
    return EventStreamProtocolError(
        f"{message} (message at stream offset {offset})", error_code=code
    )


def _reject_prelude(
    view: memoryview, pos: int, offset: int, max_msg: int, max_hdr: int
) -> NoReturn:
    """Say precisely why the prelude at ``pos`` failed the hot path's combined check."""
    total, hlen, expected = _PRELUDE.unpack_from(view, pos)
    calculated = zlib.crc32(view[pos : pos + 8])
    if calculated != expected:
        raise _error(
            "PreludeChecksumMismatch",
            f"prelude checksum mismatch: expected 0x{expected:08x}, calculated 0x{calculated:08x}",
            offset,
        )
    if total < _MESSAGE_OVERHEAD:
        raise _error("InvalidLength", f"total_length {total} is below the 16-byte minimum", offset)
    if hlen > total - _MESSAGE_OVERHEAD:
        raise _error(
            "InvalidLength",
            f"headers_length {hlen} does not fit in total_length {total}",
            offset,
        )
    if hlen > max_hdr:
        raise _error(
            "MessageTooLarge", f"headers_length {hlen} exceeds the limit of {max_hdr}", offset
        )
    raise _error("MessageTooLarge", f"total_length {total} exceeds the limit of {max_msg}", offset)


def _parse_headers(
    block: bytes, offset: int
) -> tuple[Mapping[str, HeaderValue], Mapping[str, HeaderType]]:
    """Parse one header block; every read is bounds-checked against the block itself."""
    headers: dict[str, HeaderValue] = {}
    types: dict[str, HeaderType] = {}
    end = len(block)
    i = 0
    try:
        while i < end:
            name_len = block[i]
            i += 1
            if name_len == 0:
                raise _error(
                    "InvalidHeader", f"zero-length header name at block byte {i - 1}", offset
                )
            if i + name_len + 1 > end:  # the name and its type byte must both fit
                raise _error("InvalidHeader", "header name runs past the header block", offset)
            try:
                name = block[i : i + name_len].decode("utf-8")
            except UnicodeDecodeError:
                raise _error("InvalidHeader", "header name is not valid UTF-8", offset) from None
            i += name_len
            type_byte = block[i]
            i += 1
            if type_byte > 9:
                raise _error(
                    "UnknownHeaderType", f"header {name!r} has unknown type {type_byte}", offset
                )
            if name in headers:
                raise _error("DuplicateHeader", f"duplicate header {name!r}", offset)
            value: HeaderValue
            if type_byte <= 1:
                value = type_byte == 0
            elif type_byte == 6 or type_byte == 7:
                if i + 2 > end:
                    raise _error("InvalidHeader", f"header {name!r} runs past the block", offset)
                length = (block[i] << 8) | block[i + 1]
                i += 2
                if i + length > end:
                    raise _error("InvalidHeader", f"header {name!r} runs past the block", offset)
                raw = block[i : i + length]
                i += length
                if type_byte == 6:
                    value = raw
                else:
                    try:
                        value = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise _error(
                            "InvalidHeader", f"string header {name!r} is not valid UTF-8", offset
                        ) from None
            elif type_byte == 9:
                if i + 16 > end:
                    raise _error("InvalidHeader", f"header {name!r} runs past the block", offset)
                value = uuid.UUID(bytes=block[i : i + 16])
                i += 16
            else:
                unpacker, width, _, _ = _FIXED[type_byte]
                if i + width > end:
                    raise _error("InvalidHeader", f"header {name!r} runs past the block", offset)
                (value,) = unpacker.unpack_from(block, i)
                i += width
            headers[name] = value
            types[name] = _HEADER_TYPES[type_byte]
    except (struct.error, IndexError, KeyError, ValueError) as exc:  # pragma: no cover
        # Defence in depth: the explicit checks above should make this unreachable.
        raise _error("InvalidHeader", f"malformed header block: {exc}", offset) from exc
    return MappingProxyType(headers), MappingProxyType(types)


class EventStreamDecoder:
    """Incremental decoder: ``feed()`` bytes as they arrive, get every complete message back.

    Shaped like h11's receive buffer, but copying less: complete messages inside a fed chunk are
    decoded straight from the chunk, and only the message that straddles chunk boundaries is
    held, as a list of its pieces (views of the fed ``bytes``, not copies), its CRC folded in as
    each piece arrives. When its last piece comes, the payload is joined out of the pieces. A
    payload is thus copied once, whole or in pieces (a 64 KiB message split over four reads was
    copied into a buffer and then out of it). botocore instead grows ``bytes`` with ``+=`` and
    re-slices it per message, which is quadratic in the messages per chunk.

    Validation order per message (spec §4.1, §4.3): as soon as 12 bytes are in, the prelude CRC
    is checked *before* the lengths are trusted, then ``total_length >= 16``,
    ``headers_length <= total_length - 16`` and both size limits, all before any more of the
    message is buffered: a hostile length is rejected after 12 bytes and never allocated. Then,
    once the message is complete, its CRC; then its headers.

    SageMaker repeats one header block on every PayloadPart, so the last parsed block is cached
    and its (read-only) mappings are reused when the next block's bytes are equal. Both CRCs are
    still checked on every message.

    After an error the decoder is failed: the stream must be abandoned (spec §4.1) and every
    later ``feed()``/``close()`` raises the same error. If a ``feed()`` call decoded valid
    messages before reaching the bad bytes, it returns them and the error is raised by the next
    ``feed()`` or ``close()`` call, so the stream's order is kept and nothing valid is lost.
    """

    __slots__ = (
        "_cache_block",
        "_cache_headers",
        "_cache_types",
        "_crc",
        "_error",
        "_fed",
        "_hlen",
        "_lane",
        "_lane_block",
        "_lane_prefix",
        "_lane_state",
        "_len",
        "_max_headers_size",
        "_max_message_size",
        "_need",
        "_parts",
    )

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_headers_size: int = DEFAULT_MAX_HEADERS_SIZE,
    ) -> None:
        for name, value in (
            ("max_message_size", max_message_size),
            ("max_headers_size", max_headers_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParamValidationError(name, f"must be an int, not {type(value).__name__}")
        if max_message_size < _MESSAGE_OVERHEAD:
            raise ParamValidationError("max_message_size", "must be at least 16")
        if max_headers_size < 0:
            raise ParamValidationError("max_headers_size", "must not be negative")
        self._max_message_size = max_message_size
        self._max_headers_size = max_headers_size
        # The one incomplete message: its first _len bytes, in order, in _parts (its prelude
        # already validated once _len >= 12), and the CRC-32 of those below total_length - 4.
        self._parts: list[bytes | bytearray | memoryview] = []
        self._len = 0
        self._crc = 0
        # total_length and headers_length of the buffered message once its prelude is
        # validated, else 0.
        self._need = 0
        self._hlen = 0
        self._fed = 0  # stream offset of the next byte fed, for error messages
        self._cache_block = b""  # never equal to a non-empty block
        self._cache_headers: Mapping[str, HeaderValue] = _NO_HEADERS
        self._cache_types: Mapping[str, HeaderType] = _NO_TYPES
        self._error: EventStreamProtocolError | None = None
        # The lane (see ``route``): the header block whose messages go to _lane as payloads.
        self._lane_block: bytes | None = None
        self._lane: MutableSequence[bytes] | None = None
        # The prelude and header block of the last lane message that passed every check, and
        # the CRC-32 of those bytes (see _decode_run).
        self._lane_prefix = b""
        self._lane_state = 0

    @property
    def buffered(self) -> int:
        """How many bytes are held waiting for the rest of their message."""
        return self._len

    def route(self, headers: Mapping[str, HeaderValue], sink: MutableSequence[bytes]) -> None:
        """From now on, hand messages with exactly these headers to ``sink``, payload only.

        ``headers`` must be the mapping of a message this decoder just returned (its header
        block is what is matched, byte for byte, so the same header values in another order or
        encoding are not matched). Such messages are checked as every other (prelude and
        message CRC) but no message object is built: their payloads are appended to ``sink``
        in stream order. ``feed`` then returns only the other messages, and only ones that
        come after every payload it appended, so a consumer that handles ``sink`` first and
        then the returned messages sees the stream in order. This is the response stream's
        token-sized PayloadPart path, where building a message per part was a third of the
        decoding cost.
        """
        self._lane_block = self._cache_block if headers is self._cache_headers else None
        self._lane = sink if self._lane_block else None
        self._lane_prefix = b""

    def feed(self, data: bytes | bytearray | memoryview) -> list[EventStreamMessage]:
        """Add received bytes; return every message they complete, in stream order.

        Any split is fine: a chunk may hold part of a message, several messages, or both. The
        incomplete remainder is kept: ``bytes`` by reference (they cannot change), anything
        else copied, so the caller may reuse a mutable ``data``. Raises
        ``EventStreamProtocolError`` for invalid bytes (see the class notes on when).
        """
        if self._error is not None:
            raise self._error
        if type(data) is bytes:
            src: bytes | None = data
            view = memoryview(data)
        else:
            src = None
            view = _byte_view(data)
        size = len(view)
        out: list[EventStreamMessage] = []
        keep = src is not None  # immutable: pieces of it may be held without a copy
        lane = self._lane
        routed = len(lane) if lane is not None else 0
        try:
            start = self._complete_buffered(view, keep, out) if self._len else 0
            if out and lane is not None:
                if out[0].headers is self._cache_headers and self._cache_block == self._lane_block:
                    lane.append(out.pop().payload)
                else:
                    lane = None  # an other message first: everything after it goes to ``out``
            if start < size:
                pos = self._decode_run(src, view, start, self._fed, out, lane)
                if pos < size:
                    self._append(view[pos:], keep)
        except EventStreamProtocolError as exc:
            self._fail(exc)
            if not out and (lane is None or len(lane) == routed):
                raise  # nothing decoded before it: now (else on the next feed or close)
        self._fed += size
        return out

    def close(self) -> None:
        """Declare end of input; raise ``Truncated`` if part of a message is still buffered.

        botocore silently drops such bytes (spec §4.5); a cut-off stream must not look complete.
        """
        if self._error is not None:
            raise self._error
        if self._len:
            have = self._len
            what = f"{have} of {self._need} bytes" if self._need else f"{have} bytes"
            exc = _error("Truncated", f"input ended inside a message ({what})", self._fed - have)
            self._fail(exc)
            raise exc

    def _fail(self, exc: EventStreamProtocolError) -> None:
        self._error = exc
        self._release()

    def _release(self) -> None:
        self._parts = []
        self._len = self._need = self._hlen = self._crc = 0

    def _append(self, piece: memoryview, keep: bool) -> None:
        """Hold ``piece``, the next bytes of the incomplete message, and fold it into its CRC.

        ``keep``: ``piece`` is a view of immutable ``bytes``, held as it is. Memory follows the
        bytes actually received (a held view also keeps the rest of its chunk alive: at most one
        chunk more), never the length a peer merely claims.
        """
        length = self._len
        size = len(piece)
        end = length + size
        # The message CRC covers all but its last 4 bytes. Computed as the pieces arrive, so
        # completing the message re-reads nothing; its first 12 bytes always count (>= 16 long).
        stop = self._need - 4 if self._need else end
        if stop >= end:
            self._crc = _crc32(piece, self._crc)
        elif stop > length:
            self._crc = _crc32(piece[: stop - length], self._crc)
        parts = self._parts
        if size >= _KEEP_PIECE:
            parts.append(piece if keep else piece.tobytes())
        elif parts and type(parts[-1]) is bytearray:
            parts[-1] += piece
        else:
            parts.append(bytearray(piece))
        self._len = end

    def _gather(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the held message: one copy, however many pieces hold them."""
        views: list[memoryview] = []
        pos = 0
        for part in self._parts:
            end = pos + len(part)
            if end > start:
                views.append(memoryview(part)[max(start - pos, 0) : stop - pos])
                if end >= stop:
                    break
            pos = end
        return views[0].tobytes() if len(views) == 1 else b"".join(views)

    def _complete_buffered(
        self, view: memoryview, keep: bool, out: list[EventStreamMessage]
    ) -> int:
        """Top up the buffered message from the head of ``view``; return how much was used."""
        offset = self._fed - self._len
        used = 0
        if self._len < _PRELUDE_LENGTH:
            used = min(_PRELUDE_LENGTH - self._len, len(view))
            self._append(view[:used], keep)
            if self._len < _PRELUDE_LENGTH:
                return used
            prelude = memoryview(self._gather(0, _PRELUDE_LENGTH))
            self._need, self._hlen = self._check_prelude(prelude, offset)
        take = min(self._need - self._len, len(view) - used)
        if take > 0:
            self._append(view[used : used + take], keep)
            used += take
        if self._len == self._need:
            out.append(self._assemble(offset))
            self._release()  # the pieces go: nothing of a finished message stays pinned
        return used

    def _assemble(self, offset: int) -> EventStreamMessage:
        """The held message, now complete: check its CRC, then copy its payload out, once."""
        need = self._need
        last = self._parts[-1]
        if len(last) >= 4:
            (expected,) = _U32.unpack_from(last, len(last) - 4)
        else:
            (expected,) = _U32.unpack(self._gather(need - 4, need))
        if self._crc != expected:
            raise _checksum_mismatch(expected, self._crc, offset)
        hlen = self._hlen
        message = _new_message(EventStreamMessage)
        _set_payload(message, self._gather(_PRELUDE_LENGTH + hlen, need - 4))
        if hlen:
            block = self._gather(_PRELUDE_LENGTH, _PRELUDE_LENGTH + hlen)
            if block != self._cache_block:  # as in _decode_run, which inlines it for speed
                self._cache_headers, self._cache_types = _parse_headers(block, offset)
                self._cache_block = block
            _set_headers(message, self._cache_headers)
            _set_header_types(message, self._cache_types)
        else:
            _set_headers(message, _NO_HEADERS)
            _set_header_types(message, _NO_TYPES)
        return message

    def _check_prelude(self, view: memoryview, offset: int) -> tuple[int, int]:
        total, hlen, crc = _PRELUDE.unpack_from(view, 0)
        if (
            zlib.crc32(view[:8]) != crc
            or total > self._max_message_size
            or total < _MESSAGE_OVERHEAD
            or hlen > total - _MESSAGE_OVERHEAD
            or hlen > self._max_headers_size
        ):
            _reject_prelude(view, 0, offset, self._max_message_size, self._max_headers_size)
        return int(total), int(hlen)

    def _decode_run(
        self,
        src: bytes | None,
        view: memoryview,
        pos: int,
        base: int,
        out: list[EventStreamMessage],
        lane: MutableSequence[bytes] | None = None,
    ) -> int:
        """Decode every complete message of ``view`` from ``pos``; return where the rest starts.

        With ``lane`` (see ``route``), messages with the lane's header block go there as
        payloads until the first other message; from that one on, all go to ``out``.

        ``src`` is the same bytes as ``view`` when the caller fed a ``bytes`` object: slicing it
        yields ``bytes`` directly, one allocation cheaper than ``view[a:b].tobytes()``.
        ``base`` is the stream offset of ``view[0]``. This is the hot loop, written flat: 12 is
        the prelude length, 16 the framing overhead.
        """
        end = len(view)
        rd = view if src is None else src
        max_msg = self._max_message_size
        max_hdr = self._max_headers_size
        cache_block = self._cache_block
        cache_headers = self._cache_headers
        cache_types = self._cache_types
        lane_block: bytes | None = None
        to_lane: Callable[[bytes], None] = _no_lane
        if lane is not None and self._lane_block:
            lane_block, to_lane = self._lane_block, lane.append
        lane_hlen = len(lane_block) if lane_block is not None else -1
        # The lane's shortcut: a message that starts with the very prelude and header block
        # of the last lane message that passed every check (same total_length, same headers:
        # token-sized parts of one length) needs no prelude work, as the same 12 bytes give
        # the same CRC and length verdicts, and its message CRC continues from the CRC of those
        # bytes: one CRC call, over the payload itself, per message. Any other message, or
        # one not whole in ``view``, or a CRC mismatch (reported by the full path), takes the
        # full path below.
        data = b"" if src is None else src
        prefix = self._lane_prefix if lane_block is not None and data else b""
        prefix_len = len(prefix)
        prefix_total = prefix_state = 0
        if prefix:
            prefix_total = _unpack_u32(prefix, 0)[0]
            prefix_state = self._lane_state
        while end - pos >= 12:
            if prefix and data.startswith(prefix, pos):
                stop = pos + prefix_total
                if stop <= end:
                    payload = data[pos + prefix_len : stop - 4]
                    if _crc32(payload, prefix_state) == _unpack_u32(data, stop - 4)[0]:
                        to_lane(payload)
                        pos = stop
                        continue
            total, hlen, prelude_crc = _unpack_prelude(rd, pos)
            if (
                _crc32(rd[pos : pos + 8]) != prelude_crc
                or total > max_msg
                or total < 16
                or hlen > total - 16
                or hlen > max_hdr
            ):
                _reject_prelude(view, pos, base + pos, max_msg, max_hdr)
            if end - pos < total:
                # Validated above; _complete_buffered relies on them.
                self._need = total
                self._hlen = hlen
                return pos
            crc_end = pos + total - 4
            (expected,) = _unpack_u32(rd, crc_end)
            if _crc32(view[pos:crc_end]) != expected:
                _reject_message(view, pos, crc_end, base + pos)
            headers_end = pos + 12 + hlen
            if src is None:
                payload = view[headers_end:crc_end].tobytes()
            else:
                payload = src[headers_end:crc_end]
            if lane_block is not None:
                if hlen == lane_hlen and (
                    view[pos + 12 : headers_end] == lane_block
                    if src is None
                    else src.startswith(lane_block, pos + 12)  # no slice: compared in place
                ):
                    to_lane(payload)
                    if src is not None and total != prefix_total:
                        prefix = self._lane_prefix = src[pos:headers_end]
                        prefix_len = len(prefix)
                        prefix_total = total
                        prefix_state = self._lane_state = _crc32(prefix)
                    pos += total
                    continue
                lane_block = None  # order: everything from here on goes to ``out``
                prefix = b""  # the shortcut too: it only ever feeds the lane
            message = _new_message(EventStreamMessage)
            _set_payload(message, payload)
            if hlen:
                if src is None:
                    block = view[pos + 12 : headers_end].tobytes()
                else:
                    block = src[pos + 12 : headers_end]
                if block != cache_block:
                    cache_headers, cache_types = _parse_headers(block, base + pos)
                    cache_block = self._cache_block = block
                    self._cache_headers = cache_headers
                    self._cache_types = cache_types
                _set_headers(message, cache_headers)
                _set_header_types(message, cache_types)
            else:
                _set_headers(message, _NO_HEADERS)
                _set_header_types(message, _NO_TYPES)
            out.append(message)
            pos += total
        return pos  # fewer than 12 bytes left: _need stays 0, no prelude to validate yet


def _no_lane(payload: bytes) -> None:  # never called: _decode_run has no lane block then
    raise AssertionError("no lane")


def _reject_message(view: memoryview, pos: int, crc_end: int, offset: int) -> NoReturn:
    (expected,) = _U32.unpack_from(view, crc_end)
    raise _checksum_mismatch(expected, zlib.crc32(view[pos:crc_end]), offset)


def _checksum_mismatch(expected: int, calculated: int, offset: int) -> EventStreamProtocolError:
    return _error(
        "MessageChecksumMismatch",
        f"message checksum mismatch: expected 0x{expected:08x}, calculated 0x{calculated:08x}",
        offset,
    )


# Hot-path shortcuts. The decoder builds messages without the dataclass __init__, which halves
# the cost of a small message: its values already have the right types and ``header_types`` is
# known, so neither the frozen-dataclass setattr calls nor ``__post_init__`` inference are needed.
_crc32: Final = zlib.crc32
_unpack_prelude: Final = _PRELUDE.unpack_from
_unpack_u32: Final = _U32.unpack_from
_new_message: Final = object.__new__
_set_headers: Final = EventStreamMessage.__dict__["headers"].__set__
_set_payload: Final = EventStreamMessage.__dict__["payload"].__set__
_set_header_types: Final = EventStreamMessage.__dict__["header_types"].__set__


# --------------------------------------------------------------------------------- encoding

HeaderSpec: TypeAlias = (
    Sequence[tuple[str, HeaderType, HeaderValue | None]] | Mapping[str, HeaderValue]
)
"""Headers to encode: ``(name, type, value)`` triples in wire order, or a name → value mapping."""


def _infer_type(name: str, value: object) -> HeaderType:
    """The wire type the Mapping form of :func:`encode_message` gives a Python value."""
    if value is True:
        return HeaderType.BOOL_TRUE
    if value is False:
        return HeaderType.BOOL_FALSE
    if isinstance(value, int):
        # The smallest of the two types a Smithy int/long member uses; never byte/short, which
        # only an explicit triple selects.
        return HeaderType.INTEGER if -(2**31) <= value < 2**31 else HeaderType.LONG
    if isinstance(value, str):
        return HeaderType.STRING
    if isinstance(value, (bytes, bytearray, memoryview)):
        return HeaderType.BYTE_ARRAY
    if isinstance(value, uuid.UUID):
        return HeaderType.UUID
    raise ParamValidationError(
        f"headers[{name!r}]", f"cannot infer a header type for {type(value).__name__}"
    )


def _encode_value(name: str, htype: HeaderType, value: object) -> bytes:
    param = f"headers[{name!r}]"
    if htype is HeaderType.BOOL_TRUE or htype is HeaderType.BOOL_FALSE:
        if value is not None and value is not (htype is HeaderType.BOOL_TRUE):
            raise ParamValidationError(param, f"{htype.name} header cannot carry {value!r}")
        return b""
    if htype in _FIXED:
        packer, _, low, high = _FIXED[htype]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ParamValidationError(param, f"{htype.name} header needs an int")
        if not low <= value <= high:
            raise ParamValidationError(param, f"{value} is out of range for {htype.name}")
        return packer.pack(value)
    if htype is HeaderType.UUID:
        if isinstance(value, uuid.UUID):
            return value.bytes
        if isinstance(value, (bytes, bytearray)) and len(value) == 16:
            return bytes(value)
        raise ParamValidationError(param, "UUID header needs a uuid.UUID or 16 bytes")
    if htype is HeaderType.STRING:
        if not isinstance(value, str):
            raise ParamValidationError(param, "STRING header needs a str")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise ParamValidationError(param, "string is not encodable as UTF-8") from None
    else:  # BYTE_ARRAY
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ParamValidationError(param, "BYTE_ARRAY header needs bytes")
        raw = _byte_view(value).tobytes()
    if len(raw) > _MAX_VALUE_LENGTH:
        raise ParamValidationError(param, f"value is longer than {_MAX_VALUE_LENGTH} bytes")
    return _U16.pack(len(raw)) + raw


def _encode_header_block(headers: HeaderSpec) -> bytes:
    triples: Iterable[tuple[str, HeaderType | int, object]]
    if isinstance(headers, Mapping):
        triples = [(name, _infer_type(name, value), value) for name, value in headers.items()]
    else:
        triples = headers
    parts: list[bytes] = []
    seen: set[str] = set()
    for triple in triples:
        try:
            name, type_code, value = triple
        except (TypeError, ValueError):
            raise ParamValidationError(
                "headers", "each header must be (name, type, value)"
            ) from None
        if not isinstance(name, str):
            raise ParamValidationError("headers", f"header name {name!r} is not a str")
        try:
            raw_name = name.encode("utf-8")
            htype = HeaderType(type_code)
        except UnicodeEncodeError:
            raise ParamValidationError("headers", f"{name!r} is not encodable as UTF-8") from None
        except ValueError:
            raise ParamValidationError(f"headers[{name!r}]", f"bad type {type_code!r}") from None
        if not 1 <= len(raw_name) <= _MAX_NAME_LENGTH:
            raise ParamValidationError("headers", f"header name {name!r} must be 1..255 bytes")
        if name in seen:
            raise ParamValidationError("headers", f"duplicate header name {name!r}")
        seen.add(name)
        parts.append(bytes((len(raw_name),)) + raw_name + bytes((htype,)))
        parts.append(_encode_value(name, htype, value))
    return b"".join(parts)


def _frame(block: bytes, payload: bytes | bytearray | memoryview) -> bytes:
    body = payload if type(payload) is bytes else _byte_view(payload)
    total = _MESSAGE_OVERHEAD + len(block) + len(body)
    if total > _MAX_UINT32:
        raise ParamValidationError("payload", "message would exceed 4 GiB")
    prelude = _LENGTHS.pack(total, len(block))
    prelude += _U32.pack(zlib.crc32(prelude))
    crc = zlib.crc32(body, zlib.crc32(block, zlib.crc32(prelude)))
    return b"".join((prelude, block, body, _U32.pack(crc)))


def encode_message(headers: HeaderSpec, payload: bytes | bytearray | memoryview) -> bytes:
    """Encode one message.

    ``headers`` is either a sequence of ``(name, HeaderType, value)`` triples, which fixes each
    wire type and the order (``value`` may be ``None`` for the two boolean types), or a mapping
    whose types are inferred: ``bool`` → true/false, ``int`` → INTEGER when it fits in int32,
    else LONG, ``str`` → STRING, ``bytes`` → BYTE_ARRAY, ``uuid.UUID`` → UUID. A TIMESTAMP
    (``int`` milliseconds), BYTE or SHORT needs a triple. A UUID value may also be 16 raw bytes.

    Raises ``ParamValidationError`` for names outside 1..255 UTF-8 bytes, duplicate names,
    values that do not match or fit their type, and string/byte values over 32,767 bytes.
    """
    return _frame(_encode_header_block(headers), payload)


_PAYLOAD_PART_BLOCK: Final = _encode_header_block(
    [
        (":event-type", HeaderType.STRING, "PayloadPart"),
        (":content-type", HeaderType.STRING, "application/octet-stream"),
        (":message-type", HeaderType.STRING, "event"),
    ]
)


def header_block(headers: HeaderSpec) -> bytes:
    """The encoded header block of ``headers`` (as :func:`encode_message` encodes them), for a
    caller that frames many messages with the same headers (:func:`frame_message`)."""
    return _encode_header_block(headers)


def frame_message(block: bytes, payload: bytes | bytearray | memoryview) -> bytes:
    """One message from an already encoded header ``block`` (:func:`header_block`) and a payload."""
    return _frame(block, payload)


def payload_part(payload: bytes | bytearray | memoryview) -> bytes:
    """Encode SageMaker's ``PayloadPart`` event carrying ``payload`` (spec §4.4)."""
    return _frame(_PAYLOAD_PART_BLOCK, payload)


def exception_message(exception_type: str, body: bytes) -> bytes:
    """Encode a modeled-error message (``:message-type exception``) with a JSON ``body``.

    SageMaker's are ``ModelStreamError`` and ``InternalStreamFailure`` (spec §4.4).
    """
    block = _encode_header_block(
        [
            (":exception-type", HeaderType.STRING, exception_type),
            (":content-type", HeaderType.STRING, "application/json"),
            (":message-type", HeaderType.STRING, "exception"),
        ]
    )
    return _frame(block, body)


def error_message(code: str, message: str) -> bytes:
    """Encode an unmodeled-error message (``:message-type error``) with an empty payload."""
    block = _encode_header_block(
        [
            (":error-code", HeaderType.STRING, code),
            (":error-message", HeaderType.STRING, message),
            (":message-type", HeaderType.STRING, "error"),
        ]
    )
    return _frame(block, b"")
