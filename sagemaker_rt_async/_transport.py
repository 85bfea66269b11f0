"""The HTTP engine under the client, and the one place its exceptions become ours.

On asyncio the default engine is httpx's API over aiohttp's connection pool
(``httpx_aiohttp.AiohttpTransport``): httpx 0.28's own pool collapses under concurrency. On trio,
or with ``transport="httpx"``, it is httpx's own transport. ``max_connections`` and the
``Timeout`` phases mean the same on both: at most that many sockets, and connect / read / write /
pool deadlines per request.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Literal

import aiohttp
import httpx

from ._errors import ParamValidationError, RequestTimeout, TransportError
from ._models import Timeout

__all__ = ["TransportName", "make_http_client", "timeout_extension", "transport_errors"]

TransportName = Literal["aiohttp", "httpx"]

# aiohttp adds these unless told not to. Accept and Content-Type reach the model container and
# change what some containers return; we send exactly the headers boto3 sends (STYLE.md §8).
_AIOHTTP_SKIP = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


def make_http_client(
    *,
    backend: str,
    transport: TransportName | None,
    max_connections: int,
    keepalive_expiry: float,
    http2: bool,
) -> httpx.AsyncClient:
    """Build the default ``httpx.AsyncClient`` for the running async library."""
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
        from httpx_aiohttp import AiohttpTransport

        ssl_context = ssl.create_default_context()

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

        engine: httpx.AsyncBaseTransport = AiohttpTransport(client=session)
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
    return {
        "connect": timeout.connect,
        "read": timeout.read,
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
    cause: BaseException = exc
    if isinstance(exc, httpx.HTTPError) and isinstance(exc.__cause__, aiohttp.ClientError):
        cause = exc.__cause__
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return RequestTimeout(
            f"{where}: connecting timed out ({_describe(cause)})",
            timeout="connect",
            request_sent=False,
        )
    if isinstance(cause, aiohttp.SocketTimeoutError):
        return RequestTimeout(f"{where}: no data from the server in time", timeout="read")
    if isinstance(cause, aiohttp.ClientConnectorError):
        return TransportError(f"{where}: could not connect: {_describe(cause)}", request_sent=False)
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return RequestTimeout(f"{where}: the server did not answer in time", timeout="read")
    if isinstance(cause, aiohttp.ClientError):
        return TransportError(f"{where}: {type(cause).__name__}: {_describe(cause)}")
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


@contextlib.contextmanager
def transport_errors(where: str) -> Iterator[None]:
    """Translate transport exceptions raised inside the block (chained with ``from``)."""
    try:
        yield
    except (httpx.HTTPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        if isinstance(exc, httpx.UnsupportedProtocol):
            raise ParamValidationError("endpoint_url", _describe(exc)) from exc
        if isinstance(exc, httpx.LocalProtocolError):
            # Validation keeps members well-formed; this is a header a lent client added.
            raise ParamValidationError("request", _describe(exc)) from exc
        raise translate(exc, where=where) from exc
