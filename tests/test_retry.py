"""The retry policy (``_retry``): classification, quota, backoff, Retry-After, adaptive limiter.

Tables of error kinds × modes × attempts, exact token arithmetic, fixed-RNG backoff bounds, and
botocore 1.43.117 ``botocore/retries`` as the differential oracle: standard mode's "retryable?"
and quota cost per error, its backoff, its quota bookkeeping over scripted calls, and its
adaptive ``ClientRateLimiter`` / ``CubicCalculator`` / ``TokenBucket`` on scripted (and
hypothesis-generated) event sequences with a fake clock. Where we differ on purpose the table
says so (ModelNotReadyException; timeouts after the request was sent; 429 as a throttle signal).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import botocore.awsrequest
import botocore.exceptions
import botocore.parsers
import botocore.session
import pytest
from botocore.retries import adaptive, bucket, quota, standard, throttling
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemaker_rt_async import _errors
from sagemaker_rt_async._errors import (
    THROTTLING_CODES,
    AsyncInferenceFailure,
    AsyncInferenceTimeout,
    ClientClosedError,
    ContainerError,
    CredentialsError,
    EventStreamProtocolError,
    FramingError,
    InternalStreamFailure,
    ModelStreamError,
    ParamValidationError,
    ProtocolNegotiationError,
    RequestTimeout,
    ResponseTooLarge,
    S3Error,
    SageMakerRuntimeError,
    SessionClosedError,
    StreamError,
    StreamTruncated,
    TransportError,
    chat_error_from_response,
    error_from_response,
)
from sagemaker_rt_async._retry import (
    MAX_RETRY_AFTER,
    RateLimiter,
    Retry,
    RetryQuota,
    RetryState,
    is_throttle,
    retry_after,
)

NOW_EPOCH = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
ErrorFactory = Callable[[], BaseException]


def _resp(
    status: int, code: str | None = None, *, headers: Mapping[str, str] | None = None
) -> ErrorFactory:
    """An error as error_from_response builds it: the code in x-amzn-ErrorType, JSON body."""
    hdrs = dict(headers or {})
    if code is not None:
        hdrs["x-amzn-ErrorType"] = code
    body = json.dumps({"message": "m"}).encode() if code is not None else b""
    return lambda: error_from_response(status, hdrs, body)


def _delay(
    error: BaseException,
    *,
    policy: Retry | None = None,
    quota_: RetryQuota | None = None,
    attempt: int = 1,
    rng: float = 0.5,
    now: float = 0.0,
) -> float | None:
    state = RetryState(policy or Retry(), quota_, started=0.0)
    state.attempt = attempt
    return state.next_delay(error, now=now, now_epoch=NOW_EPOCH, rng=lambda: rng)


# ------------------------------------------------------------------------- classification
# (factory, retried by default, retried with retry_timeouts=True, is_throttle)
NEVER = (False, False, False)
ALWAYS = (True, True, False)
OPT_IN = (False, True, False)
THROTTLE = (True, True, True)

CLASSIFY = [
    pytest.param(lambda: SageMakerRuntimeError("x"), *NEVER, id="base-error"),
    pytest.param(lambda: ParamValidationError("p", "bad"), *NEVER, id="param-validation"),
    pytest.param(lambda: CredentialsError("none"), *NEVER, id="credentials"),
    pytest.param(lambda: ClientClosedError("closed"), *NEVER, id="client-closed"),
    pytest.param(lambda: SessionClosedError("over"), *NEVER, id="session-closed"),
    # The model answered, only too much: another attempt would do the same work again.
    pytest.param(
        lambda: ResponseTooLarge("x", limit=1, content_length=2, request_id=None),
        *NEVER,
        id="response-too-large",
    ),
    pytest.param(lambda: ValueError("not ours"), *NEVER, id="foreign-exception"),
    # Transport: whether the request may have reached the model decides (spec §6.2).
    pytest.param(lambda: TransportError("x", request_sent=False), *ALWAYS, id="connect-error"),
    pytest.param(lambda: TransportError("x"), *OPT_IN, id="broken-after-send"),
    # The server would not speak HTTP/2: it will not on the next attempt either.
    pytest.param(
        lambda: ProtocolNegotiationError("x", request_sent=False), *NEVER, id="alpn-refused"
    ),
    pytest.param(
        lambda: RequestTimeout("x", timeout="connect", request_sent=False),
        *ALWAYS,
        id="timeout-connect",
    ),
    pytest.param(
        lambda: RequestTimeout("x", timeout="pool", request_sent=False),
        *ALWAYS,
        id="timeout-pool",
    ),
    pytest.param(lambda: RequestTimeout("x", timeout="read"), *OPT_IN, id="timeout-read"),
    pytest.param(lambda: RequestTimeout("x", timeout="write"), *OPT_IN, id="timeout-write"),
    pytest.param(
        lambda: RequestTimeout("x", timeout="first_byte"), *OPT_IN, id="timeout-first-byte"
    ),
    pytest.param(lambda: RequestTimeout("x", timeout="idle"), *OPT_IN, id="timeout-idle"),
    # The call's whole budget is spent: another attempt cannot finish in time.
    pytest.param(lambda: RequestTimeout("x", timeout="total"), *NEVER, id="timeout-total"),
    # Output already reached the user (spec §6.2 MUST): never, even when opted in.
    pytest.param(
        lambda: _with(TransportError("x"), parts_received=2, bytes_received=10),
        *NEVER,
        id="broken-mid-stream",
    ),
    # Service errors.
    pytest.param(_resp(400, "ValidationError"), *NEVER, id="400-ValidationError"),
    pytest.param(_resp(424, "ModelError"), *NEVER, id="424-ModelError"),
    pytest.param(_resp(429, "ModelNotReadyException"), *ALWAYS, id="429-ModelNotReady"),
    pytest.param(_resp(500, "InternalFailure"), *ALWAYS, id="500-InternalFailure"),
    pytest.param(_resp(500), *ALWAYS, id="500-empty"),
    pytest.param(
        lambda: error_from_response(502, {}, b"<html>Bad Gateway</html>"),
        *ALWAYS,
        id="502-html",
    ),
    pytest.param(_resp(503, "ServiceUnavailable"), *ALWAYS, id="503-ServiceUnavailable"),
    pytest.param(_resp(503), *ALWAYS, id="503-empty"),
    # InvokeEndpointWithBidirectionalStream's own names for the same answers.
    pytest.param(_resp(400, "InputValidationError"), *NEVER, id="400-InputValidationError"),
    pytest.param(_resp(500, "InternalServerError"), *ALWAYS, id="500-InternalServerError"),
    pytest.param(_resp(503, "ServiceUnavailableError"), *ALWAYS, id="503-ServiceUnavailableError"),
    pytest.param(_resp(504), *ALWAYS, id="504-empty"),
    pytest.param(_resp(530, "InternalDependencyException"), *NEVER, id="530-InternalDependency"),
    pytest.param(_resp(530), *NEVER, id="530-empty"),
    pytest.param(_resp(509), *NEVER, id="509-empty"),
    pytest.param(_resp(408, "RequestTimeoutException"), *ALWAYS, id="408-RequestTimeoutExc"),
    pytest.param(_resp(400, "PriorRequestNotComplete"), *THROTTLE, id="400-PriorRequestNotComp"),
    # A 429 without a throttling code: a rate signal for the limiter, but (as botocore
    # standard) not retried.
    pytest.param(_resp(429), False, False, True, id="429-empty"),
    pytest.param(_resp(403, "AccessDeniedException"), *NEVER, id="403-AccessDenied"),
    pytest.param(_resp(403, "ExpiredTokenException"), *NEVER, id="403-ExpiredToken"),
    *(
        pytest.param(_resp(status, code), *THROTTLE, id=f"{status}-{code}")
        for code in sorted(THROTTLING_CODES)
        for status in (400, 429)
    ),
    pytest.param(
        lambda: S3Error("slow", status_code=503, error_code="SlowDown", bucket="b", key="k"),
        *THROTTLE,
        id="s3-503-SlowDown",
    ),
    pytest.param(
        lambda: S3Error("gone", status_code=404, error_code="NoSuchKey", bucket="b", key="k"),
        *NEVER,
        id="s3-404-NoSuchKey",
    ),
    pytest.param(
        lambda: AsyncInferenceFailure("failed", job=None, payload=b"{}", content_type=None),
        *NEVER,
        id="async-failure",
    ),
    pytest.param(
        lambda: AsyncInferenceTimeout("late", job=None, waited=1.0), *NEVER, id="async-timeout"
    ),
    # Stream errors happen after HTTP 200: never retried by this policy.
    pytest.param(lambda: StreamError("x"), *NEVER, id="stream-error"),
    pytest.param(
        lambda: ModelStreamError("x", error_code="ModelInvocationTimeExceeded"),
        *NEVER,
        id="model-stream-error",
    ),
    pytest.param(lambda: InternalStreamFailure("x"), *NEVER, id="internal-stream-failure"),
    pytest.param(lambda: EventStreamProtocolError("crc"), *NEVER, id="eventstream-protocol"),
    pytest.param(lambda: ContainerError("x", payload={"error": 1}), *NEVER, id="container"),
    pytest.param(lambda: FramingError("utf-8"), *NEVER, id="framing"),
    pytest.param(lambda: StreamTruncated("no [DONE]"), *NEVER, id="chat-stream-truncated"),
    # The OpenAI-compatible route (spec openai-compatible.md §7): scale-to-zero is "capacity is
    # coming", as ModelNotReadyException; an unknown endpoint stays unknown.
    pytest.param(
        lambda: chat_error_from_response(
            400,
            {},
            b'{"error": {"message": "Inference Component has no capacity to process this '
            b'request.", "type": "invalid_request_error", "code": "validation_error"}}',
        ),
        *ALWAYS,
        id="chat-400-no-capacity",
    ),
    pytest.param(
        lambda: chat_error_from_response(
            400,
            {},
            b'{"error": {"message": "Endpoint e of account 123456789012 not found.", '
            b'"type": "invalid_request_error", "code": "validation_error"}}',
        ),
        *NEVER,
        id="chat-400-endpoint-not-found",
    ),
    pytest.param(_resp(400, "ModelStreamError"), *NEVER, id="400-ModelStreamError-top-level"),
]


def _with(error: TransportError, *, parts_received: int, bytes_received: int) -> TransportError:
    error.parts_received = parts_received
    error.bytes_received = bytes_received
    return error


def test_table_covers_every_error_class() -> None:
    """Every exception class _errors defines appears (as the exact type) in CLASSIFY."""
    defined = {
        obj
        for name, obj in vars(_errors).items()
        if name in _errors.__all__ and isinstance(obj, type) and issubclass(obj, BaseException)
    }
    assert len(defined) > 25
    covered = {type(p.values[0]()) for p in CLASSIFY}  # type: ignore[operator]
    assert defined - covered == set()


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
@pytest.mark.parametrize(("make", "by_default", "opted_in", "throttle"), CLASSIFY)
def test_classification_first_attempt(
    make: ErrorFactory, by_default: bool, opted_in: bool, throttle: bool, mode: str
) -> None:
    """On attempt 1 of 3 a failure is retried exactly when the table says, in both modes."""
    default = Retry(mode=mode)  # type: ignore[arg-type]
    assert (_delay(make(), policy=default) is not None) is by_default
    opt_in = dataclasses.replace(default, retry_timeouts=True)
    assert (_delay(make(), policy=opt_in) is not None) is opted_in
    assert is_throttle(make()) is throttle


@pytest.mark.parametrize(("make", "by_default", "opted_in", "throttle"), CLASSIFY)
@pytest.mark.parametrize("attempt", [1, 2, 3, 7])
def test_off_mode_never_retries(
    make: ErrorFactory, by_default: bool, opted_in: bool, throttle: bool, attempt: int
) -> None:
    """mode="off" gives up on every error at every attempt, whatever else is configured."""
    policy = Retry(mode="off", max_attempts=5, retry_timeouts=True)
    assert _delay(make(), policy=policy, attempt=attempt) is None


@pytest.mark.parametrize(("make", "by_default", "opted_in", "throttle"), CLASSIFY)
@pytest.mark.parametrize(
    ("max_attempts", "attempt", "left"),
    [
        pytest.param(3, 1, True, id="1-of-3"),
        pytest.param(3, 2, True, id="2-of-3"),
        pytest.param(3, 3, False, id="3-of-3"),
        pytest.param(1, 1, False, id="1-of-1"),
        pytest.param(5, 4, True, id="4-of-5"),
    ],
)
def test_attempts_budget(
    make: ErrorFactory,
    by_default: bool,
    opted_in: bool,
    throttle: bool,
    max_attempts: int,
    attempt: int,
    left: bool,
) -> None:
    """A retryable failure is retried only while attempt < max_attempts (no capacity wait)."""
    policy = Retry(max_attempts=max_attempts, retry_timeouts=True)
    assert (_delay(make(), policy=policy, attempt=attempt) is not None) is (opted_in and left)


def test_attempt_advances_only_on_retry() -> None:
    """A returned delay moves ``attempt`` to the next attempt; giving up leaves it."""
    state = RetryState(Retry(max_attempts=2), None, started=0.0)
    error = error_from_response(503, {}, b"")
    assert state.next_delay(error, now=0.0, now_epoch=NOW_EPOCH, rng=lambda: 0.5) == 0.5
    assert state.attempt == 2
    assert state.next_delay(error, now=1.0, now_epoch=NOW_EPOCH, rng=lambda: 0.5) is None
    assert state.attempt == 2
    assert state.last_error is error


# ------------------------------------------------------------------------ wait for capacity
def _run_capacity_wait(
    policy: Retry, quota_: RetryQuota | None, attempt_seconds: float
) -> tuple[int, list[float], list[float]]:
    """Fail every attempt with ModelNotReady; returns (attempts, attempt start times, delays)."""
    state = RetryState(policy, quota_, started=0.0)
    now = 0.0
    starts: list[float] = []
    delays: list[float] = []
    while True:
        starts.append(now)
        now += attempt_seconds
        error = error_from_response(429, {"x-amzn-ErrorType": "ModelNotReadyException"}, b"{}")
        delay = state.next_delay(error, now=now, now_epoch=NOW_EPOCH, rng=lambda: 0.999)
        if delay is None:
            return state.attempt, starts, delays
        delays.append(delay)
        now += delay
        assert len(starts) < 1000


def test_model_not_ready_without_wait_for_capacity_stops_at_max_attempts() -> None:
    """Without wait_for_capacity, ModelNotReady is retried like a 503: 3 attempts in all."""
    attempts, _, delays = _run_capacity_wait(Retry(), RetryQuota(), 0.1)
    assert attempts == 3
    assert delays == pytest.approx([0.999, 1.998])


def test_wait_for_capacity_retries_until_the_time_budget() -> None:
    """With wait_for_capacity=120, ModelNotReady attempts continue past max_attempts until
    120 s after the first; the last sleep is cut to land exactly on that deadline, no attempt
    starts after it, no sleep exceeds max_backoff, and the extra retries take no quota."""
    quota_ = RetryQuota()
    policy = Retry(wait_for_capacity=120.0, max_backoff=20.0)
    attempts, starts, delays = _run_capacity_wait(policy, quota_, 0.5)
    assert attempts == len(starts) > 3
    assert max(delays) <= 20.0
    # The last attempt starts at: earlier attempts' durations + all sleeps == 120 s.
    assert starts[-1] == pytest.approx(0.5 * (len(starts) - 1) + sum(delays))
    assert starts[-1] == pytest.approx(120.0)
    assert all(start <= 120.0 + 1e-9 for start in starts)
    # Only the 2 in-budget retries took tokens (5 each).
    assert quota_.available == 500 - 2 * 5


def test_wait_for_capacity_applies_only_to_model_not_ready() -> None:
    """Past max_attempts, a 503 is not retried even when wait_for_capacity is set."""
    policy = Retry(wait_for_capacity=600.0)
    assert _delay(error_from_response(503, {}, b""), policy=policy, attempt=3) is None
    not_ready = _resp(429, "ModelNotReadyException")()
    assert _delay(not_ready, policy=policy, attempt=3, now=599.0) == pytest.approx(1.0)
    assert _delay(not_ready, policy=policy, attempt=3, now=600.0) is None


# --------------------------------------------------------------------------------- quota
def test_quota_timeouts_drain_500_tokens_in_50_retries() -> None:
    """Timeout retries cost 10: exactly 50 are granted, the 51st is refused, nothing left."""
    q = RetryQuota()
    granted = [q.acquire(RequestTimeout("x", timeout="connect", request_sent=False))]
    granted += [q.acquire(RequestTimeout("x", timeout="read")) for _ in range(50)]
    assert granted.count(True) == 50
    assert granted[-1] is False
    assert q.available == 0


def test_quota_other_errors_drain_500_tokens_in_100_retries() -> None:
    """Other retries cost 5: 100 granted, the 101st refused; a refusal takes nothing."""
    q = RetryQuota()
    error = error_from_response(503, {}, b"")
    granted = [q.acquire(error) for _ in range(101)]
    assert granted == [True] * 100 + [False]
    assert q.available == 0


def test_quota_partial_balance() -> None:
    """With 5 tokens left a timeout (10) is refused but a 5xx (5) is granted."""
    q = RetryQuota()
    for _ in range(99):
        assert q.acquire(TransportError("x", request_sent=False))  # no timeout: 5
    assert q.available == 5
    assert not q.acquire(RequestTimeout("x", timeout="read"))
    assert q.available == 5
    assert q.acquire(error_from_response(500, {}, b""))
    assert q.available == 0


def test_quota_refunds() -> None:
    """Success without retry credits 1; after retries, the amount last taken; never above 500."""
    q = RetryQuota()
    q.release_success(retried=False)
    assert q.available == 500
    assert q.acquire(error_from_response(503, {}, b""))
    assert q.acquire(RequestTimeout("x", timeout="read"))
    assert q.available == 485
    q.release_success(retried=True)  # the bucket's last acquisition: 10
    assert q.available == 495
    q.release_success(retried=True, amount=5)
    assert q.available == 500
    q.release_success(retried=True, amount=10)
    assert q.available == 500
    q.release_success(retried=False)
    assert q.available == 500


def test_retry_state_quota_refusal_and_refund() -> None:
    """An empty quota makes next_delay give up; record_success refunds that call's own last
    acquisition exactly once, even when other calls acquired since."""
    q = RetryQuota()
    first = RetryState(Retry(max_attempts=10), q, started=0.0)
    timeout = RequestTimeout("x", timeout="connect", request_sent=False)
    assert first.next_delay(timeout, now=0, now_epoch=NOW_EPOCH, rng=lambda: 0.0) == 0.0
    other = RetryState(Retry(max_attempts=1000), q, started=0.0)
    for _ in range(98):
        assert other.next_delay(_resp(503)(), now=0, now_epoch=NOW_EPOCH, rng=lambda: 0.0) == 0
    assert q.available == 0
    assert other.next_delay(_resp(503)(), now=0, now_epoch=NOW_EPOCH, rng=lambda: 0.0) is None
    first.record_success()
    assert q.available == 10
    first.record_success()
    assert q.available == 10
    fresh = RetryState(Retry(), q, started=0.0)
    fresh.record_success()
    assert q.available == 11


# ------------------------------------------------------------------------------- backoff
@pytest.mark.parametrize(
    ("attempt", "rng", "max_backoff", "expected"),
    [
        pytest.param(1, 0.0, 20.0, 0.0, id="a1-rng0"),
        pytest.param(1, 0.5, 20.0, 0.5, id="a1-rng.5"),
        pytest.param(1, 0.999, 20.0, 0.999, id="a1-rng.999"),
        pytest.param(2, 0.5, 20.0, 1.0, id="a2-rng.5"),
        pytest.param(2, 0.999, 20.0, 1.998, id="a2-rng.999"),
        pytest.param(5, 0.999, 20.0, 15.984, id="a5-below-cap"),
        pytest.param(6, 0.999, 20.0, 19.98, id="a6-capped"),
        pytest.param(6, 0.0, 20.0, 0.0, id="a6-rng0"),
        pytest.param(30, 0.5, 20.0, 10.0, id="a30-capped"),
        pytest.param(3, 0.999, 3.0, 2.997, id="custom-cap"),
        pytest.param(3, 0.999, 0.0, 0.0, id="zero-cap"),
        pytest.param(5000, 0.999, 20.0, 19.98, id="huge-attempt-no-overflow"),
    ],
)
def test_backoff_full_jitter(attempt: int, rng: float, max_backoff: float, expected: float) -> None:
    """delay = rng() × min(2^(attempt−1) s, max_backoff)."""
    policy = Retry(max_attempts=10_000, max_backoff=max_backoff)
    error = error_from_response(503, {}, b"")
    assert _delay(error, policy=policy, attempt=attempt, rng=rng) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("headers", "attempt", "rng", "expected"),
    [
        pytest.param({"x-amz-retry-after": "3000"}, 1, 0.0, 3.0, id="hint-above-jitter"),
        pytest.param({"x-amz-retry-after": "3000"}, 1, 0.5, 3.0, id="hint-within-5s"),
        pytest.param({"x-amz-retry-after": "100"}, 2, 0.5, 1.0, id="hint-below-jitter"),
        pytest.param({"x-amz-retry-after": "30000"}, 1, 0.5, 5.5, id="hint-cut-to-t-plus-5"),
        pytest.param({"Retry-After": "60"}, 6, 0.999, 24.98, id="max-bound-cap-plus-5"),
        pytest.param({"Retry-After": "2"}, 1, 0.0, 2.0, id="retry-after-seconds"),
        pytest.param({"Retry-After": "soon"}, 1, 0.25, 0.25, id="garbage-ignored"),
    ],
)
def test_backoff_with_retry_after(
    headers: dict[str, str], attempt: int, rng: float, expected: float
) -> None:
    """A server hint lengthens the jittered delay t to max(t, min(hint, t + 5)) (spec §6.4)."""
    error = error_from_response(429, {**headers, "x-amzn-ErrorType": "ThrottlingException"}, b"{}")
    policy = Retry(max_attempts=10)
    assert _delay(error, policy=policy, attempt=attempt, rng=rng) == pytest.approx(expected)


# --------------------------------------------------------------------------- retry_after
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"Retry-After": "7"}, 7.0, id="seconds"),
        pytest.param({"retry-after": " 3 "}, 3.0, id="seconds-lowercase-padded"),
        pytest.param({"Retry-After": "1.5"}, 1.5, id="fractional-seconds"),
        pytest.param({"Retry-After": "0"}, 0.0, id="zero"),
        pytest.param({"Retry-After": "-1"}, None, id="negative"),
        pytest.param({"Retry-After": ""}, None, id="empty"),
        pytest.param({"Retry-After": "soon"}, None, id="garbage"),
        pytest.param({"Retry-After": "1e3"}, None, id="exponent"),
        pytest.param({"Retry-After": "inf"}, None, id="inf"),
        pytest.param({"Retry-After": "nan"}, None, id="nan"),
        pytest.param({"Retry-After": "3600"}, MAX_RETRY_AFTER, id="huge-seconds-capped"),
        pytest.param({"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0, id="http-date"),
        pytest.param({"Retry-After": "Tue, 14 Nov 2023 22:13:50 -0000"}, 30.0, id="date-0000"),
        pytest.param({"Retry-After": "Tue, 14 Nov 2023 22:13:20 GMT"}, 0.0, id="date-now"),
        pytest.param({"Retry-After": "Tue, 14 Nov 2023 22:12:50 GMT"}, None, id="date-past"),
        pytest.param(
            {"Retry-After": "Tue, 14 Nov 2023 23:13:20 GMT"}, MAX_RETRY_AFTER, id="date-capped"
        ),
        pytest.param({"Retry-After": "Tue, 99 Nov 2023 25:00:00 GMT"}, None, id="date-invalid"),
        pytest.param({"x-amz-retry-after": "1500"}, 1.5, id="amz-ms"),
        pytest.param({"X-Amz-Retry-After": "0"}, 0.0, id="amz-zero-mixed-case"),
        pytest.param({"x-amz-retry-after": "-5"}, None, id="amz-negative"),
        pytest.param({"x-amz-retry-after": "1.5"}, None, id="amz-not-integer"),
        pytest.param({"x-amz-retry-after": "999999999"}, MAX_RETRY_AFTER, id="amz-huge-capped"),
        pytest.param(
            {"x-amz-retry-after": "250", "Retry-After": "9"}, 0.25, id="amz-wins-over-standard"
        ),
        pytest.param(
            {"x-amz-retry-after": "oops", "Retry-After": "9"}, 9.0, id="bad-amz-falls-through"
        ),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    """Hints parse to seconds in [0, 60]; anything unusable is None, never an exception."""
    assert retry_after(headers, now_epoch=NOW_EPOCH) == expected


# ----------------------------------------------------------------------- header and config
def test_amz_sdk_request_header() -> None:
    """The header counts attempts against max_attempts, also during capacity waits."""
    state = RetryState(Retry(wait_for_capacity=60.0), None, started=0.0)
    assert state.header == "attempt=1; max=3"
    not_ready = _resp(429, "ModelNotReadyException")
    for expected in ("attempt=2; max=3", "attempt=3; max=3", "attempt=4; max=3"):
        assert state.next_delay(not_ready(), now=1, now_epoch=NOW_EPOCH, rng=lambda: 0) == 0
        assert state.header == expected
    assert RetryState(Retry(mode="off", max_attempts=4), None, started=0).header == (
        "attempt=1; max=1"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, Retry(), id="none-default"),
        pytest.param(True, Retry(), id="true-default"),
        pytest.param(False, Retry(mode="off", max_attempts=1), id="false-off"),
        pytest.param(0, Retry(mode="off", max_attempts=1), id="zero-off"),
        pytest.param(1, Retry(max_attempts=1), id="one-attempt"),
        pytest.param(7, Retry(max_attempts=7), id="int-total-attempts"),
        pytest.param(
            Retry(mode="adaptive", retry_timeouts=True),
            Retry(mode="adaptive", retry_timeouts=True),
            id="retry-as-is",
        ),
    ],
)
def test_retry_of(value: Retry | int | bool | None, expected: Retry) -> None:
    """Retry.of maps the client's shorthand forms onto a Retry."""
    assert Retry.of(value) == expected


def test_retry_defaults() -> None:
    """The defaults are standard mode, 3 attempts, 20 s cap, no timeout retry, no wait."""
    assert Retry() == Retry("standard", 3, 20.0, False, None)


@pytest.mark.parametrize(
    ("make", "param"),
    [
        pytest.param(lambda: Retry(mode="legacy"), "mode", id="mode"),  # type: ignore[arg-type]
        pytest.param(lambda: Retry(max_attempts=0), "max_attempts", id="attempts-zero"),
        pytest.param(lambda: Retry(max_attempts=True), "max_attempts", id="attempts-bool"),
        pytest.param(
            lambda: Retry(max_attempts=2.0),  # type: ignore[arg-type]
            "max_attempts",
            id="attempts-float",
        ),
        pytest.param(lambda: Retry(max_backoff=-1), "max_backoff", id="backoff-negative"),
        pytest.param(lambda: Retry(max_backoff=math.inf), "max_backoff", id="backoff-inf"),
        pytest.param(lambda: Retry(max_backoff=math.nan), "max_backoff", id="backoff-nan"),
        pytest.param(
            lambda: Retry(max_backoff="1"),  # type: ignore[arg-type]
            "max_backoff",
            id="backoff-str",
        ),
        pytest.param(
            lambda: Retry(retry_timeouts=1),  # type: ignore[arg-type]
            "retry_timeouts",
            id="timeouts-int",
        ),
        pytest.param(
            lambda: Retry(wait_for_capacity=-1.0), "wait_for_capacity", id="wait-negative"
        ),
        pytest.param(lambda: Retry(wait_for_capacity=math.inf), "wait_for_capacity", id="wait-inf"),
        pytest.param(
            lambda: Retry(mode="off", wait_for_capacity=60.0), "wait_for_capacity", id="wait-off"
        ),
        pytest.param(lambda: Retry.of(-1), "retry", id="of-negative"),
        pytest.param(lambda: Retry.of(2.5), "retry", id="of-float"),  # type: ignore[arg-type]
        pytest.param(lambda: Retry.of("3"), "retry", id="of-str"),  # type: ignore[arg-type]
    ],
)
def test_retry_validation(make: Callable[[], Retry], param: str) -> None:
    """Bad configuration raises ParamValidationError naming the offending field."""
    with pytest.raises(ParamValidationError) as info:
        make()
    assert info.value.param == param


# ------------------------------------------------------------------------ rate limiter
def test_rate_limiter_dormant_until_first_throttle() -> None:
    """Before any throttle, acquire never waits, however fast we send."""
    limiter = RateLimiter(now=0.0)
    for i in range(200):
        now = i * 0.01
        assert limiter.acquire(now) == 0.0
        limiter.update(now, throttled=False)
    assert not limiter.enabled
    limiter.update(2.0, throttled=True)
    assert limiter.enabled


def test_rate_limiter_throttle_then_cubic_recovery() -> None:
    """After sending ~10/s, a throttle sets the rate to 0.7 × measured; it then recovers on
    the CUBIC curve 0.4·(t − t_fail − K)³ + W_max (botocore's CubicCalculator gives the same)."""
    limiter = RateLimiter(now=0.0)
    t = 0.0
    while t < 10.0:
        limiter.update(t, throttled=False)
        t = round(t + 0.1, 10)
    limiter.update(t, throttled=True)
    measured = limiter.measured_rate
    assert measured == pytest.approx(10.0, rel=0.01)
    assert limiter.fill_rate == pytest.approx(0.7 * measured)
    cubic = throttling.CubicCalculator(starting_max_rate=0, start_time=0.0)
    cubic.error_received(measured, t)
    t_fail = t
    samples = []
    while t < t_fail + 4.0:
        t = round(t + 0.1, 10)
        limiter.update(t, throttled=False)
        expected = min(cubic.success_received(t), 2 * limiter.measured_rate)
        assert limiter.fill_rate == pytest.approx(max(expected, 0.5))
        samples.append(limiter.fill_rate)
    k = (measured * 0.3 / 0.4) ** (1 / 3)
    assert cubic.get_params_snapshot().k == pytest.approx(k)
    assert min(samples) >= 0.7 * measured - 1e-9
    assert samples[-1] > measured  # past t_fail + K (~1.96 s) the rate probes above W_max


def test_rate_limiter_reserves_tokens_for_concurrent_callers() -> None:
    """Once enabled with an empty bucket, callers at the same instant queue: 1/r, 2/r, ..."""
    limiter = RateLimiter(now=0.0)
    limiter.update(0.0, throttled=True)  # measured 0 -> minimum fill rate 0.5/s, capacity 1
    assert limiter.fill_rate == 0.5
    waits = [limiter.acquire(0.0) for _ in range(3)]
    assert waits == pytest.approx([2.0, 4.0, 6.0])
    assert limiter.acquire(100.0) == 0.0  # refilled (capacity 1) long after


def test_rate_limiter_lazy_start() -> None:
    """Without a start time the limiter's clock starts at the first call."""
    lazy, eager = RateLimiter(), RateLimiter(now=5.0)
    for limiter in (lazy, eager):
        limiter.update(5.0, throttled=False)
        limiter.update(5.7, throttled=True)
    assert (lazy.fill_rate, lazy.measured_rate, lazy.available) == (
        eager.fill_rate,
        eager.measured_rate,
        eager.available,
    )


# ---------------------------------------------------------------- botocore differentials
class _FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def current_time(self) -> float:
        return self.now

    def sleep(self, amount: float) -> None:  # pragma: no cover - TokenBucket never calls it
        self.now += amount


class _FakeCondition:
    """Stands in for TokenBucket's threading.Condition: waiting advances the fake clock."""

    def __init__(self, clock: _FakeClock) -> None:
        self.clock = clock
        self.waits = 0

    def __enter__(self) -> _FakeCondition:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait(self, timeout: float) -> None:
        self.waits += 1
        assert self.waits < 100
        # A real clock always moves on; a float one can stall when the timeout is below its
        # resolution (ulp(1000) ~ 1e-13), which would make botocore's wait loop spin forever.
        later = self.clock.now + timeout
        self.clock.now = later if later > self.clock.now else math.nextafter(later, math.inf)

    def notify(self) -> None:
        return None


class _Detector:
    def is_throttling_error(self, **kwargs: Any) -> bool:
        return bool(kwargs["throttled"])


def _botocore_limiter(start: float) -> tuple[Any, Any, _FakeClock]:
    """botocore's adaptive.register_retry_handler wiring, on a fake clock."""
    clock = _FakeClock(start)
    token_bucket = bucket.TokenBucket(max_rate=1, clock=clock)
    token_bucket._new_fill_rate_condition = _FakeCondition(clock)
    limiter = adaptive.ClientRateLimiter(
        rate_adjustor=throttling.CubicCalculator(starting_max_rate=0, start_time=start),
        rate_clocker=adaptive.RateClocker(clock),
        token_bucket=token_bucket,
        throttling_detector=_Detector(),
        clock=clock,
    )
    return limiter, token_bucket, clock


def _compare_limiters(start: float, script: list[tuple[float, str]]) -> list[float]:
    """Run both limiters through ``script`` ((seconds later, event)); returns our waits."""
    ours = RateLimiter(now=start)
    waits: list[float] = []
    theirs, token_bucket, clock = _botocore_limiter(start)
    for dt, event in script:
        clock.now += dt
        now = clock.now
        if event == "send":
            wait = ours.acquire(now)
            waits.append(wait)
            theirs.on_sending_request(request=None)
            # botocore blocked (advanced the fake clock) exactly as long as we ask to sleep.
            assert clock.now - now == pytest.approx(wait, rel=1e-9, abs=1e-9)
        else:
            throttled = event == "throttle"
            ours.update(now, throttled)
            theirs.on_receiving_response(throttled=throttled)
            # Both refilled at `now`, so the balances compare directly.
            assert ours.available == pytest.approx(
                token_bucket.available_capacity, rel=1e-9, abs=1e-9
            )
        assert ours.enabled is theirs._enabled
        assert ours.fill_rate == pytest.approx(token_bucket.max_rate, rel=1e-9, abs=1e-12)
        assert ours.measured_rate == pytest.approx(
            theirs._rate_clocker.measured_rate, rel=1e-9, abs=1e-12
        )
    return waits


def _steady(rate: float, seconds: float, event: str) -> list[tuple[float, str]]:
    n = int(rate * seconds)
    return [(1 / rate, e) for _ in range(n) for e in ("send", event)]


def test_rate_limiter_matches_botocore_scripted() -> None:
    """A scripted day in the life — idle, 20/s, throttles, recovery, bursts — gives the same
    waits, fill rates, measured rates and balances as botocore's ClientRateLimiter."""
    script = [
        (0.3, "ok"),
        *_steady(20, 3, "ok"),
        (0.0, "send"),
        (0.05, "throttle"),
        *_steady(20, 2, "ok"),
        *[(0.0, "send")] * 5,  # a burst queues behind the bucket
        (0.01, "throttle"),
        (0.0, "throttle"),
        *_steady(5, 4, "ok"),
        (3.0, "ok"),
        *_steady(50, 1, "throttle"),
        *_steady(10, 5, "ok"),
    ]
    waits = _compare_limiters(1000.25, script)
    assert sum(w > 0 for w in waits) >= 5  # the limiter really made callers wait


@settings(max_examples=150, deadline=None)
@given(
    start=st.floats(0, 10_000, allow_nan=False),
    script=st.lists(
        st.tuples(
            st.one_of(st.just(0.0), st.floats(0, 3, allow_nan=False)),
            st.sampled_from(["send", "ok", "throttle"]),
        ),
        max_size=60,
    ),
)
def test_rate_limiter_matches_botocore_random(
    start: float, script: list[tuple[float, str]]
) -> None:
    """Any event sequence drives our limiter and botocore's through the same numbers."""
    _compare_limiters(start, script)


_SM = botocore.session.get_session().get_service_model("sagemaker-runtime")
_OP = _SM.operation_model("InvokeEndpoint")
_PARSER = botocore.parsers.create_parser(_SM.protocol)


def _http_context(status: int, headers: Mapping[str, str], body: bytes) -> Any:
    hdrs = botocore.awsrequest.HeadersDict(dict(headers))
    parsed = _PARSER.parse({"status_code": status, "headers": hdrs, "body": body}, _OP.output_shape)
    return standard.RetryContext(
        attempt_number=1,
        operation_model=_OP,
        parsed_response=parsed,
        http_response=botocore.awsrequest.AWSResponse("https://x", status, hdrs, None),
        request_context={},
    )


def _exception_context(exc: Exception) -> Any:
    return standard.RetryContext(
        attempt_number=1, operation_model=_OP, caught_exception=exc, request_context={}
    )


def _http(status: int, code: str | None = None, *, html: bool = False) -> tuple[Any, Any]:
    headers = {"x-amzn-ErrorType": code} if code else {}
    body = b"<html>oops</html>" if html else (b'{"message":"m"}' if code else b"")
    return (
        lambda: error_from_response(status, headers, body),
        lambda: _http_context(status, headers, body),
    )


_URL = "https://runtime.sagemaker.us-east-1.amazonaws.com"
# (ours, botocore context, intended difference or None)
DIFFERENTIAL = [
    pytest.param(*_http(400, "ValidationError"), None, id="400-ValidationError"),
    pytest.param(*_http(424, "ModelError"), None, id="424-ModelError"),
    pytest.param(
        *_http(429, "ModelNotReadyException"),
        "capacity: retried by us (spec §6.2 SHOULD), not by botocore standard",
        id="429-ModelNotReady",
    ),
    pytest.param(*_http(429), None, id="429-empty"),
    pytest.param(*_http(500, "InternalFailure"), None, id="500-InternalFailure"),
    pytest.param(*_http(500), None, id="500-empty"),
    pytest.param(*_http(502, html=True), None, id="502-html"),
    pytest.param(*_http(503, "ServiceUnavailable"), None, id="503-ServiceUnavailable"),
    pytest.param(*_http(503), None, id="503-empty"),
    pytest.param(*_http(504), None, id="504-empty"),
    pytest.param(*_http(509), None, id="509-empty"),
    pytest.param(*_http(530, "InternalDependencyException"), None, id="530-InternalDependency"),
    pytest.param(*_http(408, "RequestTimeoutException"), None, id="408-RequestTimeoutExc"),
    pytest.param(*_http(400, "PriorRequestNotComplete"), None, id="400-PriorRequestNotComp"),
    pytest.param(*_http(403, "AccessDeniedException"), None, id="403-AccessDenied"),
    pytest.param(*_http(403, "ExpiredTokenException"), None, id="403-ExpiredToken"),
    pytest.param(*_http(400, "ModelStreamError"), None, id="400-ModelStreamError"),
    *(
        pytest.param(*_http(status, code), None, id=f"{status}-{code}")
        for code in sorted(THROTTLING_CODES)
        for status in (400, 429)
    ),
    pytest.param(
        lambda: RequestTimeout("x", timeout="connect", request_sent=False),
        lambda: _exception_context(botocore.exceptions.ConnectTimeoutError(endpoint_url=_URL)),
        None,
        id="connect-timeout",
    ),
    pytest.param(
        lambda: TransportError("x", request_sent=False),
        lambda: _exception_context(botocore.exceptions.EndpointConnectionError(endpoint_url=_URL)),
        None,
        id="connect-error",
    ),
    pytest.param(
        lambda: RequestTimeout("x", timeout="read"),
        lambda: _exception_context(botocore.exceptions.ReadTimeoutError(endpoint_url=_URL)),
        "may have run the model: retried only with retry_timeouts=True",
        id="read-timeout",
    ),
    pytest.param(
        lambda: TransportError("x"),
        lambda: _exception_context(botocore.exceptions.ConnectionClosedError(endpoint_url=_URL)),
        "may have run the model: retried only with retry_timeouts=True",
        id="connection-closed",
    ),
]


@pytest.fixture
def current_botocore_retries() -> None:
    """The differential targets botocore's current standard mode, not the 2026 variant."""
    if standard.NEW_RETRIES_ENABLED:  # pragma: no cover - only with AWS_NEW_RETRIES_2026=true
        pytest.skip("AWS_NEW_RETRIES_2026 is set: botocore runs the 2026 variant")


@pytest.mark.usefixtures("current_botocore_retries")
@pytest.mark.parametrize(("ours", "theirs", "difference"), DIFFERENTIAL)
def test_standard_mode_matches_botocore(
    ours: ErrorFactory, theirs: Callable[[], Any], difference: str | None
) -> None:
    """On attempt 1 of 3 we retry exactly what botocore standard retries, except where the
    table names the intended difference (and with retry_timeouts=True timeouts match too); a
    retry costs the same quota tokens; is_throttle agrees with botocore's detector except
    that a bare 429 counts as a throttle for us."""
    botocore_retries = standard.StandardRetryConditions(max_attempts=3).is_retryable(theirs())
    we_retry = _delay(ours()) is not None
    if difference is None:
        assert we_retry is botocore_retries
    else:
        assert we_retry is not botocore_retries, difference
    if difference is not None and difference.startswith("may have run"):
        assert (_delay(ours(), policy=Retry(retry_timeouts=True)) is not None) is botocore_retries

    checker = standard.RetryQuotaChecker(quota.RetryQuota())
    assert checker.acquire_retry_quota(theirs())
    assert RetryQuota.cost_of(ours()) == 500 - checker._quota.available_capacity

    detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
    botocore_throttle = detector.is_throttling_error_from_context(theirs())
    error = ours()
    bare_429 = (
        getattr(error, "status_code", None) == 429 and getattr(error, "error_code", None) == "429"
    )
    assert is_throttle(error) is (botocore_throttle or bare_429)


@pytest.mark.usefixtures("current_botocore_retries")
@pytest.mark.parametrize("attempt", range(1, 9))
@pytest.mark.parametrize("rng", [0.0, 0.5, 0.999])
def test_backoff_matches_botocore(attempt: int, rng: float) -> None:
    """Without a server hint our delay is botocore's ExponentialBackoff.delay_amount."""
    context = _http_context(503, {}, b"")
    context.attempt_number = attempt
    expected = standard.ExponentialBackoff(random=lambda: rng).delay_amount(context)
    error = error_from_response(503, {}, b"")
    assert _delay(error, policy=Retry(max_attempts=10), attempt=attempt, rng=rng) == expected


@pytest.mark.parametrize("hint_ms", ["0", "700", "3000", "9000", "-5", "abc"])
@pytest.mark.parametrize("attempt", [1, 3, 6])
def test_retry_after_rule_matches_botocore_2026(
    monkeypatch: pytest.MonkeyPatch, hint_ms: str, attempt: int
) -> None:
    """For a throttling error (base 1 s in both) our x-amz-retry-after rule equals the dormant
    2026 variant's ExponentialBackoff: max(t, min(hint, t + 5))."""
    monkeypatch.setattr(standard, "NEW_RETRIES_ENABLED", True)
    headers = {"x-amzn-ErrorType": "ThrottlingException", "x-amz-retry-after": hint_ms}
    context = _http_context(400, headers, b"{}")
    context.attempt_number = attempt
    backoff = standard.ExponentialBackoff(
        random=lambda: 0.3,
        throttling_detector=standard.ThrottlingErrorDetector(standard.RetryEventAdapter()),
    )
    error = error_from_response(400, headers, b"{}")
    ours = _delay(error, policy=Retry(max_attempts=10), attempt=attempt, rng=0.3)
    assert ours == pytest.approx(backoff.delay_amount(context))


_CALL = st.tuples(
    st.lists(st.sampled_from(["timeout", "5xx", "closed"]), max_size=4),
    st.sampled_from(["ok", "fail"]),
)


def _error_pair(kind: str) -> tuple[BaseException, Any]:
    if kind == "timeout":
        return (
            RequestTimeout("x", timeout="connect", request_sent=False),
            _exception_context(botocore.exceptions.ConnectTimeoutError(endpoint_url=_URL)),
        )
    if kind == "closed":
        return (
            TransportError("x", request_sent=False),
            _exception_context(botocore.exceptions.EndpointConnectionError(endpoint_url=_URL)),
        )
    return error_from_response(503, {}, b""), _http_context(503, {}, b"")


@pytest.mark.usefixtures("current_botocore_retries")
@settings(max_examples=60, deadline=None)
@given(calls=st.lists(_CALL, max_size=150))
def test_quota_bookkeeping_matches_botocore(calls: list[tuple[list[str], str]]) -> None:
    """Over any sequence of calls (each: some retried failures, then success or failure) our
    shared quota holds the same balance as botocore's RetryQuotaChecker after every call, and
    both refuse the same retries."""
    ours = RetryQuota()
    checker = standard.RetryQuotaChecker(quota.RetryQuota())
    ok = botocore.awsrequest.AWSResponse(_URL, 200, {}, None)
    for failures, outcome in calls:
        state = RetryState(Retry(max_attempts=10), ours, started=0.0)
        request_context: dict[str, Any] = {}
        refused = False
        for kind in failures:
            error, context = _error_pair(kind)
            context.request_context = request_context
            granted = checker.acquire_retry_quota(context)
            delay = state.next_delay(error, now=0.0, now_epoch=NOW_EPOCH, rng=lambda: 0.0)
            assert (delay is not None) is granted
            if not granted:
                refused = True
                break
        if outcome == "ok" and not refused:
            state.record_success()
            checker.release_retry_quota(request_context, ok)
        assert ours.available == checker._quota.available_capacity
