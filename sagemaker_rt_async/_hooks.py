"""Event hooks: what a call reports while it runs, with its timings, for any observer.

A client made with ``event_hooks=[fn, ...]`` calls each ``fn(event)`` at these points of every
operation (InvokeEndpoint, InvokeEndpointWithResponseStream, InvokeEndpointAsync)::

    CallStarted ─▶ RequestSent ─▶ ResponseReceived ─┬─▶ CallEnded            (invoke, async)
                        ▲                           ├─▶ FirstPart ─▶ [FirstToken] ─▶ CallEnded
                        └──────── RetryScheduled ◀──┘                        (streams)

``CallEnded`` comes exactly once per started call, whatever happened: success, a typed error,
a cancellation, or a stream closed early by its consumer (``outcome`` tells which). Every event
carries the call's ``CallInfo`` (operation, endpoint, the invocation id shared by its attempts,
and a ``state`` dict an observer may use to keep per-call data, e.g. its span) and ``elapsed``,
the seconds since the call started.

Hooks are plain synchronous callables run on the event loop, in the calling task: keep them
fast, and hand slow work off (``queue.put_nowait``). A hook that raises is logged and ignored:
observing a call must never break it. No event carries credentials, signatures or bodies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from ._errors import ParamValidationError, SageMakerRuntimeError

__all__ = [
    "CallEnded",
    "CallInfo",
    "CallStarted",
    "Event",
    "EventHook",
    "FirstPart",
    "FirstToken",
    "Outcome",
    "RequestSent",
    "ResponseReceived",
    "RetryScheduled",
]

logger = logging.getLogger("sagemaker_rt_async")

Outcome = Literal["ok", "error", "cancelled", "closed"]


class _Record:
    """An immutable value with named fields, compared by value.

    Events are built only here: plain slotted classes cost a few microseconds at import,
    where a dataclass costs half a millisecond each (its methods are generated and compiled).
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    """The fields in constructor order."""
    __slots__ = ()

    def __init__(self, *values: Any) -> None:
        names = self._fields
        if len(values) != len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} values")
        for name, value in zip(names, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


class CallInfo:
    """Who and what a call is: the same object in every event of that call."""

    __slots__ = (
        "endpoint_name",
        "inference_component_name",
        "invocation_id",
        "operation",
        "state",
        "streaming",
        "target_model",
        "target_variant",
    )

    operation: str
    """``InvokeEndpoint``, ``InvokeEndpointWithResponseStream`` or ``InvokeEndpointAsync``."""
    endpoint_name: str
    invocation_id: str
    """The ``amz-sdk-invocation-id`` sent with every attempt of this call."""
    inference_component_name: str | None
    target_variant: str | None
    target_model: str | None
    streaming: bool
    state: dict[str, Any]
    """Scratch space for observers (e.g. the span of this call); starts empty, dies with it."""

    def __init__(
        self,
        *,
        operation: str,
        endpoint_name: str,
        invocation_id: str,
        inference_component_name: str | None = None,
        target_variant: str | None = None,
        target_model: str | None = None,
        streaming: bool = False,
    ) -> None:
        self.operation = operation
        self.endpoint_name = endpoint_name
        self.invocation_id = invocation_id
        self.inference_component_name = inference_component_name
        self.target_variant = target_variant
        self.target_model = target_model
        self.streaming = streaming
        self.state = {}

    def __repr__(self) -> str:
        return (
            f"CallInfo(operation={self.operation!r}, endpoint_name={self.endpoint_name!r}, "
            f"invocation_id={self.invocation_id!r})"
        )


class CallStarted(_Record):
    """The operation was called (before credentials, signing and the first attempt)."""

    _fields = ("call", "elapsed")
    __slots__ = _fields

    call: CallInfo
    elapsed: float


class RequestSent(_Record):
    """An attempt's signed request was handed to the HTTP engine."""

    _fields = ("call", "elapsed", "attempt", "url", "region", "body_size")
    __slots__ = _fields

    call: CallInfo
    elapsed: float
    attempt: int
    url: str
    """Scheme, host, port and path; the request carries no query string."""
    region: str
    body_size: int


class ResponseReceived(_Record):
    """An attempt's status line and headers arrived (before its body)."""

    _fields = (
        "call",
        "elapsed",
        "attempt",
        "status_code",
        "request_id",
        "invoked_production_variant",
        "time_to_first_byte",
    )
    __slots__ = _fields

    call: CallInfo
    elapsed: float
    attempt: int
    status_code: int
    request_id: str | None
    invoked_production_variant: str | None
    time_to_first_byte: float
    """Seconds from this attempt's RequestSent to its response headers."""


class RetryScheduled(_Record):
    """An attempt failed with a retryable error; the next one starts after ``delay`` seconds."""

    _fields = ("call", "elapsed", "attempt", "delay", "error")
    __slots__ = _fields

    call: CallInfo
    elapsed: float
    attempt: int
    """The attempt that failed (1 for the first)."""
    delay: float
    error: SageMakerRuntimeError


class FirstPart(_Record):
    """A response stream handed out its first PayloadPart."""

    _fields = ("call", "elapsed", "request_id", "invoked_production_variant", "time_to_first_part")
    __slots__ = _fields

    call: CallInfo
    elapsed: float
    request_id: str | None
    invoked_production_variant: str | None
    time_to_first_part: float
    """Seconds from CallStarted (retries included) to the first part: the streaming TTFT."""


class FirstToken(_Record):
    """``stream.tokens()`` handed out its first generated output (special tokens skipped).

    Answer text, reasoning text or a tool call, whichever comes first.
    """

    _fields = ("call", "elapsed", "time_to_first_token")
    __slots__ = _fields

    call: CallInfo
    elapsed: float
    time_to_first_token: float
    """Seconds from CallStarted to that token."""


class CallEnded(_Record):
    """The call is over: exactly once per CallStarted.

    ``outcome`` is ``"ok"`` (a response, or a stream read to its clean end), ``"error"`` (a
    typed error, in ``error``), ``"cancelled"`` (the caller's task was cancelled), or
    ``"closed"`` (a stream its consumer closed before the end: ``break``, or an exception of
    the consumer's own, which is not ours to report).
    """

    _fields = (
        "call",
        "elapsed",
        "outcome",
        "error",
        "attempts",
        "status_code",
        "request_id",
        "invoked_production_variant",
        "time_to_first_byte",
        "time_to_first_part",
        "bytes_received",
        "parts_received",
    )
    __slots__ = _fields

    call: CallInfo
    elapsed: float
    outcome: Outcome
    error: SageMakerRuntimeError | None
    attempts: int
    status_code: int | None
    request_id: str | None
    invoked_production_variant: str | None
    time_to_first_byte: float | None
    """Of the last attempt; None when no response headers arrived."""
    time_to_first_part: float | None
    """Streams only: see FirstPart."""
    bytes_received: int
    """Response body bytes (InvokeEndpoint) or payload bytes handed out (streams)."""
    parts_received: int
    """Streams only: PayloadParts handed out."""


Event = (
    CallStarted
    | RequestSent
    | ResponseReceived
    | RetryScheduled
    | FirstPart
    | FirstToken
    | CallEnded
)
"""What a hook receives: one of the event classes above."""
EventHook = Callable[[Event], object]


def check_hooks(hooks: Sequence[EventHook] | None) -> tuple[EventHook, ...]:
    """Validate the client's ``event_hooks`` option."""
    if hooks is None:
        return ()
    if callable(hooks) or isinstance(hooks, (str, bytes)):
        raise ParamValidationError("event_hooks", "must be a list of callables, not one")
    try:
        found = tuple(hooks)
    except TypeError:
        raise ParamValidationError("event_hooks", "must be a list of callables") from None
    for hook in found:
        if not callable(hook):
            raise ParamValidationError("event_hooks", f"{hook!r} is not callable")
    return found


class CallTrace:
    """One call's timings and state, and the emitter of its events (None when no hooks)."""

    __slots__ = (
        "_ended",
        "_hooks",
        "_sent_at",
        "_started",
        "attempts",
        "bytes_received",
        "call",
        "invoked_production_variant",
        "parts_received",
        "request_id",
        "status_code",
        "time_to_first_byte",
        "time_to_first_part",
        "token_seen",
    )

    def __init__(self, hooks: tuple[EventHook, ...], call: CallInfo) -> None:
        self._hooks = hooks
        self.call = call
        self._started = time.perf_counter()
        self._sent_at = self._started
        self._ended = False
        self.attempts = 0
        self.status_code: int | None = None
        self.request_id: str | None = None
        self.invoked_production_variant: str | None = None
        self.time_to_first_byte: float | None = None
        self.time_to_first_part: float | None = None
        self.bytes_received = 0
        self.parts_received = 0
        self.token_seen = False

    def _emit(self, event: Event) -> None:
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                logger.warning(
                    "event hook %r raised on %s; ignored", hook, type(event).__name__, exc_info=True
                )

    def _elapsed(self) -> float:
        return time.perf_counter() - self._started

    def start(self) -> None:
        """The call begins now."""
        self._started = time.perf_counter()
        self._emit(CallStarted(self.call, 0.0))

    def sent(self, url: str, region: str, body_size: int) -> None:
        """An attempt's request goes to the engine."""
        self.attempts += 1
        self._sent_at = time.perf_counter()
        self._emit(RequestSent(self.call, self._elapsed(), self.attempts, url, region, body_size))

    def headers(self, status_code: int, request_id: str | None, variant: str | None) -> None:
        """The attempt's response headers arrived."""
        now = time.perf_counter()
        self.status_code = status_code
        self.request_id = request_id
        self.invoked_production_variant = variant
        self.time_to_first_byte = now - self._sent_at
        self._emit(
            ResponseReceived(
                self.call,
                now - self._started,
                self.attempts,
                status_code,
                request_id,
                variant,
                self.time_to_first_byte,
            )
        )

    def retry(self, delay: float, error: SageMakerRuntimeError) -> None:
        """The failed attempt will be followed by another after ``delay`` seconds."""
        self._emit(RetryScheduled(self.call, self._elapsed(), self.attempts, delay, error))

    def first_part(self) -> None:
        """A stream handed out its first part."""
        elapsed = self._elapsed()
        self.time_to_first_part = elapsed
        self._emit(
            FirstPart(
                self.call,
                elapsed,
                self.request_id,
                self.invoked_production_variant,
                elapsed,
            )
        )

    def first_token(self) -> None:
        """``tokens()`` handed out its first token with text."""
        self.token_seen = True
        elapsed = self._elapsed()
        self._emit(FirstToken(self.call, elapsed, elapsed))

    def end(self, exc: BaseException | None = None, *, early: bool = False) -> None:
        """The call is over (only the first call counts).

        ``exc`` is what ended it, if anything: one of ours is an error, a cancellation (or
        any BaseException) is "cancelled", another exception is the consumer's own.
        ``early`` marks a stream closed before its end with nothing raised.
        """
        if self._ended:
            return
        self._ended = True
        error: SageMakerRuntimeError | None = None
        outcome: Outcome
        if isinstance(exc, SageMakerRuntimeError):
            outcome, error = "error", exc
            self.request_id = self.request_id or getattr(exc, "request_id", None)
        elif exc is not None and not isinstance(exc, Exception):
            outcome = "cancelled"
        elif exc is not None or early:
            outcome = "closed"
        else:
            outcome = "ok"
        self._emit(
            CallEnded(
                self.call,
                self._elapsed(),
                outcome,
                error,
                self.attempts,
                self.status_code,
                self.request_id,
                self.invoked_production_variant,
                self.time_to_first_byte,
                self.time_to_first_part,
                self.bytes_received,
                self.parts_received,
            )
        )
