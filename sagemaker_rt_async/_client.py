"""SageMakerRuntimeClient: configuration, lifecycle, the three operations and their attempt loop."""

from __future__ import annotations

import functools
import json as _json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import anyio
import sniffio

from . import _validate as v
from ._async_inference import AsyncInferenceJob
from ._credentials import (
    REFRESH_TIMEOUT_S,
    CredentialResolver,
    DefaultChain,
    env_endpoint_url,
    env_region,
    resolver_for,
)
from ._endpoints import (
    ResolvedEndpoint,
    encode_label,
    operation_url,
    parse_s3_uri,
    resolve_endpoint,
)
from ._errors import (
    ClientClosedError,
    CredentialsError,
    ParamValidationError,
    SageMakerRuntimeError,
    ServiceError,
    error_from_response,
)
from ._hooks import CallInfo, CallTrace, EventHook, check_hooks
from ._models import Credentials, InvokeEndpointResult, Timeout
from ._operations import INVOKE_ENDPOINT, INVOKE_ENDPOINT_ASYNC, INVOKE_ENDPOINT_STREAM, Operation
from ._retry import RateLimiter, Retry, RetryQuota, RetryState, is_throttle
from ._s3 import S3Client
from ._sessions import Session
from ._sigv4 import sha256_hex, sign_headers
from ._streaming import ResponseStream
from ._transport import (
    MAX_ERROR_BODY,
    TransportName,
    close_response,
    deadline_error,
    make_http_client,
    read_capped,
    request_body,
    send,
    timeout_extension,
    transport_errors,
    unsigned_headers,
)

if TYPE_CHECKING:
    import httpx  # imported by the first request, not with this module (see _transport)

__all__ = ["SageMakerRuntimeClient"]

logger = logging.getLogger("sagemaker_rt_async")

# Async inference accepts payloads up to 1 GB through S3 (spec §7).
_MAX_UPLOAD_BYTES = 1_000_000_000


class SageMakerRuntimeClient:
    """An asyncio/trio client for the Amazon SageMaker Runtime API.

    Use it as ``async with SageMakerRuntimeClient(region="us-east-1") as rt: ...`` or call
    ``await rt.aclose()`` when done. One client is meant to live as long as the application: it
    holds the connection pool and the cached credentials. All options are keyword-only.

    Args:
        region: AWS region; defaults to AWS_REGION / AWS_DEFAULT_REGION, then the profile's.
            ``fips-<region>`` / ``<region>-fips`` select the FIPS endpoint.
        credentials: ``Credentials``, an ``(access_key_id, secret_access_key[, session_token])``
            tuple, or an async callable returning ``Credentials``. Default: the AWS chain.
        profile: the shared-config profile for credentials and region.
        endpoint_url: a custom base URL (VPC endpoint, local server); a path prefix is kept.
            Default: ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``, then ``AWS_ENDPOINT_URL`` (unless
            ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``), else the region's endpoint.
        use_fips: use the FIPS endpoint.
        use_dualstack: use the dual-stack (IPv6) endpoint.
        timeout: a ``Timeout``, or one number for every phase (default: read 70 s, connect 10 s).
        http_client: an ``httpx.AsyncClient`` to use; it is borrowed and never closed by us.
        http2: speak HTTP/2 (httpx transport only).
        transport: ``"aiohttp"`` (default on asyncio) or ``"httpx"`` (default on trio).
        max_connections: the most sockets the pool opens at once.
        keepalive_expiry: seconds an idle pooled connection is kept.
        s3_endpoint_url: a custom S3 URL (S3-compatible servers) for async inference payloads;
            path-style addressing is used under it. Default: ``AWS_ENDPOINT_URL_S3``, then
            ``AWS_ENDPOINT_URL``.
        retry: a ``Retry`` policy, a number of attempts, or False for none (default: standard
            mode, 3 attempts; timeouts after the request was sent are not retried unless
            ``Retry(retry_timeouts=True)``). Every operation also takes ``retry=`` per call.
        event_hooks: callables called with each ``Event`` of every call (``CallStarted``,
            ``RequestSent``, ``ResponseReceived``, ``RetryScheduled``, ``FirstPart``,
            ``FirstToken``, ``CallEnded``): timings, request ids, the invoked variant. They run
            synchronously on the event loop; one that raises is logged and ignored.
            ``sagemaker_rt_async.otel.OpenTelemetryHook`` is one.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        credentials: Credentials
        | tuple[str, str]
        | tuple[str, str, str | None]
        | Callable[[], Any]
        | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        use_fips: bool = False,
        use_dualstack: bool = False,
        timeout: Timeout | float | None = None,
        http_client: httpx.AsyncClient | None = None,
        http2: bool = False,
        transport: TransportName | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 20.0,
        s3_endpoint_url: str | None = None,
        retry: Retry | int | bool | None = None,
        event_hooks: Sequence[EventHook] | None = None,
    ) -> None:
        if transport not in (None, "aiohttp", "httpx"):
            raise ParamValidationError("transport", "must be 'aiohttp', 'httpx' or None")
        if http_client is not None:
            import httpx

            if not isinstance(http_client, httpx.AsyncClient):
                raise ParamValidationError("http_client", "must be an httpx.AsyncClient")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ParamValidationError("max_connections", "must be an int")
        if max_connections < 1:
            raise ParamValidationError("max_connections", "must be at least 1")
        self._timeout = Timeout() if timeout is None else Timeout.of(timeout)
        self._resolver: CredentialResolver
        self._chain: DefaultChain
        self._resolver, self._chain = resolver_for(credentials, profile)
        self._region_arg = region
        if endpoint_url is None:
            endpoint_url = env_endpoint_url("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")
        if s3_endpoint_url is None:
            s3_endpoint_url = env_endpoint_url("AWS_ENDPOINT_URL_S3")
        self._endpoint_url = endpoint_url
        self._use_fips = use_fips
        self._use_dualstack = use_dualstack
        self._endpoint: ResolvedEndpoint | None = None
        region_now = region or env_region()
        if region_now is not None or (endpoint_url is not None and profile is None):
            # Resolve now when we can, so configuration mistakes surface at construction.
            self._endpoint = self._resolve(region_now)
        self._http: httpx.AsyncClient | None = http_client
        self._http_lock = anyio.Lock()
        self._owns_http = http_client is None
        self._transport: TransportName | None = transport
        self._http2 = http2
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._retry = Retry.of(retry)
        self._hooks = check_hooks(event_hooks)
        # Shared by every call of this client, as botocore shares them per client.
        self._quota = RetryQuota()
        self._limiter = RateLimiter()
        self._s3_endpoint_url = s3_endpoint_url
        self._s3: S3Client | None = None
        self._closed = False

    def _resolve(self, region: str | None) -> ResolvedEndpoint:
        if region is None and self._endpoint_url is not None:
            raise ParamValidationError(
                "region",
                "is required with endpoint_url: requests are signed for a region "
                "(pass region=, or set AWS_REGION)",
            )
        return resolve_endpoint(
            region=region,
            use_fips=self._use_fips,
            use_dualstack=self._use_dualstack,
            endpoint_url=self._endpoint_url,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this SageMakerRuntimeClient is closed")

    def __repr__(self) -> str:
        where = self._endpoint.url if self._endpoint else "<unresolved>"
        state = "closed" if self._closed else "open"
        return f"<SageMakerRuntimeClient {where} {state}>"

    @property
    def region(self) -> str | None:
        """The signing region, once known."""
        return self._endpoint.signing_region if self._endpoint else None

    @property
    def endpoint_url(self) -> str | None:
        """The base URL requests go to, once known."""
        return self._endpoint.url if self._endpoint else None

    async def __aenter__(self) -> SageMakerRuntimeClient:
        """Enter the client's lifetime; it is closed on exit."""
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the client (see ``aclose``)."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was lent to us). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            with anyio.CancelScope(shield=True):  # marked closed: the pool must go too
                await http.aclose()

    async def _ready(self) -> tuple[ResolvedEndpoint, httpx.AsyncClient]:
        self._check_open()
        endpoint = self._endpoint
        if endpoint is None:
            region = self._region_arg or env_region()
            if region is None:
                try:
                    with anyio.fail_after(REFRESH_TIMEOUT_S):
                        region = await self._chain.region()
                except TimeoutError:
                    raise CredentialsError(
                        f"reading the profile's region took longer than {REFRESH_TIMEOUT_S:g} s"
                    ) from None
            if region is None:
                raise ParamValidationError(
                    "region",
                    "no region: pass region=, set AWS_REGION or AWS_DEFAULT_REGION, "
                    "or set region in the profile",
                )
            endpoint = self._endpoint = self._resolve(region)
        http = self._http
        if http is None:
            http = await self._build_http()
        return endpoint, http

    async def _build_http(self) -> httpx.AsyncClient:
        """Build the HTTP engine once, in a worker thread: its imports (~40-110 ms) and its TLS
        context (CA files read from disk) would otherwise block the event loop."""
        async with self._http_lock:  # N concurrent first calls build one engine
            http = self._http
            if http is not None:
                return http
            build = functools.partial(
                make_http_client,
                backend=sniffio.current_async_library(),
                transport=self._transport,
                max_connections=self._max_connections,
                keepalive_expiry=self._keepalive_expiry,
                http2=self._http2,
            )
            http = await anyio.to_thread.run_sync(build)
            if self._closed:  # closed while it was being built: nothing is open on it yet
                with anyio.CancelScope(shield=True):
                    await http.aclose()
                raise ClientClosedError("this SageMakerRuntimeClient is closed")
            self._http = http
            return http

    async def _build_request(
        self,
        operation: Operation,
        endpoint_name: str,
        member_headers: list[tuple[str, str]],
        body: bytes,
        timeout: Timeout,
        *,
        invocation_id: str | None = None,
        attempt: str = "attempt=1; max=1",
    ) -> httpx.Request:
        endpoint, _ = await self._ready()
        creds = await self._resolver.get()
        url, path = operation_url(endpoint, encode_label(endpoint_name), operation.suffix)
        # Exactly what boto3 signs: host, the modeled headers, x-amz-date and the token.
        # Content-Length, User-Agent, Accept-Encoding and the telemetry headers are unsigned
        # because the HTTP engine may add or rewrite them.
        signed = sign_headers(
            method="POST",
            path=path,
            headers=[("host", endpoint.host), *member_headers],
            payload_hash=sha256_hex(body),
            access_key=creds.access_key_id,
            secret_key=creds.secret_access_key,
            session_token=creds.session_token,
            region=endpoint.signing_region,
            service="sagemaker",
            now=datetime.now(timezone.utc),
        )
        headers = [
            ("Host", endpoint.host),
            *member_headers,
            *signed,
            *unsigned_headers(invocation_id, attempt),
        ]
        headers.append(("Content-Length", str(len(body))))
        import httpx

        return httpx.Request(
            "POST",
            url,
            headers=headers,
            stream=request_body(body),
            extensions={"timeout": timeout_extension(timeout)},
        )

    def _trace(
        self,
        operation: Operation,
        endpoint_name: str,
        member_headers: list[tuple[str, str]],
    ) -> CallTrace | None:
        """A new call's event emitter, or None (and no cost) when the client has no hooks."""
        if not self._hooks:
            return None
        given = dict(member_headers)
        return CallTrace(
            self._hooks,
            CallInfo(
                operation=operation.name,
                endpoint_name=endpoint_name,
                invocation_id=str(uuid.uuid4()),
                inference_component_name=given.get("X-Amzn-SageMaker-Inference-Component"),
                target_variant=given.get("X-Amzn-SageMaker-Target-Variant"),
                target_model=given.get("X-Amzn-SageMaker-Target-Model"),
                streaming=operation is INVOKE_ENDPOINT_STREAM,
            ),
        )

    async def _call(
        self,
        operation: Operation,
        endpoint_name: str,
        member_headers: list[tuple[str, str]],
        body: bytes,
        deadline: Timeout,
        retry: Retry | int | bool | None,
        *,
        read_body: bool = True,
        trace: CallTrace | None = None,
    ) -> httpx.Response:
        """Run one call: attempts until success or a final error, within ``deadline.total``.

        Each attempt is signed anew. A success returns the response (with its body read, or
        left open for a stream when ``read_body`` is False); an error status raises its typed
        error. Streams are only retried here, before any part exists.

        A stream passes its own ``trace`` and ends it itself (the call outlives this method);
        otherwise the call's trace is made, started and ended here.
        """
        if trace is None and read_body:
            trace = self._trace(operation, endpoint_name, member_headers)
            if trace is None:
                return await self._deadlined(
                    operation, endpoint_name, member_headers, body, deadline, retry, True, None
                )
            trace.start()
            try:
                response = await self._deadlined(
                    operation, endpoint_name, member_headers, body, deadline, retry, True, trace
                )
            except BaseException as exc:
                trace.end(exc)
                raise
            trace.bytes_received = len(response.content)
            trace.end()
            return response
        return await self._deadlined(
            operation, endpoint_name, member_headers, body, deadline, retry, read_body, trace
        )

    async def _deadlined(
        self,
        operation: Operation,
        endpoint_name: str,
        member_headers: list[tuple[str, str]],
        body: bytes,
        deadline: Timeout,
        retry: Retry | int | bool | None,
        read_body: bool,
        trace: CallTrace | None,
    ) -> httpx.Response:
        policy = self._retry if retry is None else Retry.of(retry)
        where = f"{operation.name} /endpoints/{endpoint_name}"
        if deadline.total is None:
            return await self._attempts(
                operation, endpoint_name, member_headers, body, deadline, policy, read_body, trace
            )
        with anyio.move_on_after(deadline.total) as scope:
            return await self._attempts(
                operation, endpoint_name, member_headers, body, deadline, policy, read_body, trace
            )
        assert scope.cancelled_caught
        raise deadline_error(where, "total", deadline.total)

    async def _attempts(
        self,
        operation: Operation,
        endpoint_name: str,
        member_headers: list[tuple[str, str]],
        body: bytes,
        deadline: Timeout,
        policy: Retry,
        read_body: bool,
        trace: CallTrace | None,
    ) -> httpx.Response:
        state = RetryState(
            policy, self._quota if policy.mode != "off" else None, started=anyio.current_time()
        )
        # The same for every attempt, as boto3 sends it.
        invocation_id = str(uuid.uuid4()) if trace is None else trace.call.invocation_id
        while True:
            if policy.mode == "adaptive":
                wait = self._limiter.acquire(anyio.current_time())
                if wait > 0:
                    await anyio.sleep(wait)
            request = await self._build_request(
                operation,
                endpoint_name,
                member_headers,
                body,
                deadline,
                invocation_id=invocation_id,
                attempt=state.header,
            )
            try:
                response = await self._exchange(request, operation, deadline, read_body, trace)
            except SageMakerRuntimeError as exc:
                if policy.mode == "adaptive":
                    self._limiter.update(anyio.current_time(), throttled=is_throttle(exc))
                delay = state.next_delay(
                    exc, now=anyio.current_time(), now_epoch=time.time(), rng=random.random
                )
                if delay is None:
                    raise
                if trace is not None:
                    trace.retry(delay, exc)
                logger.debug(
                    "%s: retrying after %s (next attempt in %.3f s): %s",
                    operation.name,
                    type(exc).__name__,
                    delay,
                    exc,
                )
                await anyio.sleep(delay)
                continue
            if policy.mode == "adaptive":
                self._limiter.update(anyio.current_time(), throttled=False)
            state.record_success()
            return response

    async def _exchange(
        self,
        request: httpx.Request,
        operation: Operation,
        deadline: Timeout,
        read_body: bool,
        trace: CallTrace | None,
    ) -> httpx.Response:
        """One attempt: send, then read the body (or leave it open) or raise the typed error."""
        endpoint, http = await self._ready()
        where = f"{operation.name} {request.url.path}"
        if trace is not None:
            trace.sent(
                str(request.url), endpoint.signing_region, int(request.headers["Content-Length"])
            )
        response = await send(http, request, where=where, first_byte=_own_first_byte(deadline))
        if trace is not None:
            h = response.headers
            trace.headers(
                response.status_code,
                h.get("x-amzn-RequestId"),
                h.get("x-Amzn-Invoked-Production-Variant"),
            )
        if response.status_code >= 300:
            body = await read_capped(response, MAX_ERROR_BODY, where=where)
        elif not read_body:
            return response
        else:
            body_limit = _own_idle(deadline)
            try:
                with transport_errors(where):
                    if body_limit is None:  # the engine's read timeout is the judge
                        body = await response.aread()
                    else:
                        with anyio.move_on_after(body_limit) as scope:
                            body = await response.aread()
                        if scope.cancelled_caught:
                            raise deadline_error(where, "idle", body_limit)
            finally:
                # aread() closed it on success; closing (shielded) is for the other exits.
                if not response.is_closed:
                    await close_response(response)
        request_id = response.headers.get("x-amzn-RequestId")
        logger.debug(
            "%s %s -> %s request_id=%s",
            operation.name,
            request.url.path,
            response.status_code,
            request_id,
        )
        if response.status_code >= 300:
            raise error_from_response(response.status_code, response.headers, body)
        return response

    async def invoke_endpoint(
        self,
        endpoint_name: str,
        body: bytes | bytearray | memoryview | str | None = None,
        *,
        json: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        target_model: str | None = None,
        target_variant: str | None = None,
        target_container_hostname: str | None = None,
        inference_id: str | None = None,
        enable_explanations: str | None = None,
        inference_component_name: str | None = None,
        session_id: str | None = None,
        prefix_aware_id: str | None = None,
        timeout: Timeout | float | None = None,
        retry: Retry | int | bool | None = None,
    ) -> InvokeEndpointResult:
        """Call InvokeEndpoint: send ``body`` to the model and return its answer.

        ``body`` (bytes-like, or str sent as UTF-8) or ``json`` (any JSON-serialisable value,
        sent compact, content type defaulting to ``application/json``) is required.
        Every other keyword is the snake_case of the AWS member and travels in its header.
        ``session_id="NEW_SESSION"`` opens a stateful session (see ``result.new_session``).
        ``timeout`` overrides the client's deadlines for this call.

        Raises ``ParamValidationError`` before any I/O for bad arguments, ``ModelError`` when
        the container failed, another ``ServiceError`` for other error responses, and
        ``TransportError`` / ``RequestTimeout`` when no response arrived.
        """
        payload, content_type = _payload(body, json, content_type, v.MAX_BODY_BYTES)
        v.name("endpoint_name", endpoint_name)
        member_headers = INVOKE_ENDPOINT.headers(
            {
                "content_type": content_type,
                "accept": accept,
                "custom_attributes": custom_attributes,
                "target_model": target_model,
                "target_variant": target_variant,
                "target_container_hostname": target_container_hostname,
                "inference_id": inference_id,
                "enable_explanations": enable_explanations,
                "inference_component_name": inference_component_name,
                "session_id": session_id,
                "prefix_aware_id": prefix_aware_id,
            }
        )
        deadline = self._timeout if timeout is None else Timeout.of(timeout)
        response = await self._call(
            INVOKE_ENDPOINT, endpoint_name, member_headers, payload, deadline, retry
        )
        h = response.headers
        return InvokeEndpointResult(
            body=response.content,
            content_type=h.get("Content-Type"),
            invoked_production_variant=h.get("x-Amzn-Invoked-Production-Variant"),
            custom_attributes=h.get("X-Amzn-SageMaker-Custom-Attributes"),
            new_session_id=h.get("X-Amzn-SageMaker-New-Session-Id"),
            closed_session_id=h.get("X-Amzn-SageMaker-Closed-Session-Id"),
            request_id=h.get("x-amzn-RequestId"),
        )

    def invoke_endpoint_with_response_stream(
        self,
        endpoint_name: str,
        body: bytes | bytearray | memoryview | str | None = None,
        *,
        json: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        target_variant: str | None = None,
        target_container_hostname: str | None = None,
        inference_id: str | None = None,
        inference_component_name: str | None = None,
        session_id: str | None = None,
        prefix_aware_id: str | None = None,
        timeout: Timeout | float | None = None,
        retry: Retry | int | bool | None = None,
    ) -> ResponseStream:
        """Call InvokeEndpointWithResponseStream; returns the stream (not a coroutine).

        ``async with rt.invoke_endpoint_with_response_stream("llm", json=...) as stream:``
        sends the request on entry (an error response, e.g. a 424 ModelError, raises there) and
        ``async for part in stream`` yields each PayloadPart's bytes as it arrives; see
        ``ResponseStream`` for ``lines()``, ``sse()``, ``json_lines()`` and ``tokens()``.
        ``accept`` travels as ``X-Amzn-SageMaker-Accept``; ``session_id`` must be an existing
        session (only ``invoke_endpoint`` opens one). The ``timeout.read`` deadline bounds the
        gap between chunks, not the stream's total length. Arguments are validated here,
        before anything is sent.
        """
        self._check_open()
        payload, content_type = _payload(body, json, content_type, v.MAX_BODY_BYTES)
        v.name("endpoint_name", endpoint_name)
        member_headers = INVOKE_ENDPOINT_STREAM.headers(
            {
                "content_type": content_type,
                "accept": accept,
                "custom_attributes": custom_attributes,
                "target_variant": target_variant,
                "target_container_hostname": target_container_hostname,
                "inference_id": inference_id,
                "inference_component_name": inference_component_name,
                "session_id": session_id,
                "prefix_aware_id": prefix_aware_id,
            }
        )
        deadline = self._timeout if timeout is None else Timeout.of(timeout)

        stream_deadline = Timeout(
            connect=deadline.connect,
            read=deadline.read,
            write=deadline.write,
            pool=deadline.pool,
            first_byte=deadline.first_byte,
        )  # total is the stream's own: it bounds the parts too, not only the opening

        trace = self._trace(INVOKE_ENDPOINT_STREAM, endpoint_name, member_headers)

        async def open_stream() -> httpx.Response:
            if trace is not None:
                trace.start()  # the call starts when the stream is opened, not made
            return await self._call(
                INVOKE_ENDPOINT_STREAM,
                endpoint_name,
                member_headers,
                payload,
                stream_deadline,
                retry,
                read_body=False,
                trace=trace,
            )

        return ResponseStream(
            open_stream,
            operation=INVOKE_ENDPOINT_STREAM.name,
            idle=_own_idle(deadline),
            total=deadline.total,
            trace=trace,
        )

    async def _http_client(self) -> httpx.AsyncClient:
        _, http = await self._ready()
        return http

    async def _s3_client(self) -> S3Client:
        endpoint, _ = await self._ready()
        if self._s3 is None:
            self._s3 = S3Client(
                http=self._http_client,
                credentials=self._resolver,
                region=endpoint.signing_region,
                endpoint_url=self._s3_endpoint_url,
                use_fips=self._use_fips,
                use_dualstack=self._use_dualstack,
                timeout=self._timeout,
            )
        return self._s3

    async def upload_input(
        self,
        s3_uri: str,
        body: bytes | bytearray | memoryview | str,
        *,
        content_type: str | None = None,
        timeout: Timeout | float | None = None,
    ) -> str:
        """Upload an async-inference input payload to ``s3://bucket/key``; returns the URI.

        Signed with the client's credentials (S3 SigV4, the bucket's region found from S3's
        hints). Needs ``s3:PutObject``; the endpoint's execution role must be able to read it.
        """
        self._check_open()
        bucket, key = parse_s3_uri(s3_uri)
        if not key or key.endswith("/"):
            raise ParamValidationError("s3_uri", f"{s3_uri!r} names a prefix, not an object")
        data = v.body("body", body, _MAX_UPLOAD_BYTES)
        if content_type is not None:
            content_type = v.header_text("content_type", content_type)
        s3 = await self._s3_client()
        deadline = None if timeout is None else Timeout.of(timeout)
        await s3.put_object(bucket, key, data, content_type=content_type, timeout=deadline)
        return f"s3://{bucket}/{key}"

    async def invoke_endpoint_async(
        self,
        endpoint_name: str,
        *,
        input_location: str | None = None,
        body: bytes | bytearray | memoryview | str | None = None,
        json: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        inference_id: str | None = None,
        request_ttl_seconds: int | None = None,
        invocation_timeout_seconds: int | None = None,
        s3_output_path_extension: str | None = None,
        filename: str | None = None,
        upload_to: str | None = None,
        timeout: Timeout | float | None = None,
        retry: Retry | int | bool | None = None,
    ) -> AsyncInferenceJob:
        """Call InvokeEndpointAsync: queue a request and return its ``AsyncInferenceJob``.

        Give exactly one input: ``input_location`` (an ``s3://`` or ``https://`` URI the
        endpoint can read), or ``body`` / ``json`` inline (at most 128,000 bytes). With
        ``upload_to="s3://bucket/prefix/"`` a larger body is uploaded there first and sent by
        location. ``content_type`` and ``accept`` travel as ``X-Amzn-SageMaker-Content-Type`` /
        ``-Accept``. ``await job.result()`` waits for the output in S3.
        """
        self._check_open()
        v.name("endpoint_name", endpoint_name)
        given = [
            n
            for n, x in (("input_location", input_location), ("body", body), ("json", json))
            if x is not None
        ]
        if len(given) != 1:
            raise ParamValidationError(
                given[1] if len(given) > 1 else "input_location",
                "give exactly one input: input_location, body or json"
                + (f" (got {', '.join(given)})" if given else ""),
            )
        staging = _parse_upload_to(upload_to) if upload_to is not None else None
        payload = b""
        if input_location is None:
            limit = _MAX_UPLOAD_BYTES if staging is not None else v.MAX_ASYNC_BODY_BYTES
            payload, content_type = _payload(body, json, content_type, limit)
        elif staging is not None:
            raise ParamValidationError("upload_to", "only applies to an inline body or json")
        members: dict[str, object] = {
            "content_type": content_type,
            "accept": accept,
            "custom_attributes": custom_attributes,
            "inference_id": inference_id,
            "input_location": input_location,
            "s3_output_path_extension": s3_output_path_extension,
            "filename": filename,
            "request_ttl_seconds": request_ttl_seconds,
            "invocation_timeout_seconds": invocation_timeout_seconds,
        }
        # Every member is validated before anything is uploaded: a bad argument must not leave
        # an orphan object in S3.
        member_headers = INVOKE_ENDPOINT_ASYNC.headers(members)
        deadline = self._timeout if timeout is None else Timeout.of(timeout)
        if len(payload) > v.MAX_ASYNC_BODY_BYTES:
            assert staging is not None  # the limit above allowed it only then
            bucket, prefix = staging
            # Unique per call (inference ids need not be): two jobs never share an input.
            key = f"{prefix}{uuid.uuid4()}.input"
            s3 = await self._s3_client()
            await s3.put_object(bucket, key, payload, content_type=content_type, timeout=deadline)
            members["input_location"] = f"s3://{bucket}/{key}"
            member_headers = INVOKE_ENDPOINT_ASYNC.headers(members)
            payload = b""
        response = await self._call(
            INVOKE_ENDPOINT_ASYNC, endpoint_name, member_headers, payload, deadline, retry
        )
        h = response.headers
        output = h.get("X-Amzn-SageMaker-OutputLocation")
        try:
            document = _json.loads(response.content) if response.content else {}
        except (ValueError, RecursionError):  # a deeply nested body is no answer
            document = {}
        job_id = document.get("InferenceId") if isinstance(document, dict) else None
        if not output or not isinstance(job_id, str):
            raise ServiceError(
                "InvokeEndpointAsync succeeded without an InferenceId and OutputLocation",
                status_code=response.status_code,
                error_code="MalformedResponse",
                request_id=h.get("x-amzn-RequestId"),
                headers=h,
                body=response.content,
            )
        return AsyncInferenceJob(
            inference_id=job_id,
            output_location=output,
            failure_location=h.get("X-Amzn-SageMaker-FailureLocation"),
            request_id=h.get("x-amzn-RequestId"),
            s3=await self._s3_client(),
            submitted_at=anyio.current_time(),
            request_ttl_seconds=request_ttl_seconds,
            invocation_timeout_seconds=invocation_timeout_seconds,
        )

    async def map_invoke(
        self,
        endpoint_name: str,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        return_exceptions: bool = False,
        progress: bool | Callable[[int, int | None], None] = False,
        **options: Any,
    ) -> list[InvokeEndpointResult | SageMakerRuntimeError]:
        """Invoke ``endpoint_name`` once per input, at most ``concurrency`` at a time.

        Each input is a body (bytes-like or str) or any other JSON value (sent as ``json=``);
        ``inputs`` may be an async iterable (read one item at a time). Results come back in input
        order. By default the first error stops the batch and is raised (the calls in flight are
        cancelled); with ``return_exceptions=True`` each failed item holds its typed error
        instead, except errors that would fail every item alike (``CredentialsError``,
        ``ClientClosedError``, a ``ParamValidationError`` for an option rather than the item's
        payload), which still stop the batch. ``progress=True`` shows a tqdm bar (the
        ``progress`` extra) or pass a callable ``progress(done, total)``. Other keywords are
        ``invoke_endpoint`` options.
        """
        from ._batch import map_invoke

        return await map_invoke(
            self,
            endpoint_name,
            inputs,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            progress=progress,
            **options,
        )

    async def open_session(self, endpoint_name: str, body: Any = None, **options: Any) -> Session:
        """Open a stateful session: ``invoke_endpoint`` with ``session_id="NEW_SESSION"``.

        Returns a ``Session`` whose ``invoke()`` and ``stream()`` send its id, with
        ``session_id``, ``expires`` (UTC) and ``opened_by`` (the first call's result). A response
        reporting the session closed marks it ``closed``; later calls then raise
        ``SessionClosedError``, as they do after ``expires``.
        """
        from ._sessions import open_session

        return await open_session(self, endpoint_name, body, **options)


def _payload(
    body: object, json_value: Any, content_type: str | None, limit: int
) -> tuple[bytes, str | None]:
    if json_value is not None:
        if body is not None:
            raise ParamValidationError("json", "pass either body or json, not both")
        data = v.json_body(json_value, _compact_json)
        if len(data) > limit:
            raise ParamValidationError(
                "json", f"serialises to {len(data):,} bytes; the service accepts {limit:,}"
            )
        return data, content_type or "application/json"
    if body is None:
        raise ParamValidationError("body", "is required (pass body=... or json=...)")
    return v.body("body", body, limit), content_type


def _own_first_byte(deadline: Timeout) -> float | None:
    # The engine's read timeout is max(read, first_byte); a shorter header wait is ours to keep.
    wait, read = deadline.header_wait, deadline.read
    if wait is not None and (read is None or wait < read):
        return wait
    return None


def _own_idle(deadline: Timeout) -> float | None:
    # Likewise a gap bound shorter than the (longer) header wait the engine was given.
    wait, read = deadline.header_wait, deadline.read
    if read is not None and (wait is None or read < wait):
        return read
    return None


def _parse_upload_to(upload_to: object) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` -> (bucket, prefix ending in "/", or empty)."""
    if not isinstance(upload_to, str) or not upload_to.startswith("s3://"):
        raise ParamValidationError("upload_to", "must be an s3://bucket/prefix/ URI")
    bucket, _, prefix = upload_to[len("s3://") :].partition("/")
    try:
        bucket, _ = parse_s3_uri(f"s3://{bucket}/x")  # validates the bucket name
    except ParamValidationError as exc:
        raise ParamValidationError("upload_to", exc.reason) from None
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def _compact_json(value: Any) -> str:
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False)
