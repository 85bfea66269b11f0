"""The HTTP engine under the client, and the one place its exceptions become ours.

On asyncio the default engine is httpx's API over aiohttp's connection pool
(``httpx_aiohttp.AiohttpTransport``): httpx 0.28's own pool collapses under concurrency. On trio,
or with ``transport="httpx"``, it is httpx's own transport. ``max_connections`` and the
connect / read / pool deadlines mean the same on both. The write deadline is enforced by the
httpx engine only: aiohttp has no per-write timeout (its read deadline starts once the body is
sent).

Both engines send the request target exactly as httpx holds it: httpx_aiohttp hands aiohttp a
string, which yarl would re-quote (``%3D`` becomes ``=``, ``%2A`` becomes ``*``), so the
aiohttp engine passes a ``yarl.URL(..., encoded=True)`` instead (STYLE.md §8). Request
bodies go out as a ``request_body`` (slices, fixed ``Content-Length``) on both engines.

Importing this module does not import httpx (~40 ms, with ssl, email and http.client behind
it): that happens when the first client or request is built.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ._errors import ParamValidationError, RequestTimeout, TransportError
from ._models import Timeout
from ._version import __version__

if TYPE_CHECKING:
    import httpx
    from httpx_aiohttp import AiohttpTransport

__all__ = [
    "HEADER_ENCODING",
    "MAX_ERROR_BODY",
    "BodySlices",
    "TransportName",
    "close_response",
    "deadline_error",
    "finish",
    "make_http_client",
    "read_capped",
    "request_body",
    "send",
    "timeout_extension",
    "transport_errors",
    "unsigned_headers",
    "user_agent",
]

TransportName = Literal["aiohttp", "httpx"]

# Response header values are decoded as botocore decodes them. httpx instead picks one encoding
# per response from all its headers, so one odd header would change how the others read.
HEADER_ENCODING = "iso-8859-1"


@functools.cache
def user_agent() -> str:
    """Our ``User-Agent``, as boto3 shapes its own (built once; it names the httpx version)."""
    import platform

    import httpx

    return (
        f"sagemaker-rt-async/{__version__} python/{platform.python_version()} "
        f"httpx/{httpx.__version__}"
    )


def unsigned_headers(
    invocation_id: str | None = None, attempt: str = "attempt=1; max=1"
) -> list[tuple[str, str]]:
    """The headers sent after signing, as boto3 sends them (the engine may rewrite them).

    ``invocation_id`` stays the same across the attempts of one call; ``attempt`` is the
    ``amz-sdk-request`` value (``attempt=N; max=M``).
    """
    return [
        ("User-Agent", user_agent()),
        ("Accept-Encoding", "identity"),  # raw bytes: an event stream must not be decoded
        ("amz-sdk-invocation-id", invocation_id or str(uuid.uuid4())),
        ("amz-sdk-request", attempt),
    ]


# aiohttp adds these unless told not to. Accept and Content-Type reach the model container and
# change what some containers return; we send exactly the headers boto3 sends (STYLE.md §8).
_AIOHTTP_SKIP = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")

_SLICE_SIZE = 256 * 1024
# A whole HTTP chunk shorter than this is read together with whatever else is buffered: below
# it a trip through the iterator layers costs more than the copy that batching makes.
_BATCH_BELOW = 16 * 1024


class BodySlices:
    """A request body handed to the engine in slices (one pass; a class, not a generator)."""

    def __init__(self, body: bytes) -> None:
        self._view = memoryview(body)
        self._pos = 0

    def __aiter__(self) -> BodySlices:
        return self

    async def __anext__(self) -> bytes:
        if self._pos >= len(self._view):
            raise StopAsyncIteration
        start, self._pos = self._pos, self._pos + _SLICE_SIZE
        return bytes(self._view[start : self._pos])


def request_body(body: bytes) -> httpx.AsyncByteStream:
    """A request body for ``httpx.Request(stream=...)``: ``body`` handed out in slices.

    Given plain bytes, httpx iterates them through an async generator of its own; a send
    cancelled mid-write leaves that generator suspended for the garbage collector (trio warns,
    and nothing may rely on GC). This iterates with a class instead. The slices also keep
    aiohttp from writing over 1 MiB of raw bytes at once (it warns that may block the loop).
    The caller sets ``Content-Length`` (``len(body)``): nothing is chunk-encoded.
    """
    return _request_body_class()(body)


@functools.cache
def _request_body_class() -> Callable[[bytes], httpx.AsyncByteStream]:
    # Built on first use: it must subclass httpx's stream type, and httpx is imported lazily.
    import httpx

    class RequestBody(httpx.AsyncByteStream):
        """``request_body``'s stream: the bytes in memory, iterated in slices by a class."""

        def __init__(self, body: bytes) -> None:
            self._body = body

        def __aiter__(self) -> BodySlices:
            return BodySlices(self._body)

        async def aclose(self) -> None:
            """Nothing to release: the bytes are in memory."""

    return RequestBody


@functools.cache
def _aiohttp_transport_class() -> type[AiohttpTransport]:
    # Built on first use: aiohttp, yarl and httpx_aiohttp are imported lazily (~110 ms), and
    # never under trio, where the aiohttp engine cannot run.
    import aiohttp
    import httpx
    import yarl
    from httpx_aiohttp import AiohttpTransport
    from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

    class EncodedUrlAiohttpTransport(AiohttpTransport):
        """httpx_aiohttp's transport, giving aiohttp the URL as already encoded by httpx.

        ``AiohttpTransport.handle_async_request`` passes ``str(request.url)``, which yarl
        re-quotes; a signed S3 key such as ``a%3Db%2A`` would then go out as ``a=b*`` and fail
        its signature. This is that method (httpx_aiohttp 0.2, without the proxy options we
        never set) with ``yarl.URL(..., encoded=True)``.
        """

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not isinstance(self.client, aiohttp.ClientSession):
                self.client = self.get_client()
            timeout = request.extensions.get("timeout", {})
            data: Any
            try:
                data = request.content or None
            except httpx.RequestNotRead:
                data = request.stream
                request.headers.pop("transfer-encoding", None)  # aiohttp frames the body
            with map_aiohttp_exceptions():
                response = await self.client.request(
                    method=request.method,
                    url=yarl.URL(str(request.url), encoded=True),
                    headers=request.headers,
                    data=data,
                    allow_redirects=False,
                    auto_decompress=False,
                    compress=False,
                    timeout=aiohttp.ClientTimeout(
                        sock_connect=timeout.get("connect"),
                        sock_read=timeout.get("read"),
                        connect=timeout.get("pool"),
                    ),
                    server_hostname=request.extensions.get("sni_hostname"),
                ).__aenter__()
            extensions = {"http_version": b"HTTP/1.1"}
            if response.reason:
                extensions["reason_phrase"] = response.reason.encode()
            return httpx.Response(
                status_code=response.status,
                headers=response.raw_headers,
                stream=AvailableBytesStream(response),
                request=request,
                extensions=extensions,
            )

    class AvailableBytesStream(AiohttpResponseStream):
        """The body as aiohttp receives it: one HTTP chunk per read, or a burst of small ones.

        httpx_aiohttp reads ``iter_chunked(16 KiB)``: a 64 KiB PayloadPart then takes four
        trips through every iterator layer. ``readany`` would instead join everything buffered
        into one new ``bytes``: a 256 KiB socket read of 64 KiB parts was copied whole, and the
        parts cut by its edges were copied again by the decoder to reassemble them (~5 µs a
        part). So a read takes one HTTP chunk (``readchunk``; the service sends each message in
        a chunk of its own, so the decoder gets it whole). When that chunk is a whole, small one
        (token-sized parts), the read also takes everything else already buffered
        (``read_nowait``), so a burst of small parts costs one trip, as with ``readany``.

        The iterator is this object, not a generator, and it ends as soon as it is closed:
        reading a released aiohttp body raises aiohttp's one shared exception object, whose
        traceback then grows (and pins frames and responses) with every early-ended stream.
        """

        def __init__(self, response: Any) -> None:
            super().__init__(response)
            self._content: aiohttp.StreamReader = response.content
            # Whether the bytes read so far end on an HTTP chunk boundary: only then is a chunk
            # ending on the next boundary whole, rather than the tail of a larger one.
            self._at_boundary = True
            self._done = False

        def __aiter__(self) -> AvailableBytesStream:
            return self

        async def __anext__(self) -> bytes:
            if self._done:
                raise StopAsyncIteration
            content = self._content
            try:
                chunk, end = await content.readchunk()
                while not chunk:
                    # (b"", False) is aiohttp's end of the body. The reader of every bodiless
                    # response (HEAD, 204) is one shared object that says it once, then answers
                    # (b"", True) forever: at_eof() tells that apart from a chunk boundary.
                    if not end or content.at_eof():
                        self._done = True
                        raise StopAsyncIteration
                    self._at_boundary = True
                    chunk, end = await content.readchunk()
                whole = end and self._at_boundary
                self._at_boundary = end
                if whole and len(chunk) < _BATCH_BELOW:
                    rest = content.read_nowait()  # never waits: b"" when nothing is buffered
                    if rest:
                        chunk += rest
                        self._at_boundary = False  # unknown: treat what follows as a tail
            except StopAsyncIteration:
                raise
            except Exception as exc:
                # Mapped here rather than by a ``with map_aiohttp_exceptions()`` around every
                # read: that context manager is a generator, ~1 µs a read on the hot path.
                with map_aiohttp_exceptions():
                    raise exc  # the mapper raises its httpx error from this one
            return chunk

        async def aclose(self) -> None:
            self._done = True
            await super().aclose()

    return EncodedUrlAiohttpTransport


def make_http_client(
    *,
    backend: str,
    transport: TransportName | None,
    max_connections: int,
    keepalive_expiry: float,
    http2: bool,
) -> httpx.AsyncClient:
    """Build the default ``httpx.AsyncClient`` for the running async library."""
    import httpx

    chosen = transport or ("aiohttp" if backend == "asyncio" else "httpx")
    if chosen == "aiohttp":
        if backend != "asyncio":
            raise ParamValidationError(
                "transport", f"the aiohttp transport needs asyncio; under {backend} use 'httpx'"
            )
        if http2:
            raise ParamValidationError(
                "http2", "the aiohttp transport speaks HTTP/1.1 only; pass transport='httpx'"
            )
        import ssl

        ssl_context = ssl.create_default_context()

        import aiohttp

        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(
                limit=max_connections,
                limit_per_host=0,
                keepalive_timeout=keepalive_expiry,
                ssl=ssl_context,
            )
            return aiohttp.ClientSession(
                connector=connector,
                skip_auto_headers=_AIOHTTP_SKIP,
                auto_decompress=False,
                trust_env=False,
            )

        engine: httpx.AsyncBaseTransport = _aiohttp_transport_class()(client=session)
    else:
        engine = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry,
            ),
            http2=http2,
        )
    return httpx.AsyncClient(transport=engine, follow_redirects=False, trust_env=False)


def timeout_extension(timeout: Timeout) -> dict[str, float | None]:
    """The per-request ``timeout`` extension both engines read."""
    # The engine's read timeout covers both the header wait and the gaps after it, so it is the
    # larger of the two; whichever is shorter is enforced by our own scope (see ``send`` and
    # the stream's reads).
    read = timeout.read
    wait = timeout.header_wait
    engine_read = None if read is None or wait is None else max(read, wait)
    return {
        "connect": timeout.connect,
        "read": engine_read,
        "write": timeout.write,
        "pool": timeout.pool,
    }


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


def translate(exc: BaseException, *, where: str) -> TransportError:
    """Map an httpx / aiohttp / OS exception to ours, classified by what actually happened.

    httpx-aiohttp reports every ``aiohttp.ClientConnectionError`` (a server disconnect too) as
    ``httpx.ConnectTimeout``, so the original aiohttp exception (``__cause__``) decides: whether
    the request may have reached the server is what makes a retry safe or not.
    """
    import httpx

    cause: BaseException = exc
    aio = sys.modules.get("aiohttp")  # never imported means no aiohttp exception can exist
    if aio is not None:
        if isinstance(exc, httpx.HTTPError) and isinstance(exc.__cause__, aio.ClientError):
            cause = exc.__cause__
        if isinstance(cause, aio.ClientError):
            return _translate_aiohttp(aio, cause, where)
    if isinstance(cause, httpx.PoolTimeout):
        return RequestTimeout(
            f"{where}: no free connection in the pool in time", timeout="pool", request_sent=False
        )
    if isinstance(cause, httpx.ConnectTimeout):
        return RequestTimeout(
            f"{where}: connecting timed out", timeout="connect", request_sent=False
        )
    if isinstance(cause, httpx.ReadTimeout):
        return RequestTimeout(f"{where}: no data from the server in time", timeout="read")
    if isinstance(cause, httpx.WriteTimeout):
        return RequestTimeout(f"{where}: sending the request timed out", timeout="write")
    if isinstance(cause, httpx.ConnectError | httpx.ProxyError):
        return TransportError(f"{where}: could not connect: {_describe(cause)}", request_sent=False)
    if isinstance(cause, httpx.TimeoutException | TimeoutError):
        return RequestTimeout(f"{where}: timed out ({_describe(cause)})", timeout="read")
    return TransportError(f"{where}: {type(cause).__name__}: {_describe(cause)}")


def _translate_aiohttp(aio: Any, cause: BaseException, where: str) -> TransportError:
    if isinstance(cause, aio.ConnectionTimeoutError):
        # aiohttp's connect deadline also covers the wait for a free pooled connection, so this
        # may be a full pool (raise max_connections) as much as a slow network.
        return RequestTimeout(
            f"{where}: no connection in time: connecting, or waiting for a free one in the "
            f"pool ({_describe(cause)})",
            timeout="connect",
            request_sent=False,
        )
    if isinstance(cause, aio.SocketTimeoutError):
        return RequestTimeout(f"{where}: no data from the server in time", timeout="read")
    if isinstance(cause, aio.ClientConnectorError):
        return TransportError(f"{where}: could not connect: {_describe(cause)}", request_sent=False)
    if isinstance(cause, aio.ServerTimeoutError):
        return RequestTimeout(f"{where}: the server did not answer in time", timeout="read")
    return TransportError(f"{where}: {type(cause).__name__}: {_describe(cause)}")


def _is_transport_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):
        return True
    # Never imported means none of that library's exceptions can exist.
    hx = sys.modules.get("httpx")
    if hx is not None and isinstance(exc, hx.HTTPError):
        return True
    aio = sys.modules.get("aiohttp")
    return aio is not None and isinstance(exc, aio.ClientError)


@contextlib.contextmanager
def transport_errors(where: str, *, read_as: str = "idle") -> Iterator[None]:
    """Translate transport exceptions raised inside the block (chained with ``from``).

    A read timeout is named after what was being waited for: ``first_byte`` while waiting for
    the response headers, ``idle`` while reading a body.
    """
    try:
        yield
    except Exception as exc:
        if not _is_transport_error(exc):
            raise
        import httpx

        if isinstance(exc, httpx.UnsupportedProtocol):
            raise ParamValidationError("endpoint_url", _describe(exc)) from exc
        if isinstance(exc, httpx.LocalProtocolError):
            # Validation keeps members and credentials well-formed, so this is a header a lent
            # client added. h11's message quotes the value, which may be a token: not repeated.
            raise ParamValidationError("request", "a header value could not be sent") from None
        err = translate(exc, where=where)
        if isinstance(err, RequestTimeout) and err.timeout == "read":
            err.timeout = read_as
        raise err from exc


# A closed stream ends within a chunk or two (what the engine had already buffered).
_MAX_DRAIN_CHUNKS = 64


async def finish(raw: AsyncIterator[bytes]) -> None:
    """Run a chain of async generators over a *closed* response to its end, then close it.

    httpx and the engines stack async generators (``BoundAsyncStream.__aiter__`` over the
    engine's ``__aiter__``). ``aclose()`` on the outer one leaves the inner ones suspended for
    the garbage collector (trio warns; nothing may rely on GC). Once the response is closed,
    the next read ends or fails at the bottom and unwinds every level normally.
    """
    with contextlib.suppress(Exception):
        for _ in range(_MAX_DRAIN_CHUNKS):
            await raw.__anext__()
    closer = getattr(raw, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


async def send(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    where: str,
    first_byte: float | None = None,
) -> httpx.Response:
    """Send a signed request; the response's body is left to read (``stream=True``).

    ``first_byte`` bounds the whole wait for the response headers. Redirects are never
    followed, even by a lent client configured to: a signed request must not go anywhere else.
    Header values decode as botocore decodes them.
    """
    try:
        with transport_errors(where, read_as="first_byte"):
            if first_byte is None:
                response = await http.send(request, stream=True, follow_redirects=False)
            else:
                with anyio.move_on_after(first_byte) as scope:
                    response = await http.send(request, stream=True, follow_redirects=False)
                if scope.cancelled_caught:
                    raise RequestTimeout(
                        f"{where}: no response headers within {first_byte:g} s",
                        timeout="first_byte",
                    )
    except TransportError as err:
        if not isinstance(err, RequestTimeout):
            err.closed_before_response = True  # no headers came: closed or reset, not slow
        raise
    response.headers.encoding = HEADER_ENCODING
    return response


def deadline_error(where: str, timeout: str, seconds: float) -> RequestTimeout:
    """The error for one of our own deadlines (``idle`` or ``total``) passing."""
    what = "the call" if timeout == "total" else "the next bytes"
    return RequestTimeout(f"{where}: {what} took longer than {seconds:g} s", timeout=timeout)


# Error bodies are small documents (a Message is at most 2048 characters); a larger one is cut
# so a misbehaving proxy cannot make us buffer without bound.
MAX_ERROR_BODY = 64 * 1024
# Closing must finish even when the surrounding scope is being cancelled, and not hang.
_CLOSE_TIMEOUT_S = 5.0


async def close_response(
    response: httpx.Response | None, raw: AsyncIterator[bytes] | None = None
) -> None:
    """Close a response (and unwind its body iterator), whatever is going on around us.

    Shielded from cancellation, so a cancelled caller still gives the connection back; bounded
    in time; and a failing close (a reset socket) never replaces the error being handled.
    """
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
        if response is not None:
            with contextlib.suppress(Exception):
                await response.aclose()
        if raw is not None:
            await finish(raw)


async def read_capped(response: httpx.Response, limit: int, *, where: str) -> bytes:
    """Read at most ``limit`` bytes of a response body, then close the response.

    For error bodies: a misbehaving proxy must not make us buffer without bound.
    """
    raw: AsyncIterator[bytes] = response.stream.__aiter__()  # type: ignore[union-attr]
    buf = bytearray()
    try:
        with transport_errors(where):
            async for chunk in raw:
                buf += chunk[: limit - len(buf)]
                if len(buf) >= limit:
                    break
    finally:
        await close_response(response, raw)
    return bytes(buf)
