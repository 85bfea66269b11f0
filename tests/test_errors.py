"""Error responses become the right typed exception, code and message derived as botocore does."""

from __future__ import annotations

import json

import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async._errors import error_from_response


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


# (status, headers, body) -> (class, error_code, message)
CASES = [
    pytest.param(
        400,
        {"x-amzn-ErrorType": "ValidationError:http://internal.amazon.com/coral/com.amazon.x/"},
        _body(message="bad endpoint"),
        sm.ValidationError,
        "ValidationError",
        "bad endpoint",
        id="header-code-with-coral-suffix",
    ),
    pytest.param(
        429,
        {},
        _body(__type="com.amazonaws.sagemaker#ModelNotReadyException", Message="not ready"),
        sm.ModelNotReadyException,
        "ModelNotReadyException",
        "not ready",
        id="body-__type-with-namespace",
    ),
    pytest.param(
        400,
        {"x-amzn-ErrorType": "HeaderCode"},
        _body(code="BodyCode", message="m"),
        sm.ServiceError,
        "HeaderCode",
        "m",
        id="header-beats-body",
    ),
    pytest.param(
        503, {}, _body(message="x"), sm.ServiceError, "503", "x", id="bare-503-code-is-status"
    ),
    pytest.param(
        502,
        {},
        b"<html><body>Bad Gateway</body></html>",
        sm.ServiceError,
        "502",
        "Bad Gateway",
        id="html-5xx-generic",
    ),
    pytest.param(504, {}, b"", sm.ServiceError, "504", "Gateway Timeout", id="empty-5xx"),
    pytest.param(
        400, {}, b"not json at all", sm.ServiceError, "400", "not json at all", id="text-4xx"
    ),
    pytest.param(403, {}, b"[1, 2]", sm.ServiceError, "403", "[1, 2]", id="json-not-object"),
    pytest.param(
        424,
        {"x-amzn-ErrorType": "ModelError"},
        _body(
            Message="Received client error (400) from primary",
            OriginalStatusCode=400,
            OriginalMessage="bad",
            LogStreamArn="arn:aws:logs:us-east-1:1:log-group:/x",
        ),
        sm.ModelError,
        "ModelError",
        "Received client error (400) from primary",
        id="model-error",
    ),
    pytest.param(
        500, {}, _body(Code="InternalFailure"), sm.InternalFailure, "InternalFailure", "", id="500"
    ),
    pytest.param(
        503,
        {"x-amzn-ErrorType": "ServiceUnavailable"},
        b"{}",
        sm.ServiceUnavailable,
        "ServiceUnavailable",
        "",
        id="503-modeled",
    ),
    pytest.param(
        530,
        {"x-amzn-ErrorType": "InternalDependencyException"},
        _body(message="dep"),
        sm.InternalDependencyException,
        "InternalDependencyException",
        "dep",
        id="530",
    ),
    *(
        pytest.param(
            status,
            {"x-amzn-ErrorType": code},
            _body(message="slow down"),
            sm.ThrottlingError,
            code,
            "slow down",
            id=f"throttle-{code}-{status}",
        )
        for code, status in [
            ("ThrottlingException", 400),
            ("ThrottlingException", 429),
            ("Throttling", 400),
            ("TooManyRequestsException", 429),
        ]
    ),
    *(
        pytest.param(
            403,
            {"x-amzn-ErrorType": code},
            _body(message="no"),
            cls,
            code,
            "no",
            id=f"auth-{code}",
        )
        for code, cls in [
            ("AccessDeniedException", sm.AccessDeniedError),
            ("OptInRequired", sm.AccessDeniedError),
            ("ExpiredTokenException", sm.AuthenticationError),
            ("InvalidSignatureException", sm.AuthenticationError),
            ("UnrecognizedClientException", sm.AuthenticationError),
            ("IncompleteSignature", sm.AuthenticationError),
            ("MissingAuthenticationToken", sm.AuthenticationError),
        ]
    ),
    pytest.param(
        400,
        {"x-amzn-ErrorType": "RequestExpired"},
        _body(message="too old"),
        sm.AuthenticationError,
        "RequestExpired",
        "too old",
        id="request-expired",
    ),
    pytest.param(
        408,
        {"x-amzn-ErrorType": "RequestTimeoutException"},
        b"{}",
        sm.RequestTimeoutError,
        "RequestTimeoutException",
        "",
        id="408",
    ),
    pytest.param(
        400,
        {"x-amzn-ErrorType": "SomethingNew"},
        _body(message="future"),
        sm.ServiceError,
        "SomethingNew",
        "future",
        id="unknown-code",
    ),
]


@pytest.mark.parametrize(("status", "headers", "body", "cls", "code", "message"), CASES)
def test_error_mapping(
    status: int,
    headers: dict[str, str],
    body: bytes,
    cls: type[sm.ServiceError],
    code: str,
    message: str,
) -> None:
    """Code/message precedence, sanitising and class choice follow spec §3.3 for every case."""
    err = error_from_response(status, {**headers, "x-amzn-RequestId": "rid-1"}, body)
    assert type(err) is cls
    assert isinstance(err, sm.ServiceError)
    assert err.status_code == status
    assert err.error_code == code
    assert err.message == message
    assert err.body == body
    assert isinstance(err, sm.SageMakerRuntimeError)


def test_generic_5xx_has_no_request_id_from_body_but_keeps_header() -> None:
    """A generic HTML 5xx still carries the x-amzn-RequestId header value when present."""
    err = error_from_response(502, {"X-Amzn-RequestId": "abc"}, b"<html></html>")
    assert err.request_id == "abc"


def test_model_error_fields() -> None:
    """ModelError exposes the container's status, message and log stream; extra keys ignored."""
    err = error_from_response(
        424,
        {"x-amzn-ErrorType": "ModelError"},
        _body(
            Message="m",
            OriginalStatusCode=0,
            OriginalMessage="timed out",
            LogStreamArn="arn:x",
            SomethingElse=1,
        ),
    )
    assert isinstance(err, sm.ModelError)
    assert err.original_status_code == 0
    assert err.original_message == "timed out"
    assert err.log_stream_arn == "arn:x"
    assert "ModelError" in str(err) and "HTTP 424" in str(err)


def test_model_error_fields_missing_or_mistyped() -> None:
    """Absent or wrongly typed ModelError fields read as None, never raise."""
    err = error_from_response(424, {}, _body(__type="ModelError", OriginalStatusCode="400"))
    assert isinstance(err, sm.ModelError)
    assert err.original_status_code is None
    assert err.original_message is None
    assert err.log_stream_arn is None


@pytest.mark.parametrize(
    ("code", "cls", "error_code"),
    [
        ("ModelStreamError", sm.ModelStreamError, "StreamBroken"),
        ("InternalStreamFailure", sm.InternalStreamFailure, "InternalStreamFailure"),
    ],
)
def test_stream_error_codes_as_http_errors(
    code: str, cls: type[sm.StreamError], error_code: str
) -> None:
    """The two in-stream error shapes are mapped to their classes even as HTTP errors."""
    err = error_from_response(
        400, {"x-amzn-ErrorType": code}, _body(Message="broke", ErrorCode="StreamBroken")
    )
    assert type(err) is cls
    assert err.message == "broke"
    assert err.error_code == error_code


@pytest.mark.parametrize(
    ("err", "retryable"),
    [
        (error_from_response(500, {}, _body(Code="InternalFailure")), True),
        (error_from_response(503, {}, b""), True),
        (error_from_response(502, {}, b""), True),
        (error_from_response(530, {}, _body(Code="InternalDependencyException")), False),
        (error_from_response(424, {}, _body(Code="ModelError")), False),
        (error_from_response(400, {}, _body(Code="ValidationError")), False),
        (error_from_response(429, {}, _body(Code="ModelNotReadyException")), True),
        (error_from_response(400, {}, _body(Code="ThrottlingException")), True),
        (error_from_response(403, {}, _body(Code="AccessDeniedException")), False),
        (error_from_response(400, {}, _body(Code="PriorRequestNotComplete")), True),
        (sm.TransportError("x", request_sent=False), True),
        (sm.TransportError("x", request_sent=True), False),
        (sm.RequestTimeout("x", timeout="connect", request_sent=False), True),
        (sm.ParamValidationError("p", "bad"), False),
    ],
)
def test_retryable_flags(err: sm.SageMakerRuntimeError, retryable: bool) -> None:
    """Each error says whether another attempt can help; a sent request is never assumed safe."""
    assert err.retryable is retryable


def test_error_tree() -> None:
    """The hierarchy drawn in _errors' docstring holds."""
    assert issubclass(sm.RequestTimeout, sm.TransportError)
    assert issubclass(sm.ParamValidationError, ValueError)
    stream_classes: tuple[type[Exception], ...] = (
        sm.ModelStreamError,
        sm.InternalStreamFailure,
        sm.EventStreamProtocolError,
    )
    for stream_cls in stream_classes:
        assert issubclass(stream_cls, sm.StreamError)
    for cls in (
        sm.ValidationError,
        sm.ModelError,
        sm.ModelNotReadyException,
        sm.InternalFailure,
        sm.ServiceUnavailable,
        sm.InternalDependencyException,
        sm.ThrottlingError,
        sm.AccessDeniedError,
        sm.AuthenticationError,
        sm.RequestTimeoutError,
    ):
        assert issubclass(cls, sm.ServiceError)
    for base in (sm.ServiceError, sm.StreamError, sm.TransportError, sm.CredentialsError):
        assert issubclass(base, sm.SageMakerRuntimeError)


def test_error_headers_match_case_insensitively() -> None:
    """``exc.headers`` finds a header whatever case the caller or the wire used."""
    err = error_from_response(
        400,
        {"x-amzn-errortype": "ThrottlingException", "retry-after": "7", "X-Custom": "v"},
        b'{"message": "slow down"}',
    )
    assert isinstance(err, sm.ServiceError)
    assert err.headers["Retry-After"] == "7" and err.headers.get("RETRY-AFTER") == "7"
    assert "x-custom" in err.headers and err.headers["x-CUSTOM"] == "v"
    assert err.headers.get(42) is None  # type: ignore[call-overload]
    assert sorted(err.headers) == ["retry-after", "x-amzn-errortype", "x-custom"]
    assert len(err.headers) == 3 and dict(err.headers)["retry-after"] == "7"
