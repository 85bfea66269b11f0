"""Every exception the package raises, and the one translation of an HTTP error response.

The tree::

    SageMakerRuntimeError                 base of everything we raise
    ├── ParamValidationError              bad input caught before any I/O (names the parameter)
    ├── CredentialsError                  none found / invalid / refresh failed
    ├── ClientClosedError                 the client was used after aclose()
    ├── TransportError                    no HTTP response: connect/read/write failure
    │   ├── RequestTimeout                a connect / read / write / pool deadline passed
    │   └── ProtocolNegotiationError      the server would not speak HTTP/2 (TLS ALPN)
    ├── ResponseTooLarge                  the response body is over max_response_bytes
    ├── ServiceError                      an HTTP error response (status_code, error_code, ...)
    │   ├── ValidationError               400, the service rejected the input
    │   │   ├── EndpointNotFoundError     OpenAI route: no such endpoint in the account
    │   │   └── InputValidationError      400, a bidirectional stream's input was rejected
    │   ├── ModelError                    424, the model container answered with an error
    │   ├── ModelNotReadyException        429, the model is not ready (scale from zero, ...)
    │   │   └── NoCapacityError           OpenAI route: the inference component has no capacity
    │   ├── InternalFailure               500
    │   │   └── InternalServerError       500, bidirectional streams' name for it
    │   ├── ServiceUnavailable            503
    │   │   └── ServiceUnavailableError   503, bidirectional streams' name for it
    │   ├── InternalDependencyException   530
    │   ├── ThrottlingError               any throttling code (ThrottlingException, ...)
    │   ├── AccessDeniedError             IAM said no (AccessDeniedException, OptInRequired, ...)
    │   ├── AuthenticationError           the signature or credentials were rejected
    │   ├── RequestTimeoutError           408, the service timed out reading the request
    │   └── S3Error                       an S3 error response (async inference input/output)
    ├── SessionClosedError                a stateful session was closed or has expired
    ├── AsyncInferenceFailure             the async job wrote a failure object
    ├── AsyncInferenceTimeout             the async job's result did not appear in time
    └── StreamError                       raised while iterating a response stream
        ├── ModelStreamError              in-stream: ModelInvocationTimeExceeded | StreamBroken
        ├── InternalStreamFailure         in-stream: the service failed mid-stream
        ├── EventStreamProtocolError      CRC mismatch, bad lengths, truncation, bad header type
        ├── ContainerError                the container's own error inside a 200 stream
        ├── StreamTruncated               a chat stream ended before [DONE] / its final chunk
        └── FramingError                  bytes malformed for the framing (UTF-8, JSON, line size)

Service errors keep the service's own names so users find them in the AWS documentation.
Every class says whether a retry can help (``retryable``), so a retry policy can read that
flag instead of switching on types (async-inference polling does). Secrets never reach a
message: nothing here formats request headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar, overload

_T = TypeVar("_T")

__all__ = [
    "AccessDeniedError",
    "AsyncInferenceFailure",
    "AsyncInferenceTimeout",
    "AuthenticationError",
    "ClientClosedError",
    "ContainerError",
    "CredentialsError",
    "EndpointNotFoundError",
    "EventStreamProtocolError",
    "FramingError",
    "InputValidationError",
    "InternalDependencyException",
    "InternalFailure",
    "InternalServerError",
    "InternalStreamFailure",
    "ModelError",
    "ModelNotReadyException",
    "ModelStreamError",
    "NoCapacityError",
    "ParamValidationError",
    "ProtocolNegotiationError",
    "RequestTimeout",
    "RequestTimeoutError",
    "ResponseTooLarge",
    "S3Error",
    "SageMakerRuntimeError",
    "ServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableError",
    "SessionClosedError",
    "StreamError",
    "StreamTruncated",
    "ThrottlingError",
    "TransportError",
    "ValidationError",
    "chat_error_from_response",
    "error_from_event",
    "error_from_response",
]


class SageMakerRuntimeError(Exception):
    """Base class of every exception raised by sagemaker-rt-async."""

    retryable: ClassVar[bool] = False


class ParamValidationError(SageMakerRuntimeError, ValueError):
    """An argument was rejected before any I/O; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.reason = message


class CredentialsError(SageMakerRuntimeError):
    """No usable AWS credentials: none found, invalid, or the refresh failed."""


class ClientClosedError(SageMakerRuntimeError, RuntimeError):
    """The client was used after ``aclose()``."""


class TransportError(SageMakerRuntimeError):
    """No HTTP response was received: the connection failed, broke, or timed out.

    ``request_sent`` is False when the request provably never left (a connect failure), which
    is what makes a retry safe for a non-idempotent inference call. When a response stream
    broke, ``request_id``, ``parts_received`` and ``bytes_received`` say how far it got.
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent
        self.closed_before_response = False
        """The connection was closed or reset before any response byte (not a timeout)."""
        # Set when the connection broke in the middle of a response stream.
        self.request_id: str | None = None
        self.parts_received = 0
        self.bytes_received = 0

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """Safe to send again: the request never left, or the connection closed before any answer.

        The latter is mostly a pooled connection the server had already closed; botocore retries
        it too. A timeout after sending is not retryable by itself: the model may be running.
        """
        return not self.request_sent or self.closed_before_response


class RequestTimeout(TransportError):
    """A deadline passed; ``timeout`` says which (connect, read, write, pool, ...)."""

    def __init__(self, message: str, *, timeout: str, request_sent: bool = True) -> None:
        super().__init__(message, request_sent=request_sent)
        self.timeout = timeout


class ProtocolNegotiationError(TransportError):
    """The server did not agree to HTTP/2 (TLS ALPN chose another protocol); not retryable."""

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """Another attempt would negotiate the same way."""
        return False


class ResponseTooLarge(SageMakerRuntimeError):
    """The response body is larger than the client accepts (``max_response_bytes``).

    Nothing past the limit was read (a ``Content-Length`` over it is refused before reading)
    and the connection was closed. ``limit`` is the limit, ``content_length`` the declared size
    when the server sent one. Not retryable: the model already answered.
    """

    def __init__(
        self, message: str, *, limit: int, content_length: int | None, request_id: str | None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.content_length = content_length
        self.request_id = request_id


class SessionClosedError(SageMakerRuntimeError):
    """The session was closed (the service said so) or has expired; open a new one."""


class ServiceError(SageMakerRuntimeError):
    """The service answered with an HTTP error status.

    ``error_code`` and ``message`` are derived exactly as botocore derives them (the
    ``x-amzn-ErrorType`` header, then the body's ``code``/``Code``/``__type``, then the status).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.request_id = request_id
        self.headers: Mapping[str, str] = ResponseHeaders(headers or {})
        """The response headers; names match case-insensitively (``headers["Retry-After"]``)."""
        self.body = body
        self.fields: dict[str, Any] = dict(fields or {})

    @property
    def reason_code(self) -> str | None:
        """The body's own ``ErrorCode`` member, when it has one (bidirectional-stream errors)."""
        value = self.fields.get("ErrorCode", self.fields.get("errorCode"))
        return value if isinstance(value, str) else None

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """5xx gateway/transient statuses and transient codes are worth another attempt."""
        return self.status_code in _RETRYABLE_STATUS or self.error_code in _TRANSIENT_CODES

    def __str__(self) -> str:
        rid = f", request_id={self.request_id}" if self.request_id else ""
        text = f": {self.message}" if self.message else ""
        return f"{self.error_code} (HTTP {self.status_code}{rid}){text}"

    @property
    def error_type(self) -> str | None:
        """The OpenAI error envelope's ``type`` (OpenAI-compatible route), when there is one."""
        value = self.fields.get("type")
        return value if isinstance(value, str) else None

    @property
    def error_param(self) -> str | None:
        """The OpenAI error envelope's ``param`` (OpenAI-compatible route), when there is one."""
        value = self.fields.get("param")
        return value if isinstance(value, str) else None

    @property
    def raw_message(self) -> str:
        """The message exactly as the service sent it (``message`` may be the container's own,
        unwrapped from the front door's text; this one keeps the CloudWatch URL and account)."""
        value = self.fields.get("raw_message")
        return value if isinstance(value, str) else self.message


class ValidationError(ServiceError):
    """400 ValidationError: the service rejected a parameter."""


class EndpointNotFoundError(ValidationError):
    """400 on the OpenAI-compatible route: no endpoint of that name in the account and region."""


class InputValidationError(ValidationError):
    """400 InputValidationError (bidirectional streams): a member or the endpoint was rejected;
    ``reason_code`` is the body's ``ErrorCode``."""


class ModelError(ServiceError):
    """424 ModelError: the model container returned an error or timed out.

    ``original_status_code`` is the container's status (0 when it timed out),
    ``original_message`` its body, ``log_stream_arn`` where its logs are.
    """

    @property
    def original_status_code(self) -> int | None:
        """The status the container answered with (0 for a container timeout)."""
        value = self.fields.get("OriginalStatusCode")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def original_message(self) -> str | None:
        """The body the container answered with."""
        value = self.fields.get("OriginalMessage")
        return value if isinstance(value, str) else None

    @property
    def log_stream_arn(self) -> str | None:
        """The CloudWatch log stream of the container."""
        value = self.fields.get("LogStreamArn")
        return value if isinstance(value, str) else None


class ModelNotReadyException(ServiceError):
    """429 ModelNotReadyException: the model is not ready to serve (e.g. scaling from zero)."""

    retryable = True


class NoCapacityError(ModelNotReadyException):
    """400 on the OpenAI-compatible route: the inference component (or endpoint) has no capacity,
    typically scaled to zero; the rejected request starts the scale-out. Retryable; pass
    ``retry=Retry(wait_for_capacity=seconds)`` to keep retrying while capacity comes up."""


class InternalFailure(ServiceError):
    """500 InternalFailure: the service failed."""


class InternalServerError(InternalFailure):
    """500 InternalServerError (bidirectional streams): the service failed."""


class ServiceUnavailable(ServiceError):
    """503 ServiceUnavailable: the service is unavailable; try again."""


class ServiceUnavailableError(ServiceUnavailable):
    """503 ServiceUnavailableError (bidirectional streams): unavailable; try again."""


class InternalDependencyException(ServiceError):
    """530 InternalDependencyException: a dependency of the service failed (not retried)."""

    retryable = False


class ThrottlingError(ServiceError):
    """The request rate is too high (ThrottlingException and the other throttling codes)."""

    retryable = True


class AccessDeniedError(ServiceError):
    """IAM denied the action (AccessDeniedException, OptInRequired, NotAuthorized)."""

    retryable = False


class AuthenticationError(ServiceError):
    """The signature or the credentials were rejected (expired token, bad signature, ...)."""

    retryable = False


class RequestTimeoutError(ServiceError):
    """408 RequestTimeoutException: the service timed out reading the request."""

    retryable = True


class S3Error(ServiceError):
    """S3 answered with an error (``error_code`` from its XML body, e.g. NoSuchKey, AccessDenied).

    ``bucket`` and ``key`` name the object; ``bucket_region`` is S3's region hint when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str,
        bucket: str,
        key: str,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        bucket_region: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            error_code=error_code,
            request_id=request_id,
            headers=headers,
            body=body,
        )
        self.bucket = bucket
        self.key = key
        self.bucket_region = bucket_region

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """5xx and S3's SlowDown are worth another attempt."""
        return self.status_code >= 500 or self.error_code in ("SlowDown", "RequestTimeout")

    def __str__(self) -> str:
        return f"{super().__str__()} [s3://{self.bucket}/{self.key}]"


class AsyncInferenceFailure(SageMakerRuntimeError):
    """The async inference job failed: its failure object appeared at ``failure_location``.

    ``payload`` is that object's bytes (the error the model or the service wrote) and ``job``
    the ``AsyncInferenceJob`` it belongs to.
    """

    def __init__(self, message: str, *, job: Any, payload: bytes, content_type: str | None):
        super().__init__(message)
        self.message = message
        self.job = job
        self.payload = payload
        self.content_type = content_type

    @property
    def inference_id(self) -> str | None:
        """The failed job's InferenceId."""
        value = getattr(self.job, "inference_id", None)
        return value if isinstance(value, str) else None


class AsyncInferenceTimeout(SageMakerRuntimeError, TimeoutError):
    """Neither the output nor the failure object appeared before the deadline.

    The job may still finish later: ``job`` can be awaited again.
    """

    def __init__(self, message: str, *, job: Any, waited: float) -> None:
        super().__init__(message)
        self.job = job
        self.waited = waited


class StreamError(SageMakerRuntimeError):
    """Raised while iterating a response stream, after HTTP 200.

    ``parts_received`` / ``bytes_received`` say how much output was delivered before the error
    (nothing delivered is ever retried automatically).
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        request_id: str | None = None,
        parts_received: int = 0,
        bytes_received: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.request_id = request_id
        self.parts_received = parts_received
        self.bytes_received = bytes_received

    def __str__(self) -> str:
        code = f"{self.error_code}: " if self.error_code else ""
        rid = f" (request_id={self.request_id})" if self.request_id else ""
        return f"{code}{self.message}{rid}"


class ModelStreamError(StreamError):
    """The model's stream failed; ``error_code`` is ModelInvocationTimeExceeded or StreamBroken."""


class InternalStreamFailure(StreamError):
    """The service failed in the middle of a response stream."""


class EventStreamProtocolError(StreamError):
    """The event-stream bytes are invalid: CRC mismatch, bad lengths, truncation, bad header."""


class FramingError(StreamError):
    """The stream's bytes are malformed for the requested framing.

    Invalid UTF-8, a line longer than the limit, text that is not JSON where JSON is required,
    or a stream in which no value matched the container format.
    """


class StreamTruncated(StreamError):
    """A chat-completions stream ended (EOF or reset) before ``data: [DONE]`` (SSE) or a final
    chunk carrying ``finish_reason`` (JSON lines): the answer is incomplete, not a success."""


class ContainerError(StreamError):
    """The model container reported an error inside a stream that had started (HTTP 200).

    ``partial_text`` is the answer text delivered before the error; ``payload`` is the decoded
    error value (usually the JSON object the container sent); ``error_code`` is the error's own
    name in that object and ``status_code`` the HTTP status it states (None when it has none).
    """

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        payload: object = None,
        error_code: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        parts_received: int = 0,
        bytes_received: int = 0,
    ) -> None:
        super().__init__(
            message,
            error_code=error_code,
            request_id=request_id,
            parts_received=parts_received,
            bytes_received=bytes_received,
        )
        self.partial_text = partial_text
        self.payload = payload
        self.status_code = status_code


# Statuses botocore's standard mode retries whatever the code (spec §6.2).
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
    }
)
_ACCESS_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "OptInRequired", "NotAuthorized"}
)
_AUTH_CODES = frozenset(
    {
        "ExpiredTokenException",
        "ExpiredToken",
        "IncompleteSignature",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "RequestExpired",
    }
)
_BY_CODE: dict[str, type[ServiceError]] = {
    "ValidationError": ValidationError,
    "InputValidationError": InputValidationError,
    "InternalServerError": InternalServerError,
    "ServiceUnavailableError": ServiceUnavailableError,
    "ModelError": ModelError,
    "ModelNotReadyException": ModelNotReadyException,
    "InternalFailure": InternalFailure,
    "ServiceUnavailable": ServiceUnavailable,
    "InternalDependencyException": InternalDependencyException,
    "RequestTimeoutException": RequestTimeoutError,
    **dict.fromkeys(THROTTLING_CODES, ThrottlingError),
    **dict.fromkeys(_ACCESS_CODES, AccessDeniedError),
    **dict.fromkeys(_AUTH_CODES, AuthenticationError),
}
_STREAM_CODES: dict[str, type[StreamError]] = {
    "ModelStreamError": ModelStreamError,
    "InternalStreamFailure": InternalStreamFailure,
}


class ResponseHeaders(Mapping[str, str]):
    """A read-only header mapping whose names match case-insensitively, as HTTP's do.

    Iteration yields the names in lower case (as httpx's ``Headers`` does).
    """

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = {str(k).lower(): v for k, v in headers.items()}

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str | bytes, str | bytes]]) -> ResponseHeaders:
        """Headers as they came off the wire: bytes are decoded as ISO-8859-1 (as botocore
        does), and a name sent more than once keeps every value, joined with ``", "``."""
        items: dict[str, str] = {}
        for name, value in pairs:
            key = (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            items[key] = f"{items[key]}, {text}" if key in items else text
        made = cls.__new__(cls)
        made._items = items
        return made

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._items[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, /, default: str | _T) -> str | _T: ...

    def get(self, name: str, /, default: object = None) -> object:
        """The value of ``name`` (any case), or ``default``."""
        if not isinstance(name, str):
            return default
        return self._items.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._items!r})"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def _sanitize_code(code: str) -> str:
    # botocore: cut at the first ':' (ValidationError:http://internal...), then keep what follows
    # the last '#' (com.amazonaws.sagemaker#ModelError).
    return code.split(":", 1)[0].rsplit("#", 1)[-1]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def parse_error_body(status: int, body: bytes) -> tuple[dict[str, Any], bool]:
    """Decode an error body as botocore does; returns (fields, generic_5xx_short_circuit)."""
    stripped = body.strip()
    if status >= 500 and (not stripped or stripped.startswith(b"<html>")):
        return {}, True
    if not body:
        return {}, False
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"message": body.decode("utf-8", "replace")}, False
    if not isinstance(parsed, dict):
        return {"message": body.decode("utf-8", "replace")}, False
    return parsed, False


def error_from_response(
    status_code: int, headers: Mapping[str, str], body: bytes
) -> ServiceError | StreamError:
    """Build the typed error for an HTTP error response (spec §3.3, botocore's rest-json rules)."""
    request_id = _header(headers, "x-amzn-RequestId") or _header(headers, "x-amz-request-id")
    fields, generic = parse_error_body(status_code, body)
    if generic:
        code = str(status_code)
        message = _reason(status_code)
    else:
        raw_message = fields.get("message", fields.get("Message", ""))
        message = "" if raw_message is None else str(raw_message)
        # Precedence by presence, not truthiness: botocore takes a present-but-empty code.
        raw_code: Any = _header(headers, "x-amzn-ErrorType")
        if raw_code is None:
            key = next((k for k in ("code", "Code", "__type") if k in fields), None)
            raw_code = fields[key] if key is not None else str(status_code)
        code = _sanitize_code(str(raw_code))
    stream_cls = _STREAM_CODES.get(code)
    if stream_cls is not None:
        # Only ModelStreamError models an ErrorCode member (ModelInvocationTimeExceeded, ...).
        error_code = fields.get("ErrorCode") if stream_cls is ModelStreamError else None
        return stream_cls(
            message,
            error_code=error_code if isinstance(error_code, str) else code,
            request_id=request_id,
        )
    cls = _BY_CODE.get(code, ServiceError)
    return cls(
        message,
        status_code=status_code,
        error_code=code,
        request_id=request_id,
        headers=headers,
        body=body,
        fields=fields,
    )


def error_from_event(headers: Mapping[str, object], payload: bytes) -> StreamError:
    """The typed error of an in-stream ``exception`` or ``error`` event-stream message.

    An ``exception`` message names its modeled type (``:exception-type``) and carries a JSON
    body (``Message``, and ``ErrorCode`` for ModelStreamError, which botocore drops); an
    ``error`` message carries ``:error-code`` / ``:error-message`` headers. The same classes as
    an HTTP-level answer of those codes (``error_from_response``): one mapping for both.
    """
    if headers.get(":message-type") == "exception":
        name = str(headers.get(":exception-type", ""))
        fields: dict[str, Any] = {}
        try:
            parsed = json.loads(payload) if payload else {}
            if isinstance(parsed, dict):
                fields = parsed
        except (ValueError, RecursionError):
            fields = {"Message": payload.decode("utf-8", "replace")}
        text = fields.get("Message", fields.get("message", ""))
        text = text if isinstance(text, str) else str(text)
        cls = _STREAM_CODES.get(name)
        if cls is ModelStreamError:
            code = fields.get("ErrorCode")
            return ModelStreamError(text, error_code=code if isinstance(code, str) else None)
        if cls is not None:
            return cls(text, error_code=name)
        return StreamError(text, error_code=name or "UnknownException")
    code = str(headers.get(":error-code", "UnknownError"))
    text = str(headers.get(":error-message", ""))
    return StreamError(text, error_code=code)


# --- the OpenAI-compatible route (spec openai-compatible.md §7) ------------------------------

# The front door quoting the container's whole body (DOTALL: the body may span lines).
_FRONT_DOOR = re.compile(
    r'^Received (client|server) error \((\d+)\) from (\S+) with message "(.*)"', re.DOTALL
)
# Matched on the service's own message only, at its start: a container may echo client text
# holding the phrase, and that is never a cold start (spec §7).
_NO_CAPACITY = re.compile(r"^(?:Inference Component|Endpoint)\b[^\n]*?\bhas no capacity")
_NOT_FOUND = re.compile(r"^Endpoint \S+ of account \S+ not found\.?$")
_TOKEN_TEXT = re.compile(r"sagemaker-api-key-[A-Za-z0-9+/=]+")
_TOKEN_BYTES = re.compile(rb"sagemaker-api-key-[A-Za-z0-9+/=]+")
_BY_STATUS: dict[int, type[ServiceError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AccessDeniedError,
    408: RequestTimeoutError,
    424: ModelError,
    429: ThrottlingError,
    500: InternalFailure,
    503: ServiceUnavailable,
}
BEARER_ACTIONS = "sagemaker:CallWithBearerToken and sagemaker:InvokeEndpoint"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _container_message(inner: str) -> tuple[str, Any]:
    """The container's own message inside the body the front door quoted, and that body parsed."""
    try:
        parsed = json.loads(inner)
    except (ValueError, RecursionError):
        return inner, None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"], parsed
        for key in ("message", "detail", "error"):
            if isinstance(parsed.get(key), str):
                return parsed[key], parsed
    return inner, parsed


def chat_error_from_response(
    status_code: int, headers: Mapping[str, str], body: bytes
) -> ServiceError:
    """The typed error of an error answer on the OpenAI-compatible route (spec §7).

    Decided by the status; the OpenAI envelope (``error.message/type/code/param``) is read when
    present, else botocore's rest-json rules, else the raw text. The front door's
    ``Received client error (N) from … with message "…"`` becomes a ``ModelError`` whose
    ``message`` is the container's own and ``original_status_code`` is N (``raw_message`` keeps
    the whole text). ``NoCapacityError`` and ``EndpointNotFoundError`` are matched on status 400
    and the start of the service's message only. A bearer token is never quoted back.
    """
    request_id = _header(headers, "x-amzn-RequestId") or _header(headers, "x-amz-request-id")
    body = _TOKEN_BYTES.sub(b"sagemaker-api-key-***", body)
    parsed, generic = parse_error_body(status_code, body)
    fields: dict[str, Any] = {}
    envelope = parsed.get("error")
    if isinstance(envelope, dict):
        raw = _text(envelope.get("message")) or ""
        etype, code, param = (_text(envelope.get(k)) for k in ("type", "code", "param"))
        fields.update({"type": etype, "code": code, "param": param})
        error_code = code or etype or str(status_code)
    elif generic:
        raw, error_code = _reason(status_code), str(status_code)
    else:
        raw = _text(parsed.get("message", parsed.get("Message"))) or ""
        raw_code: Any = _header(headers, "x-amzn-ErrorType")
        if raw_code is None:
            key = next((k for k in ("code", "Code", "__type") if k in parsed), None)
            raw_code = parsed[key] if key is not None else str(status_code)
        error_code = _sanitize_code(str(raw_code))
    raw = _TOKEN_TEXT.sub("sagemaker-api-key-***", raw)
    fields["raw_message"] = raw
    message = raw
    cls: type[ServiceError]
    front = _FRONT_DOOR.match(raw)
    if front is not None:
        inner = front.group(4)
        message, container_body = _container_message(inner)
        fields.update(
            OriginalStatusCode=int(front.group(2)),
            OriginalMessage=inner,
            container_body=container_body,
        )
        cls = ModelError
    elif status_code == 400 and _NO_CAPACITY.match(raw):
        cls = NoCapacityError
    elif status_code == 400 and _NOT_FOUND.match(raw):
        cls = EndpointNotFoundError
    elif status_code in (401, 403):
        cls = _BY_STATUS[status_code]
        message = (
            f"{raw.rstrip('. ') + '. ' if raw else ''}The bearer token was refused even after "
            f"minting a new one: the identity that signs it needs {BEARER_ACTIONS} on the "
            "endpoint, and its credentials must be valid for the endpoint's region"
        )
    else:
        cls = _BY_CODE.get(error_code) or _BY_STATUS.get(status_code, ServiceError)
    return cls(
        message,
        status_code=status_code,
        error_code=error_code,
        request_id=request_id,
        headers=headers,
        body=body,
        fields=fields,
    )
