"""SageMakerRuntimeClient: configuration, lifecycle, the three operations and their attempt loop."""

from __future__ import annotations

import functools
import json as _json
import logging
import os
import random
import ssl
import time
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio
import sniffio

from . import _validate as v
from ._async_inference import AsyncInferenceJob, parse_utc
from ._bearer import DEFAULT_LIFETIME_S, BearerToken, TokenCache, check_lifetime
from ._config import (
    ClientConfig,
    build_proxy_ssl_context,
    build_ssl_context,
    load_config_files,
    resolve_config,
)
from ._credentials import CredentialResolver, resolver_for
from ._endpoints import (
    ResolvedEndpoint,
    encode_label,
    operation_url,
    parse_s3_uri,
    resolve_bidi_endpoint,
    resolve_endpoint,
)
from ._engines import Engine, TransportName, make_engine
from ._engines.httpx_engine import is_httpx_client
from ._errors import (
    ClientClosedError,
    ModelError,
    ParamValidationError,
    SageMakerRuntimeError,
    ServiceError,
    chat_error_from_response,
    error_from_response,
)
from ._exchange import Exchange, Response, deadline_error, prepare
from ._hooks import CallInfo, CallTrace, EventHook, check_hooks
from ._models import ChatCompletionResult, Credentials, InvokeEndpointResult, Timeout
from ._operations import (
    CHAT_COMPLETIONS,
    INVOKE_ENDPOINT,
    INVOKE_ENDPOINT_ASYNC,
    INVOKE_ENDPOINT_STREAM,
    Operation,
)
from ._retry import RateLimiter, Retry, RetryQuota, RetryState, is_throttle
from ._s3 import S3Client
from ._sessions import Session
from ._streaming import ChatCompletionStream, ResponseStream

if TYPE_CHECKING:
    import ssl

    import httpx  # imported by the first request, not with this module (see _engines)
    from typing_extensions import Unpack

    from ._batch import MapInvokeIter
    from ._bidi import BidiSession
    from ._engines.h2_engine import H2Engine
    from ._models import InvokeOptions, ProxiesConfig, SessionInvokeOptions

__all__ = ["SageMakerRuntimeClient"]

logger = logging.getLogger("sagemaker_rt_async")

# Async inference accepts payloads up to 1 GB through S3 (spec §7).
_MAX_UPLOAD_BYTES = 1_000_000_000
# A real-time response body is at most 6 MiB (spec §2.1): the default cap on what we buffer.
DEFAULT_MAX_RESPONSE_BYTES = 6 * 1024 * 1024


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
        profile: the shared-config profile for credentials and settings (default:
            AWS_DEFAULT_PROFILE, then AWS_PROFILE, as botocore); a named profile that exists
            in neither shared file is a ``CredentialsError`` naming it.
        endpoint_url: a custom base URL (VPC endpoint, local server); a path prefix is kept.
            Default: ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``, ``AWS_ENDPOINT_URL``, the
            profile's ``services`` section, the profile's ``endpoint_url`` (none of them with
            ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``), else the region's endpoint.
        use_fips: use the FIPS endpoint (default: AWS_USE_FIPS_ENDPOINT, ``use_fips_endpoint``).
        use_dualstack: use the dual-stack (IPv6) endpoint (default: AWS_USE_DUALSTACK_ENDPOINT,
            ``use_dualstack_endpoint``).
        timeout: a ``Timeout``, or one number for every phase (default: read 70 s, connect 10 s).
        http_client: an ``httpx.AsyncClient`` (or ``httpx2.AsyncClient``) to send with; it is
            borrowed and never closed by us. respx mocks it as usual.
        http2: speak HTTP/2 (httpx transport only).
        transport: ``"aiohttp"`` (default on asyncio), ``"httpx"`` (default on trio), or an
            ``Engine`` object (the test kit's ``FakeSageMakerRuntime.transport()``), borrowed.
        max_connections: the most sockets the pool opens at once.
        keepalive_expiry: seconds an idle pooled connection is kept.
        s3_endpoint_url: a custom S3 URL (S3-compatible servers) for async inference payloads;
            path-style addressing is used under it. Default: ``AWS_ENDPOINT_URL_S3``, then
            ``AWS_ENDPOINT_URL``.
        retry: a ``Retry`` policy, a number of attempts, or False for none (default:
            AWS_RETRY_MODE / ``retry_mode`` and AWS_MAX_ATTEMPTS / ``max_attempts``, else
            standard mode, 3 attempts; timeouts after the request was sent are not retried unless
            ``Retry(retry_timeouts=True)``). Every operation also takes ``retry=`` per call.
        max_response_bytes: the largest InvokeEndpoint / InvokeEndpointAsync response body
            accepted (default 6 MiB, the service's own limit); a larger one raises
            ``ResponseTooLarge`` having read no more than that. None: no limit.
        ssl_context: the TLS context of the HTTP/2 engine that carries bidirectional sessions
            (it must offer ALPN ``h2``); default: one made with the same verification as the
            other engines (``verify=``, AWS_CA_BUNDLE, the profile's ``ca_bundle``), offering
            ``h2``. Needed when ``verify=`` is itself an ``ssl.SSLContext``.
        event_hooks: callables called with each ``Event`` of every call (``CallStarted``,
            ``RequestSent``, ``ResponseReceived``, ``RetryScheduled``, ``FirstPart``,
            ``FirstToken``, ``CallEnded``): timings, request ids, the invoked variant. They run
            synchronously on the event loop; one that raises is logged and ignored.
            ``sagemaker_rt_async.otel.OpenTelemetryHook`` is one.
        bearer_token_expires_in: the lifetime, in whole seconds (1 to 43,200, the default), of
            the ``sagemaker-api-key-…`` tokens minted for the OpenAI-compatible route
            (``chat_completions``); cut to the credentials' own expiry, re-minted before they end.
        verify: TLS verification: a CA bundle path, an ``ssl.SSLContext`` used as given, or
            False for none (default: AWS_CA_BUNDLE, the profile's ``ca_bundle``, else the
            system's CAs). ``await client.ssl_context()`` returns the context in use.
        proxies: ``{"https": URL, "http": URL}``, used for every request of that scheme, as
            botocore's ``Config(proxies=...)`` (default: HTTPS_PROXY / HTTP_PROXY with
            NO_PROXY, decided per host, as botocore). Credentials in a proxy URL are sent as
            ``Proxy-Authorization`` and never shown.
        proxies_config: TLS to an ``https://`` proxy, with botocore's ``Config(proxies_config=...)``
            keys: ``{"proxy_ca_bundle": PATH}`` (the CAs that verify the proxy itself; default:
            the endpoint's), ``"proxy_client_cert"`` (a PEM path or a ``(cert, key)`` pair shown
            to the proxy). As botocore, never read from the shared config file or environment.

    Settings not passed are resolved as boto3 resolves them, from the environment and the
    shared config files (read once, here); ``client.config`` says what was resolved and from
    where.
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
        use_fips: bool | None = None,
        use_dualstack: bool | None = None,
        timeout: Timeout | float | None = None,
        http_client: httpx.AsyncClient | None = None,
        http2: bool = False,
        transport: TransportName | Engine | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 20.0,
        s3_endpoint_url: str | None = None,
        retry: Retry | int | bool | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        event_hooks: Sequence[EventHook] | None = None,
        bearer_token_expires_in: int | timedelta = DEFAULT_LIFETIME_S,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool | str | ssl.SSLContext | None = None,
        proxies: Mapping[str, str] | None = None,
        proxies_config: ProxiesConfig | None = None,
    ) -> None:
        engine: Engine | None = None
        if isinstance(transport, Engine):
            engine, transport = transport, None
        elif transport not in (None, "aiohttp", "httpx"):
            raise ParamValidationError(
                "transport", "must be 'aiohttp', 'httpx', an Engine object or None"
            )
        if http_client is not None and not is_httpx_client(http_client):
            raise ParamValidationError(
                "http_client", "must be an httpx.AsyncClient or an httpx2.AsyncClient"
            )
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ParamValidationError("max_connections", "must be an int")
        if max_connections < 1:
            raise ParamValidationError("max_connections", "must be at least 1")
        if max_response_bytes is not None and (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise ParamValidationError("max_response_bytes", "must be a positive int or None")
        self._max_response_bytes = max_response_bytes
        self._token_lifetime = check_lifetime("bearer_token_expires_in", bearer_token_expires_in)
        self._tokens = TokenCache()
        self._clock: Callable[[], float] = time.time  # epoch seconds: tokens carry a UTC date
        self._timeout = Timeout() if timeout is None else Timeout.of(timeout)
        if (verify is not None or proxies is not None or proxies_config is not None) and (
            engine is not None or http_client is not None
        ):
            raise ParamValidationError(
                "verify"
                if verify is not None
                else "proxies"
                if proxies is not None
                else "proxies_config",
                "applies to the engines the client builds; configure a lent http_client or "
                "engine yourself",
            )
        if verify is not None and not isinstance(verify, bool | str | ssl.SSLContext):
            raise ParamValidationError(
                "verify", "must be True, False, a CA bundle path or an ssl.SSLContext"
            )
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._proxy_ssl: ssl.SSLContext | None = None
        self._config = config = _configure(
            verify=verify,
            proxies=proxies,
            proxies_config=proxies_config,
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            s3_endpoint_url=s3_endpoint_url,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
            retry=retry,
        )
        self._resolver: CredentialResolver
        self._resolver, _ = resolver_for(credentials, config.profile)
        self._endpoint: ResolvedEndpoint | None = None
        if config.region is not None or config.endpoint_url is not None:
            # Resolve now when we can, so configuration mistakes surface at construction.
            self._endpoint = self._resolve(config.region)
        self._http_client = http_client
        # A lent engine or http_client is never closed by us; an engine we build is ours.
        self._engine: Engine | None = engine
        self._engine_lock: anyio.Lock | None = None
        self._owns_engine = engine is None
        self._transport: TransportName | None = transport
        self._http2 = http2
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._retry = config.retry
        self._hooks = check_hooks(event_hooks)
        # Shared by every call of this client, as botocore shares them per client.
        self._quota = RetryQuota()
        self._limiter = RateLimiter()
        self._s3: S3Client | None = None
        self._exchange = Exchange(
            credentials=self._resolver, engine=self._get_engine, max_connections=max_connections
        )
        self._ssl_context = ssl_context
        self._h2: H2Engine | None = None
        self._closed = False

    def _resolve(self, region: str | None) -> ResolvedEndpoint:
        config = self._config
        if region is None:
            raise ParamValidationError(
                "region",
                f"is required with endpoint_url ({config.source('endpoint_url')}): requests "
                "are signed for a region (pass region=, set AWS_REGION, or set region in the "
                "profile)",
            )
        use_fips, use_dualstack = config.variants(config.endpoint_url)
        return resolve_endpoint(
            region=region,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
            endpoint_url=config.endpoint_url,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this SageMakerRuntimeClient is closed")

    def __repr__(self) -> str:
        where = self._endpoint.url if self._endpoint else "<unresolved>"
        state = "closed" if self._closed else "open"
        return f"<SageMakerRuntimeClient {where} {self._config!r} {state}>"

    @property
    def config(self) -> ClientConfig:
        """What was resolved from the arguments, the environment and the shared config files,
        with where each setting came from (``config.sources``); never a secret."""
        return self._config

    @property
    def region(self) -> str | None:
        """The signing region, once known."""
        return self._endpoint.signing_region if self._endpoint else None

    @property
    def endpoint_url(self) -> str | None:
        """The base URL requests go to, once known."""
        return self._endpoint.url if self._endpoint else None

    @property
    def timeout(self) -> Timeout:
        """The client's default deadlines (each call may pass its own)."""
        return self._timeout

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
        engine, self._engine = self._engine, None
        h2_engine, self._h2 = self._h2, None
        with anyio.CancelScope(shield=True):  # marked closed: the pools must go too
            if engine is not None and self._owns_engine:
                await engine.aclose()
            if h2_engine is not None:
                await h2_engine.aclose()

    async def _ready(self) -> ResolvedEndpoint:
        self._check_open()
        endpoint = self._endpoint
        if endpoint is None:
            raise ParamValidationError(
                "region",
                "no region: pass region=, set AWS_REGION or AWS_DEFAULT_REGION, "
                "or set region in the profile",
            )
        return endpoint

    async def _get_engine(self) -> Engine:
        self._check_open()
        engine = self._engine
        if engine is not None:
            return engine
        return await self._build_engine()

    async def _build_engine(self) -> Engine:
        """Build the HTTP engine once, in a worker thread: its imports (~40-110 ms) and its TLS
        context (CA files read from disk) would otherwise block the event loop."""
        if self._engine_lock is None:
            self._engine_lock = anyio.Lock()
        async with self._engine_lock:  # N concurrent first calls build one engine
            engine = self._engine
            if engine is not None:
                return engine
            build = functools.partial(
                self._engine_with_tls,
                backend=sniffio.current_async_library(),
                transport=self._transport,
                http_client=self._http_client,
                max_connections=self._max_connections,
                keepalive_expiry=self._keepalive_expiry,
                http2=self._http2,
            )
            engine = await anyio.to_thread.run_sync(build)
            if self._closed:  # closed while it was being built: nothing is open on it yet
                with anyio.CancelScope(shield=True):
                    await engine.aclose()
                raise ClientClosedError("this SageMakerRuntimeClient is closed")
            self._engine = engine
            return engine

    def _tls(self) -> ssl.SSLContext:
        """The one TLS context of every engine this client builds (blocking: CA files)."""
        if self._ssl is None:
            self._ssl = build_ssl_context(self._verify, self._config.ca_bundle)
        return self._ssl

    def _engine_with_tls(self, **options: Any) -> Engine:
        ssl_context = proxy_ssl_context = None
        if self._http_client is None:
            ssl_context = self._tls()
            if self._config.proxy_rule is not None:
                proxy_ssl_context = self._proxy_tls()
        return make_engine(
            ssl_context=ssl_context,
            proxy=self._config.proxy_rule,
            proxy_ssl_context=proxy_ssl_context,
            **options,
        )

    async def ssl_context(self) -> ssl.SSLContext:
        """The ``ssl.SSLContext`` this client's engines use (``verify=``, AWS_CA_BUNDLE or the
        profile's ``ca_bundle``, else the system's CAs), built once off the event loop.

        For code that opens its own connections (another engine) and must trust the same
        certificates. A lent ``http_client`` keeps its own TLS settings, not this context.
        """
        self._check_open()
        if self._ssl is None:
            return await anyio.to_thread.run_sync(self._tls)
        return self._ssl

    def _trace(
        self,
        operation: Operation,
        endpoint_name: str,
        member_headers: list[tuple[str, str]],
        *,
        streaming: bool | None = None,
        component: str | None = None,
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
                inference_component_name=component
                or given.get("X-Amzn-SageMaker-Inference-Component"),
                target_variant=given.get("X-Amzn-SageMaker-Target-Variant"),
                target_model=given.get("X-Amzn-SageMaker-Target-Model"),
                streaming=(operation is INVOKE_ENDPOINT_STREAM or operation.name.endswith("Stream"))
                if streaming is None
                else streaming,
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
        bearer: int | None = None,
        component: str | None = None,
    ) -> Response:
        """Run one call: attempts until success or a final error, within ``deadline.total``.

        Each attempt is signed anew. A success returns the response (with its body read into
        ``content``, or left open for a stream when ``read_body`` is False); an error status
        raises its typed error. Streams are only retried here, before any part exists.

        A stream passes its own ``trace`` and ends it itself (the call outlives this method);
        otherwise the call's trace is made, started and ended here.

        ``bearer`` (a token lifetime) selects the OpenAI-compatible route's ways: a bearer token
        instead of SigV4, its error shapes, and one re-mint after a 401/403.
        """
        if trace is None and read_body:
            trace = self._trace(operation, endpoint_name, member_headers, component=component)
            if trace is None:
                return await self._deadlined(
                    operation,
                    endpoint_name,
                    member_headers,
                    body,
                    deadline,
                    retry,
                    True,
                    None,
                    bearer,
                )
            trace.start()
            try:
                response = await self._deadlined(
                    operation,
                    endpoint_name,
                    member_headers,
                    body,
                    deadline,
                    retry,
                    True,
                    trace,
                    bearer,
                )
            except BaseException as exc:
                trace.end(exc)
                raise
            trace.bytes_received = len(response.content)
            trace.end()
            return response
        return await self._deadlined(
            operation,
            endpoint_name,
            member_headers,
            body,
            deadline,
            retry,
            read_body,
            trace,
            bearer,
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
        bearer: int | None = None,
    ) -> Response:
        policy = self._retry if retry is None else Retry.of(retry)
        args = (operation, endpoint_name, member_headers, body, deadline, policy, read_body, trace)
        if deadline.total is None:
            return await self._attempts(*args, bearer)
        with anyio.move_on_after(deadline.total) as scope:
            return await self._attempts(*args, bearer)
        assert scope.cancelled_caught
        where = f"{operation.name} /endpoints/{endpoint_name}"
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
        bearer: int | None = None,
    ) -> Response:
        endpoint = await self._ready()
        url, path = operation_url(endpoint, encode_label(endpoint_name), operation.suffix)
        # The same for every attempt: only the signature, the date and the attempt header move.
        prepared = prepare(
            method="POST",
            url=url,
            host=endpoint.host,
            path=path,
            members=member_headers,
            body=body,
            region=endpoint.signing_region,
            service="sagemaker",
            where=f"{operation.name} {path}",
        )
        state = RetryState(
            policy, self._quota if policy.mode != "off" else None, started=anyio.current_time()
        )
        # The same for every attempt, as boto3 sends it.
        invocation_id = str(uuid.uuid4()) if trace is None else trace.call.invocation_id
        limit = self._max_response_bytes
        errors = error_from_response if bearer is None else chat_error_from_response
        token = None
        reminted = False
        if bearer is not None:
            region, lifetime, refresh = endpoint.signing_region, bearer, False

            async def current_token() -> str:
                nonlocal refresh
                value = await self._token(lifetime, region, refresh=refresh)
                refresh = False
                return value

            token = current_token
        while True:
            if policy.mode == "adaptive":
                wait = self._limiter.acquire(anyio.current_time())
                if wait > 0:
                    await anyio.sleep(wait)
            try:
                response = await self._exchange.send(
                    prepared,
                    deadline,
                    errors=errors,
                    invocation_id=invocation_id,
                    attempt=state.header,
                    trace=trace,
                    bearer=token,
                )
                if read_body:
                    await response.read_all(limit)
            except SageMakerRuntimeError as exc:
                if (
                    token is not None
                    and not reminted
                    and isinstance(exc, ServiceError)
                    and exc.status_code in (401, 403)
                    and not isinstance(exc, ModelError)
                ):
                    # The token was refused (expired, rotated credentials): mint a new one and
                    # try once more, at once; the policy's attempts are not spent on it.
                    reminted = refresh = True
                    logger.debug("%s: bearer token refused (%s); re-minting", operation.name, exc)
                    continue
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

        async def open_stream() -> Response:
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
            total=deadline.total,
            trace=trace,
        )

    # -- the OpenAI-compatible route (spec openai-compatible.md) ------------------------------

    async def _token(self, lifetime: int, region: str, *, refresh: bool = False) -> BearerToken:
        creds = await self._resolver.get()  # one frozen snapshot: never two key versions mixed
        return self._tokens.token(creds, region, lifetime, now=self._clock(), refresh=refresh)

    async def bearer_token(
        self, *, expires_in: int | timedelta | None = None, refresh: bool = False
    ) -> BearerToken:
        """A ``sagemaker-api-key-…`` bearer token for the OpenAI-compatible route, minted
        locally (no network call) from the client's credentials and region, exactly as the
        SageMaker Python SDK's ``generate_token`` mints it.

        ``expires_in``: whole seconds from 1 to 43,200 (default: the client's
        ``bearer_token_expires_in``); the token never outlives the credentials that sign it
        (``token.expires_at`` says when it ends). Tokens are cached per credentials, region and
        lifetime and re-minted when less than max(60 s, 10 %) of their life is left, so calling
        this before every request is cheap; ``refresh=True`` mints a new one regardless (after a
        401/403). The token is a credential: its ``repr`` is ``sagemaker-api-key-***``; never
        log or store it. The signing identity needs ``sagemaker:CallWithBearerToken`` and
        ``sagemaker:InvokeEndpoint``.
        """
        self._check_open()
        if expires_in is None:
            lifetime = self._token_lifetime
        else:
            lifetime = check_lifetime("expires_in", expires_in)
        endpoint = await self._ready()
        return await self._token(lifetime, endpoint.signing_region, refresh=refresh)

    def _chat_operation(self, endpoint_name: str, component: str | None) -> Operation:
        v.name("endpoint_name", endpoint_name)
        if component is None:
            return CHAT_COMPLETIONS
        v.component_name("inference_component_name", component)
        # The component travels in the path on this route, never in a header (spec §2, §4).
        suffix = f"inference-components/{encode_label(component)}/{CHAT_COMPLETIONS.suffix}"
        return replace(CHAT_COMPLETIONS, suffix=suffix)

    async def openai_base_url(
        self, endpoint_name: str, *, inference_component_name: str | None = None
    ) -> str:
        """The OpenAI SDK ``base_url`` of an endpoint (or one of its inference components):
        ``https://runtime.sagemaker.<region>.amazonaws.com/endpoints/<name>/openai/v1`` (or
        under the client's ``endpoint_url``). Pair it with ``bearer_token()`` as the API key."""
        self._check_open()
        operation = self._chat_operation(endpoint_name, inference_component_name)
        endpoint = await self._ready()
        url, _ = operation_url(endpoint, encode_label(endpoint_name), operation.suffix)
        return url[: -len("/chat/completions")]

    async def chat_completions(
        self,
        endpoint_name: str,
        *,
        json: Mapping[str, Any],
        inference_component_name: str | None = None,
        timeout: Timeout | float | None = None,
        retry: Retry | int | bool | None = None,
    ) -> ChatCompletionResult:
        """POST an OpenAI Chat Completions request to the endpoint's OpenAI-compatible route
        (``/endpoints/{name}[/inference-components/{ic}]/openai/v1/chat/completions``) and
        return the container's answer (``result.json()``).

        ``json`` is the request object, sent as is except that ``"model"`` defaults to ``""``
        (vLLM refuses the endpoint's name there); ``"stream": true`` belongs to
        ``chat_completions_stream``. Authenticated with a cached bearer token
        (``bearer_token()``); a 401/403 re-mints it once, then raises ``AuthenticationError`` /
        ``AccessDeniedError``. Errors are typed from the route's shapes: ``ModelError`` (the
        container refused the request: its own status and message), ``EndpointNotFoundError``,
        ``NoCapacityError`` (scaled to zero: retried, and waited for with
        ``retry=Retry(wait_for_capacity=...)``). Retries as ``invoke_endpoint``.
        """
        self._check_open()
        operation = self._chat_operation(endpoint_name, inference_component_name)
        payload = _chat_body(json, stream=False)
        members = operation.headers(
            {"content_type": "application/json", "accept": "application/json"}
        )
        deadline = self._timeout if timeout is None else Timeout.of(timeout)
        response = await self._call(
            operation,
            endpoint_name,
            members,
            payload,
            deadline,
            retry,
            bearer=self._token_lifetime,
            component=inference_component_name,
        )
        h = response.headers
        return ChatCompletionResult(
            body=response.content,
            status_code=response.status,
            headers=h,
            content_type=h.get("Content-Type"),
            request_id=h.get("x-amzn-RequestId"),
        )

    def chat_completions_stream(
        self,
        endpoint_name: str,
        *,
        json: Mapping[str, Any],
        inference_component_name: str | None = None,
        timeout: Timeout | float | None = None,
        retry: Retry | int | bool | None = None,
    ) -> ChatCompletionStream:
        """Stream a Chat Completions answer from the OpenAI-compatible route; returns the
        stream (not a coroutine).

        ``async with rt.chat_completions_stream("llm", json={"messages": [...]}) as stream:``
        sends the request on entry (``"stream": true`` and ``"model": ""`` added when absent;
        error answers raise there, typed as for ``chat_completions``), then ``async for token
        in stream.tokens()`` yields the text as the container writes it (SSE chat chunks, or
        JSON lines from LMI containers); ``stream.sse()``, ``json_lines()``, ``lines()`` and raw
        ``async for chunk in stream`` work too. A stream that ends before ``data: [DONE]`` (or
        a final chunk with ``finish_reason``) raises ``StreamTruncated``. Only the opening is
        ever retried; ``timeout.read`` bounds the gap between chunks, not the whole answer.
        """
        self._check_open()
        operation = self._chat_operation(endpoint_name, inference_component_name)
        payload = _chat_body(json, stream=True)
        members = operation.headers(
            {"content_type": "application/json", "accept": "text/event-stream"}
        )
        deadline = self._timeout if timeout is None else Timeout.of(timeout)
        stream_deadline = replace(deadline, total=None)  # total is the stream's own
        trace = self._trace(
            operation, endpoint_name, members, streaming=True, component=inference_component_name
        )
        lifetime = self._token_lifetime

        async def open_stream() -> Response:
            if trace is not None:
                trace.start()  # the call starts when the stream is opened, not made
            return await self._call(
                operation,
                endpoint_name,
                members,
                payload,
                stream_deadline,
                retry,
                read_body=False,
                trace=trace,
                bearer=lifetime,
            )

        return ChatCompletionStream(
            open_stream, operation=operation.name, total=deadline.total, trace=trace
        )

    def invoke_endpoint_with_bidirectional_stream(
        self,
        endpoint_name: str,
        *,
        target_variant: str | None = None,
        model_invocation_path: str | None = None,
        model_query_string: str | None = None,
        timeout: Timeout | float | None = None,
        idle_timeout: float | None = None,
        drain_timeout: float | None = 30.0,
        max_part_bytes: int | None = None,
        retry: Retry | int | bool | None = None,
    ) -> BidiSession:
        """Call InvokeEndpointWithBidirectionalStream; returns the session (not a coroutine).

        ``async with rt.invoke_endpoint_with_bidirectional_stream("ep") as session:`` opens one
        HTTP/2 stream (port 8443 of the region's endpoint, or ``endpoint_url`` as given) and
        returns at once: ``await session.send(b"...")`` (bytes → BINARY, str → UTF8) while
        ``async for part in session`` reads the model's answers; ``await session.end_input()``
        ends the input. An error status (``ModelError``, ``InputValidationError``, ...) is
        raised by the next ``send()`` or iteration as soon as it arrives.

        Deadlines: ``timeout`` (connect, the response head as ``first_byte``/``read``, each
        wait for flow-control window as ``write``, the whole session as ``total``, off by
        default); ``idle_timeout`` bounds the gap between received parts (off: sessions may
        be silent); ``drain_timeout`` bounds reading the rest after a normal exit. Only the
        opening is retried (connection failures, before any event was written).
        ``max_part_bytes`` caps one part (default 1 MiB). Members are validated here.
        """
        from ._bidi import DEFAULT_MAX_PART_BYTES, BidiCall, BidiSession
        from ._operations import INVOKE_ENDPOINT_BIDI

        self._check_open()
        v.name("endpoint_name", endpoint_name)
        members = INVOKE_ENDPOINT_BIDI.headers(
            {
                "target_variant": target_variant,
                "model_invocation_path": model_invocation_path,
                "model_query_string": model_query_string,
            }
        )
        for param, value in (("idle_timeout", idle_timeout), ("drain_timeout", drain_timeout)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise ParamValidationError(param, "must be a positive number of seconds or None")
        cap = DEFAULT_MAX_PART_BYTES if max_part_bytes is None else max_part_bytes
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 16 * 1024 * 1024:
            raise ParamValidationError("max_part_bytes", "must be an int from 1 to 16 MiB")
        deadline = self._timeout if timeout is None else Timeout.of(timeout)
        policy = self._retry if retry is None else Retry.of(retry)
        trace = self._trace(INVOKE_ENDPOINT_BIDI, endpoint_name, members)
        return BidiSession(
            BidiCall(
                endpoint_name=endpoint_name,
                path_suffix=INVOKE_ENDPOINT_BIDI.suffix,
                member_headers=tuple((k.lower(), val) for k, val in members),
                endpoint=self._bidi_endpoint,
                engine=self._h2_engine,
                credentials=self._resolver,
                timeout=deadline,
                idle_timeout=idle_timeout,
                drain_timeout=drain_timeout,
                max_part_bytes=cap,
                retry=policy,
                trace=trace,
            )
        )

    async def _bidi_endpoint(self) -> ResolvedEndpoint:
        """The bidirectional operation's own endpoint (port 8443 rule set, spec §1)."""
        await self._ready()
        config = self._config
        use_fips, use_dualstack = config.variants(config.endpoint_url)
        return resolve_bidi_endpoint(
            region=config.region,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
            endpoint_url=config.endpoint_url,
        )

    async def _h2_engine(self) -> H2Engine:
        self._check_open()
        if self._h2 is None:
            from ._engines.h2_engine import H2Engine

            context = self._ssl_context
            if context is None and isinstance(self._verify, ssl.SSLContext):
                raise ParamValidationError(
                    "ssl_context",
                    "verify= is an ssl.SSLContext, which the HTTP/1.1 engines use as given; "
                    "bidirectional sessions need their own that offers ALPN 'h2' (pass "
                    "ssl_context=)",
                )
            # Without ssl_context=, the same verification as every engine (verify=,
            # AWS_CA_BUNDLE, ca_bundle) in a context of its own, built on the first TLS
            # connection: ALPN 'h2' set on the shared one would reach HTTP/1.1 too. No await
            # here: concurrent first sessions must all get this one engine.
            # Proxies as the other engines: the same rule (HTTPS_PROXY/NO_PROXY or proxies=),
            # and an https:// proxy itself verified as they verify it (proxies_config= too).
            self._h2 = H2Engine(
                ssl_context=context,
                make_ssl_context=self._h2_tls,
                proxy=self._config.proxy_rule,
                proxy_ssl_context=self._h2_proxy_tls,
            )
        return self._h2

    def _proxy_tls(self) -> ssl.SSLContext | None:
        """The TLS context for an ``https://`` proxy itself (``proxies_config``), built once;
        None: the proxy is verified as the endpoint is (blocking: certificate files)."""
        if self._proxy_ssl is None:
            self._proxy_ssl = build_proxy_ssl_context(self._config, self._verify)
        return self._proxy_ssl

    def _h2_proxy_tls(self) -> ssl.SSLContext:
        return self._proxy_tls() or self._tls()

    def _h2_tls(self) -> ssl.SSLContext:
        context = build_ssl_context(self._verify, self._config.ca_bundle)
        context.set_alpn_protocols(["h2"])
        return context

    async def _s3_client(self) -> S3Client:
        await self._ready()
        return self._s3_now()

    def _s3_now(self) -> S3Client:
        self._check_open()
        endpoint = self._endpoint
        if endpoint is None:
            raise ParamValidationError(
                "region",
                "no region: pass region=, set AWS_REGION or AWS_DEFAULT_REGION, "
                "or set region in the profile",
            )
        if self._s3 is None:
            config = self._config
            use_fips, use_dualstack = config.variants(config.s3_endpoint_url)
            self._s3 = S3Client(
                exchange=self._exchange,
                region=endpoint.signing_region,
                endpoint_url=config.s3_endpoint_url,
                use_fips=use_fips,
                use_dualstack=use_dualstack,
                timeout=self._timeout,
            )
        return self._s3

    def async_job(
        self,
        *,
        output_location: str,
        failure_location: str | None = None,
        inference_id: str | None = None,
        request_id: str | None = None,
        submitted_at_utc: datetime | str | None = None,
        request_ttl_seconds: int | None = None,
        invocation_timeout_seconds: int | None = None,
    ) -> AsyncInferenceJob:
        """The async inference job whose output will appear at ``output_location``, again.

        For a job submitted earlier, by this process or another one (after a restart, from a
        queue): give what ``invoke_endpoint_async`` returned, or ``**job.to_dict()``.
        ``await job.result()`` and ``job.poll()`` then work as for a fresh job; nothing is
        submitted. Without ``submitted_at_utc`` the default wait is the job's whole lifetime
        from now. Raises ``ParamValidationError`` for a location that is not an S3 URI.
        """
        self._check_open()
        if not isinstance(output_location, str) or not output_location:
            raise ParamValidationError("output_location", "must be an s3:// URI")
        for name, value in (
            ("output_location", output_location),
            ("failure_location", failure_location),
        ):
            if value is not None:
                try:
                    parse_s3_uri(value)
                except ParamValidationError as exc:
                    raise ParamValidationError(name, exc.reason) from None
        for name, number in (
            ("request_ttl_seconds", request_ttl_seconds),
            ("invocation_timeout_seconds", invocation_timeout_seconds),
        ):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
                raise ParamValidationError(name, "must be an int or None")
        return AsyncInferenceJob(
            inference_id=inference_id,
            output_location=output_location,
            failure_location=failure_location,
            request_id=request_id,
            s3=self._s3_now(),
            submitted_at_utc=parse_utc("submitted_at_utc", submitted_at_utc),
            request_ttl_seconds=request_ttl_seconds,
            invocation_timeout_seconds=invocation_timeout_seconds,
        )

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
                status_code=response.status,
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
            submitted_at_utc=datetime.now(timezone.utc),
            request_ttl_seconds=request_ttl_seconds,
            invocation_timeout_seconds=invocation_timeout_seconds,
        )

    @overload
    async def map_invoke(
        self,
        endpoint_name: str,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        return_exceptions: Literal[False] = False,
        progress: bool | Callable[[int, int | None], None] = False,
        **options: Unpack[InvokeOptions],
    ) -> list[InvokeEndpointResult]: ...

    @overload
    async def map_invoke(
        self,
        endpoint_name: str,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        return_exceptions: bool,
        progress: bool | Callable[[int, int | None], None] = False,
        **options: Unpack[InvokeOptions],
    ) -> list[InvokeEndpointResult | SageMakerRuntimeError]: ...

    async def map_invoke(
        self,
        endpoint_name: str,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        return_exceptions: bool = False,
        progress: bool | Callable[[int, int | None], None] = False,
        **options: Unpack[InvokeOptions],
    ) -> list[InvokeEndpointResult] | list[InvokeEndpointResult | SageMakerRuntimeError]:
        """Invoke ``endpoint_name`` once per input, at most ``concurrency`` at a time.

        Each input is a body (bytes-like or str) or any other JSON value (sent as ``json=``);
        ``inputs`` may be an async iterable (read one item at a time). Results come back in input
        order. By default the first error stops the batch and is raised (the calls in flight are
        cancelled), so the list holds results only; with ``return_exceptions=True`` each failed
        item holds its typed error instead, except errors that would fail every item alike
        (``CredentialsError``, ``ClientClosedError``, a ``ParamValidationError`` for an option
        rather than the item's payload), which still stop the batch. ``progress=True`` shows a
        tqdm bar (the ``progress`` extra) or pass a callable ``progress(done, total)``. Other
        keywords are ``invoke_endpoint`` options (checked by a type checker as there).
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

    def map_invoke_iter(
        self,
        endpoint_name: str,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        ordered: bool = False,
        reorder_window: int | None = None,
        progress: bool | Callable[[int, int | None], None] = False,
        **options: Unpack[InvokeOptions],
    ) -> MapInvokeIter:
        """Invoke ``endpoint_name`` once per input, yielding each outcome as it completes.

        ``async with rt.map_invoke_iter("ep", inputs, concurrency=32) as results:`` then
        ``async for index, outcome in results:`` -- ``outcome`` is the ``InvokeEndpointResult``
        or the typed error of input ``index``. Inputs (a body, bytes-like or str, or any other
        JSON value sent as ``json=``) are read lazily from an iterable or async iterable; at
        most ``concurrency`` calls are in flight and at most ``2 * concurrency`` inputs are held,
        whatever the input size. ``ordered=True`` yields in input order, reading at most
        ``reorder_window`` (default ``2 * concurrency``) inputs ahead of the oldest unanswered
        one. Errors that would fail every item alike (``CredentialsError``,
        ``ClientClosedError``, a ``ParamValidationError`` for a shared option) stop the map and
        are raised. Leaving the block early (``break``, an exception, cancellation) cancels the
        calls in flight. ``progress=True`` shows a tqdm bar (the ``progress`` extra) with the
        rate and the error count, or pass a callable ``progress(done, total)``. The other
        keywords are ``invoke_endpoint`` options shared by every call.
        """
        from ._batch import map_invoke_iter

        return map_invoke_iter(
            self,
            endpoint_name,
            inputs,
            concurrency=concurrency,
            ordered=ordered,
            reorder_window=reorder_window,
            progress=progress,
            **options,
        )

    async def open_session(
        self,
        endpoint_name: str,
        body: Any = None,
        *,
        json: Any = None,
        **options: Unpack[SessionInvokeOptions],
    ) -> Session:
        """Open a stateful session: ``invoke_endpoint`` with ``session_id="NEW_SESSION"``.

        Returns a ``Session`` whose ``invoke()`` and ``stream()`` send its id, with
        ``session_id``, ``expires`` (UTC) and ``opened_by`` (the first call's result). A response
        reporting the session closed marks it ``closed``; later calls then raise
        ``SessionClosedError``, as they do after ``expires``.
        """
        from ._sessions import open_session

        return await open_session(self, endpoint_name, body, json=json, **options)


def _configure(
    *,
    verify: bool | str | ssl.SSLContext | None,
    proxies: Mapping[str, str] | None,
    proxies_config: ProxiesConfig | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    s3_endpoint_url: str | None,
    use_fips: bool | None,
    use_dualstack: bool | None,
    retry: Retry | int | bool | None,
) -> ClientConfig:
    """The client's settings from its arguments, ``os.environ`` and the shared files."""
    for name, flag in (("use_fips", use_fips), ("use_dualstack", use_dualstack)):
        if flag is not None and not isinstance(flag, bool):
            raise ParamValidationError(name, "must be a bool or None")
    environ = os.environ
    return resolve_config(
        environ=environ,
        files=load_config_files(environ),
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        s3_endpoint_url=s3_endpoint_url,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
        retry=retry,
        verify=verify,
        proxies=proxies,
        proxies_config=proxies_config,
    )


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


def _chat_body(value: object, *, stream: bool) -> bytes:
    """A Chat Completions request body: a JSON object, ``model`` defaulting to ``""``, and a
    ``stream`` that agrees with the method called (spec openai-compatible.md §4)."""
    if not isinstance(value, Mapping):
        raise ParamValidationError(
            "json", "must be a Chat Completions request: a JSON object (a dict with messages)"
        )
    given = value.get("stream")
    if stream and given not in (None, True):
        raise ParamValidationError(
            "json", '"stream" must be true (or left out) with chat_completions_stream'
        )
    if not stream and given not in (None, False):
        raise ParamValidationError(
            "json", '"stream": true asks for a streamed answer: use chat_completions_stream'
        )
    request = dict(value)
    request.setdefault("model", "")  # vLLM refuses the endpoint name, accepts "" (spec §9.5)
    if stream:
        request["stream"] = True
    data = v.json_body(request, _compact_json)
    if len(data) > v.MAX_BODY_BYTES:
        raise ParamValidationError(
            "json", f"serialises to {len(data):,} bytes; the service accepts {v.MAX_BODY_BYTES:,}"
        )
    return data


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
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
