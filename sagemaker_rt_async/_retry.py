"""The retry policy: whether a failed attempt is tried again, and after how long.

Pure (layer 0): stdlib only, and nothing here reads a clock, draws a random number or sleeps.
The caller passes ``now`` (monotonic seconds), ``now_epoch`` (wall-clock seconds, only for an
HTTP-date ``Retry-After``) and ``rng`` (a ``random.random``-like callable); every function
*returns* how long to wait. The client's attempt loop owns the sleeping.

The pieces (spec §6, botocore 1.43.117 ``botocore/retries``):

* ``Retry`` — the public configuration (``mode``, ``max_attempts``, ``max_backoff``,
  ``retry_timeouts``, ``wait_for_capacity``); ``Retry.of`` accepts the shorthand forms.
* ``RetryState`` — one per call: classifies each failure, charges the quota, computes the
  full-jitter backoff (honouring ``x-amz-retry-after`` / ``Retry-After``), counts attempts and
  renders the ``amz-sdk-request`` header.
* ``RetryQuota`` — one per client: standard mode's retry token bucket (500 tokens).
* ``RateLimiter`` — one per client in adaptive mode: the CUBIC client-side send-rate limiter.

What is retried is read from each error's own ``retryable`` flag (``_errors``), never from a
list of types here. Where we deliberately differ from botocore's standard mode:

* ``ModelNotReadyException`` (429) is retried (botocore standard: not; legacy: yes). It means
  "capacity is coming" (scale from zero), and spec §6.2 asks us to retry it by default.
  ``Retry.wait_for_capacity`` keeps retrying it past ``max_attempts`` for a bounded time.
* A transport failure after the request may have reached the model (a read/write timeout, a
  connection broken after sending) is retried only with ``Retry.retry_timeouts=True``:
  inference is not idempotent, a retry may run the model twice (spec §6.2). Failures where the
  request provably never left (connect errors, pool timeouts) are always retried.
* Nothing that already delivered output (``parts_received``/``bytes_received`` > 0) is retried,
  and neither is a ``total`` deadline (the call's whole time budget is spent).

Backoff is the current standard mode's (base 1 s for every error); from the dormant 2026
variant (spec §6.4) we take only the ``x-amz-retry-after`` rule, applied to ``Retry-After`` too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Literal

from ._errors import (
    THROTTLING_CODES,
    ModelNotReadyException,
    ParamValidationError,
    RequestTimeout,
    ServiceError,
    TransportError,
)

__all__ = [
    "MAX_RETRY_AFTER",
    "RateLimiter",
    "Retry",
    "RetryQuota",
    "RetryState",
    "is_throttle",
    "retry_after",
]

RetryMode = Literal["standard", "adaptive", "off"]
_MODES: tuple[str, ...] = ("standard", "adaptive", "off")

# Backoff: rand[0,1) × min(BASE × 2^(attempt−1), max_backoff) (spec §6.3).
_BACKOFF_BASE = 1.0
# 2^64 s already exceeds any sane cap; clamping the exponent keeps the float finite however
# many capacity-wait attempts a call makes (2.0 ** 1024 overflows).
_MAX_EXPONENT = 64
# A server hint may lengthen the jittered delay by at most this much (spec §6.4:
# delay = max(t, min(retry_after, t + 5 s))).
_RETRY_AFTER_MAX_ADDITIONAL = 5.0
MAX_RETRY_AFTER = 60.0
"""Larger ``Retry-After`` / ``x-amz-retry-after`` hints are cut to this many seconds."""

# botocore's ThrottledRetryableChecker list is ours plus PriorRequestNotComplete (which
# _errors files as transient; it is retried either way, but it also slows the adaptive limiter).
_THROTTLE_CODES = THROTTLING_CODES | {"PriorRequestNotComplete"}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Retry:
    """The public retry configuration (exported as ``sagemaker_rt_async.Retry``).

    ``mode``: ``"standard"`` (default), ``"adaptive"`` (standard plus a client-side send-rate
    limiter that engages after the first throttling response) or ``"off"``.

    ``max_attempts``: total attempts including the first (``1`` = no retries).

    ``max_backoff``: cap, in seconds, of the full-jitter exponential backoff.

    ``retry_timeouts``: also retry a read/write timeout or a connection broken *after* the
    request may have reached the model. Off by default because inference is not idempotent.
    Failures where the request never left (connect errors, pool timeouts) are always retried.

    ``wait_for_capacity``: seconds. When set, ``ModelNotReadyException`` (an inference
    component scaling from zero) is retried past ``max_attempts`` until this much time has
    passed since the first attempt, with the same backoff (so at most ``max_backoff`` apart).
    """

    mode: RetryMode = "standard"
    max_attempts: int = 3
    max_backoff: float = 20.0
    retry_timeouts: bool = False
    wait_for_capacity: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ParamValidationError("mode", f"must be one of {', '.join(_MODES)}")
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool):
            raise ParamValidationError("max_attempts", "must be an int")
        if self.max_attempts < 1:
            raise ParamValidationError("max_attempts", "must be >= 1 (1 means no retries)")
        if not _is_number(self.max_backoff) or not math.isfinite(self.max_backoff):
            raise ParamValidationError("max_backoff", "must be a finite number of seconds")
        if self.max_backoff < 0:
            raise ParamValidationError("max_backoff", "must be >= 0")
        if not isinstance(self.retry_timeouts, bool):
            raise ParamValidationError("retry_timeouts", "must be a bool")
        wait = self.wait_for_capacity
        if wait is not None:
            if not _is_number(wait) or not math.isfinite(wait) or wait < 0:
                raise ParamValidationError(
                    "wait_for_capacity", "must be None or a finite number of seconds >= 0"
                )
            if self.mode == "off":
                raise ParamValidationError(
                    "wait_for_capacity", "waiting for capacity needs retries; mode is 'off'"
                )

    @classmethod
    def of(cls, value: Retry | int | bool | None) -> Retry:
        """Normalise the client's ``retry=`` option.

        ``None`` or ``True`` -> the default; ``False`` or ``0`` -> retries off; an int ``n`` ->
        ``Retry(max_attempts=n)`` (total attempts); a ``Retry`` is returned as is.
        """
        if isinstance(value, Retry):
            return value
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(mode="off", max_attempts=1)
        if isinstance(value, int):
            if value < 0:
                raise ParamValidationError("retry", "an int is the total attempts; must be >= 0")
            return cls(mode="off", max_attempts=1) if value == 0 else cls(max_attempts=value)
        raise ParamValidationError(
            "retry", f"expected a Retry, an int, a bool or None, not {type(value).__name__}"
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


_INT_RE = re.compile(r"[0-9]+")
_SECONDS_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def retry_after(headers: Mapping[str, str], *, now_epoch: float) -> float | None:
    """The server's requested wait in seconds, or None when it gave no usable hint.

    ``x-amz-retry-after`` (integer milliseconds, AWS's header) wins over ``Retry-After``
    (RFC 9110: delta-seconds — fractions accepted — or an HTTP-date, measured from
    ``now_epoch``). Absent, malformed, negative values and dates in the past give None (a
    malformed ``x-amz-retry-after`` falls through to ``Retry-After``). The result is at most
    ``MAX_RETRY_AFTER`` seconds. Header names are matched case-insensitively.
    """
    amz = _header(headers, "x-amz-retry-after")
    if amz is not None and _INT_RE.fullmatch(amz.strip()):
        return min(int(amz.strip()) / 1000.0, MAX_RETRY_AFTER)
    value = _header(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if _SECONDS_RE.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER)
    # Imported here: an HTTP-date Retry-After is rare, and email.utils costs ~6 ms to import.
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, origin unknown"
        when = when.replace(tzinfo=timezone.utc)
    delta = when.timestamp() - now_epoch
    if not math.isfinite(delta) or delta < 0:
        return None
    return min(delta, MAX_RETRY_AFTER)


def is_throttle(error: BaseException) -> bool:
    """Whether a failure is the service asking us to send more slowly.

    True for a throttling error code (any status; botocore's list, including
    ``PriorRequestNotComplete``) and for any other HTTP 429 — except
    ``ModelNotReadyException``, whose 429 reports missing capacity, not a rate. This feeds the
    adaptive rate limiter; whether to retry is decided by the error's ``retryable`` flag.
    """
    if not isinstance(error, ServiceError) or isinstance(error, ModelNotReadyException):
        return False
    return error.error_code in _THROTTLE_CODES or error.status_code == 429


class RetryQuota:
    """Standard mode's retry token bucket, shared by every call of one client.

    Holds ``capacity`` tokens (500) and starts full. A retry takes 5 tokens, or 10 when the
    failure was a timeout (``RequestTimeout`` of any kind — botocore: connect/read timeouts; a
    connection error without a timeout costs 5, as in botocore). With too few tokens the retry
    is refused and the error surfaces. A successful call gives back the amount its last retry
    took, or 1 token if it needed no retry; the balance never exceeds ``capacity``. When the
    service is failing, retries thus stop after about 100 (50 for timeouts) until successes
    refill the bucket. One event loop uses it, so there is no lock.
    """

    __slots__ = ("_available", "_capacity", "_last_acquired")

    RETRY_COST = 5
    TIMEOUT_RETRY_COST = 10
    NO_RETRY_INCREMENT = 1

    def __init__(self, capacity: int = 500) -> None:
        """Create a full bucket of ``capacity`` tokens."""
        self._capacity = capacity
        self._available = capacity
        self._last_acquired: int | None = None

    @property
    def capacity(self) -> int:
        """The most tokens the bucket holds."""
        return self._capacity

    @property
    def available(self) -> int:
        """Tokens left now."""
        return self._available

    @classmethod
    def cost_of(cls, error: BaseException) -> int:
        """The tokens a retry of ``error`` takes: 10 for a timeout, else 5."""
        return cls.TIMEOUT_RETRY_COST if isinstance(error, RequestTimeout) else cls.RETRY_COST

    def acquire(self, error: BaseException) -> bool:
        """Take the tokens a retry of ``error`` costs; False (nothing taken) means give up."""
        amount = self.cost_of(error)
        if amount > self._available:
            return False
        self._available -= amount
        self._last_acquired = amount
        return True

    def release_success(self, retried: bool, *, amount: int | None = None) -> None:
        """Credit a successful call: 1 token if it did not retry, else the amount it last took.

        ``amount`` is that call's own last acquisition (``RetryState`` passes it, since calls
        interleave on one loop); without it the bucket's most recent acquisition is refunded.
        """
        if not retried:
            credit = self.NO_RETRY_INCREMENT
        elif amount is not None:
            credit = amount
        else:
            credit = self._last_acquired or self.NO_RETRY_INCREMENT
        self._available = min(self._capacity, self._available + credit)


class RateLimiter:
    """Adaptive mode's client-side send-rate limiter (spec §6.3; botocore ``adaptive.py``).

    Dormant until the first throttling response; from then on every request, first attempts
    included, takes a token from a bucket filled at the current send rate (at least 0.5/s,
    holding at most ``max(rate, 1)`` tokens). The rate follows CUBIC: on a throttle it drops to
    0.7 × the measured send rate (the rate at which we had been sending, measured in 0.5 s
    buckets with EWMA smoothing 0.8); on each other outcome it grows along
    ``0.4·(t − t_fail − K)³ + W_max`` with ``K = ∛(W_max·0.3/0.4)``; it never exceeds twice the
    measured rate. The state evolves exactly as botocore's ``ClientRateLimiter`` does, also
    while dormant, so the two agree number for number given the same clock.

    Call ``acquire(now)`` before sending each request and sleep the result; call
    ``update(now, throttled=is_throttle(error))`` after each attempt's outcome (a success or a
    transport failure counts as not throttled, as in botocore). ``now`` is monotonic seconds;
    the limiter's clock starts at ``now`` given here, else at its first call.
    """

    __slots__ = (
        "_capacity",
        "_count",
        "_enabled",
        "_fill_rate",
        "_k",
        "_last_bucket",
        "_last_fail",
        "_last_refill",
        "_max_capacity",
        "_measured",
        "_started",
        "_w_max",
    )

    MIN_FILL_RATE = 0.5
    BETA = 0.7
    SCALE = 0.4
    SMOOTHING = 0.8
    BUCKET_SECONDS = 0.5
    MAX_RATE_ADJUST_SCALE = 2.0

    def __init__(self, *, now: float | None = None) -> None:
        """Create a dormant limiter whose clock starts at ``now`` (or at the first call)."""
        self._started = False
        self._enabled = False
        self._w_max = 0.0
        self._k = 0.0
        self._last_fail = 0.0
        self._fill_rate = 1.0
        self._max_capacity = 1.0
        self._capacity = 0.0
        self._last_refill = 0.0
        self._measured = 0.0
        self._last_bucket = 0.0
        self._count = 0
        if now is not None:
            self._start(now)

    def _start(self, now: float) -> None:
        self._started = True
        self._last_fail = now
        self._last_refill = now
        # botocore starts the first bucket at the whole second, not the half second; kept so
        # the first measurement matches it.
        self._last_bucket = float(math.floor(now))

    @property
    def enabled(self) -> bool:
        """Whether a throttling response has been seen (requests now wait for tokens)."""
        return self._enabled

    @property
    def fill_rate(self) -> float:
        """Tokens (requests) per second the bucket refills at."""
        return self._fill_rate

    @property
    def measured_rate(self) -> float:
        """The smoothed rate at which responses have been arriving, per second."""
        return self._measured

    @property
    def available(self) -> float:
        """Tokens in the bucket as of the last call (negative while reserved by waiters)."""
        return self._capacity

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last_refill)
        self._capacity = min(self._max_capacity, self._capacity + elapsed * self._fill_rate)
        self._last_refill = max(now, self._last_refill)

    def _set_rate(self, now: float, rate: float) -> None:
        # Tokens earned so far accrue at the old rate before the new one applies.
        self._refill(now)
        self._fill_rate = max(rate, self.MIN_FILL_RATE)
        self._max_capacity = max(rate, 1.0)
        self._capacity = min(self._capacity, self._max_capacity)

    def _record(self, now: float) -> float:
        bucket = math.floor(now / self.BUCKET_SECONDS) * self.BUCKET_SECONDS
        self._count += 1
        if bucket > self._last_bucket:
            current = self._count / (bucket - self._last_bucket)
            self._measured = current * self.SMOOTHING + self._measured * (1 - self.SMOOTHING)
            self._count = 0
            self._last_bucket = bucket
        return self._measured

    def acquire(self, now: float) -> float:
        """Take a token for a request sent at ``now``; returns the seconds to wait first.

        0 while dormant or when a token is ready. Otherwise the token is reserved now (the
        balance goes negative) and the caller must sleep the returned time before sending, so
        concurrent callers queue behind each other instead of racing for the same token.
        """
        if not self._started:
            self._start(now)
        if not self._enabled:
            return 0.0
        self._refill(now)
        self._capacity -= 1.0
        if self._capacity >= 0:
            return 0.0
        return -self._capacity / self._fill_rate

    def update(self, now: float, throttled: bool) -> None:
        """Account for an attempt's outcome at ``now``: adjust the send rate (CUBIC)."""
        if not self._started:
            self._start(now)
        measured = self._record(now)
        if throttled:
            current = measured if not self._enabled else min(measured, self._fill_rate)
            self._w_max = current
            self._k = (current * (1 - self.BETA) / self.SCALE) ** (1 / 3.0)
            self._last_fail = now
            rate = current * self.BETA
            self._enabled = True
        else:
            rate = self.SCALE * (now - self._last_fail - self._k) ** 3 + self._w_max
        self._set_rate(now, min(rate, self.MAX_RATE_ADJUST_SCALE * measured))


def _delivered_output(error: BaseException) -> bool:
    parts = getattr(error, "parts_received", 0)
    size = getattr(error, "bytes_received", 0)
    return (isinstance(parts, int) and parts > 0) or (isinstance(size, int) and size > 0)


class RetryState:
    """One call's retry bookkeeping: the attempt number, when it started, the last error.

    The attempt loop::

        state = RetryState(policy, quota, started=clock())
        while True:
            headers["amz-sdk-request"] = state.header
            try:
                result = await attempt()
            except SageMakerRuntimeError as error:
                delay = state.next_delay(error, now=clock(), now_epoch=time(), rng=random)
                if delay is None:
                    raise
                await sleep(delay)
            else:
                state.record_success()
                return result

    Invariants: ``next_delay`` returns None for every error when the mode is ``"off"``; no call
    makes more than ``max_attempts`` attempts except for ``ModelNotReadyException`` under
    ``wait_for_capacity``, and those extra attempts all start no later than that many seconds
    passed since ``started``; every delay is in ``[0, max_backoff + 5]``.
    """

    __slots__ = ("_acquired", "_settled", "attempt", "last_error", "policy", "quota", "started")

    def __init__(self, policy: Retry, quota: RetryQuota | None, *, started: float) -> None:
        """Begin a call whose first attempt starts at ``started`` (monotonic seconds)."""
        self.policy = policy
        self.quota = quota
        self.started = started
        self.attempt = 1
        """1-based number of the attempt about to be made (or just made)."""
        self.last_error: BaseException | None = None
        self._acquired: int | None = None
        self._settled = False

    @property
    def header(self) -> str:
        """The ``amz-sdk-request`` header value for the current attempt: ``attempt=N; max=M``.

        ``M`` is ``max_attempts`` (1 when retries are off), also during capacity waits.
        """
        limit = 1 if self.policy.mode == "off" else self.policy.max_attempts
        return f"attempt={self.attempt}; max={limit}"

    def _retryable(self, error: BaseException) -> bool:
        if getattr(error, "retryable", False) is True:
            return True
        # The error's own flag says no only because the request may have been delivered; the
        # user may accept running the model twice. A spent call deadline is never retried.
        return (
            self.policy.retry_timeouts
            and isinstance(error, TransportError)
            and error.request_sent
            and getattr(error, "timeout", None) != "total"
        )

    def _backoff(self, error: BaseException, now_epoch: float, rng: Callable[[], float]) -> float:
        exponent = min(self.attempt - 1, _MAX_EXPONENT)
        ceiling = min(_BACKOFF_BASE * 2.0**exponent, self.policy.max_backoff)
        t = rng() * ceiling
        hint = (
            retry_after(error.headers, now_epoch=now_epoch)
            if isinstance(error, ServiceError)
            else None
        )
        if hint is None:
            return t
        return max(t, min(hint, t + _RETRY_AFTER_MAX_ADDITIONAL))

    def next_delay(
        self,
        error: BaseException,
        *,
        now: float,
        now_epoch: float,
        rng: Callable[[], float],
    ) -> float | None:
        """Decide on attempt ``self.attempt``'s failure: None to give up, else seconds to wait.

        Given up on (None): mode ``"off"``; an error that delivered output; an error not
        retryable (its ``retryable`` flag; a transport failure after sending only with
        ``retry_timeouts``, never a ``total`` deadline); attempts used up — except
        ``ModelNotReadyException`` while ``now - started < wait_for_capacity`` (those extra
        retries are bounded by time, not charged to the quota, and the delay is cut to the
        time left); the quota refusing its tokens.

        The delay is full jitter ``rng() × min(2^(attempt−1) s, max_backoff)``. A server hint
        (``x-amz-retry-after``/``Retry-After``) lengthens it by at most 5 s:
        ``max(t, min(hint, t + 5))`` (spec §6.4), so a hostile header cannot stall us.
        When a delay is returned, ``attempt`` has advanced to the next attempt's number.
        """
        self.last_error = error
        if self.policy.mode == "off" or _delivered_output(error):
            return None
        if not self._retryable(error):
            return None
        if self.attempt >= self.policy.max_attempts:
            wait = self.policy.wait_for_capacity
            if wait is None or not isinstance(error, ModelNotReadyException):
                return None
            remaining = wait - (now - self.started)
            if remaining <= 0:
                return None
            delay = min(self._backoff(error, now_epoch, rng), remaining)
        else:
            if self.quota is not None:
                if not self.quota.acquire(error):
                    return None
                self._acquired = self.quota.cost_of(error)
            delay = self._backoff(error, now_epoch, rng)
        self.attempt += 1
        return delay

    def record_success(self) -> None:
        """Credit the quota for the call's success (once; later calls do nothing)."""
        if self._settled or self.quota is None:
            return
        self._settled = True
        self.quota.release_success(self._acquired is not None, amount=self._acquired)
