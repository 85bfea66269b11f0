"""The engine interface: what the exchange hands an HTTP engine, and what it gets back.

An engine enforces the connect deadline, the write deadline where its library has one, and, if
its response says ``bounds_gaps``, the gap between body bytes (``gap_limit``: a timer its
library restarts on every read costs less than one of ours per read). Everything else the
exchange bounds itself. To do so it needs one fact only the engine knows, *when* a phase begins,
which the engine reports through ``progress``:

- ``progress("connect")``: a new connection is being opened (the pool wait, if any, is over);
- ``progress("request")``: the request starts going out on a connection; from here the
  exchange waits for the complete response head (``Timeout.first_byte``, else ``read``).

An engine that cannot tell connect from request reports ``"request"`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from .._errors import ResponseHeaders

if TYPE_CHECKING:
    from .._models import Timeout

__all__ = [
    "BodySlices",
    "Engine",
    "EngineResponse",
    "Progress",
    "Proxy",
    "ProxyFor",
    "TransportName",
    "describe",
    "gap_limit",
]

TransportName = Literal["aiohttp", "httpx"]

Progress = Callable[[str], None]
"""Called by an engine with ``"connect"`` or ``"request"`` as a phase of a send begins."""


@dataclass(frozen=True, slots=True)
class Proxy:
    """A proxy a request goes through: its URL without credentials, and the
    ``Proxy-Authorization`` value built from them (never shown)."""

    url: str
    authorization: str | None = field(default=None, repr=False)


ProxyFor = Callable[[str], "Proxy | None"]
"""Given a request URL, the proxy it goes through, or None for a direct connection."""

# ``scheme://user:password@`` in any text an exception carries: the credentials go.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


@runtime_checkable
class EngineResponse(Protocol):
    """A response whose head has arrived; the body is read with ``read_chunk``."""

    status: int
    """The HTTP status code."""
    headers: ResponseHeaders
    """The response headers (case-insensitive names; values decoded as ISO-8859-1)."""

    async def read_chunk(self) -> bytes:
        """The next bytes of the body as they arrive; ``b""`` once it ended cleanly.

        Raises ``TransportError`` when the connection breaks or the body's framing is wrong.
        """
        ...

    async def aclose(self) -> None:
        """Release the response: a body read to its end gives the connection back to the pool,
        anything else closes the connection. Idempotent; never raises."""
        ...


@runtime_checkable
class Engine(Protocol):
    """Sends requests. Implementations: aiohttp, httpx/httpx2, the test kit's fake."""

    async def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout: Timeout,
        progress: Progress,
    ) -> EngineResponse:
        """Send one request exactly as given; return once the response head is complete.

        ``url`` is already encoded (the engine must not re-quote it); ``headers`` are sent as
        given, in order, and the engine adds none of its own beyond what HTTP/1.1 framing needs.
        Raises ``TransportError`` (``request_sent=False`` when the request provably never left;
        ``closed_before_response`` when the connection closed or reset before any response
        byte) and never follows a redirect.
        """
        ...

    async def aclose(self) -> None:
        """Close the engine's connections (a lent client is left open)."""
        ...


def gap_limit(timeout: Timeout) -> float | None:
    """The gap deadline an engine enforces natively: ``read``, but never shorter than the wait
    for the head (that wait is the exchange's; a shorter ``read`` is enforced by it too)."""
    read, head = timeout.read, timeout.header_wait
    if read is None or head is None:
        return None
    return max(read, head)


_SLICE_SIZE = 256 * 1024


class BodySlices:
    """A request body handed to an engine in 256 KiB slices, iterated by a class.

    aiohttp warns that writing over 1 MiB of raw bytes at once may block the loop; and a send
    cancelled mid-write leaves no suspended generator for the garbage collector (trio warns;
    nothing may rely on GC).
    """

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


def describe(exc: BaseException) -> str:
    """An engine exception's text for our messages: one line, at most 300 characters.

    Libraries often wrap the real failure (an SSL or socket error) in an exception whose own
    text is empty: then the first cause with words says what happened.
    """
    text = ""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None or text:
            break
        text = str(seen).replace("\n", " ")
        if text and seen is not exc:
            text = f"{type(seen).__name__}: {text}"
        seen = seen.__cause__ or seen.__context__
    text = _USERINFO.sub(r"\1***@", text or type(exc).__name__)  # a proxy URL's password
    return text if len(text) < 300 else text[:297] + "..."
