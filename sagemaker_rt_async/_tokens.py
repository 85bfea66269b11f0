"""LLM container formats -> :class:`Token` values: TGI, OpenAI-compatible, DJL-LMI, and more.

``_framing`` turns bytes into lines, SSE events and JSON values and tells which framing a body
uses; this module knows what the values *mean* for each serving stack a SageMaker endpoint runs
(``spec/stream-formats.md``) and turns them into tokens, with the container's own in-stream
errors raised as :class:`ContainerError`. Sans-IO and synchronous (stdlib only), with the same
``feed(bytes) -> list`` / ``close() -> list`` shape and error policy as the decoders of
``_framing``. Reused by every route that streams generated text (the response stream's
``tokens()``, the OpenAI-compatible route).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._errors import ContainerError, FramingError, ParamValidationError, StreamError
from ._framing import (
    BOM,
    DEFAULT_MAX_LINE_LENGTH,
    SNIFF_LIMIT,
    LineDecoder,
    SSEEvent,
    SSEParser,
    clip,
    decode_utf8,
    framing_of,
    loads_json,
    sniff_framing,
    utf8_decoder,
)

__all__ = ["TOKEN_FORMATS", "Token", "TokenDecoder"]

#: The values accepted by ``TokenDecoder(format=...)``.
TOKEN_FORMATS = ("auto", "tgi", "openai", "lmi", "lmi-sse", "outputs", "text")


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


_KIND = {
    "tgi": "token",
    "lmi": "token",
    "lmi-sse": "token",
    "openai": "openai",
    "outputs": "outputs",
}
_LMI_TOKEN_KEYS = ("log_prob", "special_token", "error_msg")


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
        self._sse = SSEParser(max_line_length, strip_bom=False)
        self._text_decoder = utf8_decoder()
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
            family = framing_of(content_type)
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
            # Only the first SNIFF_LIMIT bytes decide, however they were cut.
            head = self._sniffed[:SNIFF_LIMIT]
            family = sniff_framing(head, final=len(self._sniffed) >= SNIFF_LIMIT)
            if family is None:
                return
            data = bytes(self._sniffed)
            self._sniffed.clear()
            self._route = self._route_for(family)
        self._consume(data)

    def _close(self) -> None:
        if self._route is None:
            family = sniff_framing(self._sniffed[:SNIFF_LIMIT], final=True) or "text"
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
            return decode_utf8(self._text_decoder, data, final=final)
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
            if line.startswith(BOM):
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
        value = loads_json(text)
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
                self._first_unknown = clip(text)
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
