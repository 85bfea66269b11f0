"""Which engine a client gets: the running async library and the client's options decide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import ParamValidationError
from .base import Engine, ProxyFor, TransportName

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["make_engine"]


def make_engine(
    *,
    backend: str,
    transport: TransportName | None,
    http_client: httpx.AsyncClient | None,
    max_connections: int,
    keepalive_expiry: float,
    http2: bool,
    ssl_context: ssl.SSLContext | None = None,
    proxy: ProxyFor | None = None,
    proxy_ssl_context: ssl.SSLContext | None = None,
) -> Engine:
    """Build the engine for the running async library (blocking: run it in a worker thread).

    Importing an engine's library (~40-110 ms) and building a TLS context (CA files read from
    disk) would otherwise stall the event loop. ``proxy_ssl_context`` is the TLS of an
    ``https://`` proxy itself; None: the proxy is verified as the endpoint is (``ssl_context``).
    """
    if http_client is not None:
        from .httpx_engine import HttpxEngine

        return HttpxEngine(http_client, owned=False)
    chosen = transport or ("aiohttp" if backend == "asyncio" else "httpx")
    if transport is None and chosen == "aiohttp" and getattr(proxy, "has_https_proxy", False):
        from .aiohttp_engine import tls_in_tls_supported

        if not tls_in_tls_supported():  # HTTPS through an https:// proxy: httpx can, here
            chosen = "httpx"
    if chosen == "aiohttp":
        if backend != "asyncio":
            raise ParamValidationError(
                "transport", f"the aiohttp transport needs asyncio; under {backend} use 'httpx'"
            )
        if http2:
            raise ParamValidationError(
                "http2", "the aiohttp transport speaks HTTP/1.1 only; pass transport='httpx'"
            )
        from .aiohttp_engine import AiohttpEngine

        return AiohttpEngine(
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            ssl_context=ssl_context,
            proxy=proxy,
            proxy_ssl_context=proxy_ssl_context,
        )
    from .httpx_engine import HttpxEngine, new_httpx_client

    client = new_httpx_client(
        max_connections=max_connections,
        keepalive_expiry=keepalive_expiry,
        http2=http2,
        ssl_context=ssl_context,
        proxy=proxy,
        proxy_ssl_context=proxy_ssl_context,
    )
    return HttpxEngine(client, owned=True)
