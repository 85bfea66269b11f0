"""Incremental framing of response-stream bytes: lines, SSE events, JSON values, model tokens.

A SageMaker response stream only frames bytes: each PayloadPart carries whatever the model
container wrote, cut anywhere — half a line, many events, half a UTF-8 character, a CR at the
end of one part and its LF at the start of the next. This module turns such a sequence of
chunks into lines, Server-Sent Events, JSON values and container-format tokens. It is sans-IO
and synchronous (stdlib only): every decoder has ``feed(bytes) -> list`` and ``close() -> list``,
and the async iterators of the shell are thin loops over them.

The layers::

    LineDecoder        bytes -> str lines (\\n, \\r\\n, lone \\r; incremental strict UTF-8)
    ├── SSEDecoder     lines -> SSEEvent (WHATWG event-stream rules)
    ├── JSONLinesDecoder  lines -> one JSON value per non-blank line
    └── TokenDecoder   bytes -> Token for the LLM container formats ("tgi", "openai", "lmi",
                       "lmi-sse", "outputs", "text"), or "auto" to detect which

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

Where the container formats are ambiguous, the choices made here (and why) are listed in the
docstring of :class:`TokenDecoder`.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._errors import ContainerError, FramingError, ParamValidationError, StreamError

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "TOKEN_FORMATS",
    "ContainerError",
    "FramingError",
    "JSONLinesDecoder",
    "LineDecoder",
    "SSEDecoder",
    "SSEEvent",
    "Token",
    "TokenDecoder",
]

#: The longest line (in bytes, terminator excluded) a decoder buffers before it gives up. Lines
#: are the unit we must hold whole in memory; a container that never sends a newline must not
#: be able to grow the buffer without bound. The same bound caps one SSE event's data.
DEFAULT_MAX_LINE_LENGTH = 1 << 20

#: The values accepted by ``TokenDecoder(format=...)``.
TOKEN_FORMATS = ("auto", "tgi", "openai", "lmi", "lmi-sse", "outputs", "text")

_T = TypeVar("_T")
_BOM = "\ufeff"
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


@dataclass(frozen=True, slots=True)
class Token:
    """One piece of generated text, with what the container said about it.

    ``raw`` is the decoded JSON value it came from (None for the "text" format); it is left out
    of comparisons and repr so that tokens compare by content.
    """

    text: str
    id: int | None = None
    logprob: float | None = None
    special: bool = False
    finish_reason: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)


def _check_limit(max_line_length: int) -> int:
    if isinstance(max_line_length, bool) or not isinstance(max_line_length, int):
        raise ParamValidationError("max_line_length", "must be an int")
    if max_line_length < 1:
        raise ParamValidationError("max_line_length", "must be at least 1")
    return max_line_length


def _utf8() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="strict")


def _decode(
    decoder: codecs.IncrementalDecoder, data: bytes, *, final: bool, end: str = "the stream"
) -> str:
    try:
        return decoder.decode(data, final)
    except UnicodeDecodeError as exc:
        if final and not data:
            raise FramingError(f"{end} ends inside a UTF-8 character") from exc
        raise FramingError(f"invalid UTF-8 in the stream: {exc.reason}") from exc


def _clip(text: str) -> str:
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
        self._decoder = _utf8()
        self._parts: list[str] = []
        self._size = 0
        self._pending_cr = False

    def feed(self, data: bytes) -> list[str]:
        """Take the next chunk; return the lines it completed (possibly none)."""
        return self._run(lambda out: self._split(data, out), final=False)

    def close(self) -> list[str]:
        """End of stream: return the last line if it had no terminator.

        Raises :class:`FramingError` if the stream ends inside a UTF-8 character.
        """
        return self._run(self._flush, final=True)

    def _split(self, data: bytes, out: list[str]) -> None:
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
        text = _decode(self._decoder, data[start:end], final=False)
        if text:
            self._parts.append(text)

    def _take(self) -> str:
        # A line may not end inside a character: final=True raises on a held partial sequence.
        _decode(self._decoder, b"", final=True, end="a line")
        line = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        return line

    def _flush(self, out: list[str]) -> None:
        self._pending_cr = False
        if self._size:
            _decode(self._decoder, b"", final=True)
            out.append(self._take())


class _SSEParser:
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

    def line(self, line: str) -> SSEEvent | None:
        if self._strip_bom:
            # The stream is decoded with "UTF-8 decode", which drops one leading BOM.
            self._strip_bom = False
            if line.startswith(_BOM):
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
        event, self._event = self._event, ""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data.clear()
        self._size = 0
        return SSEEvent(event=event or None, data=data, id=self._id, retry=self._retry)


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
        self._parser = _SSEParser(max_line_length, strip_bom=True)

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


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FramingError(f"expected a JSON value, got {_clip(text)}") from exc


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
                if line.startswith(_BOM):
                    line = line[1:]
            if line.strip():
                out.append(_loads(line))


# --- container formats -------------------------------------------------------------------------

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
_KIND = {
    "tgi": "token",
    "lmi": "token",
    "lmi-sse": "token",
    "openai": "openai",
    "outputs": "outputs",
}
_LMI_TOKEN_KEYS = ("log_prob", "special_token", "error_msg")
# Detection needs at most a BOM, some whitespace and six bytes. Past this many undecided bytes
# (only possible with a long run of leading whitespace) the stream is treated as text, so a
# whitespace flood cannot make the sniffer re-scan a growing buffer.
_SNIFF_LIMIT = 4096


def _family_of(content_type: str | None) -> str | None:
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


def _sniff(buf: bytes | bytearray, *, final: bool) -> str | None:
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


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits is no logprob
            return None
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_lmi_token(token: Any) -> bool:
    return isinstance(token, dict) and any(key in token for key in _LMI_TOKEN_KEYS)


def _show(value: Any) -> str:
    # An error member may be any JSON: deeply nested, json.dumps (and str) can recurse past the
    # limit even where json.loads did not (CPython < 3.12). Show it clipped, or say what it is.
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (RecursionError, ValueError, TypeError):
        return "<an error value too deeply nested to show>"


def _error_shape(value: Any) -> tuple[str, str | None] | None:
    """(message, code) when ``value`` is one of the containers' in-stream error objects."""
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, str):  # TGI: {"error": "...", "error_type": "..."}
        return error, _str(value.get("error_type"))
    if isinstance(error, dict):  # OpenAI-compatible: {"error": {"message", "type", "code"}}
        message = next(
            (m for k in ("message", "error_msg", "msg") if isinstance(m := error.get(k), str)),
            None,
        )
        code = next(
            (c for k in ("type", "code", "error_code") if (c := error.get(k)) is not None), None
        )
        return message or _show(error), None if code is None else _show(code)
    if error:  # any other truthy "error" member
        return _show(error), None
    if value.get("object") == "error":  # vLLM: {"object": "error", "message", "type", "code"}
        code = value.get("type", value.get("code"))
        return _str(value.get("message")) or _show(value), None if code is None else _show(code)
    return None


def _classify(value: Any) -> str | None:
    """Which interpreter a JSON value belongs to, for format="auto" (None: not recognised)."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("token"), dict):
        return "token"
    kind = value.get("object")
    if isinstance(value.get("choices"), list) or (
        isinstance(kind, str) and kind.startswith(("chat.completion", "text_completion"))
    ):
        return "openai"
    if "outputs" in value:
        return "outputs"
    return None


def _openai_logprob(logprobs: Any) -> float | None:
    if isinstance(logprobs, list) and len(logprobs) == 1:
        # DJL-LMI's jsonlines_chat formatter wraps the logprobs object in a list (a stray comma).
        logprobs = logprobs[0]
    if not isinstance(logprobs, dict):
        return None
    content = logprobs.get("content")
    if isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict):
        return _float(content[0].get("logprob"))
    legacy = logprobs.get("token_logprobs")
    if isinstance(legacy, list) and len(legacy) == 1:
        return _float(legacy[0])
    return None


def _is_complete_json(text: str) -> bool:
    text = text.strip()
    if text == "[DONE]":
        return True
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class TokenDecoder:
    """Decode an LLM container's response stream into :class:`Token` values.

    Formats (see ``spec/stream-formats.md``):

    * ``"tgi"`` — Hugging Face TGI: SSE, each data a JSON object with ``token`` (``id``,
      ``text``, ``logprob``, ``special``); the last one adds ``generated_text`` and ``details``,
      whose ``finish_reason`` goes on that last token. Special tokens are yielded with
      ``special=True``; the caller decides.
    * ``"openai"`` — TGI Messages API, vLLM and other OpenAI-compatible servers: SSE chat
      chunks (``choices[].delta.content``) or legacy completions (``choices[].text``), ended by
      ``data: [DONE]``. Chunks without text (role only, usage only, ``reasoning_content`` or
      ``tool_calls`` deltas) yield nothing, except that a ``finish_reason`` is never dropped: a
      chunk with one and no text yields ``Token("", finish_reason=...)``.
    * ``"lmi"`` — DJL-LMI rolling batch, JSON lines ``{"token": {"id", "text", "log_prob"}}``;
      the last line adds ``generated_text`` and ``details.finish_reason``.
    * ``"lmi-sse"`` — the same lines, each prefixed ``data:``.
    * ``"outputs"`` — older containers' ``{"outputs": [" tok", ...]}`` lines; each string is a
      token.
    * ``"text"`` — raw UTF-8 text; every chunk yields what it completes (no ids, no lines).
    * ``"auto"`` — detect: the content type picks the framing (``text/event-stream`` → SSE,
      ``application/jsonlines``/``x-ndjson`` → JSON lines, ``text/plain`` → text); otherwise
      the first bytes do (after whitespace and a BOM: ``data:``/``event:``/``id:``/``retry:``/
      ``:`` → SSE, ``{`` → JSON lines, anything else → text), buffering only until they can
      tell. Within a family, the first recognisable JSON value picks the format.

    Errors in the stream raise :class:`ContainerError` (``partial_text`` = :attr:`text` at that
    point, ``payload`` = the JSON value): TGI's ``{"error", "error_type"}``, OpenAI's
    ``{"error": {...}}`` and vLLM's ``{"object": "error"}`` in any JSON format, an SSE
    ``event: error``, and LMI's last line with ``token.id == -1`` or
    ``details.finish_reason == "error"``.

    Decisions where the formats are ambiguous:

    * Unknown JSON shapes are skipped, not guessed at and not fatal: servers add keep-alive,
      usage and metadata events over time. But a stream in which values arrived and *none*
      matched the format raises :class:`FramingError` at ``close()`` — that is the wrong format,
      not a quiet empty answer. Text that is not JSON where JSON is required raises
      :class:`FramingError` at once.
    * ``data: [DONE]`` ends every JSON format (not only "openai"); anything after it — even
      bytes that are not UTF-8 — is ignored.
    * "lmi", "lmi-sse" and "outputs" are read line by line (a ``data:`` prefix is optional and
      other SSE lines are ignored), because DJL versions differ on whether a blank line follows
      each ``data:`` line; strict SSE would hold every token until the end of the stream.
    * "tgi" and "openai" use strict SSE, with one repair: a ``data:`` line arriving while the
      pending event already holds one complete JSON value dispatches that value first (a
      server that forgot the blank line still streams, one event late, instead of failing at
      the end on the joined data). With a JSON-lines content type or first byte ``{`` they read
      JSON lines instead (DJL-LMI's TGI-compatible and chat formatters).
    * In auto mode, "tgi" and "lmi-sse" share a shape; LMI's spelling (``log_prob``,
      ``special_token``, ``error_msg``) on the first token picks "lmi-sse". JSON lines of chat
      chunks (DJL-LMI's ``jsonlines_chat``) resolve to "openai".
    * Only choice ``index`` 0 is followed in OpenAI chunks (with ``n > 1`` the choices would
      otherwise interleave into one text); ``raw`` keeps the whole chunk.
    * The LMI error message is ``token.error_msg``, else ``details.error_msg``/``error``/
      ``message``, else ``generated_text`` when it is not just the text already delivered
      (LMI puts the partial output there), else a generic message.
    * :attr:`text` leaves out special tokens' text, like TGI's ``generated_text``.
    * ``ContainerError.parts_received`` / ``bytes_received`` stay 0 here; the streaming shell,
      which counts parts, fills them in.
    """

    __slots__ = (
        "_done",
        "_failure",
        "_family",
        "_first_line",
        "_first_unknown",
        "_kind",
        "_lines",
        "_out",
        "_recognized",
        "_requested",
        "_resolved",
        "_route",
        "_sniffed",
        "_sse",
        "_text_decoder",
        "_texts",
        "_unknown",
    )

    def __init__(
        self,
        format: str = "auto",
        *,
        content_type: str | None = None,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
    ) -> None:
        if format not in TOKEN_FORMATS:
            raise ParamValidationError("format", f"must be one of {', '.join(TOKEN_FORMATS)}")
        if content_type is not None and not isinstance(content_type, str):
            raise ParamValidationError("content_type", "must be a str or None")
        self._requested = format
        self._resolved: str | None = None if format == "auto" else format
        self._kind: str | None = _KIND.get(format)
        self._lines = LineDecoder(max_line_length)
        self._sse = _SSEParser(max_line_length, strip_bom=False)
        self._text_decoder = _utf8()
        self._sniffed = bytearray()
        self._family: str | None = None
        self._route: str | None = None
        self._first_line = True
        self._done = False
        self._recognized = 0
        self._unknown = 0
        self._first_unknown = ""
        self._texts: list[str] = []
        self._out: list[Token] = []
        self._failure: StreamError | None = None
        if format == "text":
            self._route = "text"
        elif format in ("lmi", "lmi-sse", "outputs"):
            self._route = "lines"
        else:
            # An explicit JSON format only takes the framing from the content type; a text/plain
            # label on a TGI stream (a misconfigured container) must not stop it decoding.
            family = _family_of(content_type)
            if family is not None and (format == "auto" or family != "text"):
                self._route = self._route_for(family)

    @property
    def format(self) -> str:
        """The format in use: the one requested, or the detected one ("auto" until known)."""
        return self._resolved or "auto"

    @property
    def text(self) -> str:
        """All token text delivered so far (special tokens excluded)."""
        return "".join(self._texts)

    def feed(self, data: bytes) -> list[Token]:
        """Take the next chunk; return the tokens it completed (possibly none)."""
        return self._call(lambda: self._feed(data), final=False)

    def close(self) -> list[Token]:
        """End of stream: flush the last line or event and return its tokens."""
        return self._call(self._close, final=True)

    # --- the error policy ---

    def _call(self, step: Callable[[], None], *, final: bool) -> list[Token]:
        if self._failure is not None:
            raise self._failure
        if len(self._texts) > 1:
            self._texts[:] = ["".join(self._texts)]
        mark = len(self._texts)
        out: list[Token] = []
        self._out = out
        try:
            step()
        except StreamError as exc:
            self._failure = exc
            if out and not final:
                return out
            if out:  # close() cannot defer: what it does not return was never delivered
                del self._texts[mark:]
                if isinstance(exc, ContainerError):
                    exc.partial_text = self.text
            raise
        return out

    def _emit(self, token: Token) -> None:
        self._out.append(token)
        if token.text and not token.special:
            self._texts.append(token.text)

    def _container_error(self, message: str, code: str | None, payload: object) -> ContainerError:
        return ContainerError(
            message or "the model container reported an error",
            error_code=code,
            partial_text=self.text,
            payload=payload,
        )

    # --- framing ---

    def _route_for(self, family: str) -> str:
        self._family = family
        if self._requested == "auto":
            if family == "text":
                self._resolved = "text"
                return "text"
            return "lines" if family == "lines" else "sse?"
        return "lines" if family == "lines" else "sse"

    def _feed(self, data: bytes) -> None:
        if self._done:
            return
        if self._route is None:
            self._sniffed += data
            # Only the first _SNIFF_LIMIT bytes decide, however they were cut.
            family = _sniff(self._sniffed[:_SNIFF_LIMIT], final=len(self._sniffed) >= _SNIFF_LIMIT)
            if family is None:
                return
            data = bytes(self._sniffed)
            self._sniffed.clear()
            self._route = self._route_for(family)
        self._consume(data)

    def _close(self) -> None:
        if self._route is None:
            family = _sniff(self._sniffed[:_SNIFF_LIMIT], final=True) or "text"
            data = bytes(self._sniffed)
            self._sniffed.clear()
            self._route = self._route_for(family)
            self._consume(data)
        if not self._done:
            if self._route == "text":
                self._on_text(self._decode_text(b"", final=True))
            else:
                for line in self._lines.close():
                    self._on_line(line)
                if not self._done and self._route == "sse":
                    event = self._sse.dispatch()
                    if event is not None:
                        self._on_event(event)
        if self._unknown and not self._recognized:
            what = "a known container format" if self._kind is None else f"format {self.format!r}"
            raise FramingError(
                f"no JSON value in the stream matched {what} (the first was "
                f"{self._first_unknown}); pass format= or read raw events"
            )

    def _consume(self, data: bytes) -> None:
        if self._route == "text":
            self._on_text(self._decode_text(data, final=False))
            return
        for line in self._lines.feed(data):
            self._on_line(line)

    def _decode_text(self, data: bytes, *, final: bool) -> str:
        try:
            return _decode(self._text_decoder, data, final=final)
        except FramingError as exc:
            # Deliver the valid text before the bad bytes, as a byte-by-byte feed would have.
            cause = exc.__cause__
            if isinstance(cause, UnicodeDecodeError):
                self._on_text(cause.object[: cause.start].decode("utf-8"))
            raise

    def _on_text(self, text: str) -> None:
        if text:
            self._emit(Token(text))

    def _on_line(self, line: str) -> None:
        if self._done:
            return
        if self._first_line:
            self._first_line = False
            if line.startswith(_BOM):
                line = line[1:]
        if self._route == "sse?":
            name, _, value = line.partition(":")
            if name != "data":
                self._sse.line(line)  # event/id/retry/comments: no data yet, so no dispatch
                return
            payload = value[1:] if value[:1] == " " else value
            try:
                first = json.loads(payload)
            except (ValueError, RecursionError):
                first = None
            lmi = isinstance(first, dict) and _is_lmi_token(first.get("token"))
            self._route = "lines" if lmi else "sse"
        if self._route == "sse":
            self._sse_line(line)
        else:
            self._json_line(line)

    def _sse_line(self, line: str) -> None:
        sse = self._sse
        if (
            sse.data_lines == 1
            and line.startswith("data")
            and line[4:5] in ("", ":")
            and _is_complete_json(sse.data)
        ):
            # The pending event is already one whole value: the blank line was left out.
            event = sse.dispatch()
            if event is not None:
                self._on_event(event)
            if self._done:
                return
        event = sse.line(line)
        if event is not None:
            self._on_event(event)

    def _json_line(self, line: str) -> None:
        text = line.strip()
        if not text or text[0] == ":":
            return
        if text.startswith("data:"):
            text = text[5:]
        elif text.startswith(("event:", "id:", "retry:")):
            return
        self._on_data(text)

    # --- interpretation ---

    def _on_event(self, event: SSEEvent) -> None:
        if event.event == "error":
            try:
                payload: Any = json.loads(event.data)
            except (ValueError, RecursionError):
                payload = event.data
            shape = _error_shape(payload)
            if shape is None and isinstance(payload, dict):
                shape = (_str(payload.get("message")) or event.data, _str(payload.get("type")))
            message, code = shape or (event.data, None)
            raise self._container_error(message, code, payload)
        self._on_data(event.data)

    def _on_data(self, data: str) -> None:
        text = data.strip()
        if not text:
            return
        if text == "[DONE]":
            self._done = True
            if self._kind is None:
                self._kind = self._resolved = "openai"
            return
        value = _loads(text)
        shape = _error_shape(value)
        if shape is not None:
            raise self._container_error(shape[0], shape[1], value)
        kind = self._kind or _classify(value)
        tokens: list[Token] | None = None
        if kind is not None:
            if self._kind is None:
                self._kind = kind
                self._resolved = self._name(kind, value)
            if kind == "token":
                tokens = self._token_event(value)
            elif kind == "openai":
                tokens = self._openai_chunk(value)
            else:
                tokens = self._outputs_line(value)
        if tokens is None:
            if not self._unknown:
                self._first_unknown = _clip(text)
            self._unknown += 1
            return
        self._recognized += 1
        for token in tokens:
            self._emit(token)

    def _name(self, kind: str, value: Any) -> str:
        if kind != "token":
            return kind
        if self._family == "lines":
            return "lmi"
        if self._route == "lines" or _is_lmi_token(value.get("token")):
            return "lmi-sse"
        return "tgi"

    def _token_event(self, value: Any) -> list[Token] | None:
        token = value.get("token") if isinstance(value, dict) else None
        if not isinstance(token, dict):
            return None
        details = value.get("details")
        finish = details.get("finish_reason") if isinstance(details, dict) else None
        token_id = token.get("id")
        if isinstance(token_id, bool) or not isinstance(token_id, int):
            token_id = None
        if token_id == -1 or finish == "error":
            raise self._container_error(self._lmi_message(value), None, value)
        text = token.get("text")
        return [
            Token(
                text=text if isinstance(text, str) else "",
                id=token_id,
                logprob=_float(token.get("logprob", token.get("log_prob"))),
                special=token.get("special", token.get("special_token")) is True,
                finish_reason=_str(finish),
                raw=value,
            )
        ]

    def _lmi_message(self, value: dict[str, Any]) -> str:
        token = value.get("token")
        details = value.get("details")
        candidates = [token.get("error_msg") if isinstance(token, dict) else None]
        if isinstance(details, dict):
            candidates += [details.get(key) for key in ("error_msg", "error", "message")]
        for candidate in candidates:
            if isinstance(candidate, str) and candidate:
                return candidate
        generated = value.get("generated_text")
        if isinstance(generated, str) and generated and generated != self.text:
            return generated
        return "the model container ended the stream with finish_reason=error"

    def _openai_chunk(self, value: Any) -> list[Token] | None:
        if not isinstance(value, dict):
            return None
        choices = value.get("choices")
        if not isinstance(choices, list):
            kind = value.get("object")
            if "usage" in value or (
                isinstance(kind, str) and kind.startswith(("chat.completion", "text_completion"))
            ):
                return []
            return None
        tokens: list[Token] = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            if index is not None and index != 0:
                continue
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            finish = _str(choice.get("finish_reason"))
            if (isinstance(text, str) and text) or finish:
                tokens.append(
                    Token(
                        text=text if isinstance(text, str) else "",
                        logprob=_openai_logprob(choice.get("logprobs")),
                        finish_reason=finish,
                        raw=value,
                    )
                )
        return tokens

    def _outputs_line(self, value: Any) -> list[Token] | None:
        outputs = value.get("outputs") if isinstance(value, dict) else None
        if isinstance(outputs, str):
            outputs = [outputs]
        if not isinstance(outputs, list):
            return None
        return [Token(text=item, raw=value) for item in outputs if isinstance(item, str)]
