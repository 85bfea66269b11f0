"""Bidirectional sessions: InvokeEndpointWithBidirectionalStream over our HTTP/2 engine.

One session is one HTTP/2 stream (bidirectional-stream spec §2): the request HEADERS go out
signed with ``STREAMING-AWS4-HMAC-SHA256-EVENTS`` (§4), then every ``send()`` is one signed
envelope around one PayloadPart, chained to the signature before it (§5), while the answer's
PayloadParts are read at the same time. Nothing waits for the response head before the first
send; the status is read by a pump task of the session the moment its HEADERS arrive, and an
error status is raised by the next ``send()`` or iteration, never held until the input closes
(§7.1, unlike the official SDK, §11.3).

Leaving the session block ends it: on a normal exit (also ``break``) the input is ended if still
open and the answer drained for ``drain_timeout``; then, or at once after an exception or a
cancellation, RST_STREAM(CANCEL) unless the stream is already closed. The connection stays in
the pool for the next session.

A stream the server refused (RST_STREAM(REFUSED_STREAM), or a GOAWAY whose last stream id is
below ours) was not processed at all (RFC 9113 §8.7), so it is safe to send again, even after
events were written, provided we can replay them: until the response HEADERS arrive (the server
accepted the stream) the session keeps what it sent in a bounded replay buffer. A replay opens
a new stream with a new initial signature and re-signs every event on the new chain (the old
signatures are bound to the old seed, §5); nothing already on the wire is resent as it was.
Past the buffer's bound a refusal is a retryable ``TransportError`` that says so.
"""

from __future__ import annotations

import codecs
import functools
import json
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ._errors import (
    CredentialsError,
    EventStreamProtocolError,
    FramingError,
    ParamValidationError,
    RequestTimeout,
    SageMakerRuntimeError,
    StreamError,
    TransportError,
    error_from_event,
    error_from_response,
)
from ._eventstream import (
    EventStreamDecoder,
    EventStreamMessage,
    HeaderType,
    frame_message,
    header_block,
)
from ._exchange import MAX_ERROR_BODY, user_agent
from ._models import BidiPayloadPart
from ._retry import Retry, RetryState
from ._sigv4 import STREAMING_EVENTS_PAYLOAD, EventSigner, build_header_signature

if TYPE_CHECKING:
    from types import TracebackType

    from ._credentials import CredentialResolver
    from ._endpoints import ResolvedEndpoint
    from ._engines.h2_engine import DuplexStream, H2Engine
    from ._hooks import CallTrace
    from ._models import Credentials, Timeout

__all__ = [
    "DEFAULT_MAX_PART_BYTES",
    "REPLAY_LIMIT_BYTES",
    "BidiCall",
    "BidiMessages",
    "BidiSession",
]

logger = logging.getLogger("sagemaker_rt_async")

OPERATION = "InvokeEndpointWithBidirectionalStream"
CONTENT_TYPE = "application/vnd.amazon.eventstream"
DEFAULT_MAX_PART_BYTES = 1024 * 1024
"""Largest payload one ``send()`` takes (spec §9: the service's limit is UNVERIFIED; 1 MiB safe)."""
# The encoder's own ceiling (16 MiB, [ES] MAX_PAYLOAD_LENGTH): no configured cap goes above it.
_MAX_PART_CEILING = 16 * 1024 * 1024
# Error bodies are read for at most this long before the error is raised with what arrived
# (spec §7.1: a server may keep its side open after an error status).
_ERROR_BODY_TIMEOUT_S = 5.0
# Credentials about to expire would die mid-session: refuse to start on them (spec §5.6).
_EXPIRY_MARGIN_S = 300.0
_CLEANUP_TIMEOUT_S = 5.0
# What a session keeps to replay on a refused stream, until the response head arrives: a few
# parts at the default part cap. A session that sent more before any answer cannot be replayed.
REPLAY_LIMIT_BYTES = 4 * 1024 * 1024
_DATA_TYPES = ("UTF8", "BINARY")
_COMPLETION_STATES = ("PARTIAL", "COMPLETE")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class BidiCall:
    """Everything a session needs from its client, fixed when the call is made."""

    endpoint_name: str
    path_suffix: str
    member_headers: tuple[tuple[str, str], ...]
    endpoint: Callable[[], Awaitable[ResolvedEndpoint]]
    engine: Callable[[], Awaitable[H2Engine]]
    credentials: CredentialResolver
    timeout: Timeout
    idle_timeout: float | None
    drain_timeout: float | None
    max_part_bytes: int
    retry: Retry
    trace: CallTrace | None = None
    clock: Callable[[], datetime] = _now


@functools.cache
def _part_block(data_type: str, completion_state: str) -> bytes:
    """The header block of a PayloadPart (spec §5.1, the SDK's order); four exist, made once."""
    return header_block(
        [
            (":message-type", HeaderType.STRING, "event"),
            (":event-type", HeaderType.STRING, "PayloadPart"),
            ("DataType", HeaderType.STRING, data_type),
            ("CompletionState", HeaderType.STRING, completion_state),
            (":content-type", HeaderType.STRING, "application/octet-stream"),
        ]
    )


def _whole_json(body: bytes | bytearray) -> bool:
    """The error body already holds a complete JSON document (no need to wait for its end)."""
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def _split_authority(endpoint: ResolvedEndpoint) -> tuple[str, int]:
    host = endpoint.host
    default = 443 if endpoint.scheme == "https" else 80
    if host.startswith("["):
        end = host.index("]")
        rest = host[end + 1 :]
        return host[: end + 1], int(rest[1:]) if rest.startswith(":") else default
    name, _, port = host.partition(":")
    return name, int(port) if port else default


class BidiSession:
    """A bidirectional session with a model: send events and read its answers at once.

    Use it as ``async with rt.invoke_endpoint_with_bidirectional_stream(...) as session:``.
    ``send()`` and the iteration may run in two tasks at once; sends are signed and written in
    call order (the signature chain is sequential). ``async for part in session`` yields
    ``BidiPayloadPart`` values as they arrive; ``messages()`` joins fragmented ones.

    Counters: ``parts_sent``, ``bytes_sent``, ``parts_received``, ``bytes_received``. After
    the head: ``status_code``, ``request_id``, ``invoked_production_variant``.
    """

    def __init__(self, call: BidiCall) -> None:
        self._call = call
        self._state = "new"  # new -> open -> closed
        self._stream: DuplexStream | None = None
        self._engine: H2Engine | None = None
        self._signer: EventSigner | None = None
        self._decoder = EventStreamDecoder()
        self._parts: deque[BidiPayloadPart] = deque()
        self._error: SageMakerRuntimeError | None = None
        self._error_raised = False
        self._settled = anyio.Event()  # the head arrived (2xx), or the session failed
        self._send_lock = anyio.Lock()
        self._input_ended = False
        self._finished = False  # the answer ended cleanly
        self._task_group: anyio.abc.TaskGroup | None = None
        self._deadline: float | None = None
        # (event body, is the end frame) sent since the stream opened, until the head arrives;
        # None once it did (nothing to replay any more) or once it outgrew its bound.
        self._replay: list[tuple[bytes, bool]] | None = []
        self._replay_bytes = 0
        self._replay_overflow = False
        self._retry_state: RetryState | None = None
        self._target: _Target | None = None
        self.status_code: int | None = None
        """The response status, once its HEADERS arrived."""
        self.request_id: str | None = None
        """``x-amzn-RequestId`` of the response, when the service sent one."""
        self.invoked_production_variant: str | None = None
        """The production variant that serves this session (from the response head)."""
        self.parts_sent = 0
        self.bytes_sent = 0
        self.parts_received = 0
        self.bytes_received = 0

    def __repr__(self) -> str:
        return (
            f"<BidiSession {self._call.endpoint_name!r} {self._state} "
            f"sent={self.parts_sent} received={self.parts_received}>"
        )

    @property
    def input_ended(self) -> bool:
        """``end_input()`` was called (nothing more can be sent)."""
        return self._input_ended

    # -- opening ---------------------------------------------------------------------------------

    async def __aenter__(self) -> BidiSession:
        if self._state != "new":
            raise ParamValidationError("session", "a session can be entered only once")
        self._state = "open"
        call = self._call
        trace = call.trace
        if trace is not None:
            trace.start()
        if call.timeout.total is not None:
            self._deadline = anyio.current_time() + call.timeout.total
        group = anyio.create_task_group()
        await group.__aenter__()
        try:
            await self._open()
        except BaseException as exc:
            self._state = "closed"
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
            if trace is not None:
                trace.end(exc)
            raise
        self._task_group = group
        group.start_soon(self._pump)
        return self

    async def _open(self) -> None:
        call = self._call
        endpoint = await call.endpoint()
        from ._endpoints import encode_label, operation_url

        url, path = operation_url(endpoint, encode_label(call.endpoint_name), call.path_suffix)
        self._engine = await call.engine()
        # Pinned for the whole session: the events are checked against these (spec §5.6).
        creds = await call.credentials.get()
        if creds.expiry is not None:
            left = creds.expiry.timestamp() - time.time()
            if left < _EXPIRY_MARGIN_S:
                raise CredentialsError(
                    f"the credentials expire in {max(left, 0):.0f} s: too soon to start a "
                    "bidirectional session signed with them (refresh them first)"
                )
        host, port = _split_authority(endpoint)
        self._where = f"{OPERATION} {path}"
        self._target = _Target(
            endpoint=endpoint,
            url=url,
            path=path,
            host=host,
            port=port,
            members=(("content-type", CONTENT_TYPE), *call.member_headers),
            creds=creds,
        )
        self._retry_state = RetryState(call.retry, None, started=anyio.current_time())
        await self._open_stream()

    async def _open_stream(self) -> None:
        """Sign the initial request (a new seed) and open a stream; retry what never left."""
        call = self._call
        target = self._target
        engine = self._engine
        state = self._retry_state
        assert target is not None
        assert engine is not None
        assert state is not None
        endpoint, creds = target.endpoint, target.creds
        while True:
            result = build_header_signature(
                method="POST",
                path=target.path,
                headers=[("host", endpoint.host), *target.members],
                payload_hash=STREAMING_EVENTS_PAYLOAD,
                access_key=creds.access_key_id,
                secret_key=creds.secret_access_key,
                session_token=creds.session_token,
                region=endpoint.signing_region,
                service="sagemaker",
                now=call.clock(),
                add_content_sha256=True,
            )
            headers = [*target.members, *result.added, ("user-agent", user_agent())]
            if call.trace is not None:
                call.trace.sent(target.url, endpoint.signing_region, 0)
            try:
                bound = self._bounded(call.timeout.connect, "connect")
                with bound:
                    stream = await engine.open_stream(
                        scheme=endpoint.scheme,
                        host=target.host,
                        port=target.port,
                        authority=endpoint.host,
                        path=target.path,
                        headers=headers,
                        connect_timeout=call.timeout.connect,
                    )
                if bound.expired:
                    raise bound.error(self._where)
            except TransportError as exc:
                await self._backoff(exc)
                continue
            self._stream = stream
            self._signer = EventSigner(
                seed=result.signature,
                secret_key=creds.secret_access_key,
                region=endpoint.signing_region,
                service="sagemaker",
            )
            return

    async def _backoff(self, exc: TransportError) -> None:
        """Sleep before the next attempt, or raise ``exc`` when the policy allows no more."""
        state = self._retry_state
        assert state is not None
        delay = state.next_delay(
            exc, now=anyio.current_time(), now_epoch=time.time(), rng=random.random
        )
        if delay is None:
            raise exc
        if self._call.trace is not None:
            self._call.trace.retry(delay, exc)
        logger.debug("%s: retrying after %s in %.3f s", self._where, exc, delay)
        await anyio.sleep(delay)

    async def _recover(self, failed: DuplexStream, exc: TransportError) -> bool:
        """With the send lock held: after ``failed`` broke with ``exc``, move the session to a
        new stream and replay what was sent, if the server provably did not process it (a
        refused stream, no response head) and the retry policy allows. True when the session
        goes on (also when another task already moved it); False to fail with ``exc``.

        Raises a retryable ``TransportError`` when the stream was refused but what was sent
        outgrew the replay buffer, and the error of the last attempt when the policy gives up.
        """
        if self._stream is not failed:
            return True
        if exc.request_sent or failed.status is not None or self._error is not None:
            return False
        if self._replay is None:
            if not self._replay_overflow:
                return False
            raise TransportError(
                f"{self._where}: the server refused the stream without processing it "
                f"({exc}), but the {self._replay_bytes:,} bytes sent before its answer began "
                f"are more than the replay buffer keeps ({REPLAY_LIMIT_BYTES:,}): the session "
                "cannot be replayed; start it again",
                request_sent=False,
            ) from exc
        error: TransportError = exc
        while True:
            await self._backoff(error)  # raises error once the policy gives up
            stream = self._stream
            assert stream is not None
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT_S):
                await stream.reset()
                if self._engine is not None:
                    await self._engine.settle(stream)
            await self._open_stream()
            stream = self._stream
            logger.debug(
                "%s: the stream was refused; replaying %d events on stream %d",
                self._where,
                len(self._replay),
                stream.stream_id,
            )
            try:
                for inner, end in self._replay:
                    await self._send_frame(stream, inner, end=end)
            except TransportError as again:
                if again.request_sent or stream.status is not None:
                    raise
                error = again  # refused again: the next attempt, as the policy allows
                continue
            return True

    # -- deadlines -------------------------------------------------------------------------------

    def _bounded(self, own: float | None, which: str) -> _Bound:
        """A scope ending ``own`` seconds from now, or at the session's total deadline."""
        limit = math.inf if own is None else anyio.current_time() + own
        seconds = own
        if self._deadline is not None and self._deadline < limit:
            limit, which, seconds = self._deadline, "total", self._call.timeout.total
        return _Bound(limit, which, seconds or 0.0)

    # -- the pump: reads the head and keeps the connection read while the session lives ----------

    async def _pump(self) -> None:
        call = self._call
        stream: DuplexStream | None = None
        try:
            bound = self._bounded(call.timeout.header_wait, "first_byte")
            with bound:
                while True:
                    stream = self._stream
                    assert stream is not None
                    try:
                        status = await stream.wait_head()
                        break
                    except TransportError as exc:
                        async with self._send_lock:
                            if self._stream is stream and not await self._recover(stream, exc):
                                raise
            if bound.expired or stream is None:
                self._fail(bound.error(self._where))
                return
            # The head: the server accepted the stream; what was sent needs no replay any more.
            self._replay = None
            self._replay_overflow = False
            headers = stream.headers
            assert headers is not None
            self.status_code = status
            self.request_id = headers.get("x-amzn-requestid")
            self.invoked_production_variant = headers.get("x-amzn-invoked-production-variant")
            if call.trace is not None:
                call.trace.headers(status, self.request_id, self.invoked_production_variant)
            if status >= 300:
                stream.stop()
                body = bytearray()
                with anyio.move_on_after(_ERROR_BODY_TIMEOUT_S):
                    while len(body) < MAX_ERROR_BODY:
                        chunk = await stream.receive()
                        if not chunk:
                            break
                        body += chunk
                        if _whole_json(body):
                            break  # a server keeping its side open gains nothing by it
                error = error_from_response(status, headers, bytes(body[:MAX_ERROR_BODY]))
                self._fail(error)
                return
            self._settled.set()
            # Someone must read the connection while the session lives even if the caller only
            # sends: PINGs answered, WINDOW_UPDATEs seen, an in-stream error noticed.
            await stream.wait_remote_done()
        except TransportError as exc:
            self._fail(exc)
        except SageMakerRuntimeError as exc:  # pragma: no cover - every path above is typed
            self._fail(exc)

    def _fail(self, error: SageMakerRuntimeError) -> None:
        if self._error is None:
            if isinstance(error, StreamError | TransportError):
                error.request_id = error.request_id or self.request_id
                error.parts_received = self.parts_received
                error.bytes_received = self.bytes_received
            elif getattr(error, "request_id", None) is None and self.request_id:
                error.request_id = self.request_id  # type: ignore[attr-defined]
            self._error = error
        if self._stream is not None:
            self._stream.stop()
        self._settled.set()

    def _raise_error(self) -> None:
        if self._error is not None:
            self._error_raised = True
            raise self._error

    # -- sending ---------------------------------------------------------------------------------

    def _check_open(self) -> DuplexStream:
        if self._state != "open" or self._stream is None:
            raise ParamValidationError(
                "session", "is not open: use it inside `async with` (it may have ended)"
            )
        return self._stream

    async def send(
        self,
        data: bytes | bytearray | memoryview | str,
        *,
        data_type: str | None = None,
        completion_state: str = "COMPLETE",
    ) -> None:
        """Send one PayloadPart: one WebSocket frame to the container (spec §5.1).

        ``bytes`` go as ``DataType=BINARY``, ``str`` as ``UTF8`` (encoded as UTF-8) unless
        ``data_type`` says otherwise (a ``str`` cannot be BINARY). ``completion_state="PARTIAL"``
        makes it a fragment of a message its next COMPLETE part ends. Waits while the server's
        flow-control window is full (backpressure, bounded by ``timeout.write``).

        Raises ``ParamValidationError`` before any I/O (empty or oversized payload, bad
        ``data_type``/``completion_state``, after ``end_input()``), and the session's error once
        it has one (an error status, an in-stream error, a broken connection): every later
        ``send()`` raises the same one.
        """
        payload, kind = self._validate_part(data, data_type, completion_state)
        self._check_open()
        if self._input_ended:
            raise ParamValidationError("send", "the input was ended with end_input()")
        self._raise_error()
        inner = frame_message(_part_block(kind, completion_state), payload)
        async with self._send_lock:
            if self._input_ended:
                raise ParamValidationError("send", "the input was ended with end_input()")
            self._raise_error()
            await self._write(self._check_open(), inner, end=False)
        self.parts_sent += 1
        self.bytes_sent += len(payload)

    def _validate_part(
        self, data: object, data_type: str | None, completion_state: str
    ) -> tuple[bytes, str]:
        if isinstance(data, str):
            if data_type not in (None, "UTF8"):
                raise ParamValidationError(
                    "data_type", "a str is sent as UTF8; pass bytes to send BINARY"
                )
            try:
                payload = data.encode("utf-8")
            except UnicodeEncodeError:
                raise ParamValidationError("data", "is not encodable as UTF-8") from None
            kind = "UTF8"
        elif isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
            kind = "BINARY" if data_type is None else data_type
            if kind not in _DATA_TYPES:
                raise ParamValidationError("data_type", "must be 'UTF8', 'BINARY' or None")
        else:
            raise ParamValidationError("data", f"must be bytes or str, not {type(data).__name__}")
        if completion_state not in _COMPLETION_STATES:
            raise ParamValidationError("completion_state", "must be 'PARTIAL' or 'COMPLETE'")
        if not payload:
            # What the service forwards for an empty part is UNVERIFIED (spec §5.1): refused.
            raise ParamValidationError("data", "must not be empty")
        if len(payload) > self._call.max_part_bytes:
            raise ParamValidationError(
                "data",
                f"is {len(payload):,} bytes; at most {self._call.max_part_bytes:,} per part "
                "(max_part_bytes)",
            )
        return payload, kind

    async def _write(self, stream: DuplexStream, inner: bytes, *, end: bool) -> None:
        """Send one event (or the end frame), with the send lock held; on a refused stream,
        replay on a new one (``_recover``); any other failure becomes the session's error."""
        replay = self._replay
        if replay is not None:
            replay.append((inner, end))
            self._replay_bytes += len(inner)
            if self._replay_bytes > REPLAY_LIMIT_BYTES:
                self._replay, self._replay_overflow = None, True
        try:
            await self._send_frame(stream, inner, end=end)
        except TransportError as exc:
            try:
                if await self._recover(stream, exc):
                    return
            except TransportError as final:
                exc = final
            if (stream.status or 0) >= 300:
                # The status stopped the send: its typed error is being read (bounded).
                with anyio.move_on_after(_ERROR_BODY_TIMEOUT_S + 1):
                    await self._settled.wait()
            self._fail(exc)
            self._raise_error()

    async def _send_frame(self, stream: DuplexStream, inner: bytes, *, end: bool) -> None:
        """Sign ``inner`` on the current chain and send it; ``TransportError`` if it fails."""
        signer = self._signer
        assert signer is not None
        frame = (
            signer.end_frame(self._call.clock())
            if end
            else signer.envelope(inner, self._call.clock())
        )
        # The deadline covers the wait for flow-control window; a frame that fits the window
        # now does not wait (its socket write is bounded by the engine): no scope to arm.
        bound = (
            _NO_BOUND
            if stream.fits(len(frame))
            else self._bounded(self._call.timeout.write, "write")
        )
        with bound:
            await stream.send(frame, end_stream=end)
        if bound.expired:
            # A frame may be half written: the chain is broken; the session cannot go on.
            raise bound.error(self._where)

    async def end_input(self) -> None:
        """End the input: the signed empty frame, then END_STREAM (spec §5.5). Idempotent.

        The answer can still be read to its end afterwards. Raises the session's error if it
        has one.
        """
        self._check_open()
        async with self._send_lock:
            if self._input_ended:
                return
            self._raise_error()
            self._input_ended = True
            await self._write(self._check_open(), b"", end=True)

    # -- receiving -------------------------------------------------------------------------------

    def __aiter__(self) -> BidiSession:
        return self

    async def __anext__(self) -> BidiPayloadPart:
        """The next PayloadPart as it arrives; an in-stream error raises after the parts
        before it."""
        parts = self._parts
        while True:
            if parts:
                part = parts.popleft()
                self.parts_received += 1
                self.bytes_received += len(part.data)
                trace = self._call.trace
                if trace is not None:
                    trace.parts_received += 1
                    trace.bytes_received += len(part.data)
                    if self.parts_received == 1:
                        trace.first_part()
                return part
            self._raise_error()
            if self._finished:
                raise StopAsyncIteration
            stream = self._check_open()
            if not self._settled.is_set():
                await self._settled.wait()
                continue
            bound = self._bounded(self._call.idle_timeout, "idle")
            chunk = b""
            with bound:
                try:
                    chunk = await stream.receive()
                except TransportError as exc:
                    self._fail(exc)
                    continue
            if bound.expired:
                self._fail(bound.error(self._where))
                continue
            try:
                if not chunk:
                    self._decoder.close()  # a message cut off at the end raises Truncated
                    self._finished = True
                    continue
                messages = self._decoder.feed(chunk)
            except EventStreamProtocolError as exc:
                self._fail(exc)
                continue
            for message in messages:
                self._take(message)

    def _take(self, message: EventStreamMessage) -> None:
        headers = message.headers
        kind = headers.get(":message-type")
        if kind == "event":
            if headers.get(":event-type") != "PayloadPart":
                logger.debug("%s: skipped event %r", self._where, headers.get(":event-type"))
                return
            data_type = headers.get("DataType")
            state = headers.get("CompletionState")
            self._parts.append(
                BidiPayloadPart(
                    message.payload,
                    data_type if isinstance(data_type, str) else "BINARY",
                    state if isinstance(state, str) else "COMPLETE",
                )
            )
        elif kind in ("exception", "error"):
            self._fail(error_from_event(headers, message.payload))
        else:
            self._fail(
                EventStreamProtocolError(
                    f"unexpected :message-type {kind!r}", error_code="InvalidHeader"
                )
            )

    def messages(self) -> BidiMessages:
        """Whole messages: each PARTIAL…COMPLETE run joined; UTF8 runs as ``str`` (decoded
        incrementally, a character may span parts), BINARY runs as ``bytes``."""
        return BidiMessages(self)

    # -- closing ---------------------------------------------------------------------------------

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != "open":
            return
        stream = self._stream
        group = self._task_group
        try:
            if exc is None and stream is not None and self._error is None:
                await self._finish_normally()
        finally:
            self._state = "closed"
            stream = self._stream  # a replay may have moved the session to a new stream
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT_S):
                if stream is not None:
                    await stream.reset()
                    if self._engine is not None:
                        await self._engine.settle(stream)
            if group is not None:
                # The pump is cancelled; its group must be left in this task's own scope.
                group.cancel_scope.cancel()
                await group.__aexit__(None, None, None)
            trace = self._call.trace
            if trace is not None:
                trace.end(exc if exc is not None else self._error)
        if exc is None and self._error is not None and not self._error_raised:
            # Never swallowed: an error nobody saw is raised when the block ends.
            self._error_raised = True
            raise self._error

    async def _finish_normally(self) -> None:
        drain = self._call.drain_timeout
        with anyio.move_on_after(math.inf if drain is None else drain):
            if not self._input_ended:
                try:
                    await self.end_input()
                except SageMakerRuntimeError:
                    return
            stream = self._stream
            assert stream is not None
            # Read what is left (and drop it) so the server can end its side cleanly.
            while not stream.remote_done:
                try:
                    if not await stream.receive():
                        break
                except TransportError:
                    break


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a session's streams go and what signs them: fixed once, reused by a replay."""

    endpoint: ResolvedEndpoint
    url: str
    path: str
    host: str
    port: int
    members: tuple[tuple[str, str], ...]
    creds: Credentials


class _Bound:
    """A deadline in force: its scope, and which deadline it is (for the error)."""

    __slots__ = ("deadline", "scope", "seconds", "which")

    def __init__(self, deadline: float, which: str, seconds: float) -> None:
        self.deadline = deadline
        self.which = which
        self.seconds = seconds
        # No deadline, no scope: the hot path (a send, a part) then arms nothing.
        self.scope = anyio.CancelScope(deadline=deadline) if deadline != math.inf else None

    def __enter__(self) -> _Bound:
        if self.scope is not None:
            self.scope.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        if self.scope is not None:
            return bool(self.scope.__exit__(*exc_info))
        return False

    @property
    def expired(self) -> bool:
        """The deadline passed inside the block (its cancellation was absorbed)."""
        return self.scope is not None and self.scope.cancelled_caught

    def error(self, where: str) -> RequestTimeout:
        what = {
            "connect": "connecting",
            "first_byte": "waiting for the response head",
            "idle": "waiting for the next part",
            "write": "waiting for the server to take more input (flow control)",
            "total": "the session",
        }.get(self.which, self.which)
        return RequestTimeout(
            f"{where}: {what} took longer than {self.seconds:g} s",
            timeout=self.which,
            request_sent=self.which != "connect",
        )


_NO_BOUND = _Bound(math.inf, "write", 0.0)


class BidiMessages:
    """Iterates a session's whole messages (see ``BidiSession.messages``)."""

    def __init__(self, session: BidiSession) -> None:
        self._session = session
        self._binary: list[bytes] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        self._text: list[str] = []

    def __aiter__(self) -> BidiMessages:
        return self

    async def __anext__(self) -> str | bytes:
        async for part in self._session:
            if part.data_type == "UTF8":
                if self._decoder is None:
                    self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
                final = part.completion_state != "PARTIAL"
                try:
                    self._text.append(self._decoder.decode(part.data, final))
                except UnicodeDecodeError:
                    raise FramingError(
                        "a UTF8 message is not valid UTF-8",
                        request_id=self._session.request_id,
                        parts_received=self._session.parts_received,
                        bytes_received=self._session.bytes_received,
                    ) from None
                if final:
                    text = "".join(self._text)
                    self._text.clear()
                    self._decoder = None
                    return text
            else:
                self._binary.append(part.data)
                if part.completion_state != "PARTIAL":
                    data = b"".join(self._binary)
                    self._binary.clear()
                    return data
        if self._text or self._binary or self._decoder is not None:
            raise FramingError(
                "the answer ended inside a fragmented message (PARTIAL without COMPLETE)",
                request_id=self._session.request_id,
            )
        raise StopAsyncIteration


def member_list(values: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The member headers as sent: lower-case names (HTTP/2), in the given order."""
    return tuple((name.lower(), value) for name, value in values)
