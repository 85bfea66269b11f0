"""LLM container formats -> :class:`Token` values: TGI, OpenAI-compatible, DJL-LMI, and more.

``_framing`` turns bytes into lines, SSE events and JSON values and tells which framing a body
uses; this module knows what the values *mean* for each serving stack a SageMaker endpoint runs
(``spec/stream-formats.md``) and turns them into tokens — answer text, reasoning text, tool-call
deltas, logprobs, the finish reason and usage — with the container's own in-stream errors raised
as :class:`ContainerError`. Sans-IO and synchronous (stdlib only), with the same
``feed(bytes) -> list`` / ``close() -> list`` shape and error policy as the decoders of
``_framing``. Reused by every route that streams generated text (the response stream's
``tokens()``, the OpenAI-compatible route).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

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

__all__ = [
    "TOKEN_FORMATS",
    "Token",
    "TokenDecoder",
    "TokenFormat",
    "TokenKind",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]

TokenFormat = Literal[
    "auto",
    "tgi",
    "openai",
    "lmi",
    "lmi-sse",
    "outputs",
    "text",
    "responses",
    "anthropic",
    "bedrock",
]
"""The container formats ``stream.tokens(format=...)`` reads; ``"auto"`` detects the others."""
TokenKind = Literal["text", "reasoning", "tool_call"]
"""What a token carries: answer text, reasoning ("thinking") text, or tool-call deltas."""

#: The values accepted by ``TokenDecoder(format=...)``.
TOKEN_FORMATS: tuple[TokenFormat, ...] = (
    "auto",
    "tgi",
    "openai",
    "lmi",
    "lmi-sse",
    "outputs",
    "text",
    "responses",
    "anthropic",
    "bedrock",
)


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call as it streams: ``arguments`` is a piece of its JSON text.

    ``index`` numbers the tool calls of the answer from 0, in the order they started (servers
    that number them otherwise — Anthropic content blocks, Responses output items — are
    renumbered); ``id`` and ``name`` usually come with the first fragment only.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A whole tool call, assembled from its deltas.

    ``arguments`` is the complete JSON text the model wrote; ``parsed_arguments`` is that text
    decoded when it is valid JSON, else None (a model may stop in the middle of its arguments).
    """

    index: int
    id: str | None
    name: str | None
    arguments: str
    parsed_arguments: Any = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts, as the container reported them (None: not reported).

    ``total_tokens`` is the container's own total, or prompt + completion when it sent both
    parts and no total.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """One piece of generated output, with what the container said about it.

    ``kind`` says what ``text`` is: answer text (``"text"``), reasoning text (``"reasoning"``)
    or, for ``"tool_call"``, nothing — the fragments are in ``tool_calls``. ``logprob`` is the
    log-probability when the chunk carried exactly one generated token; ``logprobs`` has one
    entry per generated token in the chunk (speculative decoding sends several). ``final`` is
    True on the token that ends the sequence, whether or not the server sent a finish reason
    (the "outputs" and "text" formats never say, so it stays False there). ``raw`` is the
    decoded JSON value it came from (None for the "text" format); it is left out of
    comparisons and repr so that tokens compare by content.
    """

    text: str
    id: int | None = None
    logprob: float | None = None
    special: bool = False
    finish_reason: str | None = None
    raw: Any = field(default=None, compare=False, repr=False)
    kind: TokenKind = "text"
    tool_calls: tuple[ToolCallDelta, ...] = ()
    logprobs: tuple[float, ...] = ()
    final: bool = False


class _TokenBuilder:
    """Token's slots under a class that is not frozen: a Token is built here, then becomes one.

    A frozen dataclass's __init__ sets each field through ``object.__setattr__``; on the hot
    path (one Token per generated token) that was the largest cost we control. Assigning
    ``__class__`` between two classes with the same ``__slots__`` (and nothing else) is a
    supported CPython operation; the object is then an ordinary, equal, hashable, immutable
    Token. ``_token`` checks the layouts match when the module loads.
    """

    __slots__ = Token.__slots__  # the same layout, in the same order


# _token below sets these fields by name: a field added to Token must be added there too.
if Token.__slots__ != (
    "text",
    "id",
    "logprob",
    "special",
    "finish_reason",
    "raw",
    "kind",
    "tool_calls",
    "logprobs",
    "final",
):
    raise ImportError("Token's fields changed: update _token to set each of them")


def _token(
    text: str,
    id: int | None,
    logprob: float | None,
    special: bool,
    finish_reason: str | None,
    raw: Any,
    kind: TokenKind,
    tool_calls: tuple[ToolCallDelta, ...],
    logprobs: tuple[float, ...],
    final: bool,
) -> Token:
    """``Token(...)`` with all ten fields positional, at a quarter of the frozen __init__'s cost."""
    token: Any = object.__new__(_TokenBuilder)
    token.text = text
    token.id = id
    token.logprob = logprob
    token.special = special
    token.finish_reason = finish_reason
    token.raw = raw
    token.kind = kind
    token.tool_calls = tool_calls
    token.logprobs = logprobs
    token.final = final
    token.__class__ = Token
    return token  # type: ignore[no-any-return]


# The C scanner json.loads runs (typeshed does not declare it).
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

_KIND = {
    "tgi": "token",
    "lmi": "token",
    "lmi-sse": "token",
    "openai": "openai",
    "outputs": "outputs",
    "responses": "responses",
    "anthropic": "anthropic",
    "bedrock": "bedrock",
}
_LMI_TOKEN_KEYS = ("log_prob", "special_token", "error_msg")
# The event types of Anthropic's Messages stream (anthropic-sdk-python
# src/anthropic/types/raw_message_stream_event.py, plus "ping" and "error").
_ANTHROPIC_TYPES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
    }
)
# The key every data value of a format has: such a value is an error only with "error".
_PRIMARY = {"token": "token", "openai": "choices"}
# The "type" of the error events (Responses, Anthropic): a str, or any JSON (hence a tuple).
_ERROR_TYPES = ("error", "response.failed")
_NO_TOKENS: list[Token] = []  # returned for recognised values that carry no token; never mutated


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits is no logprob
            return None
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _reason(value: Any) -> str | None:
    # TGI's /v1/completions writes "finish_reason": "" on every chunk but the last: empty is
    # "not finished", never a reason.
    return value if isinstance(value, str) and value else None


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


def _first_str(mapping: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _first_int(mapping: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = _int(mapping.get(key))
        if value is not None:
            return value
    return None


_MESSAGE_KEYS = ("message", "error_msg", "msg", "error")
_STATUS_KEYS = ("code", "http_status_code", "error_code", "status_code", "status")

#: (message, error_code, status_code) of a container's in-stream error.
_Shape = tuple[str, str | None, int | None]


def _error_object(error: dict[str, Any]) -> _Shape:
    """An error object: OpenAI/vLLM ``{"message", "type", "code"}``, Anthropic's
    ``{"type", "message"}``, TGI's OpenAI event ``{"message", "http_status_code"}``, DJL 3p's
    ``{"error_code", "error_msg"}``.

    ``error_code`` is the error's own name: ``code`` when it is a string, else ``type``
    (vLLM's ``code`` is only the HTTP status, kept as ``status_code``).
    """
    inner = error.get("error")
    if isinstance(inner, dict):  # DJL's non-streaming 3p nests one more level
        error = inner
    message = _first_str(error, _MESSAGE_KEYS)
    code = error.get("code")
    if isinstance(code, str) and code:
        name: str | None = code
    else:
        kind = error.get("type")
        name = kind if isinstance(kind, str) and kind else None
        if name is None and code is not None and _int(code) is None:
            name = _show(code)
    return message or _show(error), name, _first_int(error, _STATUS_KEYS)


def _error_shape(value: Any) -> _Shape | None:
    """The error when ``value`` is one of the containers' in-stream error objects."""
    if value.__class__ is not dict and not isinstance(value, dict):
        return None
    error = value.get("error")
    if error is not None:
        if isinstance(error, str):
            # TGI {"error", "error_type"}; DJL's frontend {"code": 424, "error"}; DJL's
            # Output.error {"code", "message", "error"} (the error is the specific part).
            status = _int(value.get("code"))
            return error or _show(value), _str(value.get("error_type")), status
        if isinstance(error, dict):  # OpenAI, vLLM, Anthropic, TGI's OpenAI routes, DJL 3p
            return _error_object(error)
        if error:  # any other truthy "error" member
            return _show(error), None, None
    if value.get("object") == "error":  # vLLM < 0.9: {"object": "error", "message", "type", "code"}
        return _error_object(value)
    kind = value.get("type")
    if kind is not None:
        if kind == "error":  # a Responses-style error event: {"type": "error", "code", ...}
            return _error_object(value)
        if kind == "response.failed":
            response = value.get("response")
            failure = response.get("error") if isinstance(response, dict) else None
            if isinstance(failure, dict):
                return _error_object(failure)
            return "the response failed", None, None
    code = value.get("code")
    if code is None:
        return None
    code = _int(code)
    if code is not None and 400 <= code <= 599 and isinstance(value.get("message"), str):
        # DJL's engine failure, its ErrorResponse {"code": 500, "type", "message"}: an HTTP
        # status and a message, which no token format's value carries together.
        return _error_object(value)
    return None


def _classify(value: Any) -> str | None:
    """Which interpreter a JSON value belongs to, for format="auto" (None: not recognised).

    In this order: ``token`` (TGI / LMI), ``choices`` or an OpenAI ``object`` (OpenAI),
    ``type`` ``response.*`` (Responses), an Anthropic event ``type`` (Anthropic), ``body``
    with ``generation`` or a bare ``generation`` (Bedrock / DJL 3p), ``outputs``.
    """
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("token"), dict):
        return "token"
    kind = value.get("object")
    if isinstance(value.get("choices"), list) or (
        isinstance(kind, str) and kind.startswith(("chat.completion", "text_completion"))
    ):
        return "openai"
    kind = value.get("type")
    if isinstance(kind, str):
        if kind.startswith("response."):
            return "responses"
        if kind in _ANTHROPIC_TYPES:
            return "anthropic"
    body = value.get("body")
    if (isinstance(body, dict) and "generation" in body) or "generation" in value:
        return "bedrock"
    if "outputs" in value:
        return "outputs"
    return None


def _logprob_list(entries: Any) -> tuple[float, ...]:
    """The ``logprob`` of each entry of an OpenAI-style list of ``{"token", "logprob"}``."""
    if not isinstance(entries, list):
        return ()
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            logprob = _float(entry.get("logprob"))
            if logprob is not None:
                out.append(logprob)
    return tuple(out)


def _openai_logprobs(logprobs: Any) -> tuple[float, ...]:
    if logprobs is None:
        return ()
    if isinstance(logprobs, list) and len(logprobs) == 1:
        # DJL-LMI's jsonlines_chat formatter wraps the logprobs object in a list (a stray comma
        # in djl_python/output_formatter.py, _jsonlines_chat_output_formatter).
        logprobs = logprobs[0]
    if not isinstance(logprobs, dict):
        return ()
    content = logprobs.get("content")
    if content is not None:
        return _logprob_list(content)
    legacy = logprobs.get("token_logprobs")  # /v1/completions
    if isinstance(legacy, list):
        return tuple(x for x in map(_float, legacy) if x is not None)
    return ()


def _tool_deltas(raw: Any) -> tuple[ToolCallDelta, ...]:
    """OpenAI/vLLM ``tool_calls`` deltas; TGI < 3.2 sent one object instead of a list."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return ()
    out = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        index = _int(item.get("index"))
        function = item.get("function")
        if not isinstance(function, dict):
            function = {}
        arguments = function.get("arguments")
        out.append(
            ToolCallDelta(
                index=position if index is None else index,
                id=_str(item.get("id")) or None,  # old TGI sends "" for every id
                name=_str(function.get("name")) or None,
                arguments=arguments if isinstance(arguments, str) else "",
            )
        )
    return tuple(out)


def _usage_counts(
    usage: Any, prompt: str, completion: str, total: str | None = None
) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    counted = None if total is None else _int(usage.get(total))
    return Usage(_int(usage.get(prompt)), _int(usage.get(completion)), counted)


def _is_complete_json(text: str) -> bool:
    text = text.strip()
    if text == "[DONE]":
        return True
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class _ToolAssembly:
    """Tool-call deltas -> whole tool calls (id and name from the first fragment that has one)."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, [argument fragments]]

    def add(self, deltas: tuple[ToolCallDelta, ...]) -> None:
        for delta in deltas:
            call = self._calls.get(delta.index)
            if call is None:
                call = self._calls[delta.index] = [None, None, []]
            if call[0] is None and delta.id:
                call[0] = delta.id
            if call[1] is None and delta.name:
                call[1] = delta.name
            if delta.arguments:
                call[2].append(delta.arguments)

    def result(self) -> tuple[ToolCall, ...]:
        out = []
        for index in sorted(self._calls):
            call_id, name, fragments = self._calls[index]
            arguments = "".join(fragments)
            try:
                parsed = json.loads(arguments) if arguments else None
            except (ValueError, RecursionError):
                parsed = None
            out.append(ToolCall(index, call_id, name, arguments, parsed))
        return tuple(out)


class TokenDecoder:
    """Decode an LLM container's response stream into :class:`Token` values.

    Formats (see ``spec/stream-formats.md``):

    * ``"tgi"`` — Hugging Face TGI: SSE, each data a JSON object with ``token`` (``id``,
      ``text``, ``logprob``, ``special``); the last one adds ``generated_text`` (that makes it
      ``final``) and, only when the request asked for ``"details": true``, ``details`` whose
      ``finish_reason`` goes on that last token and whose ``generated_tokens`` /
      ``input_length`` are the usage. Special tokens are yielded with ``special=True``.
    * ``"openai"`` — TGI Messages API, vLLM and other OpenAI-compatible servers: SSE chat
      chunks (``choices[].delta``) or legacy completions (``choices[].text``), ended by
      ``data: [DONE]``. ``delta.content`` is answer text, ``delta.reasoning_content`` /
      ``delta.reasoning`` reasoning text, ``delta.tool_calls`` tool-call deltas (a list, or
      one object from TGI before 3.2); ``usage`` (``stream_options.include_usage``) is the
      usage. A chunk with several of them yields one token each (reasoning, text, tool call),
      the ``finish_reason`` on the last; a ``finish_reason`` alone yields
      ``Token("", finish_reason=..., final=True)``.
    * ``"lmi"`` — DJL-LMI rolling batch, JSON lines ``{"token": {"id", "text", "log_prob"}}``;
      the last line adds ``generated_text`` and, with ``"details": true`` in the request,
      ``details`` (``finish_reason``, ``generated_tokens``).
    * ``"lmi-sse"`` — the same lines, each prefixed ``data:``.
    * ``"responses"`` — OpenAI Responses API events (vLLM serves them too):
      ``response.output_text.delta`` (text), ``response.reasoning_text.delta`` /
      ``response.reasoning_summary_text.delta`` (reasoning), a ``function_call`` output item
      and its ``response.function_call_arguments.delta`` (tool calls);
      ``response.completed`` / ``response.incomplete`` end it (finish reason: the response's
      ``status``, or the ``incomplete_details.reason``) and carry the usage.
    * ``"anthropic"`` — Anthropic Messages events: ``content_block_delta`` with a
      ``text_delta`` (text), ``thinking_delta`` (reasoning) or ``input_json_delta`` (the
      arguments of a ``tool_use`` block); ``message_delta``'s ``stop_reason`` ends it; usage
      from ``message_start`` and ``message_delta``.
    * ``"bedrock"`` — DJL-LMI's Bedrock-style ``3p_stream`` JSON lines, ``{"body":
      {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}}`` (a bare
      ``{"generation", ...}`` chunk too).
    * ``"outputs"`` — older containers' ``{"outputs": [" tok", ...]}`` lines; each string is a
      token.
    * ``"text"`` — raw UTF-8 text; every chunk yields what it completes (no ids, no lines).
    * ``"auto"`` — detect: the content type picks the framing (``text/event-stream`` → SSE,
      ``application/jsonlines``/``x-ndjson`` → JSON lines, ``text/plain`` → text); otherwise
      the first bytes do (after whitespace and a BOM: ``data:``/``event:``/``id:``/``retry:``/
      ``:`` → SSE, ``{`` → JSON lines, anything else → text), buffering only until they can
      tell. Within a family, the first recognisable JSON value picks the format, checked in
      this order: a ``token`` object (TGI; LMI's spelling ``log_prob``/``special_token``/
      ``error_msg`` makes it "lmi-sse" in SSE, JSON lines make it "lmi"), ``choices`` or an
      OpenAI ``object`` (openai), a ``type`` starting ``response.`` (responses), an Anthropic
      event ``type`` (anthropic), ``body.generation`` or ``generation`` (bedrock),
      ``outputs`` (outputs).

    ``choice`` selects which choice to follow where a format carries several (``n > 1``:
    OpenAI ``choices[].index``); the other formats carry one sequence and ignore it.

    Beside the tokens, the decoder keeps :attr:`text` (answer text only), :attr:`reasoning_text`,
    :attr:`tool_calls` (assembled), :attr:`finish_reason` and :attr:`usage`.

    Errors in the stream raise :class:`ContainerError` (``partial_text`` = :attr:`text` at that
    point, ``payload`` = the JSON value, ``error_code`` = the error's own name, ``status_code``
    = the HTTP status it states), whatever the format and framing: TGI's ``{"error",
    "error_type"}``; OpenAI/vLLM/Anthropic ``{"error": {...}}``; vLLM's ``{"object": "error"}``;
    a Responses ``{"type": "error"}`` or ``response.failed``; DJL's frontend
    ``{"code": 424, "error"}`` — which it appends *without* a ``data:`` prefix after the last
    SSE event, so a raw ``{`` line in an SSE stream is checked for an error too — and its
    engine failure ``{"code": 500, "message"}``; DJL 3p's ``"error"`` member; an SSE
    ``event: error``; and LMI's last line with ``token.id == -1`` or
    ``details.finish_reason == "error"``.

    Decisions where the formats are ambiguous:

    * Unknown JSON shapes are skipped, not guessed at and not fatal: servers add keep-alive,
      usage and metadata events over time. But a stream in which values arrived and *none*
      matched the format raises :class:`FramingError` at ``close()`` — that is the wrong format,
      not a quiet empty answer. Text that is not JSON where JSON is required raises
      :class:`FramingError` at once.
    * ``data: [DONE]`` ends every JSON format (not only "openai"); anything after it — even
      bytes that are not UTF-8 — is ignored.
    * An empty ``finish_reason`` (TGI's completions chunks) is None.
    * "lmi", "lmi-sse" and "outputs" are read line by line (a ``data:`` prefix is optional and
      other SSE lines are ignored), because DJL versions differ on whether a blank line follows
      each ``data:`` line; strict SSE would hold every token until the end of the stream.
    * The other JSON formats use strict SSE, with one repair: a ``data:`` line arriving while
      the pending event already holds one complete JSON value dispatches that value first (a
      server that forgot the blank line still streams, one event late, instead of failing at
      the end on the joined data). With a JSON-lines content type or first byte ``{`` they
      read JSON lines instead (DJL-LMI's TGI-compatible, chat and 3p formatters).
    * ``raw`` keeps the whole JSON value (all choices of an OpenAI chunk).
    * The LMI error message is ``token.error_msg``, else ``details.error_msg``/``error``/
      ``message``, else ``generated_text`` when it is not just the text already delivered
      (LMI puts the partial output there), else a generic message.
    * :attr:`text` leaves out special tokens' text, like TGI's ``generated_text``.
    * ``ContainerError.parts_received`` / ``bytes_received`` stay 0 here; the streaming shell,
      which counts parts, fills them in.
    """

    __slots__ = (
        "_choice",
        "_done",
        "_failure",
        "_family",
        "_finish",
        "_first_line",
        "_first_unknown",
        "_interpret",
        "_kind",
        "_lines",
        "_max_line",
        "_out",
        "_primary",
        "_reasoning",
        "_recognized",
        "_requested",
        "_resolved",
        "_route",
        "_slots",
        "_sniffed",
        "_sse",
        "_text_decoder",
        "_texts",
        "_tools",
        "_unknown",
        "_usage",
        "_whole",
    )

    def __init__(
        self,
        format: TokenFormat = "auto",
        *,
        content_type: str | None = None,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        choice: int = 0,
    ) -> None:
        if format not in TOKEN_FORMATS:
            raise ParamValidationError("format", f"must be one of {', '.join(TOKEN_FORMATS)}")
        if content_type is not None and not isinstance(content_type, str):
            raise ParamValidationError("content_type", "must be a str or None")
        if isinstance(choice, bool) or not isinstance(choice, int) or choice < 0:
            raise ParamValidationError("choice", "must be an int >= 0")
        self._requested: str = format
        self._resolved: str | None = None if format == "auto" else format
        self._kind: str | None = _KIND.get(format)
        self._choice = choice
        self._lines = LineDecoder(max_line_length)
        self._sse = SSEParser(max_line_length, strip_bom=False)
        self._text_decoder = utf8_decoder()
        self._sniffed = bytearray()
        self._family: str | None = None
        self._route: str | None = None
        self._first_line = True
        self._whole = False  # feed() may take the whole-lines path (set by _consume)
        self._interpret: Callable[[Any], list[Token] | None] | None = None  # once known
        self._primary: str | None = None  # the key every value of the format has
        self._max_line = self._lines.max_line_length
        self._done = False
        self._recognized = 0
        self._unknown = 0
        self._first_unknown = ""
        self._texts: list[str] = []
        self._reasoning: list[str] = []
        self._tools = _ToolAssembly()
        self._slots: dict[Any, int] = {}  # a server's tool-call key -> our index
        self._finish: str | None = None
        self._usage: Usage | None = None
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
        """All answer text delivered so far (no reasoning, no special tokens)."""
        return _joined(self._texts)

    @property
    def reasoning_text(self) -> str:
        """All reasoning ("thinking") text delivered so far."""
        return _joined(self._reasoning)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls delivered so far, each assembled whole (by index)."""
        return self._tools.result()

    @property
    def finish_reason(self) -> str | None:
        """The last finish reason delivered (None until the sequence says why it ended)."""
        return self._finish

    @property
    def usage(self) -> Usage | None:
        """Token counts, when the container reported any (None otherwise)."""
        return self._usage

    def feed(self, data: bytes) -> list[Token]:
        """Take the next chunk; return the tokens it completed (possibly none)."""
        # The hot path (one call per PayloadPart): the error policy of _call, inlined.
        if self._failure is not None:
            raise self._failure
        out: list[Token] = []
        self._out = out
        try:
            if self._done:
                pass
            elif (
                self._whole
                and data[-1:] == b"\n"
                and len(data) <= self._max_line
                and b"\r" not in data
            ):
                # The common part: whole lines, nothing held from before (see _whole_lines).
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    self._feed(data)
                else:
                    if (
                        self._route == "sse"
                        and text.startswith("data:")
                        and text.endswith("\n\n")
                        and text.count("\n") == 2
                    ):
                        # One SSE event, arriving between events: exactly that event.
                        payload = text[5:-2]
                        if payload[:1] == " ":
                            payload = payload[1:]
                        if payload[:1] == "{" and payload[-1:] == "}":
                            self._on_json(payload)  # what _on_data would pass on
                        else:
                            self._on_data(payload)
                    elif self._route == "lines" and text.count("\n") == 1:
                        # One line per part, how tokens arrive: a bare object goes straight
                        # to _on_json (what _json_line and _on_data would pass on).
                        if text[:1] == "{" and text[-2:-1] == "}":
                            self._on_json(text[:-1])
                        else:
                            self._json_line(text[:-1])
                    elif not self._whole_lines(self._route, text):
                        self._feed(data)
            else:
                self._feed(data)
        except StreamError as exc:
            return self._failed(exc, out, final=False)
        if out:
            if len(out) == 1:
                token = out[0]
                if token.kind == "text" and token.finish_reason is None and not token.special:
                    if token.text:
                        self._texts.append(token.text)
                    return out
            self._account(out)
        return out

    def close(self) -> list[Token]:
        """End of stream: flush the last line or event and return its tokens."""
        if self._failure is not None:
            raise self._failure
        out: list[Token] = []
        self._out = out
        try:
            self._close()
        except StreamError as exc:
            return self._failed(exc, out, final=True)
        if out:
            self._account(out)
        return out

    # --- the error policy ---

    def _failed(self, exc: StreamError, out: list[Token], *, final: bool) -> list[Token]:
        self._failure = exc
        if out and not final:
            self._account(out)
            return out
        if out and isinstance(exc, ContainerError):
            # close() cannot defer: what it does not return was never delivered.
            exc.partial_text = self.text
        raise exc

    def _account(self, tokens: list[Token]) -> None:
        """What the caller receives: text, reasoning, tool calls and the finish reason."""
        for token in tokens:
            kind = token.kind
            if kind == "text":
                if token.text and not token.special:
                    self._texts.append(token.text)
            elif kind == "reasoning":
                self._reasoning.append(token.text)
            if token.tool_calls:
                self._tools.add(token.tool_calls)
            if token.finish_reason is not None:
                self._finish = token.finish_reason

    def _container_error(self, shape: _Shape, payload: object) -> ContainerError:
        message, code, status = shape
        return ContainerError(
            message or "the model container reported an error",
            error_code=code,
            status_code=status,
            partial_text=self._delivered_text(),
            payload=payload,
        )

    def _delivered_text(self) -> str:
        """The answer text so far, with this call's tokens (feed() delivers them before an
        error it defers)."""
        pending = [t.text for t in self._out if t.kind == "text" and t.text and not t.special]
        return self.text + "".join(pending) if pending else self.text

    def _set_usage(self, usage: Usage | None) -> None:
        """Merge reported counts: a later report wins, a count it leaves out is kept."""
        if usage is None:
            return
        old = self._usage
        prompt, completion, total = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
        if old is not None:
            prompt = old.prompt_tokens if prompt is None else prompt
            completion = old.completion_tokens if completion is None else completion
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        if prompt is None and completion is None and total is None:
            return
        self._usage = Usage(prompt, completion, total)

    def _slot(self, key: Any) -> int:
        """Our tool-call index for a server's key (a block or output index), in start order."""
        if not isinstance(key, (int, str)):
            key = None  # a malformed key (any JSON) must not make the dict raise TypeError
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = len(self._slots)
        return slot

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
        route = self._route
        if route == "text":
            self._on_text(self._decode_text(data, final=False))
            return
        for line in self._lines.feed(data):
            self._on_line(line)
        # Whether the next part may take feed()'s whole-lines path: only between lines (and,
        # in SSE, between events), which only this path changes.
        route = self._route
        self._whole = (
            (route == "lines" or (route == "sse" and self._sse.idle))
            and not self._first_line
            and self._lines.idle
        )

    def _whole_lines(self, route: str | None, text: str) -> bool:
        """Decode a part of whole \n-terminated lines directly; False: not this fast case.

        The same as feeding the lines one by one, because the line decoder is idle and would
        hand out exactly these lines (feed() checks that, and takes the SSE case of one
        ``data:`` line and its blank line, arriving between events, itself): JSON lines each go
        to _json_line. Other SSE parts take the general path.
        """
        if route != "lines":
            return False
        lines = text.split("\n")
        lines.pop()
        for line in lines:
            if self._done:
                break
            self._json_line(line)
        return True

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
            self._out.append(Token(text))

    def _on_line(self, line: str) -> None:
        if self._done:
            return
        if self._first_line:
            self._first_line = False
            if line.startswith(BOM):
                line = line[1:]
        if self._route == "lines":
            self._json_line(line)
            return
        if line[:1] == "{":
            self._raw_json_in_sse(line)
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

    def _raw_json_in_sse(self, line: str) -> None:
        """A line of bare JSON in an SSE stream: SSE ignores it, but an error must not pass.

        DJL-LMI's frontend (engines/python/.../Request.java, ``addResponse``) appends
        ``{"code": 424, "error": "..."}`` after the last event of a failed request, with no
        ``data:`` prefix and no newline. Any other bare JSON line stays ignored, as SSE says.
        """
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            return
        shape = _error_shape(value)
        if shape is None:
            return
        if self._route == "sse":  # an event still pending (no blank line) goes out first
            event = self._sse.dispatch()
            if event is not None:
                self._on_event(event)
        raise self._container_error(shape, value)

    def _sse_line(self, line: str) -> None:
        sse = self._sse
        if not line:  # dispatch, without building an SSEEvent
            taken = sse.take()
            if taken is not None:
                self._on_sse(taken[0], taken[1])
            return
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
        if text[:1] == "{":
            self._on_data(text)
            return
        if not text or text[0] == ":":
            return
        if text.startswith("data:"):
            text = text[5:]
        elif text.startswith(("event:", "id:", "retry:")):
            return
        self._on_data(text)

    # --- interpretation ---

    def _on_event(self, event: SSEEvent) -> None:
        self._on_sse(event.event, event.data)

    def _on_sse(self, event: str | None, data: str) -> None:
        if event == "error":
            try:
                payload: Any = json.loads(data)
            except (ValueError, RecursionError):
                payload = data
            shape = _error_shape(payload)
            if shape is None and isinstance(payload, dict):
                shape = _error_object(payload)
            raise self._container_error(shape or (data, None, None), payload)
        self._on_data(data)

    def _on_data(self, data: str) -> None:
        text = data.strip()
        if not text:
            return
        if text == "[DONE]":
            self._done = True
            if self._kind is None:
                self._kind = self._resolved = "openai"
            return
        self._on_json(text)

    def _on_json(self, text: str) -> None:
        """One JSON value's text, stripped and not ``[DONE]``: decode it, interpret it."""
        try:
            # json.loads without its two Python frames and whitespace regexes: the text is
            # stripped, so a whole value must end exactly at its end.
            value, end = _scan_json(text, 0)
        except (StopIteration, ValueError, RecursionError):
            end = -1
        if end != len(text):
            value = loads_json(text)  # raises the FramingError that quotes the text
        # Only a dict can be an error, and only with one of these keys (see _error_shape); a
        # value with its format's own key (a TGI/LMI "token", OpenAI "choices") is data unless
        # it has an "error" member.
        if value.__class__ is not dict or (
            "error" in value
            or (
                self._primary not in value
                and (
                    "code" in value
                    or value.get("object") == "error"
                    or value.get("type") in _ERROR_TYPES
                )
            )
        ):
            shape = _error_shape(value)
            if shape is not None:
                raise self._container_error(shape, value)
        interpret = self._interpret
        if interpret is None:
            kind = self._kind or _classify(value)
            if kind is not None:
                if self._kind is None:
                    self._kind = kind
                    self._resolved = self._name(kind, value)
                interpret = self._interpret = self._interpreters[kind].__get__(self)
                self._primary = _PRIMARY.get(kind)
        tokens = None if interpret is None else interpret(value)
        if tokens is None:
            if not self._unknown:
                self._first_unknown = clip(text)
            self._unknown += 1
            return
        if not self._recognized:
            self._recognized = 1
        if tokens:
            self._out.extend(tokens)

    def _name(self, kind: str, value: Any) -> str:
        if kind != "token":
            return kind
        if self._family == "lines":
            return "lmi"
        if self._route == "lines" or _is_lmi_token(value.get("token")):
            return "lmi-sse"
        return "tgi"

    def _token_event(self, value: Any) -> list[Token] | None:
        token = value.get("token") if value.__class__ is dict else None
        if token.__class__ is not dict:
            return None
        details = value.get("details")
        finish = None
        if details is not None and details.__class__ is dict:
            finish = details.get("finish_reason")
            # TGI StreamDetails: generated_tokens, input_length; DJL-LMI: generated_tokens.
            generated = _int(details.get("generated_tokens"))
            if generated is not None:
                self._set_usage(Usage(_int(details.get("input_length")), generated))
        token_id = token.get("id")
        if token_id.__class__ is not int:
            token_id = _int(token_id)
        if token_id == -1 or finish == "error":
            raise self._container_error((self._lmi_message(value), None, None), value)
        if finish is not None:
            finish = _reason(finish)
        text = token.get("text")
        logprob = token.get("logprob")
        if logprob is None:
            logprob = token.get("log_prob")
        logprob = logprob if logprob.__class__ is float else _float(logprob)
        special = token.get("special")
        if special is None:
            special = token.get("special_token")
        return [
            _token(
                text if text.__class__ is str else "",
                token_id,
                logprob,
                special is True,
                finish,
                value,
                "text",
                (),
                () if logprob is None else (logprob,),
                # The last event carries generated_text (TGI: null before; LMI: absent before),
                # with or without details.
                finish is not None or value.get("generated_text").__class__ is str,
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
        if isinstance(generated, str) and generated and generated != self._delivered_text():
            return generated
        return "the model container ended the stream with finish_reason=error"

    def _openai_chunk(self, value: Any) -> list[Token] | None:
        if not isinstance(value, dict):
            return None
        usage = value.get("usage")
        if usage is not None:
            self._set_usage(
                _usage_counts(usage, "prompt_tokens", "completion_tokens", "total_tokens")
            )
        choices = value.get("choices")
        if not isinstance(choices, list):
            kind = value.get("object")
            if usage is not None or (
                isinstance(kind, str) and kind.startswith(("chat.completion", "text_completion"))
            ):
                return _NO_TOKENS
            return None
        tokens: list[Token] = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            if index != self._choice and not (index is None and self._choice == 0):
                continue
            finish = choice.get("finish_reason")
            if finish is not None and (finish.__class__ is not str or not finish):
                finish = _reason(finish)
            logprobs = choice.get("logprobs")
            logprobs = () if logprobs is None else _openai_logprobs(logprobs)
            delta = choice.get("delta")
            reasoning = deltas = None
            if delta.__class__ is dict:
                text = delta.get("content")
                if len(delta) == 1 and text.__class__ is str:
                    # Only content (most vLLM chunks): one token or none, no pieces to sort.
                    if text or finish is not None:
                        tokens.append(
                            _token(
                                text,
                                None,
                                logprobs[0] if len(logprobs) == 1 else None,
                                False,
                                finish,
                                value,
                                "text",
                                (),
                                logprobs,
                                finish is not None,
                            )
                        )
                    continue
                reasoning = delta.get("reasoning_content")
                if reasoning is None:
                    reasoning = delta.get("reasoning")
                deltas = delta.get("tool_calls")
            elif isinstance(delta, dict):
                text = delta.get("content")
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                deltas = delta.get("tool_calls")
            else:
                text = choice.get("text")
            pieces: list[tuple[TokenKind, str, tuple[ToolCallDelta, ...]]] = []
            if isinstance(reasoning, str) and reasoning:
                pieces.append(("reasoning", reasoning, ()))
            if isinstance(text, str) and text:
                pieces.append(("text", text, ()))
            if deltas:
                calls = _tool_deltas(deltas)
                if calls:
                    pieces.append(("tool_call", "", calls))
            if not pieces:
                if finish is None:
                    continue
                pieces.append(("text", "", ()))
            last = len(pieces) - 1
            for position, (kind, piece, calls) in enumerate(pieces):
                own = logprobs if position == 0 else ()
                end = finish if position == last else None
                tokens.append(
                    _token(
                        piece,
                        None,
                        own[0] if len(own) == 1 else None,
                        False,
                        end,
                        value,
                        kind,
                        calls,
                        own,
                        end is not None,
                    )
                )
        return tokens

    def _responses_event(self, value: Any) -> list[Token] | None:
        kind = value.get("type") if isinstance(value, dict) else None
        if not isinstance(kind, str) or not kind.startswith("response."):
            return None
        if kind == "response.output_text.delta":
            delta = value.get("delta")
            if not isinstance(delta, str) or not delta:
                return _NO_TOKENS
            logprobs = _logprob_list(value.get("logprobs"))
            logprob = logprobs[0] if len(logprobs) == 1 else None
            return [Token(delta, None, logprob, raw=value, logprobs=logprobs)]
        if kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
            delta = value.get("delta")
            if not isinstance(delta, str) or not delta:
                return _NO_TOKENS
            return [Token(delta, raw=value, kind="reasoning")]
        if kind == "response.output_item.added":
            item = value.get("item")
            if not isinstance(item, dict) or item.get("type") != "function_call":
                return _NO_TOKENS
            arguments = item.get("arguments")
            call = ToolCallDelta(
                self._slot(value.get("output_index")),
                _str(item.get("call_id")) or _str(item.get("id")) or None,
                _str(item.get("name")) or None,
                arguments if isinstance(arguments, str) else "",
            )
            return [Token("", raw=value, kind="tool_call", tool_calls=(call,))]
        if kind == "response.function_call_arguments.delta":
            delta = value.get("delta")
            if not isinstance(delta, str) or not delta:
                return _NO_TOKENS
            call = ToolCallDelta(self._slot(value.get("output_index")), arguments=delta)
            return [Token("", raw=value, kind="tool_call", tool_calls=(call,))]
        if kind in ("response.completed", "response.incomplete"):
            response = value.get("response")
            if not isinstance(response, dict):
                response = {}
            usage = response.get("usage")
            self._set_usage(_usage_counts(usage, "input_tokens", "output_tokens", "total_tokens"))
            details = response.get("incomplete_details")
            reason = _reason(details.get("reason")) if isinstance(details, dict) else None
            finish = reason or _reason(response.get("status")) or kind[len("response.") :]
            return [Token("", finish_reason=finish, raw=value, final=True)]
        return _NO_TOKENS  # created, in_progress, *.done, content parts, ...

    def _anthropic_event(self, value: Any) -> list[Token] | None:
        kind = value.get("type") if isinstance(value, dict) else None
        if not isinstance(kind, str) or kind not in _ANTHROPIC_TYPES:
            return None
        if kind == "content_block_delta":
            delta = value.get("delta")
            if not isinstance(delta, dict):
                return _NO_TOKENS
            sort = delta.get("type")
            if sort == "text_delta":
                text = delta.get("text")
                if isinstance(text, str) and text:
                    return [Token(text, raw=value)]
            elif sort == "thinking_delta":
                thinking = delta.get("thinking")
                if isinstance(thinking, str) and thinking:
                    return [Token(thinking, raw=value, kind="reasoning")]
            elif sort == "input_json_delta":
                partial = delta.get("partial_json")
                if isinstance(partial, str) and partial:
                    call = ToolCallDelta(self._slot(value.get("index")), arguments=partial)
                    return [Token("", raw=value, kind="tool_call", tool_calls=(call,))]
            return _NO_TOKENS
        if kind == "content_block_start":
            block = value.get("content_block")
            if isinstance(block, dict) and block.get("type") == "tool_use":
                call = ToolCallDelta(
                    self._slot(value.get("index")),
                    _str(block.get("id")) or None,
                    _str(block.get("name")) or None,
                )
                return [Token("", raw=value, kind="tool_call", tool_calls=(call,))]
            return _NO_TOKENS
        if kind == "message_start":
            message = value.get("message")
            if isinstance(message, dict):
                self._set_usage(
                    _usage_counts(message.get("usage"), "input_tokens", "output_tokens")
                )
            return _NO_TOKENS
        if kind == "message_delta":
            self._set_usage(_usage_counts(value.get("usage"), "input_tokens", "output_tokens"))
            delta = value.get("delta")
            stop = _reason(delta.get("stop_reason")) if isinstance(delta, dict) else None
            if stop is not None:
                return [Token("", finish_reason=stop, raw=value, final=True)]
        return _NO_TOKENS  # content_block_stop, message_stop, ping

    def _bedrock_chunk(self, value: Any) -> list[Token] | None:
        if not isinstance(value, dict):
            return None
        body = value.get("body")
        if not isinstance(body, dict):
            body = value  # Bedrock's own chunks are the body, without the envelope
        if "generation" not in body:
            return None
        self._set_usage(_usage_counts(body, "prompt_token_count", "generation_token_count"))
        metrics = value.get("amazon-bedrock-invocationMetrics")
        if metrics is not None:
            self._set_usage(_usage_counts(metrics, "inputTokenCount", "outputTokenCount"))
        text = body.get("generation")
        finish = _reason(body.get("stop_reason"))
        text = text if isinstance(text, str) else ""
        if not text and finish is None:
            return _NO_TOKENS
        return [Token(text, finish_reason=finish, raw=value, final=finish is not None)]

    def _outputs_line(self, value: Any) -> list[Token] | None:
        outputs = value.get("outputs") if isinstance(value, dict) else None
        if isinstance(outputs, str):
            outputs = [outputs]
        if not isinstance(outputs, list):
            return None
        return [Token(text=item, raw=value) for item in outputs if isinstance(item, str)]

    _interpreters: ClassVar[dict[str, Callable[[TokenDecoder, Any], list[Token] | None]]] = {
        "token": _token_event,
        "openai": _openai_chunk,
        "responses": _responses_event,
        "anthropic": _anthropic_event,
        "bedrock": _bedrock_chunk,
        "outputs": _outputs_line,
    }


def _joined(parts: list[str]) -> str:
    # Joined on demand and kept joined: reading the text after every token stays linear in the
    # new text, and a stream nobody reads the text of never joins at all.
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""
