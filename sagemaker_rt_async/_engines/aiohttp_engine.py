"""aiohttp's connection pool, driven directly: the default engine on asyncio.

No httpx object is built on this path: the request goes to ``ClientSession.request`` as the
exchange built it, and the response is read from aiohttp's ``StreamReader``. What aiohttp gets
wrong for us is mended here, each with its reason:

- **A pooled connection is checked before reuse** (STYLE.md §8). aiohttp reads whatever arrives
  on an idle keep-alive connection as the next request's answer: a load balancer's ``408`` sent
  just before it closes, or the tail of a body longer than its ``Content-Length``. And a FIN that
  arrived since the last response is not yet seen when the next request takes the connection.
  ``_CheckedConnector.connect`` discards a connection that has bytes or an EOF waiting on it, or
  that aiohttp itself marked as not reusable, as httpcore does with ``is_readable``.
- **A malformed body closes the call at once.** When aiohttp's parser fails on body bytes that
  arrive after the head (bad chunk framing), it closes the connection but never wakes the reader:
  the read would wait forever. Each response watches its connection's ``closed`` future and
  fails its body reader when the connection goes before the body ended.
- **The proxy's TLS is the proxy's.** aiohttp builds the request to an ``https://`` proxy with
  the request's own TLS context, so the proxy would be verified against the endpoint's CAs and
  shown its client certificate. With ``proxy_ssl_context`` (``proxies_config=``) the connector
  gives that request the proxy's context instead, as urllib3 does for botocore. TLS inside TLS
  (an HTTPS request through an ``https://`` proxy) needs asyncio's ``start_tls`` over a TLS
  transport, and a failed handshake inside TLS must not crash asyncio's SSL layer (CPython
  gh-113214, fixed in 3.11.8 and 3.12.2). Where either is missing the request is refused before
  anything is sent, and a client left to pick its engine takes httpx instead (``factory``).
- **Exactly our request**: no ``Accept``/``Content-Type``/``User-Agent`` of aiohttp's, no cookies
  stored or sent (a load balancer's stickiness cookie must not follow us), the URL handed over
  as already encoded (yarl would re-quote a signed S3 key), never a redirect, never decompressed.

- **A burst is taken whole** (the response stream's token path). aiohttp hands a buffered body
  out one HTTP chunk at a time, with flow-control bookkeeping per chunk (aiohttp 3.14 re-enters
  its parser, ``resume_reading()``, for every chunk taken): with one event-stream message per
  chunk that cost more than decoding the message. ``_drain`` takes everything buffered at once
  and does that bookkeeping once, reading aiohttp's ``StreamReader`` internals: only on the
  aiohttp versions whose reader we have read (``_DRAIN_VERSIONS``) and only when the reader has
  the fields we use (``_drains``); otherwise the public ``readchunk``/``read_nowait`` path runs.

Deadlines: aiohttp bounds the connect and each gap between body bytes (``sock_read``, restarted
on every read: no timer of ours per read); the exchange bounds the wait for a free connection
and the response head. aiohttp has no write deadline: sending counts against the head's.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import select
import ssl
import sys
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import yarl

from .._errors import ParamValidationError, RequestTimeout, ResponseHeaders, TransportError
from .base import BodySlices, Progress, ProxyFor, describe, gap_limit

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler

    from .._models import Timeout

__all__ = ["AiohttpEngine", "tls_in_tls_supported"]

# aiohttp adds these unless told not to. Accept and Content-Type reach the model container and
# change what some containers return; we send exactly the headers boto3 sends (STYLE.md §8).
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")

# Request bodies above this go out in slices: aiohttp warns that writing more raw bytes at once
# may block the event loop.
_WHOLE_BODY_MAX = 1024 * 1024
# A whole HTTP chunk shorter than this is read together with whatever else is buffered: below
# it a trip through the iterator layers costs more than the copy that batching makes.
_BATCH_BELOW = 16 * 1024

# The aiohttp releases whose ``StreamReader._read_nowait_chunk`` and ``_wait`` ``_drain`` was
# checked against (3.10 through 3.14: the fields below, one deque or list of bytes, chunk ends
# as absolute offsets of ``_cursor``). A later release takes the public path until checked.
_DRAIN_VERSIONS = ((3, 10), (3, 15))
# The reader's fields ``_drain`` reads or writes.
_DRAIN_FIELDS = frozenset(
    (
        "_buffer",
        "_buffer_offset",
        "_cursor",
        "_eof",
        "_exception",
        "_http_chunk_splits",
        "_low_water",
        "_protocol",
        "_size",
        "_timer",
        "_waiter",
    )
)


def _version(text: str) -> tuple[int, int]:
    try:
        major, minor = text.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def _drains(reader: type, version: str) -> bool:
    """Whether ``_drain`` may run on readers of this class in this aiohttp version."""
    low, high = _DRAIN_VERSIONS
    if not low <= _version(version) < high:
        return False
    slots: set[str] = set()
    for klass in reader.__mro__:
        names = klass.__dict__.get("__slots__", ())
        slots.update((names,) if isinstance(names, str) else names)
    return slots >= _DRAIN_FIELDS and callable(getattr(reader, "_wait", None))


_DRAIN = _drains(aiohttp.StreamReader, aiohttp.__version__)
# aiohttp 3.14 resumes its (pausable) parser after every chunk taken; earlier releases resume
# only a paused transport.
_RESUME_ALWAYS = _version(aiohttp.__version__) >= (3, 14)


def _drain(content: Any) -> bytes:
    """Everything buffered in an ``aiohttp.StreamReader``, taken at once (``b""``: nothing).

    What ``read_nowait()`` does chunk by chunk, done once: the bytes leave the buffer, the
    read position moves past them, chunk ends now behind it are dropped (one exactly at it is
    kept: ``readchunk`` still reports that boundary), and flow control is told once. Only
    small pieces are joined (the leading run of them); a large one is taken alone, uncopied:
    joining bulk pieces would only copy them once more.
    """
    buffer = content._buffer
    if not buffer:
        return b""
    content._timer.assert_timeout()
    offset = content._buffer_offset
    if offset:
        buffer[0] = buffer[0][offset:]
        content._buffer_offset = 0
    small = 0
    for piece in buffer:
        if len(piece) >= _BATCH_BELOW:
            break
        small += 1
    data: bytes
    if small == len(buffer) and small > 1:
        data = b"".join(buffer)
        buffer.clear()
    elif small > 1:
        data = b"".join([buffer.popleft() for _ in range(small)])
    else:
        data = buffer.popleft()
    size = len(data)
    content._size -= size
    cursor = content._cursor = content._cursor + size
    splits = content._http_chunk_splits
    if splits:
        if splits[-1] < cursor:
            splits.clear()  # the usual case: every chunk end taken (no popping one by one)
        else:  # a large piece taken alone: ends of the chunks still buffered stay
            while splits[0] < cursor:
                del splits[0]
    if content._size < content._low_water and (
        splits is None or len(splits) < getattr(content, "_low_water_chunks", len(splits) + 1)
    ):
        protocol = content._protocol
        if _RESUME_ALWAYS or protocol._reading_paused:
            protocol.resume_reading()
    return data


def _asyncio_tls_in_tls() -> bool:
    """asyncio starts TLS over a TLS transport from 3.11 on (bpo-44011), and survives a failed
    inner handshake once ``SSLProtocol._abort`` takes the exception (gh-113214: before, the
    failure raises TypeError inside the SSL layer and reaches the loop's exception handler)."""
    if sys.version_info < (3, 11):
        return False
    from asyncio.sslproto import SSLProtocol

    return "exc" in inspect.signature(SSLProtocol._abort).parameters


# A module constant, so a test can take it away.
_TLS_IN_TLS = _asyncio_tls_in_tls()


def tls_in_tls_supported() -> bool:
    """Whether this engine can send an HTTPS request through an ``https://`` proxy here."""
    return _TLS_IN_TLS


# The private aiohttp hook that builds the request to the proxy (aiohttp 3.9 and later).
_PROXY_REQUEST_HOOK = "_update_proxy_auth_header_and_build_proxy_req"


class _Send:
    """What one send tells the connector: where to report progress, whether it got a socket."""

    __slots__ = ("connected", "progress")

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.connected = False


# The connector runs inside ``ClientSession.request``, in the caller's task: a context variable
# is how the send in progress reaches it without any per-request object of aiohttp's.
_CURRENT: contextvars.ContextVar[_Send | None] = contextvars.ContextVar(
    "sagemaker_rt_async_aiohttp_send", default=None
)


def _readable(sock: Any) -> bool:
    """True when bytes or an EOF wait on an idle socket (a zero-timeout poll; no read)."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - Windows
    return bool(readable)


class _CheckedConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that never hands out a connection something is waiting on."""

    def __init__(self, *, proxy_ssl: ssl.SSLContext | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._proxy_ssl = proxy_ssl
        # Connections handed out before: only those can have gone stale while idle. A fresh TLS
        # connection may legitimately be readable (a TLS 1.3 session ticket).
        self._used: weakref.WeakSet[ResponseHandler] = weakref.WeakSet()

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        """A usable connection: stale pooled ones are closed and the next one taken."""
        send = _CURRENT.get()
        # Every pooled connection may be stale (a server that closed them all): one more try
        # than the pool holds always ends on a new connection.
        for _ in range(self.limit + 2 if self.limit else 64):
            conn = await super().connect(req, traces, timeout)
            if not self._stale(conn):
                if send is not None:
                    send.connected = True
                    send.progress("request")
                return conn
            conn.close()
        raise TransportError(
            "could not get a usable connection: every one offered had unread bytes on it",
            request_sent=False,
        )

    def _update_proxy_auth_header_and_build_proxy_req(self, req: Any) -> Any:
        # aiohttp hands the proxy request the endpoint's TLS context (``ssl=req.ssl``): the
        # proxy gets its own, checked to exist when the engine is built (``AiohttpEngine``).
        proxy_req = super()._update_proxy_auth_header_and_build_proxy_req(req)
        if self._proxy_ssl is not None:
            proxy_req._ssl = self._proxy_ssl
        return proxy_req

    def _stale(self, conn: Any) -> bool:
        proto = conn.protocol
        if proto is None or not proto.is_connected() or proto.should_close:
            return True
        if proto not in self._used:
            self._used.add(proto)
            return False
        transport = conn.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        return sock is not None and _readable(sock)


@functools.lru_cache(maxsize=512)
def _url(url: str) -> yarl.URL:
    # Encoded once by us and signed as it is: yarl must not re-quote it (STYLE.md §8).
    return yarl.URL(url, encoded=True)


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, gap: float | None) -> aiohttp.ClientTimeout:
    # aiohttp bounds the connect (DNS, TCP, TLS) and each gap between bytes it receives
    # (sock_read restarts on every read, and stops while the consumer is not reading): no
    # timer of ours per body read. The exchange bounds the response head itself.
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=None, sock_read=gap)


class AiohttpEngine:
    """The default engine on asyncio: one ``aiohttp.ClientSession`` and its pool."""

    first_phase = None
    """No deadline of the exchange's until the request goes out: aiohttp's own pool never
    waits (its limit is the exchange's gate) and aiohttp bounds the connect itself."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float,
        ssl_context: ssl.SSLContext | None = None,
        proxy: ProxyFor | None = None,
        proxy_ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if proxy_ssl_context is not None and not hasattr(
            aiohttp.TCPConnector, _PROXY_REQUEST_HOOK
        ):  # pragma: no cover - an aiohttp that moved its hook: refused, never ignored
            raise ParamValidationError(
                "proxies_config",
                f"aiohttp {aiohttp.__version__} cannot give the proxy a TLS context of its own; "
                "pass transport='httpx'",
            )
        self._ssl = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._proxy_ssl = proxy_ssl_context
        # Decided per request (NO_PROXY may exempt SageMaker and not S3); aiohttp's own reading
        # of the environment stays off (trust_env=False): the client's configuration read it.
        self._proxy = proxy
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<AiohttpEngine max_connections={self._max_connections}>"

    def _new_session(self) -> aiohttp.ClientSession:
        # Made on the event loop at first use (aiohttp binds the session to the running loop).
        connector = _CheckedConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            ssl=self._ssl,
            proxy_ssl=self._proxy_ssl,
        )
        return aiohttp.ClientSession(
            connector=connector,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=_client_timeout(None, None),
        )

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
        session = self._session
        if session is None:
            session = self._session = self._new_session()
        via = self._proxy(url) if self._proxy is not None else None
        proxy_url = proxy_headers = None
        if via is not None:
            if not _TLS_IN_TLS and via.url.startswith("https:") and url.startswith("https:"):
                raise ParamValidationError(
                    "proxies",
                    f"an HTTPS request through the https:// proxy {via.url} needs TLS inside "
                    "TLS, which asyncio does safely from Python 3.11.8 / 3.12.2 on: pass "
                    "transport='httpx' (or leave transport unset), or use an http:// proxy URL",
                )
            proxy_url = via.url
            if via.authorization:  # a header of the CONNECT only, never of the request itself
                proxy_headers = {"Proxy-Authorization": via.authorization}
        send = _Send(progress)
        token = _CURRENT.set(send)
        data: Any = None
        if body:
            data = body if len(body) <= _WHOLE_BODY_MAX else BodySlices(body)
        try:
            response = await session.request(
                method,
                _url(url),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=_client_timeout(timeout.connect, gap_limit(timeout)),
                proxy=proxy_url,
                proxy_headers=proxy_headers,
            )
        except TransportError:
            raise
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
            raise _translate(exc, connected=send.connected, head=False) from exc
        finally:
            _CURRENT.reset(token)
        return _Response(response)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _Response:
    """A response of the aiohttp engine: the head, and the body read one HTTP chunk at a time.

    A read takes one HTTP chunk (``readchunk``: the service sends each event-stream message in
    a chunk of its own, so the decoder gets it whole). When that chunk is a whole, small one
    (token-sized parts), the read also takes everything else already buffered, so a burst of
    small parts costs one trip.
    """

    __slots__ = (
        "_at_boundary",
        "_content",
        "_done",
        "_drains",
        "_lost",
        "_response",
        "headers",
        "status",
    )

    shields_close = True
    """``aclose`` never suspends (aiohttp releases or closes synchronously): nothing to
    shield or bound."""
    bounds_gaps = True
    """aiohttp enforces ``gap_limit(timeout)`` between body bytes itself."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.status = response.status
        self.headers = ResponseHeaders.from_pairs(response.raw_headers)
        self._response = response
        self._content = response.content
        # Bodiless responses share a reader of another class: the public path serves them.
        self._drains = _DRAIN and type(self._content) is aiohttp.StreamReader
        # Whether the bytes read so far end on an HTTP chunk boundary: only then is a chunk
        # ending on the next boundary whole, rather than the tail of a larger one.
        self._at_boundary = True
        self._done = False
        self._lost: asyncio.Future[None] | None = None
        connection = response.connection
        protocol = connection.protocol if connection is not None else None
        if protocol is not None:
            lost = protocol.closed
            if lost is not None and not lost.done():
                lost.add_done_callback(self._connection_lost)
                self._lost = lost

    def _connection_lost(self, _: object) -> None:
        # aiohttp closes the connection on a body framing error without failing the reader.
        content = self._content
        if not content.is_eof() and content.exception() is None:
            content.set_exception(
                aiohttp.ClientPayloadError("the connection closed before the body ended")
            )

    def read_buffered(self) -> bytes | None:
        """What has arrived already, without waiting: ``b""`` at the clean end of the body,
        None when a read would have to wait (or the connection failed: ``read_chunk`` says)."""
        if self._done:
            return b""
        content = self._content
        if content.exception() is not None:
            return None
        if content.at_eof():
            self._done = True
            return b""
        data = content.read_nowait()
        return data or None

    async def read_chunk(self) -> bytes:
        """The next body bytes; ``b""`` at the clean end of the body."""
        if self._done:
            return b""
        if self._drains:
            return await self._read_drained()
        content = self._content
        try:
            chunk, end = await content.readchunk()
            while not chunk:
                # (b"", False) is aiohttp's end of the body. The reader of every bodiless
                # response (HEAD, 204) is one shared object that says it once, then answers
                # (b"", True) forever: at_eof() tells that apart from a chunk boundary.
                if not end or content.at_eof():
                    self._done = True
                    return b""
                self._at_boundary = True
                chunk, end = await content.readchunk()
        except (aiohttp.ClientError, OSError, ValueError, asyncio.TimeoutError) as exc:
            self._done = True
            raise _translate(exc, connected=True, head=True) from exc
        except RuntimeError as exc:
            # aiohttp's reader says "Connection closed." (a RuntimeError) when the connection
            # went before our connection-lost callback failed the reader: the same broken body.
            if "closed" not in str(exc).lower():
                raise
            self._done = True
            lost = aiohttp.ClientPayloadError("the connection closed before the body ended")
            raise _translate(lost, connected=True, head=True) from exc
        whole = end and self._at_boundary
        self._at_boundary = end
        if whole and len(chunk) < _BATCH_BELOW:
            rest = content.read_nowait()  # never waits: b"" when nothing is buffered
            if rest:
                chunk += rest
                self._at_boundary = False  # unknown: treat what follows as a tail
        return chunk

    async def _read_drained(self) -> bytes:
        """``read_chunk`` by ``_drain``: all that is buffered, else wait for more (readany's
        loop, without its chunk-by-chunk take)."""
        content = self._content
        try:
            while True:
                if content._exception is not None:
                    raise content._exception
                if content._buffer:
                    return _drain(content)
                if content._eof:
                    self._done = True
                    return b""
                if not content._protocol.connected:
                    # (readany would raise RuntimeError; the connection-lost callback may not
                    # have run yet.)
                    raise aiohttp.ClientPayloadError("the connection closed before the body ended")
                await content._wait("readany")
        except (aiohttp.ClientError, OSError, ValueError, asyncio.TimeoutError) as exc:
            self._done = True
            raise _translate(exc, connected=True, head=True) from exc

    def abort(self) -> None:
        """Close the connection now (a response dropped without being closed)."""
        lost, self._lost = self._lost, None
        if lost is not None:
            lost.remove_done_callback(self._connection_lost)
        self._done = True
        self._response.close()

    async def aclose(self) -> None:
        """Give the connection back (body read to its end) or close it (anything else)."""
        lost, self._lost = self._lost, None
        if lost is not None:
            lost.remove_done_callback(self._connection_lost)
        response = self._response
        if self._done and self._content.exception() is None and self._content.at_eof():
            response.release()
        else:
            self._done = True
            response.close()


def _translate(
    exc: BaseException, *, connected: bool, head: bool
) -> TransportError | ParamValidationError:
    """aiohttp's exceptions as ours, classified by what actually happened on the wire.

    ``connected``: a connection was obtained (the request may have gone out). ``head``: the
    response head had arrived, so the server answered: nothing after that is retryable.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return RequestTimeout(
            f"connecting timed out ({describe(exc)})", timeout="connect", request_sent=False
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(f"could not connect: {describe(exc)}", request_sent=False)
    if isinstance(exc, aiohttp.InvalidURL):
        return ParamValidationError("endpoint_url", describe(exc))
    if not isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        # aiohttp refused to build the request. Validation keeps members and credentials
        # well-formed; its message may quote a header value (a token): not repeated.
        return ParamValidationError("request", "a header value could not be sent")
    if not connected:
        return TransportError(f"could not connect: {describe(exc)}", request_sent=False)
    if isinstance(exc, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        # sock_read: no byte for the whole gap (the head's own wait is the exchange's).
        return RequestTimeout(
            "no bytes from the server for longer than the read deadline",
            timeout="idle" if head else "first_byte",
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        # The parser refused the response head: the server did answer, with bytes we cannot
        # read. Sending again could repeat what the model already did.
        return TransportError(f"malformed response: {describe(exc)}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TransportError(f"the response body broke off: {describe(exc)}")
    err = TransportError(f"{type(exc).__name__}: {describe(exc)}")
    if not head and isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        # Closed or reset with no response: mostly a pooled connection the server had closed.
        # aiohttp puts a partly parsed head in the message: then bytes of an answer arrived.
        partial = isinstance(exc, aiohttp.ServerDisconnectedError) and not isinstance(
            exc.message, str
        )
        err.closed_before_response = not partial
    return err
