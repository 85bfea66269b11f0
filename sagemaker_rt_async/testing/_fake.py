"""A fake SageMaker Runtime service: routing, SigV4 checks, handlers and service-shaped errors.

It also serves the OpenAI-compatible route (``/endpoints/{e}[/inference-components/{ic}]/openai/
v1/chat/completions``, spec openai-compatible.md): bearer tokens are checked as the service
checks them (signature with the fake's keys, region, expiry, ``Version=1``), the handler gets an
``Invocation`` whose ``operation`` is ``"ChatCompletions"``, its answer goes out as the
container's own body (JSON, or a plain SSE / JSON-lines stream, no event-stream framing), and
failures come back in the route's OpenAI-envelope shapes (unknown endpoint, no capacity, the
front door quoting a container's 400, a refused token).

The same ``FakeSageMakerRuntime`` object answers through two front doors: an in-process httpx
transport (``fake.transport()``) and a real HTTP/1.1 server on 127.0.0.1 (``fake.serve()``).
Handlers are plain functions (sync or async) that receive an ``Invocation`` and return the
model's answer; raising ``ModelFailure`` or ``ServiceFailure`` produces the error responses the
real service sends.
"""

from __future__ import annotations

import hmac
import inspect
import json
import re
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote

from .._bearer import verify_token
from .._endpoints import parse_s3_uri
from .._eventstream import error_message, exception_message, payload_part
from .._models import Credentials
from .._sigv4 import canonical_headers, parse_query, sha256_hex, sign_headers
from ._base import (
    RESET,
    TEST_CREDENTIALS,
    FakeResponse,
    RecordedRequest,
    parse_authorization,
)

if TYPE_CHECKING:
    from .._client import SageMakerRuntimeClient
    from ._server import LoopbackServer
    from ._transport import FakeTransport

__all__ = [
    "NO_CAPACITY_MESSAGE",
    "RESET",
    "TEST_CREDENTIALS",
    "FakeResponse",
    "FakeSageMakerRuntime",
    "InternalStreamFault",
    "Invocation",
    "ModelFailure",
    "ModelResponse",
    "ModelStream",
    "ModelStreamFailure",
    "RecordedRequest",
    "ResetConnection",
    "ServiceFailure",
    "StreamFault",
]

_OPERATIONS = {
    "invocations": "InvokeEndpoint",
    "invocations-response-stream": "InvokeEndpointWithResponseStream",
    "async-invocations": "InvokeEndpointAsync",
}
_MAX_SKEW_S = 15 * 60  # SigV4: a request must arrive within 15 minutes of X-Amz-Date
_OPENAI_ROUTE = re.compile(
    r"^/endpoints/([^/]+)(?:/inference-components/([^/]+))?/openai/v1(/.*)?$"
)
# The scale-to-zero answer, verbatim as measured on the real route (spec §7).
NO_CAPACITY_MESSAGE = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
    "in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)


@dataclass(frozen=True)
class Invocation:
    """What a handler receives: the operation, the endpoint and the request members."""

    operation: str
    endpoint_name: str
    body: bytes
    headers: Mapping[str, str] = field(repr=False)
    """Request headers with lower-case names."""
    inference_component: str | None = None
    """The inference component named in the path (OpenAI-compatible route)."""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str | None:
        """The ContentType member (its header depends on the operation)."""
        if self.operation == "InvokeEndpointAsync":
            return self.headers.get("x-amzn-sagemaker-content-type")
        return self.headers.get("content-type")

    @property
    def accept(self) -> str | None:
        """The Accept member (its header depends on the operation)."""
        if self.operation == "InvokeEndpoint":
            return self.headers.get("accept")
        return self.headers.get("x-amzn-sagemaker-accept")

    def member(self, header: str) -> str | None:
        """Any other member by its header name, e.g. ``X-Amzn-SageMaker-Session-Id``."""
        return self.headers.get(header.lower())

    @property
    def custom_attributes(self) -> str | None:
        """The CustomAttributes member."""
        return self.member("X-Amzn-SageMaker-Custom-Attributes")

    @property
    def session_id(self) -> str | None:
        """The SessionId member."""
        return self.member("X-Amzn-SageMaker-Session-Id")


@dataclass
class ModelResponse:
    """A handler's answer with response members; a bare bytes/str/JSON value also works."""

    body: bytes | str | Any = b""
    content_type: str | None = None
    custom_attributes: str | None = None
    new_session_id: str | None = None
    closed_session_id: str | None = None
    invoked_production_variant: str | None = None


class ModelFailure(Exception):
    """Raise in a handler: the container failed, so the service answers 424 ModelError."""

    def __init__(
        self,
        original_status_code: int = 500,
        original_message: str = "internal error",
        *,
        log_stream_arn: str | None = None,
    ) -> None:
        super().__init__(original_message)
        self.original_status_code = original_status_code
        self.original_message = original_message
        self.log_stream_arn = log_stream_arn


class ServiceFailure(Exception):
    """Raise in a handler: the service answers with this error (status, code, message)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str = "",
        *,
        fields: Mapping[str, Any] | None = None,
        headers: Sequence[tuple[str, str]] = (),
        raw_body: bytes | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = list(headers)
        self.raw_body = raw_body


class ResetConnection(Exception):
    """Raise in a handler: the connection is reset before any response is sent."""


class ModelStreamFailure(Exception):
    """Raise while streaming: the stream ends with a ModelStreamError exception event."""

    def __init__(self, message: str = "stream broken", *, error_code: str = "StreamBroken"):
        super().__init__(message)
        self.message = message
        self.error_code = error_code


class InternalStreamFault(Exception):
    """Raise while streaming: the stream ends with an InternalStreamFailure exception event."""

    def __init__(self, message: str = "internal stream failure") -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StreamFault:
    """Yield from a streaming handler to break the wire: see the constructors."""

    kind: str
    data: bytes = b""

    @classmethod
    def corrupt_crc(cls, part: bytes | str) -> StreamFault:
        """Send ``part`` as a PayloadPart whose message CRC is wrong."""
        wire = bytearray(payload_part(_as_part(part)))
        wire[-1] ^= 0xFF
        return cls("raw", bytes(wire))

    @classmethod
    def truncate(cls, part: bytes | str) -> StreamFault:
        """Send the first half of a PayloadPart message, then end the body cleanly."""
        wire = payload_part(_as_part(part))
        return cls("truncate", wire[: len(wire) // 2])

    @classmethod
    def reset(cls) -> StreamFault:
        """Reset the connection (TCP RST on the loopback server; a ReadError in-process)."""
        return cls("reset")

    @classmethod
    def error(cls, code: str, message: str) -> StreamFault:
        """Send a ``:message-type error`` message (an unmodeled service error)."""
        return cls("raw", error_message(code, message))

    @classmethod
    def raw(cls, wire: bytes) -> StreamFault:
        """Send these bytes as they are (e.g. an event of an unknown type)."""
        return cls("raw", wire)


@dataclass
class ModelStream:
    """A streaming handler's answer with response members (parts: any (async) iterable)."""

    parts: Any
    content_type: str | None = None
    custom_attributes: str | None = None
    invoked_production_variant: str | None = None


@dataclass(frozen=True)
class _AsyncConfig:
    output_path: str
    failure_path: str | None
    processing_time: float


@dataclass(frozen=True)
class _PendingJob:
    ready_at: float
    handler: Any
    invocation: Invocation
    input_location: str | None
    output: str
    failure: str | None


Handler: TypeAlias = Callable[[Invocation], Any]


def _json_error(
    status: int, code: str, message: str, request_id: str, fields: Mapping[str, Any] | None = None
) -> FakeResponse:
    payload: dict[str, Any] = {"message": message} if message else {}
    payload.update(fields or {})
    return FakeResponse(
        status,
        [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazon.sagemaker/"),
        ],
        json.dumps(payload).encode(),
    )


def _as_part(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return (json.dumps(value) + "\n").encode("utf-8")


class _SyncParts:
    """A sync iterable as an async iterator (a class, so closing it strands no generator)."""

    def __init__(self, parts: Any) -> None:
        self._it = iter(parts)

    def __aiter__(self) -> _SyncParts:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None


def _iterate(parts: Any) -> AsyncIterator[Any]:
    # The handler's own async iterator is used as it is: wrapping an async generator in
    # another one would leave it suspended for the GC when the wrapper is closed.
    if isinstance(parts, bytes | bytearray | memoryview | str | dict):
        return _SyncParts([parts])
    if hasattr(parts, "__aiter__"):
        return parts.__aiter__()  # type: ignore[no-any-return]
    return _SyncParts(parts)


def _encode_body(value: Any) -> tuple[bytes, str]:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), "application/octet-stream"
    if isinstance(value, str):
        return value.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(value).encode("utf-8"), "application/json"


class FakeSageMakerRuntime:
    """An in-memory SageMaker Runtime: register endpoints with handlers, then call it.

    ``verify_signatures`` (default on) rejects requests whose SigV4 signature, key, scope or
    clock is wrong, with the error codes the real service uses. ``accept_any_credentials``
    keeps checking that a request is well signed (algorithm, scope, region, service, clock,
    signed ``Host``) but takes any access key, session token and signature, as moto and
    LocalStack do: a user's real AWS credentials then work against the fake unchanged.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        credentials: Credentials = TEST_CREDENTIALS,
        verify_signatures: bool = True,
        account_id: str = "123456789012",
        s3: Any = None,
        accept_any_credentials: bool = False,
    ) -> None:
        self.region = region
        self.credentials = credentials
        self.verify_signatures = verify_signatures
        self.accept_any_credentials = accept_any_credentials
        self.account_id = account_id
        self.requests: list[RecordedRequest] = []
        self.streams_started = 0
        """Response streams the fake has begun sending."""
        self._handlers: dict[str, tuple[Handler, str]] = {}
        self._components: dict[str, dict[str, _Component]] = {}
        self._async: dict[str, _AsyncConfig] = {}
        self._jobs: list[_PendingJob] = []
        if s3 is None:
            from ._s3 import FakeS3

            s3 = FakeS3(
                region=region,
                credentials=credentials,
                accept_any_credentials=accept_any_credentials,
            )
        self.s3 = s3
        """The in-memory S3 this fake reads async inputs from and writes async results to."""
        s3.before_request.append(self.process_async_jobs)

    def add_endpoint(
        self,
        name: str,
        handler: Handler | None = None,
        *,
        variant: str = "AllTraffic",
        async_output_path: str | None = None,
        async_failure_path: str | None = None,
        processing_time: float = 0.0,
    ) -> None:
        """Serve ``name`` with ``handler`` (default: echo the body back).

        With ``async_output_path="s3://bucket/prefix"`` the endpoint also accepts
        InvokeEndpointAsync: the handler runs ``processing_time`` seconds after submission (when
        S3 is next read) and its answer is written under that path, or, if it raises
        ``ModelFailure``, an error document under ``async_failure_path``.
        """
        self._handlers[name] = (handler or _echo, variant)
        if async_output_path is not None:
            self._async[name] = _AsyncConfig(
                async_output_path.rstrip("/"),
                async_failure_path.rstrip("/") if async_failure_path else None,
                processing_time,
            )

    def add_inference_component(
        self,
        endpoint_name: str,
        component_name: str,
        handler: Handler | None = None,
        *,
        no_capacity_for: int = 0,
    ) -> None:
        """Serve ``component_name`` on ``endpoint_name`` (created if new) with ``handler``.

        The OpenAI-compatible route reaches it through its path; the first ``no_capacity_for``
        requests get the scale-to-zero answer (400 "has no capacity"), as a component scaled to
        zero does until the rejected request's scale-out lands.
        """
        if endpoint_name not in self._handlers:
            self.add_endpoint(endpoint_name)
        self._components.setdefault(endpoint_name, {})[component_name] = _Component(
            handler or _echo, no_capacity_for
        )

    def endpoint(self, name: str, *, variant: str = "AllTraffic") -> Callable[[Handler], Handler]:
        """Decorator form of ``add_endpoint``."""

        def register(handler: Handler) -> Handler:
            self.add_endpoint(name, handler, variant=variant)
            return handler

        return register

    def transport(self) -> FakeTransport[FakeSageMakerRuntime]:
        """This fake in-process: the client's engine (``transport=``), or an
        ``httpx.AsyncBaseTransport`` for an ``httpx.AsyncClient``."""
        from ._transport import FakeTransport

        return FakeTransport(self)

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> LoopbackServer[FakeSageMakerRuntime]:
        """A real HTTP/1.1 server on loopback (a context manager; ``.url`` once started);
        HTTPS with a server-side ``ssl_context``."""
        from ._server import LoopbackServer

        return LoopbackServer(self, host=host, port=port, ssl_context=ssl_context)

    def client(self, *, endpoint_url: str | None = None, **kwargs: Any) -> SageMakerRuntimeClient:
        """A ``SageMakerRuntimeClient`` bound to this fake (in-process unless a URL is given).

        In-process, ``transport()`` is the client's engine; with ``transport="httpx"`` the
        requests go through an ``httpx.AsyncClient`` wrapping it instead (the client owns it).
        """
        from .._client import SageMakerRuntimeClient

        kwargs.setdefault("region", self.region)
        kwargs.setdefault("credentials", self.credentials)
        owned = False
        if endpoint_url is None:
            endpoint_url = "http://sagemaker.fake"
            if "http_client" not in kwargs:
                if kwargs.get("transport") == "httpx":
                    import httpx

                    from .._engines.httpx_engine import HttpxEngine

                    http = httpx.AsyncClient(transport=self.transport())
                    kwargs["transport"] = HttpxEngine(http, owned=True)
                    owned = True
                else:
                    kwargs["transport"] = self.transport()
        # The fake answers S3 requests too (routed by their signing scope), path-style.
        kwargs.setdefault("s3_endpoint_url", endpoint_url)
        client = SageMakerRuntimeClient(endpoint_url=endpoint_url, **kwargs)
        if owned:
            client._owns_engine = True  # made here for this client alone: closed with it
        return client

    async def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> FakeResponse:
        """Answer one HTTP request as the service would."""
        lower = {k.lower(): v for k, v in headers}
        if "/s3/aws4_request" in lower.get("authorization", ""):
            return await self.s3.handle(method, target, headers, body)  # type: ignore[no-any-return]
        recorded = RecordedRequest(method, target, tuple(headers), body)
        self.requests.append(recorded)
        request_id = str(uuid.uuid4())
        route = _OPENAI_ROUTE.match(target.split("?", 1)[0])
        if route is not None:
            return await self._openai(method, route, lower, body, request_id)
        if self.verify_signatures:
            failure = self._check_signature(method, target, headers, lower, body)
            if failure is not None:
                return _json_error(failure[0], failure[1], failure[2], request_id)
        parts = target.split("?", 1)[0].split("/")
        if method != "POST" or len(parts) != 4 or parts[1] != "endpoints":
            return _json_error(404, "UnknownOperationException", "", request_id)
        name, suffix = unquote(parts[2]), parts[3]
        operation = _OPERATIONS.get(suffix)
        if operation is None:
            return _json_error(404, "UnknownOperationException", "", request_id)
        entry = self._handlers.get(name)
        if entry is None:
            message = f"Endpoint {name} of account {self.account_id} not found."
            return _json_error(400, "ValidationError", message, request_id)
        handler, variant = entry
        invocation = Invocation(operation, name, body, lower)
        if operation == "InvokeEndpointAsync":
            return self._submit_async(name, handler, invocation, request_id)
        try:
            try:
                answer = handler(invocation)
                if inspect.isawaitable(answer):
                    answer = await answer
                if operation == "InvokeEndpointWithResponseStream":
                    if not isinstance(answer, ModelStream) and not _is_part_iterable(answer):
                        answer = _whole_as_stream(answer)
                    return await self._stream(answer, variant, request_id)
                if isinstance(answer, ModelStream) or _is_part_iterable(answer):
                    answer = await _join(answer)
            except (ModelFailure, ResetConnection, ServiceFailure):
                raise
            except Exception as exc:  # a crashing container: the service reports a ModelError
                raise ModelFailure(500, f"{type(exc).__name__}: {exc}") from exc
        except ModelFailure as failure:
            message = (
                f"Received {'server' if failure.original_status_code >= 500 else 'client'} error "
                f"({failure.original_status_code}) from primary with message "
                f'"{failure.original_message}". See https://example.invalid/cloudwatch '
                f"in account {self.account_id} for more information."
            )
            fields: dict[str, Any] = {
                "OriginalStatusCode": failure.original_status_code,
                "OriginalMessage": failure.original_message,
            }
            if failure.log_stream_arn:
                fields["LogStreamArn"] = failure.log_stream_arn
            return _json_error(424, "ModelError", message, request_id, fields)
        except ResetConnection:
            return FakeResponse(0, [], _reset_only())
        except ServiceFailure as failure:
            if failure.raw_body is not None:
                return FakeResponse(
                    failure.status,
                    [("x-amzn-RequestId", request_id), *failure.headers],
                    failure.raw_body,
                )
            response = _json_error(
                failure.status, failure.code, failure.message, request_id, failure.fields
            )
            response.headers.extend(failure.headers)
            return response
        return self._success(answer, variant, request_id)

    async def _openai(
        self,
        method: str,
        route: re.Match[str],
        lower: Mapping[str, str],
        body: bytes,
        request_id: str,
    ) -> FakeResponse:
        """The OpenAI-compatible route: bearer token, routing by path, the container's body."""
        if self.verify_signatures:
            auth = lower.get("authorization", "")
            if not auth.startswith("Bearer "):
                # [STD]: SigV4 on this route is answered 403 (spec §5.6, UNVERIFIED).
                status = 403 if auth else 401
                return _openai_error(
                    status,
                    "Missing bearer token",
                    "authentication_error",
                    "invalid_token",
                    request_id,
                )
            checked = verify_token(
                auth[len("Bearer ") :],
                credentials=self.credentials,
                region=self.region,
                now=time.time(),
            )
            if isinstance(checked, str):  # the reason; never the token itself
                return _openai_error(
                    401,
                    f"Invalid bearer token: {checked}",
                    "authentication_error",
                    "invalid_token",
                    request_id,
                )
        name, component, rest = unquote(route[1]), route[2], route[3]
        if method != "POST" or rest != "/chat/completions":
            # Only chat/completions is routed (spec §3).
            return _openai_error(404, "Not Found", "invalid_request_error", "not_found", request_id)
        entry = self._handlers.get(name)
        if entry is None:
            message = f"Endpoint {name} of account {self.account_id} not found."
            return _openai_error(
                400, message, "invalid_request_error", "validation_error", request_id
            )
        handler, variant = entry
        components = self._components.get(name, {})
        if component is not None:
            component = unquote(component)
            found = components.get(component)
            if found is None:
                message = f"Inference Component {component} not found for endpoint {name}."
                return _openai_error(
                    400, message, "invalid_request_error", "validation_error", request_id
                )
            if found.no_capacity_for > 0:
                found.no_capacity_for -= 1
                return _openai_error(
                    400,
                    NO_CAPACITY_MESSAGE,
                    "invalid_request_error",
                    "validation_error",
                    request_id,
                )
            handler = found.handler
        elif components:
            message = (
                f"Endpoint {name} hosts inference components: name one in the path "
                "(/endpoints/{endpoint}/inference-components/{component}/openai/v1/...)."
            )
            return _openai_error(
                400, message, "invalid_request_error", "validation_error", request_id
            )
        invocation = Invocation("ChatCompletions", name, body, lower, component)
        try:
            try:
                answer = handler(invocation)
                if inspect.isawaitable(answer):
                    answer = await answer
            except (ModelFailure, ResetConnection, ServiceFailure):
                raise
            except Exception as exc:  # a crashing container
                raise ModelFailure(500, f"{type(exc).__name__}: {exc}") from exc
        except ModelFailure as failure:
            kind = "server" if failure.original_status_code >= 500 else "client"
            region = self.region
            message = (
                f"Received {kind} error ({failure.original_status_code}) from primary with "
                f'message "{failure.original_message}". See https://{region}.console.aws.amazon'
                f".com/cloudwatch/home?region={region}#logEventViewer:group=/aws/sagemaker/"
                f"Endpoints/{name} in account {self.account_id} for more information."
            )
            # [STD] measured 400 for a container's 4xx; a 5xx's status is UNVERIFIED (424 here,
            # as InvokeEndpoint's ModelError).
            status = 400 if failure.original_status_code < 500 else 424
            return _openai_error(status, message, "server_error", "model_error", request_id)
        except ResetConnection:
            return FakeResponse(0, [], _reset_only())
        except ServiceFailure as failure:
            if failure.raw_body is not None:
                return FakeResponse(
                    failure.status,
                    [("x-amzn-RequestId", request_id), *failure.headers],
                    failure.raw_body,
                )
            kind = "invalid_request_error" if failure.status < 500 else "server_error"
            response = _openai_error(
                failure.status, failure.message, kind, failure.code, request_id
            )
            response.headers.extend(failure.headers)
            return response
        headers = [("x-amzn-RequestId", request_id), ("x-Amzn-Invoked-Production-Variant", variant)]
        if isinstance(answer, ModelStream) or _is_part_iterable(answer):
            stream = answer if isinstance(answer, ModelStream) else ModelStream(answer)
            headers.append(("Content-Type", stream.content_type or "text/event-stream"))
            self.streams_started += 1
            return FakeResponse(200, headers, _plain_wire(_iterate(stream.parts)))
        if not isinstance(answer, ModelResponse):
            answer = ModelResponse(answer)
        data, default_type = _encode_body(answer.body)
        headers.append(("Content-Type", answer.content_type or default_type))
        return FakeResponse(200, headers, data)

    def _submit_async(
        self, name: str, handler: Handler, invocation: Invocation, request_id: str
    ) -> FakeResponse:
        config = self._async.get(name)
        if config is None:
            message = f"Endpoint {name} of account {self.account_id} is not an async endpoint."
            return _json_error(400, "ValidationError", message, request_id)
        location = invocation.member("X-Amzn-SageMaker-InputLocation")
        if (location is None) == (not invocation.body):
            message = "Exactly one of InputLocation or Body must be provided."
            return _json_error(400, "ValidationError", message, request_id)
        inference_id = invocation.member("X-Amzn-SageMaker-Inference-Id") or str(uuid.uuid4())
        extension = invocation.member("X-Amzn-SageMaker-S3OutputPathExtension")
        output_dir = f"{config.output_path}/{extension}" if extension else config.output_path
        filename = invocation.member("X-Amzn-SageMaker-Filename") or f"{inference_id}.out"
        output = f"{output_dir}/{filename}"
        failure = f"{config.failure_path}/{inference_id}-error.out" if config.failure_path else None
        self._jobs.append(
            _PendingJob(
                time.monotonic() + config.processing_time,
                handler,
                invocation,
                location,
                output,
                failure,
            )
        )
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("X-Amzn-SageMaker-OutputLocation", output),
        ]
        if failure is not None:
            headers.append(("X-Amzn-SageMaker-FailureLocation", failure))
        return FakeResponse(202, headers, json.dumps({"InferenceId": inference_id}).encode())

    async def process_async_jobs(self) -> None:
        """Run the async jobs whose processing time has passed and write their results to S3.

        Called before every S3 request the fake answers; tests may call it directly.
        """
        now = time.monotonic()
        due = [job for job in self._jobs if job.ready_at <= now]
        self._jobs = [job for job in self._jobs if job.ready_at > now]
        for job in due:
            await self._run_job(job)

    async def _run_job(self, job: _PendingJob) -> None:
        invocation = job.invocation
        if job.input_location is not None:
            bucket, key = parse_s3_uri(job.input_location)
            data = self.s3.get(bucket, key)
            if data is None:
                self._write_failure(job, 400, f"could not read the input {job.input_location}")
                return
            invocation = Invocation(
                invocation.operation, invocation.endpoint_name, data, invocation.headers
            )
        try:
            answer = job.handler(invocation)
            if inspect.isawaitable(answer):
                answer = await answer
            if isinstance(answer, ModelStream) or _is_part_iterable(answer):
                answer = await _join(answer)
        except ModelFailure as failure:
            self._write_failure(job, failure.original_status_code, failure.original_message)
            return
        if not isinstance(answer, ModelResponse):
            answer = ModelResponse(answer)
        body, default_type = _encode_body(answer.body)
        bucket, key = parse_s3_uri(job.output)
        self.s3.put(bucket, key, body, content_type=answer.content_type or default_type)

    def _write_failure(self, job: _PendingJob, status: int, message: str) -> None:
        if job.failure is None:
            return
        document = {"statusCode": status, "message": message}
        bucket, key = parse_s3_uri(job.failure)
        self.s3.put(bucket, key, json.dumps(document).encode(), content_type="application/json")

    async def _stream(self, answer: Any, variant: str, request_id: str) -> FakeResponse:
        stream = answer if isinstance(answer, ModelStream) else ModelStream(answer)
        items = _iterate(stream.parts)
        # The first part is awaited before the status is chosen, as the service does: a model
        # that fails before producing anything gets an HTTP error, not a 200 stream.
        first: Any
        try:
            first = await items.__anext__()
        except StopAsyncIteration:
            first = None
        except (ModelStreamFailure, InternalStreamFault) as failure:
            first = failure  # a stream that carries only the exception event
        headers = [
            ("Content-Type", "application/vnd.amazon.eventstream"),
            ("x-amzn-RequestId", request_id),
            ("X-Amzn-SageMaker-Content-Type", stream.content_type or "application/octet-stream"),
            ("x-Amzn-Invoked-Production-Variant", stream.invoked_production_variant or variant),
        ]
        if stream.custom_attributes is not None:
            headers.append(("X-Amzn-SageMaker-Custom-Attributes", stream.custom_attributes))
        self.streams_started += 1
        return FakeResponse(200, headers, _wire(first, items))

    def _success(self, answer: Any, variant: str, request_id: str) -> FakeResponse:
        if not isinstance(answer, ModelResponse):
            answer = ModelResponse(answer)
        body, default_type = _encode_body(answer.body)
        headers = [
            ("Content-Type", answer.content_type or default_type),
            ("x-amzn-RequestId", request_id),
            ("x-Amzn-Invoked-Production-Variant", answer.invoked_production_variant or variant),
        ]
        for header, value in (
            ("X-Amzn-SageMaker-Custom-Attributes", answer.custom_attributes),
            ("X-Amzn-SageMaker-New-Session-Id", answer.new_session_id),
            ("X-Amzn-SageMaker-Closed-Session-Id", answer.closed_session_id),
        ):
            if value is not None:
                headers.append((header, value))
        return FakeResponse(200, headers, body)

    def _check_signature(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        lower: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, str, str] | None:
        if not lower.get("authorization"):
            return 403, "MissingAuthenticationToken", "Missing Authentication Token"
        parsed = parse_authorization(lower)
        if parsed is None:
            return 403, "IncompleteSignature", "Authorization header requires well-formed fields"
        algorithm, access_key, date, region, service, terminal = parsed.scope
        signed_names, signature, amz_date, when = (
            parsed.signed_names,
            parsed.signature,
            parsed.amz_date,
            parsed.when,
        )
        if algorithm != "AWS4-HMAC-SHA256" or terminal != "aws4_request":
            return 403, "IncompleteSignature", "Unsupported signature algorithm or scope"
        any_key = self.accept_any_credentials
        if access_key != self.credentials.access_key_id and not any_key:
            return 403, "UnrecognizedClientException", "The security token included is invalid."
        if (region, service, date) != (self.region, "sagemaker", amz_date[:8]):
            return (
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region and service 'sagemaker', "
                f"and date {amz_date[:8]}",
            )
        if abs(when.timestamp() - time.time()) > _MAX_SKEW_S:
            return 400, "RequestExpired", "Signature expired: the request time is too skewed"
        if "host" not in signed_names:
            return 403, "InvalidSignatureException", "'Host' must be a signed header"
        token = lower.get("x-amz-security-token")
        if any_key:
            return None  # well formed; the secret is the caller's own, unknown here
        if (token or None) != self.credentials.session_token:
            return 403, "UnrecognizedClientException", "The security token included is invalid."
        values: list[tuple[str, str]] = []
        for name in signed_names:
            if name in ("x-amz-date", "x-amz-security-token"):
                continue
            found = [v for k, v in headers if k.lower() == name]
            if not found:
                return 403, "InvalidSignatureException", f"Signed header {name!r} is missing"
            values.extend((name, value) for value in found)
        path, _, query = target.partition("?")
        expected = sign_headers(
            method=method,
            path=path,
            headers=values,
            payload_hash=sha256_hex(body),
            access_key=access_key,
            secret_key=self.credentials.secret_access_key,
            session_token=token if "x-amz-security-token" in signed_names else None,
            region=region,
            service=service,
            now=when,
            query=parse_query(query),
        )
        expected_auth = dict(expected).get("Authorization", "")
        expected_sig = expected_auth.rsplit("Signature=", 1)[-1]
        if not hmac.compare_digest(expected_sig, signature):
            _, expected_names = canonical_headers(values)
            return (
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                f"Check your AWS Secret Access Key and signing method. (signed headers we "
                f"used: {expected_names})",
            )
        return None


@dataclass
class _Component:
    handler: Handler
    no_capacity_for: int


def _openai_error(status: int, message: str, kind: str, code: str, request_id: str) -> FakeResponse:
    """An error in the OpenAI envelope, as the route's front door writes them (spec §7)."""
    document = {"error": {"message": message, "type": kind, "code": code}}
    return FakeResponse(
        status,
        [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)],
        json.dumps(document).encode(),
    )


async def _plain_wire(items: AsyncIterator[Any]) -> AsyncIterator[bytes | object]:
    """A handler's parts as a plain body (the OpenAI route has no event-stream framing)."""
    try:
        async for item in items:
            if isinstance(item, StreamFault):
                if item.kind == "reset":
                    yield RESET
                    return
                yield item.data
                if item.kind == "truncate":
                    return
            else:
                yield _as_part(item)
    finally:
        closer = getattr(items, "aclose", None)
        if closer is not None:
            await closer()


def _echo(invocation: Invocation) -> ModelResponse:
    return ModelResponse(
        invocation.body, content_type=invocation.content_type or "application/octet-stream"
    )


def _whole_as_stream(answer: Any) -> ModelStream:
    """A model that does not stream answers in one piece; the service relays whatever the
    container sends as PayloadParts, so the whole answer arrives as one part."""
    if not isinstance(answer, ModelResponse):
        answer = ModelResponse(answer)
    body, default_type = _encode_body(answer.body)
    return ModelStream(
        [body] if body else [],
        content_type=answer.content_type or default_type,
        custom_attributes=answer.custom_attributes,
        invoked_production_variant=answer.invoked_production_variant,
    )


def _is_part_iterable(value: Any) -> bool:
    return hasattr(value, "__aiter__") or (
        hasattr(value, "__iter__") and not isinstance(value, bytes | bytearray | str | dict)
    )


async def _join(answer: Any) -> ModelResponse:
    stream = answer if isinstance(answer, ModelStream) else ModelStream(answer)
    body = bytearray()
    items = _iterate(stream.parts)
    try:
        async for item in items:
            if not isinstance(item, StreamFault):
                body += _as_part(item)
    finally:
        closer = getattr(items, "aclose", None)
        if closer is not None:
            await closer()
    return ModelResponse(
        bytes(body),
        content_type=stream.content_type,
        custom_attributes=stream.custom_attributes,
        invoked_production_variant=stream.invoked_production_variant,
    )


async def _wire(first: Any, items: AsyncIterator[Any]) -> AsyncIterator[bytes | object]:
    """Encode a handler's parts as event-stream messages, applying faults on the way."""
    pending = first
    try:
        while pending is not None:
            item, pending = pending, None
            if isinstance(item, ModelStreamFailure | InternalStreamFault):
                raise item
            if isinstance(item, StreamFault):
                if item.kind == "reset":
                    yield RESET
                    return
                yield item.data
                if item.kind == "truncate":
                    return
            else:
                yield payload_part(_as_part(item))
            try:
                pending = await items.__anext__()
            except StopAsyncIteration:
                return
    except ModelStreamFailure as failure:
        body = {"Message": failure.message, "ErrorCode": failure.error_code}
        yield exception_message("ModelStreamError", json.dumps(body).encode())
    except InternalStreamFault as fault:
        yield exception_message(
            "InternalStreamFailure", json.dumps({"Message": fault.message}).encode()
        )
    finally:
        closer = getattr(items, "aclose", None)
        if closer is not None:
            await closer()


async def _reset_only() -> AsyncIterator[bytes | object]:
    yield RESET
