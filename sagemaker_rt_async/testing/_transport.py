"""The fake service as an in-process httpx transport, with real async response streams.

Unlike httpx's ``ASGITransport``, the body is not buffered: each chunk the fake produces is
handed out on its own, so streaming code sees the same cuts it would see over a socket.
``open_streams`` counts responses not yet closed, which is what leak tests assert on.
Any object with the fake's async ``handle`` method can sit behind it (``FakeService``): the
SageMaker fake, or ``FakeS3``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Generic, Protocol

import anyio
import httpx

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from ._fake import FakeResponse, FakeSageMakerRuntime
else:
    from typing import TypeVar


class FakeService(Protocol):
    """What the front doors (transport, loopback server) need from a fake: ``handle``."""

    async def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> FakeResponse:
        """Answer one request; ``target`` is the raw request target (path and query)."""
        ...


if TYPE_CHECKING:
    # A bare ``FakeTransport`` / ``LoopbackServer`` annotation still means the SageMaker fake.
    FakeT = TypeVar("FakeT", bound=FakeService, default=FakeSageMakerRuntime)
else:  # typing.TypeVar takes ``default`` only from Python 3.13
    FakeT = TypeVar("FakeT")


class _Stream(httpx.AsyncByteStream):
    def __init__(
        self, owner: FakeTransport[Any], body: bytes | AsyncIterator[bytes | object]
    ) -> None:
        self._owner = owner
        self._body = body
        self._closed = False
        owner.open_streams += 1

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if isinstance(self._body, bytes):
            if self._body:
                yield self._body
            return
        async for chunk in self._body:
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

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Run the fake for one request."""
        body = await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        answer = await self.fake.handle(
            request.method, request.url.raw_path.decode("ascii"), headers, body
        )
        if answer.status == 0:  # ResetConnection: what httpcore raises for a peer that hung up
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        try:
            reason = HTTPStatus(answer.status).phrase.encode()
        except ValueError:
            reason = b""
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_Stream(self, answer.body),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )
