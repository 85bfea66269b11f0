"""Response streams: open, iterate, always close — on both streaming routes.

``ResponseStream`` (InvokeEndpointWithResponseStream: event-stream PayloadParts) and
``ChatCompletionStream`` (the OpenAI-compatible route: the container's plain SSE / JSON-lines
body) share one lifecycle and one set of framing helpers (``_PartStream``); each only says how
its body becomes parts (``_fill``) and which response headers it reports (``_on_open``).

``ResponseStream`` is both an async context manager and an async iterator of PayloadPart bytes.
Iteration is a plain ``__anext__`` over the sans-IO event-stream decoder, not an async
generator: a ``break``, an exception or a cancellation then leaves nothing for the garbage
collector to finalize, and the response is closed deterministically (on exit from ``async with``,
on exhaustion, on any error, and on cancellation of a direct iteration).

The framing helpers (``lines()``, ``sse()``, ``json_lines()``, ``tokens()``) are iterators of the
same kind layered on the parts: each feeds the incremental decoders of ``_framing`` (or
``_tokens``) and flushes them at the end of the stream.
"""

from __future__ import annotations

import json
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio

from ._errors import (
    ContainerError,
    FramingError,
    StreamError,
    StreamTruncated,
    TransportError,
    error_from_event,
)
from ._eventstream import EventStreamDecoder, EventStreamMessage, HeaderValue
from ._exchange import Response, deadline_error
from ._framing import JSONLinesDecoder, LineDecoder, SSEDecoder, SSEEvent
from ._hooks import CallTrace
from ._tokens import Token, TokenDecoder, TokenFormat, ToolCall, Usage

__all__ = ["ChatCompletionStream", "ResponseStream", "TokenStream"]

_T = TypeVar("_T")
_S = TypeVar("_S", bound="_PartStream")


class _Incremental(Protocol[_T]):
    def feed(self, data: bytes) -> list[_T]: ...

    def close(self) -> list[_T]: ...


class _PartStream:
    """What every response stream shares: the request sent on entry (retried only there), parts
    handed out one by one, the framing helpers, the call's trace, and the response closed on
    every way out. A subclass turns body chunks into parts (``_fill``) and reads its response
    headers (``_on_open``)."""

    def __init__(
        self,
        send: Callable[[], Awaitable[Response]],
        *,
        operation: str,
        total: float | None = None,
        trace: CallTrace | None = None,
    ) -> None:
        self._send = send
        self._trace = trace
        self._operation = operation
        # The whole stream's bound (the gap between parts is the response's own ``read``).
        self._total = total
        self._deadline: float | None = None
        self._response: Response | None = None
        # Closes the connection if the stream is dropped unclosed (``async for`` without
        # ``async with``, left by ``break``): CPython drops it at once, by reference count.
        self._abandon: weakref.finalize[[], _PartStream] | None = None
        self._pending: deque[bytes] = deque()
        self._opened = False
        self._complete = False  # the body ended cleanly, whole
        self._closed = False
        self._error: StreamError | None = None  # raised once the parts before it are handed out
        # Parts and payload bytes ever queued in _pending: what was handed out is these minus
        # what is still queued, so handing out a part costs no counting (parts_received).
        self._queued_parts = 0
        self._queued_bytes = 0
        self.content_type: str | None = None
        """The MIME type of what the model streams."""
        self.request_id: str | None = None
        """``x-amzn-RequestId`` of the call."""

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._opened else "not sent"
        return (
            f"<{type(self).__name__} {state} request_id={self.request_id} "
            f"parts={self.parts_received} bytes={self.bytes_received}>"
        )

    @property
    def parts_received(self) -> int:
        """Parts handed out so far."""
        return self._queued_parts - len(self._pending)

    @property
    def bytes_received(self) -> int:
        """Payload bytes handed out so far."""
        return self._queued_bytes - sum(map(len, self._pending))

    @property
    def closed(self) -> bool:
        """True once the response has been closed (its connection released or discarded)."""
        return self._closed

    async def __aenter__(self: _S) -> _S:
        """Send the request and read the status; error responses raise here."""
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the response, whatever happened inside the block."""
        await self._close(exc)

    async def aclose(self) -> None:
        """Close the response and return the connection. Safe to call more than once."""
        await self._close(None)

    async def _close(self, exc: BaseException | None) -> None:
        """Close; ``exc`` is what ended the stream, if anything (for the call's CallEnded)."""
        if self._trace is not None and self._opened:
            trace = self._trace
            trace.bytes_received = self.bytes_received
            trace.parts_received = self.parts_received
            if self._error is not None:
                trace.end(self._error)
            else:
                trace.end(exc, early=not self._complete)
        if self._closed:
            return
        self._closed = True
        abandon, self._abandon = self._abandon, None
        if abandon is not None:
            abandon.detach()
        response, self._response = self._response, None
        if response is not None:
            await response.aclose()

    async def _open(self) -> None:
        if self._opened:
            if self._closed:
                raise StreamError("this response stream is closed", request_id=self.request_id)
            return
        self._opened = True
        try:
            if self._total is None:
                response = await self._send()
            else:
                self._deadline = anyio.current_time() + self._total
                with anyio.move_on_after(self._total) as scope:
                    response = await self._send()
                if scope.cancelled_caught:
                    raise deadline_error(self._operation, "total", self._total)
        except BaseException as exc:
            self._closed = True
            self.request_id = getattr(exc, "request_id", None)  # an error response has one
            if self._trace is not None:
                self._trace.end(exc)
            raise
        # The opener returns a 2xx response only: error statuses were raised (and retried)
        # by the client's attempt loop, before any part existed.
        self._response = response
        self._abandon = weakref.finalize(self, response.abort)
        self.request_id = response.headers.get("x-amzn-RequestId")
        self._on_open(response.headers)

    def _on_open(self, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def __aiter__(self: _S) -> _S:
        """Iterate the parts."""
        return self

    async def __anext__(self) -> bytes:
        """The next part's bytes; sends the request first when not yet sent."""
        pending = self._pending
        if pending:  # a part decoded already (most of a burst): nothing else to do
            return pending.popleft()
        return await self._next()

    async def _next(self) -> bytes:
        """``__anext__`` when no part is queued: read, decode, end or fail the stream."""
        try:
            if not self._opened:
                await self._open()
            while not self._pending:
                if self._error is not None:
                    raise self._error
                if self._complete:
                    await self.aclose()
                    raise StopAsyncIteration
                if self._closed:
                    # Only a clean end of the body may look like the end of the stream: a
                    # stream closed early (by aclose, an error or a cancelled read) says so.
                    raise StreamError(
                        "the response stream was closed before it ended",
                        error_code="StreamClosed",
                    )
                queued = len(self._pending)
                try:
                    await self._fill()
                finally:  # parts queued before a failure are still counted when handed out
                    if len(self._pending) != queued:
                        self._count_queued(queued)
            part = self._pending.popleft()
        except StopAsyncIteration:
            raise
        except StreamError as exc:
            self._annotate(exc)
            self._error = self._error or exc
            await self.aclose()
            raise
        except BaseException as exc:
            await self._close(exc)  # error, break-by-exception or cancellation: release now
            raise
        # The first part always comes this way: the queue is empty until the first read.
        if self._trace is not None and self._queued_parts - len(self._pending) == 1:
            self._trace.first_part()
        return part

    def _count_queued(self, before: int) -> None:
        """Count the parts ``_fill`` queued after the first ``before`` ones."""
        pending = self._pending
        added = len(pending) - before
        self._queued_parts += added
        if before == 0 and added == len(pending):
            self._queued_bytes += sum(map(len, pending))
        else:
            self._queued_bytes += sum(len(pending[i]) for i in range(before, len(pending)))

    async def _fill(self) -> None:
        raise NotImplementedError

    async def _read(self) -> bytes:
        """The next body chunk (``b""`` at its clean end), under the stream's deadlines."""
        response = self._response
        if response is None:
            raise StreamError("this response stream is closed", request_id=self.request_id)
        try:
            return await response.read_chunk(self._deadline, self._total or 0.0)
        except TransportError as err:
            if err.closed_before_response:
                err.closed_before_response = False  # the head came: the server answered
            raise self._count(err)  # noqa: B904 - the engine's error, with its own cause

    def _count(self, err: TransportError) -> TransportError:
        err.request_id = self.request_id
        err.parts_received = self.parts_received
        err.bytes_received = self.bytes_received
        return err

    def _annotate(self, exc: StreamError) -> StreamError:
        exc.request_id = self.request_id
        exc.parts_received = self.parts_received
        exc.bytes_received = self.bytes_received
        return exc

    # -- framings -------------------------------------------------------------------------

    def lines(self) -> AsyncIterator[str]:
        """Text lines across parts (``\\n``, ``\\r\\n`` or ``\\r``; UTF-8 decoded incrementally)."""
        return _Framed(self, LineDecoder)

    def sse(self) -> AsyncIterator[SSEEvent]:
        """Server-sent events across parts (``data:`` with or without a space)."""
        return _Framed(self, SSEDecoder)

    def json_lines(self) -> AsyncIterator[Any]:
        """One JSON value per line (JSON Lines / NDJSON)."""
        return _Framed(self, JSONLinesDecoder)

    def tokens(self, format: TokenFormat = "auto", *, choice: int = 0) -> TokenStream:
        """Generated tokens of an LLM container's stream (see ``TokenDecoder`` for the formats).

        ``format``: tgi, openai, lmi, lmi-sse, responses, anthropic, bedrock, outputs, text, or
        auto (detected). ``choice`` follows another choice when the request asked for ``n > 1``.
        The iterator keeps ``text``, ``reasoning_text``, ``tool_calls``, ``finish_reason`` and
        ``usage``. A container-level error inside the 200 stream raises ``ContainerError``
        carrying the answer text delivered before it (``partial_text``).
        """
        return TokenStream(self, format, choice=choice)


class ResponseStream(_PartStream):
    """The answer of InvokeEndpointWithResponseStream.

    Use ``async with rt.invoke_endpoint_with_response_stream(...) as stream:`` then
    ``async for part in stream`` (bytes of each PayloadPart as it arrives), or one of the
    framings: ``stream.lines()``, ``stream.sse()``, ``stream.json_lines()``,
    ``stream.tokens(format=...)``. Iterating without ``async with`` works too: the request is
    sent on the first ``__anext__`` and the response closes itself at the end or on error.

    Once a part has been handed out, nothing is retried: an in-stream failure raises
    ``ModelStreamError`` / ``InternalStreamFailure`` / ``EventStreamProtocolError`` /
    ``TransportError`` after the parts before it were delivered.
    """

    def __init__(
        self,
        send: Callable[[], Awaitable[Response]],
        *,
        operation: str,
        total: float | None = None,
        trace: CallTrace | None = None,
    ) -> None:
        super().__init__(send, operation=operation, total=total, trace=trace)
        self._decoder = EventStreamDecoder()
        # The headers of the last PayloadPart: the decoder hands every message with the same
        # header block the same (read-only) mapping, so an identical one needs no lookups.
        self._part_headers: Mapping[str, HeaderValue] | None = None
        self.invoked_production_variant: str | None = None
        """The production variant that served the request."""
        self.custom_attributes: str | None = None
        """``X-Amzn-SageMaker-Custom-Attributes`` from the container."""

    def _on_open(self, headers: Mapping[str, str]) -> None:
        self.content_type = headers.get("X-Amzn-SageMaker-Content-Type")
        self.invoked_production_variant = headers.get("x-Amzn-Invoked-Production-Variant")
        self.custom_attributes = headers.get("X-Amzn-SageMaker-Custom-Attributes")

    async def _fill(self) -> None:
        chunk = await self._read()
        if not chunk:
            self._decoder.close()  # raises Truncated if the body ended mid-message
            self._complete = self._error is None
            return
        pending = self._pending
        for message in self._decoder.feed(chunk):
            if message.headers is self._part_headers:
                pending.append(message.payload)
            else:
                self._dispatch(message)
                if self._error is not None:
                    break  # the parts before the error go out; nothing after it

    def _dispatch(self, message: EventStreamMessage) -> None:
        headers = message.headers
        kind = headers.get(":message-type", "event")  # no :message-type means an event
        if kind == "event":
            if headers.get(":event-type") == "PayloadPart":
                self._pending.append(message.payload)
                self._part_headers = headers
                # Later parts with these very header bytes skip the message objects.
                self._decoder.route(headers, self._pending)
            # Other event types are new union members: skipped for forward compatibility.
            return
        # An exception or error message ends the stream; the parts before it go out first.
        self._error = error_from_event(message.headers, message.payload)


class ChatCompletionStream(_PartStream):
    """The streamed answer of the OpenAI-compatible route (``rt.chat_completions_stream``).

    The container's body as it arrives, in chunks (``async for chunk in stream``), or framed:
    ``stream.tokens()`` (the text of each ``chat.completion.chunk``), ``stream.sse()``,
    ``stream.json_lines()`` (LMI-style containers), ``stream.lines()`` — the same helpers, and
    the same framing code, as ``ResponseStream``. The stream must end properly: with
    ``data: [DONE]`` (SSE) or, for JSON lines, after a chunk carrying ``finish_reason``; a body
    that ends or breaks before that raises ``StreamTruncated`` (or the container's in-band error
    as ``ContainerError``), never a quiet success. Nothing is retried once a chunk was handed out.
    """

    def __init__(
        self,
        send: Callable[[], Awaitable[Response]],
        *,
        operation: str,
        total: float | None = None,
        trace: CallTrace | None = None,
    ) -> None:
        super().__init__(send, operation=operation, total=total, trace=trace)
        self._end: _ChatEnd | None = None
        self.headers: Mapping[str, str] = {}
        """The response headers (names match case-insensitively)."""
        self.status_code = 0
        """The HTTP status (2xx: error statuses raise on entry)."""

    def _on_open(self, headers: Mapping[str, str]) -> None:
        self.headers = headers
        self.content_type = headers.get("Content-Type")
        self.status_code = self._response.status if self._response is not None else 0
        self._end = _ChatEnd(self.content_type)

    async def _fill(self) -> None:
        chunk = await self._read()
        end = self._end
        assert end is not None  # made on open, before any read
        if not chunk:
            end.close()
            failure = end.failure()
            if failure is not None:
                raise failure
            self._complete = True
            return
        end.feed(chunk)
        self._pending.append(chunk)


class _ChatEnd:
    """Watches a chat stream's lines for its proper end (spec openai-compatible.md §6.2).

    SSE ends with ``data: [DONE]``; JSON lines (LMI) end after a chunk whose ``finish_reason``
    (``choices[].finish_reason`` or ``details.finish_reason``) is set. The lines come from the
    one ``LineDecoder`` of ``_framing``; only lines that can matter are parsed as JSON. Bytes it
    cannot read (not UTF-8, an endless line) only mean it cannot vouch for the end.
    """

    __slots__ = ("_broken", "_done", "_error", "_finished", "_lines", "_sse")

    def __init__(self, content_type: str | None) -> None:
        self._lines = LineDecoder()
        self._sse = bool(content_type and "event-stream" in content_type.lower())
        self._done = False
        self._finished = False
        self._broken = False
        self._error: Any = None

    def feed(self, data: bytes) -> None:
        if self._done or self._broken:
            return
        try:
            lines = self._lines.feed(data)
        except StreamError:
            self._broken = True
            return
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._done or self._broken:
            return
        try:
            lines = self._lines.close()
        except StreamError:
            self._broken = True
            return
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if self._done:
            return
        text = line.strip()
        if text.startswith("data:"):
            self._sse = True
            text = text[5:].strip()
        elif not text or text.startswith((":", "event:", "id:", "retry:")):
            return
        if text == "[DONE]":
            self._done = True
            return
        if '"finish_reason"' not in text and '"error"' not in text:
            return
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return
        if not isinstance(value, dict):
            return
        if "error" in value or value.get("object") == "error":
            self._error = self._error or value
        choices = value.get("choices")
        details = value.get("details")
        if (
            isinstance(choices, list)
            and any(isinstance(c, dict) and c.get("finish_reason") for c in choices)
        ) or (isinstance(details, dict) and details.get("finish_reason")):
            self._finished = True

    def failure(self) -> StreamError | None:
        """None when the stream ended properly, else the error to raise at its end."""
        if self._done or (self._finished and not self._sse and self._error is None):
            return None
        if self._error is not None:
            error = self._error.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            if not isinstance(message, str):
                message = self._error.get("message")
            return ContainerError(
                message if isinstance(message, str) else "the model container reported an error",
                payload=self._error,
            )
        want = "data: [DONE]" if self._sse else "a final chunk with finish_reason"
        return StreamTruncated(
            f"the chat stream ended before {want}: the answer is incomplete",
            error_code="StreamTruncated",
        )


class _Framed(Generic[_T]):
    """An async iterator of framed items over a stream's parts (no async generator).

    The decoder is made when the first part arrives: by then the stream is open and its
    content type known, even when iteration started without ``async with``.
    """

    def __init__(self, stream: _PartStream, make: Callable[[], _Incremental[_T]]) -> None:
        self._stream = stream
        self._make = make
        self._decoder: _Incremental[_T] | None = None
        self._pending: deque[_T] = deque()
        self._done = False
        # Called with each item handed out, while set (TokenStream: the first-token hook).
        self._watch: Callable[[_T], None] | None = None

    def __aiter__(self) -> _Framed[_T]:
        return self

    async def __anext__(self) -> _T:
        pending = self._pending
        while not pending:
            if self._done:
                raise StopAsyncIteration
            part = b""
            try:
                part = await self._stream.__anext__()
            except StopAsyncIteration:
                self._done = True
            try:
                decoder = self._decoder
                if decoder is None:
                    decoder = self._decoder = self._make()
                items = decoder.close() if self._done else decoder.feed(part)
            except BaseException as exc:
                if not isinstance(exc, Exception) or isinstance(exc, StreamError):
                    await self._stream._close(exc)  # a framing failure ends the stream too
                    if isinstance(exc, StreamError):
                        raise self._stream._annotate(exc)  # noqa: B904 - same exception object
                    raise
                err = self._stream._annotate(
                    FramingError(f"could not frame the stream: {type(exc).__name__}: {exc}")
                )
                await self._stream._close(err)
                raise err from exc
            if len(items) == 1:  # one item per part, the usual case: no queueing
                item = items[0]
                break
            pending.extend(items)
        else:
            item = pending.popleft()
        if self._watch is not None:
            self._watch(item)
        return item


class TokenStream(_Framed[Token]):
    """Tokens of a response stream (from ``stream.tokens()``).

    Beside the tokens it keeps what they add up to so far: ``text`` (the answer),
    ``reasoning_text``, ``tool_calls`` (assembled whole), ``finish_reason`` and ``usage``.
    The container's own error shapes inside the 200 stream raise ``ContainerError``.
    """

    def __init__(self, stream: _PartStream, format: TokenFormat, *, choice: int = 0) -> None:
        TokenDecoder(format, choice=choice)  # bad arguments are refused now, before any I/O
        self._requested = format
        self._tokens: TokenDecoder | None = None

        def make() -> TokenDecoder:
            self._tokens = TokenDecoder(format, content_type=stream.content_type, choice=choice)
            return self._tokens

        super().__init__(stream, make)
        if stream._trace is not None:
            self._watch = self._first_token

    def _first_token(self, token: Token) -> None:
        # The first generated output of any kind: answer or reasoning text, or a tool call.
        trace = self._stream._trace
        if trace is None or trace.token_seen:
            self._watch = None
        elif token.tool_calls or (token.text and not token.special):
            trace.first_token()
            self._watch = None

    @property
    def format(self) -> str:
        """The token format in use: the one requested, or what ``"auto"`` detected.

        ``"auto"`` until the first recognisable token arrived.
        """
        return self._tokens.format if self._tokens is not None else self._requested

    @property
    def text(self) -> str:
        """All answer text delivered so far (no reasoning, no special tokens)."""
        return self._tokens.text if self._tokens is not None else ""

    @property
    def reasoning_text(self) -> str:
        """All reasoning ("thinking") text delivered so far."""
        return self._tokens.reasoning_text if self._tokens is not None else ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls so far, each assembled whole: id, name, arguments (and parsed)."""
        return self._tokens.tool_calls if self._tokens is not None else ()

    @property
    def finish_reason(self) -> str | None:
        """Why the sequence ended, once a token said so (None before, or if none does)."""
        return self._tokens.finish_reason if self._tokens is not None else None

    @property
    def usage(self) -> Usage | None:
        """Prompt/completion/total token counts, when the container reported any."""
        return self._tokens.usage if self._tokens is not None else None
