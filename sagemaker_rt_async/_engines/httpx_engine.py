"""An ``httpx.AsyncClient`` as engine: ours on trio and for HTTP/2, or one lent to us.

A lent client may come from httpx or from its maintained fork httpx2 (aiobotocore and
openai-python moved to it): the request, its body stream and the exception names are taken
from the lent client's own package, so both work the same. Users who mock HTTP with respx lend
an ``httpx.AsyncClient`` and keep their mocks.

Phases: httpcore reports through the request's ``trace`` extension when it starts a new
connection and when it starts writing the request; those are the ``progress`` the exchange
needs to bound the pool wait, the connect and the head separately. httpx's own pool timeout is
not relied on (it restarts after ``ConnectionNotAvailable``, encode/httpcore#822), nor its read
timeout: the exchange bounds both. Connect and write deadlines are httpx's.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio

from .._errors import (
    ParamValidationError,
    RequestTimeout,
    ResponseHeaders,
    SageMakerRuntimeError,
    TransportError,
)
from .base import BodySlices, Progress, Proxy, ProxyFor, describe, gap_limit

if TYPE_CHECKING:
    import httpx

    from .._models import Timeout

__all__ = ["HttpxEngine", "is_httpx_client", "new_httpx_client"]

# Closing must finish even when the surrounding scope is being cancelled, and not hang.
_CLOSE_TIMEOUT_S = 5.0
# A closed response ends within a chunk or two (what the engine had already buffered).
_MAX_DRAIN_CHUNKS = 64


def new_httpx_client(
    *,
    max_connections: int,
    keepalive_expiry: float,
    http2: bool,
    ssl_context: ssl.SSLContext | None = None,
    proxy: ProxyFor | None = None,
    proxy_ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """Our own ``httpx.AsyncClient``: its pool sized like the aiohttp engine's, TLS from
    ``ssl_context`` (to an ``https://`` proxy: ``proxy_ssl_context``, else ``ssl_context``),
    and no proxy but what ``proxy`` decides per request (httpx's own reading of the
    environment is off: the client's configuration has read it, as botocore does)."""
    import httpx

    def transport(via: Proxy | None) -> httpx.AsyncHTTPTransport:
        proxy_option = None
        if via is not None:
            headers = {"Proxy-Authorization": via.authorization} if via.authorization else None
            # TLS to the proxy itself only for an https:// proxy (httpcore refuses it otherwise).
            tls = None
            if via.url.startswith("https:"):
                tls = proxy_ssl_context if proxy_ssl_context is not None else ssl_context
            proxy_option = httpx.Proxy(via.url, headers=headers, ssl_context=tls)
        return httpx.AsyncHTTPTransport(
            verify=ssl_context if ssl_context is not None else True,
            proxy=proxy_option,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry,
            ),
            http2=http2,
        )

    direct = transport(None)
    routed: httpx.AsyncBaseTransport = direct
    if proxy is not None:
        routed = _router_class()(direct, proxy, transport)
    return httpx.AsyncClient(transport=routed, follow_redirects=False, trust_env=False)


@functools.cache
def _router_class() -> type[Any]:
    """``_ProxyRouter``, made on first use: httpx is imported by the first request only."""
    import httpx

    class _ProxyRouter(httpx.AsyncBaseTransport):
        """Sends each request directly or through the proxy ``proxy(url)`` names (a pool each)."""

        def __init__(
            self,
            direct: httpx.AsyncHTTPTransport,
            proxy: ProxyFor,
            make: Callable[[Proxy | None], httpx.AsyncHTTPTransport],
        ) -> None:
            self._direct = direct
            self._proxy = proxy
            self._make = make
            self._via: dict[Proxy, httpx.AsyncHTTPTransport] = {}

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            via = self._proxy(str(request.url))
            if via is None:
                return await self._direct.handle_async_request(request)
            transport = self._via.get(via)
            if transport is None:
                transport = self._via[via] = self._make(via)
            return await transport.handle_async_request(request)

        async def aclose(self) -> None:
            for transport in [self._direct, *self._via.values()]:
                await transport.aclose()

    return _ProxyRouter


def is_httpx_client(value: object) -> bool:
    """True for an ``httpx.AsyncClient`` or an ``httpx2.AsyncClient`` (not importing either)."""
    for cls in type(value).__mro__:
        if cls.__name__ == "AsyncClient" and cls.__module__.partition(".")[0] in (
            "httpx",
            "httpx2",
        ):
            return True
    return False


@functools.cache
def _body_class(package: ModuleType) -> Callable[[bytes], Any]:
    # A subclass of the lent client's own stream type (httpx's or httpx2's).
    class Body(package.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, body: bytes) -> None:
            self._body = body

        def __aiter__(self) -> BodySlices:
            return BodySlices(self._body)

        async def aclose(self) -> None:
            """Nothing to release: the bytes are in memory."""

    return Body


class HttpxEngine:
    """Sends through an ``httpx.AsyncClient`` (or ``httpx2.AsyncClient``)."""

    def __init__(self, client: httpx.AsyncClient, *, owned: bool) -> None:
        self.client = client
        self._owned = owned
        self._package = importlib.import_module(type(client).__module__.partition(".")[0])
        self._body = _body_class(self._package)

    def __repr__(self) -> str:
        return f"<HttpxEngine {self._package.__name__} {'owned' if self._owned else 'lent'}>"

    async def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout: Timeout,
        progress: Progress,
    ) -> _Response:
        """Send as given; see ``Engine.send``."""
        started = False

        async def trace(name: str, info: object) -> None:
            nonlocal started
            if name == "connection.connect_tcp.started":
                progress("connect")
            elif name.endswith(".send_request_headers.started"):
                started = True
                progress("request")

        package = self._package
        try:
            request = package.Request(
                method,
                url,
                headers=headers,
                stream=self._body(body) if body or method in ("POST", "PUT") else None,
                extensions={
                    "timeout": {
                        "connect": timeout.connect,
                        # Each socket read: the gap between bytes (the head's wait is ours).
                        "read": gap_limit(timeout),
                        "write": timeout.write,
                        "pool": None,
                    },
                    "trace": trace,
                },
            )
            response = await self.client.send(request, stream=True, follow_redirects=False)
        except Exception as exc:
            err = _translate(exc, started=started, head=False)
            if err is None:
                raise
            raise err from exc
        return _Response(response)

    async def aclose(self) -> None:
        """Close our own client; a lent one stays open."""
        if self._owned:
            await self.client.aclose()


class _Response:
    __slots__ = ("_done", "_ended", "_raw", "_response", "headers", "status")

    shields_close = True
    """``aclose`` shields itself where it has to (a body not read to its end)."""

    bounds_gaps = True
    """httpx's read timeout (``gap_limit``) bounds each socket read of the body."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = ResponseHeaders.from_pairs(response.headers.raw)
        self._response = response
        self._raw: AsyncIterator[bytes] = response.stream.__aiter__()  # type: ignore[union-attr]
        self._done = False
        self._ended = False  # the body was read to its clean end

    async def read_chunk(self) -> bytes:
        if self._done:
            return b""
        try:
            while True:
                chunk = await self._raw.__anext__()
                if chunk:
                    return chunk
        except StopAsyncIteration:
            self._done = self._ended = True
            _drop_if_bytes_left(self._response)
            return b""
        except Exception as exc:
            self._done = True
            err = _translate(exc, started=True, head=True)
            if err is None:
                raise
            raise err from exc

    def abort(self) -> None:
        """Close soon, from synchronous code (a response dropped without being closed).

        httpx can only close asynchronously: the close runs as a task of its own, on the
        running event loop, rather than whenever the garbage collector gets to it.
        """
        if self._done and self._response.is_closed:
            return
        self._done = True
        _spawn(self.aclose)

    async def aclose(self) -> None:
        if self._ended:
            # Read to its end: httpx releases the connection at once (as its own aread does).
            with contextlib.suppress(Exception):
                await self._response.aclose()
            return
        self._done = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
            with contextlib.suppress(Exception):
                await self._response.aclose()
            await _finish(self._raw)  # generators left suspended mid-body: unwound now, not at GC


# Where httpcore keeps the h11 state of the connection a response came on: httpx's stream
# wrapper -> its transport stream -> httpcore's pool stream -> the HTTP/1.1 connection stream ->
# the connection -> its ``h11.Connection``. The same path in httpx2/httpcore2. Private, so it is
# walked defensively: a lent client with another transport (respx, a mock, HTTP/2) has no such
# path and has nothing to check (h2 frames cannot spill into the next response).
_H11_PATH = ("_stream", "_httpcore_stream", "_stream", "_connection", "_h11_state")


def _drop_if_bytes_left(response: httpx.Response) -> None:
    """Keep a connection with bytes past the end of this response out of the pool.

    A server that sends more than its ``Content-Length`` (or anything after a complete
    response, in the same read) leaves bytes in h11's receive buffer that httpcore would parse
    as the *next* request's response on this connection: its reuse check polls the socket, not
    that buffer. ``trailing_data`` is h11's public view of the buffer; ``send_failed()`` (public
    h11 too) marks our side failed, so when the response closes httpcore closes the connection
    itself, under its own lock, instead of returning it to the pool.
    """
    state: Any = getattr(response, "stream", None)
    for name in _H11_PATH:
        state = getattr(state, name, None)
        if state is None:
            return
    trailing = getattr(state, "trailing_data", None)
    if trailing and trailing[0]:
        with contextlib.suppress(Exception):
            state.send_failed()


# Tasks spawned by ``abort`` on asyncio: the loop keeps only weak references to tasks.
_CLOSING: set[Any] = set()


def _spawn(close: Callable[[], Any]) -> None:
    """Run ``close()`` as a task of its own on the running event loop (asyncio or trio)."""
    import sniffio

    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return  # no loop (interpreter shutdown): nothing can run; the socket closes with it
    if library == "trio":
        import trio

        trio.lowlevel.spawn_system_task(close)
        return
    import asyncio

    task = asyncio.get_running_loop().create_task(close())
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


async def _finish(raw: AsyncIterator[bytes]) -> None:
    """Run a chain of async generators over a *closed* response to its end, then close it.

    httpx stacks async generators (``BoundAsyncStream.__aiter__`` over the transport's
    ``__aiter__``). ``aclose()`` on the outer one leaves the inner ones suspended for the
    garbage collector (trio warns; nothing may rely on GC). Once the response is closed, the
    next read ends or fails at the bottom and unwinds every level normally.
    """
    with contextlib.suppress(Exception):
        for _ in range(_MAX_DRAIN_CHUNKS):
            await raw.__anext__()
    closer = getattr(raw, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


def _names(exc: BaseException) -> set[str]:
    # httpx and httpx2 share their exception names: matched by name, neither is imported here.
    return {
        cls.__name__
        for cls in type(exc).__mro__
        if cls.__module__.partition(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2")
    }


def _translate(exc: BaseException, *, started: bool, head: bool) -> SageMakerRuntimeError | None:
    """httpx's (or httpx2's) exceptions as ours, classified by what happened on the wire.

    ``started``: the request had started going out. ``head``: the response head had arrived.
    None for an exception that is no transport failure (a bug: raised as it is).
    """
    if isinstance(exc, SageMakerRuntimeError):
        return exc
    names = _names(exc)
    if not names and not isinstance(exc, OSError):
        return None
    if "UnsupportedProtocol" in names or "InvalidURL" in names:
        return ParamValidationError("endpoint_url", describe(exc))
    if "LocalProtocolError" in names:
        # Validation keeps members and credentials well-formed, so this is a header a lent
        # client added. h11's message quotes the value, which may be a token: not repeated.
        return ParamValidationError("request", "a header value could not be sent")
    if "ConnectTimeout" in names:
        return RequestTimeout(
            f"connecting timed out ({describe(exc)})", timeout="connect", request_sent=False
        )
    if "PoolTimeout" in names:
        return RequestTimeout(
            "no free connection in the pool in time", timeout="pool", request_sent=False
        )
    if "WriteTimeout" in names:
        return RequestTimeout("sending the request timed out", timeout="write")
    if "ReadTimeout" in names:
        return RequestTimeout(
            "no bytes from the server for longer than the read deadline",
            timeout="idle" if head else "first_byte",
        )
    if ("ConnectError" in names or "ProxyError" in names) and not started:
        return TransportError(f"could not connect: {describe(exc)}", request_sent=False)
    if "RemoteProtocolError" in names and "without sending a response" not in str(exc):
        # The server answered with bytes we cannot read: sending again could repeat what the
        # model already did.
        return TransportError(f"malformed response: {describe(exc)}")
    err = TransportError(f"{type(exc).__name__}: {describe(exc)}", request_sent=started)
    if not head and ("NetworkError" in names or "RemoteProtocolError" in names):
        err.closed_before_response = True  # closed or reset with no answer
    return err
