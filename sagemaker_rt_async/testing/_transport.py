"""The fake service in-process: an engine of the client, and an httpx transport.

``FakeTransport`` is both. Passed as ``SageMakerRuntimeClient(transport=fake.transport())`` it
is the client's engine (what ``fake.client()`` does): no HTTP library at all. Wrapped in an
``httpx.AsyncClient`` (lent as ``http_client=``, or behind respx) it is an httpx transport.
Either way the body is not buffered: each chunk the fake produces is handed out on its own,
so streaming code sees the same cuts it would see over a socket. ``open_streams`` counts
responses not yet closed, which is what leak tests assert on. Any object with the fake's async
``handle`` method can sit behind it (``FakeService``): the SageMaker fake, or ``FakeS3``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from http import HTTPStatus
from typing import Any, Generic

import anyio
import httpx

from .._errors import ResponseHeaders, TransportError
from ._base import FakeService, FakeT

__all__ = ["FakeService", "FakeTransport"]


def _read_timeout(request: httpx.Request) -> float | None:
    """The engine's read timeout of this request (httpx's ``timeout`` extension)."""
    timeout = request.extensions.get("timeout") or {}
    value = timeout.get("read")
    return float(value) if value is not None else None


class _Stream(httpx.AsyncByteStream):
    def __init__(
        self,
        owner: FakeTransport[Any],
        body: bytes | AsyncIterator[bytes | object],
        read_timeout: float | None = None,
    ) -> None:
        self._owner = owner
        self._body = body
        self._read_timeout = read_timeout
        self._closed = False
        owner.open_streams += 1

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if isinstance(self._body, bytes):
            if self._body:
                yield self._body
            return
        chunks = self._body.__aiter__()
        limit = float("inf") if self._read_timeout is None else self._read_timeout
        while True:
            # The gap before each chunk is bounded like a socket read, as the real engines do.
            with anyio.move_on_after(limit) as scope:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return
            if scope.cancelled_caught:
                raise httpx.ReadTimeout(f"no bytes for {limit:g} s (fake read timeout)")
            await anyio.lowlevel.checkpoint()  # a real await point between chunks, as on a socket
            if not isinstance(chunk, bytes):  # the RESET sentinel: what a reset socket raises
                raise httpx.ReadError("[Errno 104] Connection reset by peer (fake)")
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner.open_streams -= 1
        if not isinstance(self._body, bytes):
            closer = getattr(self._body, "aclose", None)
            if closer is not None:
                await closer()


class FakeTransport(httpx.AsyncBaseTransport, Generic[FakeT]):
    """An ``httpx.AsyncBaseTransport`` that answers from a fake (``FakeSageMakerRuntime``...)."""

    def __init__(self, fake: FakeT) -> None:
        self.fake = fake
        self.open_streams = 0
        """Responses handed out and not yet closed."""

    first_phase = "request"
    """The fake has no connection to wait for or open."""

    async def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout: Any,
        progress: Callable[[str], None],
    ) -> _EngineResponse:
        """Answer one request as the client's engine (``Engine.send``)."""
        target = "/" + url.split("://", 1)[-1].partition("/")[2]
        answer = await self.fake.handle(method, target, list(headers), body)
        if answer.status == 0:  # ResetConnection: a peer that hung up before answering
            err = TransportError("connection reset before any response (fake)")
            err.closed_before_response = True
            raise err
        return _EngineResponse(self, answer.status, answer.headers, answer.body)

    async def aclose(self) -> None:
        """Nothing to close: the fake holds no connection."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Run the fake for one request."""
        body = await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        read_timeout = _read_timeout(request)
        # The model's think time counts against the read timeout, as on a socket.
        with anyio.move_on_after(float("inf") if read_timeout is None else read_timeout) as scope:
            answer = await self.fake.handle(
                request.method, request.url.raw_path.decode("ascii"), headers, body
            )
        if scope.cancelled_caught:
            raise httpx.ReadTimeout(f"no response for {read_timeout:g} s (fake read timeout)")
        trace = request.extensions.get("trace")
        if trace is not None:  # as httpcore reports it: the request starts going out
            await trace("http11.send_request_headers.started", {"request": request})
        if answer.status == 0:  # ResetConnection: what httpcore raises for a peer that hung up
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        try:
            reason = HTTPStatus(answer.status).phrase.encode()
        except ValueError:
            reason = b""
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_Stream(self, answer.body, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )


class _EngineResponse:
    """A fake response as the client's engine hands it out (``EngineResponse``)."""

    def __init__(
        self,
        owner: FakeTransport[Any],
        status: int,
        headers: Sequence[tuple[str, str]],
        body: bytes | AsyncIterator[bytes | object],
    ) -> None:
        self.status = status
        self.headers = ResponseHeaders.from_pairs(headers)
        self._owner = owner
        self._body = body
        self._chunks: AsyncIterator[bytes | object] | None = None
        self._done = False
        self._closed = False
        owner.open_streams += 1

    async def read_chunk(self) -> bytes:
        """The next chunk the fake produced; ``b""`` at the end."""
        if self._done:
            return b""
        body = self._body
        if isinstance(body, bytes):
            self._done = True
            return body
        if self._chunks is None:
            self._chunks = body.__aiter__()
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            return b""
        await anyio.lowlevel.checkpoint()  # a real await point between chunks, as on a socket
        if not isinstance(chunk, bytes):  # the RESET sentinel: what a reset socket raises
            self._done = True
            raise TransportError("[Errno 104] Connection reset by peer (fake)")
        return chunk

    async def aclose(self) -> None:
        """Release: the fake's body iterator is closed."""
        if self._closed:
            return
        self._closed = True
        self._done = True
        self._owner.open_streams -= 1
        if not isinstance(self._body, bytes):
            closer = getattr(self._body, "aclose", None)
            if closer is not None:
                await closer()

    def abort(self) -> None:
        """Release now, synchronously (the body iterator is left to its owner)."""
        if not self._closed:
            self._closed = True
            self._done = True
            self._owner.open_streams -= 1
