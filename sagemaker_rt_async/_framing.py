"""Incremental framing of response-stream bytes: lines, SSE events, JSON values, which framing.

A SageMaker response stream only frames bytes: each PayloadPart carries whatever the model
container wrote, cut anywhere — half a line, many events, half a UTF-8 character, a CR at the
end of one part and its LF at the start of the next. This module turns such a sequence of
chunks into lines, Server-Sent Events and JSON values, and tells which of those framings a body
uses (from its content type or its first bytes). What the values *mean* — the LLM containers'
formats — is ``_tokens``' business, built on this module. It is sans-IO
and synchronous (stdlib only): every decoder has ``feed(bytes) -> list`` and ``close() -> list``,
and the async iterators of the shell are thin loops over them.

The layers::

    LineDecoder        bytes -> str lines (\\n, \\r\\n, lone \\r; incremental strict UTF-8)
    ├── SSEDecoder     lines -> SSEEvent (WHATWG event-stream rules)
    ├── JSONLinesDecoder  lines -> one JSON value per non-blank line
    framing_of / sniff_framing   content type / first bytes -> "sse", "lines" or "text"

The error policy, the same for every decoder:

* Malformed input raises :class:`FramingError`; an error reported by the container inside the
  stream raises :class:`ContainerError`. Both are :class:`~._errors.StreamError`.
* ``feed()`` never drops what it decoded: when an error follows complete items in the same
  chunk, those items are returned and the error is raised by the next ``feed()`` or
  ``close()``. So the items delivered before an error are the same however the bytes were cut,
  and ``ContainerError.partial_text`` is exactly the text the caller received.
* ``close()`` cannot defer (nothing is called after it), so it raises at once; the items it
  decoded before the error are not delivered and not counted in ``partial_text``.
* A decoder that raised stays failed: every later call raises the same error again.

``_tokens.TokenDecoder`` follows the same policy on top of these pieces.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._errors import ContainerError, FramingError, ParamValidationError, StreamError

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "SNIFF_LIMIT",
    "ContainerError",
    "FramingError",
    "JSONLinesDecoder",
    "LineDecoder",
    "SSEDecoder",
    "SSEEvent",
    "SSEParser",
    "clip",
    "decode_utf8",
    "framing_of",
    "loads_json",
    "sniff_framing",
    "utf8_decoder",
]

#: The longest line (in bytes, terminator excluded) a decoder buffers before it gives up. Lines
#: are the unit we must hold whole in memory; a container that never sends a newline must not
#: be able to grow the buffer without bound. The same bound caps one SSE event's data.
DEFAULT_MAX_LINE_LENGTH = 1 << 20

_T = TypeVar("_T")
#: A byte-order mark, as decoded text.
BOM = "\ufeff"
_BOM_BYTES = b"\xef\xbb\xbf"
# Exactly the three terminators of the WHATWG stream grammar. str.splitlines() is wrong here: it
# also splits on \v, \f, \x1c-\x1e, \x85, \u2028 and \u2029, which are ordinary text.
_TERMINATOR = re.compile(rb"\r\n?|\n")
_CLIP = 200


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched Server-Sent Event.

    ``event`` is None when no ``event:`` field was given (the WHATWG default type "message").
    ``id`` and ``retry`` are the stream's current last-event-id and reconnection time: as in
    the WHATWG model they persist from the event that set them to every later event.
    """

    event: str | None
    data: str
    id: str | None
    retry: int | None


def _check_limit(max_line_length: int) -> int:
    if isinstance(max_line_length, bool) or not isinstance(max_line_length, int):
        raise ParamValidationError("max_line_length", "must be an int")
    if max_line_length < 1:
        raise ParamValidationError("max_line_length", "must be at least 1")
    return max_line_length


def utf8_decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="strict")


def decode_utf8(
    decoder: codecs.IncrementalDecoder, data: bytes, *, final: bool, end: str = "the stream"
) -> str:
    try:
        return decoder.decode(data, final)
    except UnicodeDecodeError as exc:
        if final and not data:
            raise FramingError(f"{end} ends inside a UTF-8 character") from exc
        raise FramingError(f"invalid UTF-8 in the stream: {exc.reason}") from exc


def clip(text: str) -> str:
    if len(text) <= _CLIP:
        return repr(text)
    return f"{text[:_CLIP]!r}... ({len(text)} characters)"


class _Incremental(Generic[_T]):
    """The error policy shared by the decoders (see the module docstring)."""

    __slots__ = ("_failure",)

    def __init__(self) -> None:
        self._failure: StreamError | None = None

    def _run(self, step: Callable[[list[_T]], None], *, final: bool) -> list[_T]:
        if self._failure is not None:
            raise self._failure
        out: list[_T] = []
        try:
            step(out)
        except StreamError as exc:
            self._failure = exc
            if out and not final:
                return out
            raise
        return out


class LineDecoder(_Incremental[str]):
    """Split a byte stream into text lines, whatever the chunk boundaries.

    Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``; the terminator is stripped. A ``\\r`` at
    the end of a chunk ends its line at once, and a ``\\n`` opening the next chunk is then
    swallowed — the same lines as if the pair had arrived together, without holding a complete
    line back until more bytes come. Bytes are decoded as strict UTF-8, incrementally, so a
    character cut between chunks is fine and invalid bytes raise :class:`FramingError` as soon
    as they can never complete. A line longer than ``max_line_length`` bytes raises
    :class:`FramingError` before it is buffered whole.
    """

    __slots__ = ("_decoder", "_max", "_parts", "_pending_cr", "_size")

    def __init__(self, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        super().__init__()
        self._max = _check_limit(max_line_length)
        self._decoder = utf8_decoder()
        self._parts: list[str] = []
        self._size = 0
        self._pending_cr = False

    @property
    def max_line_length(self) -> int:
        """The longest line, in bytes, this decoder buffers."""
        return self._max

    @property
    def idle(self) -> bool:
        """True between lines: nothing held (no partial line, no CR awaiting its LF), no error.

        Then a chunk of whole lines means the same fed here or split by the caller.
        """
        return not self._size and not self._pending_cr and self._failure is None

    def feed(self, data: bytes) -> list[str]:
        """Take the next chunk; return the lines it completed (possibly none)."""
        return self._run(lambda out: self._split(data, out), final=False)

    def close(self) -> list[str]:
        """End of stream: return the last line if it had no terminator.

        Raises :class:`FramingError` if the stream ends inside a UTF-8 character.
        """
        return self._run(self._flush, final=True)

    def _split(self, data: bytes, out: list[str]) -> None:
        if (
            not self._size
            and not self._pending_cr
            and data[-1:] == b"\n"
            and len(data) <= self._max
            and b"\r" not in data
        ):
            # The common chunk: whole \n-terminated lines, nothing held from before. One
            # decode and one split do what the loop below does; invalid UTF-8 takes the loop,
            # which reports it where it is.
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                lines = text.split("\n")
                lines.pop()  # "" after the final terminator
                out += lines
                return
        pos = 0
        if self._pending_cr and data:
            self._pending_cr = False
            if data[0] == 0x0A:
                pos = 1
        for match in _TERMINATOR.finditer(data, pos):
            self._append(data, pos, match.start())
            out.append(self._take())
            pos = match.end()
        self._append(data, pos, len(data))
        if data and data[-1] == 0x0D:
            self._pending_cr = True

    def _append(self, data: bytes, start: int, end: int) -> None:
        if start == end:
            return
        self._size += end - start
        if self._size > self._max:
            raise FramingError(f"line longer than {self._max} bytes")
        text = decode_utf8(self._decoder, data[start:end], final=False)
        if text:
            self._parts.append(text)

    def _take(self) -> str:
        # A line may not end inside a character: final=True raises on a held partial sequence.
        decode_utf8(self._decoder, b"", final=True, end="a line")
        line = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        return line

    def _flush(self, out: list[str]) -> None:
        self._pending_cr = False
        if self._size:
            decode_utf8(self._decoder, b"", final=True)
            out.append(self._take())


class SSEParser:
    """The WHATWG event-stream line interpreter (the "interpret as an event stream" steps)."""

    __slots__ = ("_data", "_event", "_id", "_limit", "_retry", "_size", "_strip_bom")

    def __init__(self, limit: int, *, strip_bom: bool) -> None:
        self._limit = limit
        self._strip_bom = strip_bom
        self._data: list[str] = []
        self._size = 0
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    @property
    def data_lines(self) -> int:
        return len(self._data)

    @property
    def data(self) -> str:
        return "\n".join(self._data)

    @property
    def idle(self) -> bool:
        """True between events: no data line and no event type pending, no BOM to strip."""
        return not self._data and not self._event and not self._strip_bom

    def line(self, line: str) -> SSEEvent | None:
        if self._strip_bom:
            # The stream is decoded with "UTF-8 decode", which drops one leading BOM.
            self._strip_bom = False
            if line.startswith(BOM):
                line = line[1:]
        if not line:
            return self.dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._size > self._limit:
                raise FramingError(f"SSE event data longer than {self._limit} characters")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            # More digits than int() accepts (sys.get_int_max_str_digits) is ignored too.
            with contextlib.suppress(ValueError):
                self._retry = int(value)
        return None

    def dispatch(self) -> SSEEvent | None:
        taken = self.take()
        if taken is None:
            return None
        return SSEEvent(event=taken[0], data=taken[1], id=self._id, retry=self._retry)

    def take(self) -> tuple[str | None, str] | None:
        """Dispatch without building an SSEEvent: (event type or None, data), or None."""
        event, self._event = self._event, ""
        if not self._data:
            return None
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        self._data.clear()
        self._size = 0
        return event or None, data


class SSEDecoder(_Incremental[SSEEvent]):
    """Decode a ``text/event-stream`` body into :class:`SSEEvent` values (WHATWG rules).

    A blank line dispatches the pending event; ``data:`` with or without one leading space;
    several ``data`` lines are joined with ``\\n``; ``:`` comment lines are ignored; a line
    without a colon is a field with an empty value; unknown fields are ignored; an ``id``
    containing NUL is ignored; ``retry`` must be all ASCII digits; a leading BOM is dropped; an
    event with no ``data`` line is not dispatched. One deliberate difference from a browser:
    ``close()`` dispatches a pending event that has data, because containers often omit the
    final blank line. One event's data is bounded by ``max_line_length`` characters.
    """

    __slots__ = ("_lines", "_parser")

    def __init__(self, *, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        super().__init__()
        self._lines = LineDecoder(max_line_length)
        self._parser = SSEParser(max_line_length, strip_bom=True)

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Take the next chunk; return the events it completed (possibly none)."""
        return self._run(lambda out: self._parse(self._lines.feed(data), out), final=False)

    def close(self) -> list[SSEEvent]:
        """End of stream: flush the last line and dispatch a pending event that has data."""
        return self._run(self._finish, final=True)

    def _parse(self, lines: Iterable[str], out: list[SSEEvent]) -> None:
        for line in lines:
            event = self._parser.line(line)
            if event is not None:
                out.append(event)

    def _finish(self, out: list[SSEEvent]) -> None:
        self._parse(self._lines.close(), out)
        event = self._parser.dispatch()
        if event is not None:
            out.append(event)


def loads_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FramingError(f"expected a JSON value, got {clip(text)}") from exc


class JSONLinesDecoder(_Incremental[Any]):
    """Decode JSON Lines / NDJSON: one JSON value per non-blank line.

    Blank (whitespace-only) lines are skipped and a leading BOM is dropped; a line that is not
    JSON raises :class:`FramingError` quoting the line (clipped to 200 characters).
    """

    __slots__ = ("_first", "_lines")

    def __init__(self, *, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        super().__init__()
        self._lines = LineDecoder(max_line_length)
        self._first = True

    def feed(self, data: bytes) -> list[Any]:
        """Take the next chunk; return the values of the lines it completed."""
        return self._run(lambda out: self._parse(self._lines.feed(data), out), final=False)

    def close(self) -> list[Any]:
        """End of stream: return the value of an unterminated last line, if any."""
        return self._run(lambda out: self._parse(self._lines.close(), out), final=True)

    def _parse(self, lines: Iterable[str], out: list[Any]) -> None:
        for line in lines:
            if self._first:
                self._first = False
                if line.startswith(BOM):
                    line = line[1:]
            if line.strip():
                out.append(loads_json(line))


# --- which framing a body uses ------------------------------------------------------------------

_SSE_TYPES = frozenset({"text/event-stream"})
_LINES_TYPES = frozenset(
    {
        "application/jsonlines",
        "application/json-lines",
        "application/jsonl",
        "application/x-jsonlines",
        "application/x-ndjson",
        "application/ndjson",
    }
)
_TEXT_TYPES = frozenset({"text/plain", "application/x-text"})
# What an SSE stream can open with. ":" is there because TGI's server (axum) sends keep-alive
# comments, so a slow first token can make ":\n\n" the first bytes of a TGI stream.
_SSE_MARKERS = (b"data:", b"event:", b"id:", b"retry:", b":")
#: Detection needs at most a BOM, some whitespace and six bytes. Past this many undecided bytes
#: (only possible with a long run of leading whitespace) the stream is treated as text, so a
#: whitespace flood cannot make the sniffer re-scan a growing buffer.
SNIFF_LIMIT = 4096


def framing_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _SSE_TYPES:
        return "sse"
    if media in _LINES_TYPES:
        return "lines"
    if media in _TEXT_TYPES:
        return "text"
    return None


def sniff_framing(buf: bytes | bytearray, *, final: bool) -> str | None:
    """The framing family of a stream from its first bytes, or None to wait for more."""
    head = bytes(buf)
    if head.startswith(_BOM_BYTES):
        head = head[len(_BOM_BYTES) :]
    elif head and _BOM_BYTES.startswith(head) and not final:
        return None
    head = head.lstrip(b" \t\r\n")
    if not head:
        return "text" if final else None
    if head[:1] == b"{":
        return "lines"
    if head.startswith(_SSE_MARKERS):
        return "sse"
    if not final and any(marker.startswith(head) for marker in _SSE_MARKERS):
        return None
    return "text"
