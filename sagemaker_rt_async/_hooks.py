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
from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True, eq=False)
class CallInfo:
    """Who and what a call is: the same object in every event of that call."""

    operation: str
    """``InvokeEndpoint``, ``InvokeEndpointWithResponseStream`` or ``InvokeEndpointAsync``."""
    endpoint_name: str
    invocation_id: str
    """The ``amz-sdk-invocation-id`` sent with every attempt of this call."""
    inference_component_name: str | None = None
    target_variant: str | None = None
    target_model: str | None = None
    streaming: bool = False
    state: dict[str, Any] = field(default_factory=dict, repr=False)
    """Scratch space for observers (e.g. the span of this call); starts empty, dies with it."""


@dataclass(frozen=True)
class CallStarted:
    """The operation was called (before credentials, signing and the first attempt)."""

    call: CallInfo
    elapsed: float


@dataclass(frozen=True)
class RequestSent:
    """An attempt's signed request was handed to the HTTP engine."""

    call: CallInfo
    elapsed: float
    attempt: int
    url: str
    """Scheme, host, port and path; the request carries no query string."""
    region: str
    body_size: int


@dataclass(frozen=True)
class ResponseReceived:
    """An attempt's status line and headers arrived (before its body)."""

    call: CallInfo
    elapsed: float
    attempt: int
    status_code: int
    request_id: str | None
    invoked_production_variant: str | None
    time_to_first_byte: float
    """Seconds from this attempt's RequestSent to its response headers."""


@dataclass(frozen=True)
class RetryScheduled:
    """An attempt failed with a retryable error; the next one starts after ``delay`` seconds."""

    call: CallInfo
    elapsed: float
    attempt: int
    """The attempt that failed (1 for the first)."""
    delay: float
    error: SageMakerRuntimeError


@dataclass(frozen=True)
class FirstPart:
    """A response stream handed out its first PayloadPart."""

    call: CallInfo
    elapsed: float
    request_id: str | None
    invoked_production_variant: str | None
    time_to_first_part: float
    """Seconds from CallStarted (retries included) to the first part: the streaming TTFT."""


@dataclass(frozen=True)
class FirstToken:
    """``stream.tokens()`` handed out its first token with text (special tokens skipped)."""

    call: CallInfo
    elapsed: float
    time_to_first_token: float
    """Seconds from CallStarted to that token."""


@dataclass(frozen=True)
class CallEnded:
    """The call is over: exactly once per CallStarted.

    ``outcome`` is ``"ok"`` (a response, or a stream read to its clean end), ``"error"`` (a
    typed error, in ``error``), ``"cancelled"`` (the caller's task was cancelled), or
    ``"closed"`` (a stream its consumer closed before the end: ``break``, or an exception of
    the consumer's own, which is not ours to report).
    """

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
