"""Our HTTP/2 engine: full-duplex streams on the sans-IO ``h2`` state machine, over anyio.

httpx/httpcore send a request body to its end before reading the response head, and aiohttp
has no HTTP/2 (spec §2): a bidirectional session needs both directions of one stream at once.
This module is the only one that imports ``h2``. It runs on asyncio and trio alike.

The shape (httpcore's ``_async/http2.py``, then duplex, which httpcore does not do):

- ``H2Engine`` keeps one pool per origin: connections multiplexing streams up to the
  server's ``SETTINGS_MAX_CONCURRENT_STREAMS``; a connection that received GOAWAY takes no new
  stream and closes once its streams are done; an idle one that became readable (the server
  closed it, or wrote a GOAWAY) is dropped before reuse (STYLE §8).
- ``http://`` is h2c with prior knowledge; ``https://`` is TLS offering ALPN ``h2`` only, and
  a server choosing anything else is refused (``ProtocolNegotiationError``).
- Proxies as the other engines take them (``proxy(url)``: the client's HTTPS_PROXY/NO_PROXY or
  ``proxies=`` rule): a ``CONNECT host:port`` tunnel (with ``Proxy-Authorization`` when the
  proxy URL had credentials; TLS to the proxy itself for an ``https://`` proxy), then TLS with
  ALPN ``h2`` to the endpoint inside it, verified end to end.
- No background task per connection (trio has no place for one that outlives a call): whoever
  waits on a connection (a sender waiting for window, a receiver waiting for data, a session's
  pump) reads the socket for everyone while no one else does. The reader dispatches each frame
  to the stream it belongs to and wakes only that stream's waiters, and only those waiting for
  what happened (data, the head, the end, window): with 64 sessions on one connection a frame
  wakes one task, not 64. When the reader's own wait is over it hands the reading on to one
  waiter. Reads are event-driven (a blocking ``receive``), never polled (spec §11.4).
- Flow control both ways: received DATA is acknowledged when the *consumer* takes it, so a slow
  reader holds the server back (the window is the bound on what we buffer); ``send`` waits for
  the server's window (the caller's backpressure). We advertise a larger initial window than the
  protocol's 64 KiB for audio and token bursts.
- PING and SETTINGS are answered by ``h2`` itself, flushed after every read.
"""

from __future__ import annotations

import contextlib
import select
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from anyio.streams.tls import TLSAttribute, TLSStream

from .._errors import ProtocolNegotiationError, RequestTimeout, ResponseHeaders, TransportError
from .base import Proxy, ProxyFor, describe

__all__ = [
    "DEFAULT_CONNECTION_WINDOW",
    "DEFAULT_STREAM_WINDOW",
    "DuplexStream",
    "H2Engine",
    "default_ssl_context",
]

DEFAULT_STREAM_WINDOW = 1024 * 1024
"""Per-stream receive window we advertise (the protocol's default is 65,535 bytes)."""
DEFAULT_CONNECTION_WINDOW = 16 * 1024 * 1024
"""Connection receive window: room for many streams' bursts at once."""
_READ_SIZE = 256 * 1024
_IO_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, ssl.SSLError)
# Reading what waits on an idle connection before reuse: at most this long per read.
_REFRESH_READ_S = 1.0
# How long one socket write may take (it is shielded from cancellation, see flush).
_WRITE_TIMEOUT_S = 30.0
# Closing a connection must finish even inside a cancelled scope, and not hang.
_CLOSE_TIMEOUT_S = 5.0
# A proxy's answer to CONNECT is a short HTTP/1.1 head; more than this is not a proxy talking.
_MAX_PROXY_HEAD = 16 * 1024


# What a waiter waits for: the reader wakes a stream's waiters whose mask has what happened.
_HEAD = 1
_DATA = 2
_END = 4  # END_STREAM, RST_STREAM (or the connection failing: that wakes everyone)
_WINDOW = 8  # the send window opened (this stream's or the connection's)
_ANY = _HEAD | _DATA | _END | _WINDOW


class _Waiter:
    """One task waiting on a connection: its own event, set only for what it waits for."""

    __slots__ = ("event", "mask")

    def __init__(self, mask: int) -> None:
        self.event = anyio.Event()
        self.mask = mask


def default_ssl_context() -> ssl.SSLContext:
    """A verifying client context (system CAs) offering ALPN ``h2`` only (blocking: CA files)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["h2"])
    return context


def _readable(sock: Any) -> bool:
    """True when bytes or an EOF wait on an idle socket (a zero-timeout poll; no read)."""
    try:
        fd = sock.fileno()
    except (OSError, ValueError):
        return True
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - Windows
    return bool(readable)


class DuplexStream:
    """One HTTP/2 stream: send DATA and read the response at the same time, from two tasks.

    ``send`` waits for the server's flow-control window; ``receive`` returns DATA as it
    arrives (acknowledging it, which is what lets the server send more); ``wait_head`` waits
    for the response HEADERS. Every failure is a ``TransportError``. ``reset`` sends
    RST_STREAM(CANCEL) unless the stream is already closed; ``release`` forgets it.
    """

    __slots__ = (
        "_buffer",
        "_conn",
        "_error",
        "_local_closed",
        "_released",
        "_waiters",
        "headers",
        "remote_ended",
        "reset_code",
        "status",
        "stop_sending",
        "stream_id",
    )

    def __init__(self, conn: _Connection, stream_id: int) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self.status: int | None = None
        """The response status, once the response HEADERS arrived."""
        self.headers: ResponseHeaders | None = None
        self._buffer: deque[tuple[bytes, int]] = deque()
        self.remote_ended = False
        self.reset_code: int | None = None
        self._local_closed = False
        self._released = False
        self._error: TransportError | None = None
        self.stop_sending = False
        """Set by the owner (e.g. on an error status): a waiting ``send`` gives up at once."""
        self._waiters: list[_Waiter] = []

    # -- state

    @property
    def remote_done(self) -> bool:
        """The server will send nothing more (END_STREAM, reset or connection lost)."""
        return self.remote_ended or self.reset_code is not None or self._dead is not None

    @property
    def local_closed(self) -> bool:
        """We sent END_STREAM or RST_STREAM (nothing more can be sent)."""
        return self._local_closed

    @property
    def buffered(self) -> int:
        """Received bytes not taken by ``receive`` yet."""
        return sum(len(data) for data, _ in self._buffer)

    @property
    def _dead(self) -> TransportError | None:
        return self._error or self._conn.error

    def _failure(self, doing: str) -> TransportError:
        if self.reset_code is not None:
            code = _error_name(self.reset_code)
            err = TransportError(f"the server reset the stream ({code}) while {doing}")
            # REFUSED_STREAM: the server did not process the stream at all (RFC 9113 §8.7),
            # unless its response head came first: then it accepted the stream and may have
            # acted on what it read, whatever the reset says.
            if self.reset_code == h2.errors.ErrorCodes.REFUSED_STREAM and self.status is None:
                err.request_sent = False
            return err
        dead = self._dead
        assert dead is not None
        return dead

    # -- events from the connection's reader

    def _on_data(self, data: bytes, flow: int) -> None:
        self._buffer.append((data, flow))
        self._wake(_DATA)

    def _wake(self, what: int) -> None:
        for waiter in self._waiters:
            if waiter.mask & what:
                waiter.event.set()

    # -- the caller's side

    async def wait_head(self) -> int:
        """Wait for the response HEADERS; return the status."""
        await self._conn.wait(
            lambda: self.status is not None or self.remote_done, self, _HEAD | _END
        )
        if self.status is None:
            raise self._failure("waiting for the response head")
        return self.status

    async def send(self, data: bytes, *, end_stream: bool = False) -> None:
        """Send ``data`` as DATA frames as the server's window allows, then END_STREAM if asked.

        Raises ``TransportError`` when the stream or connection broke, or once ``stop_sending``
        is set while waiting for window.
        """
        conn = self._conn
        h2conn = conn.h2
        sid = self.stream_id
        view = memoryview(data)
        while True:
            if self._local_closed:
                raise TransportError("the stream is closed for sending")
            if self.reset_code is not None or self._dead is not None:
                raise self._failure("sending")
            if self.stop_sending:
                raise TransportError("sending stopped: the response ended the exchange")
            if not view:
                break
            window = h2conn.local_flow_control_window(sid)
            if window <= 0:
                await conn.wait(
                    lambda: (
                        self.stop_sending
                        or (self.status or 0) >= 300
                        or self.reset_code is not None
                        or self._dead is not None
                        or h2conn.local_flow_control_window(sid) > 0
                    ),
                    self,
                    _WINDOW | _HEAD | _END,
                )
                if (self.status or 0) >= 300:
                    self.stop_sending = True
                continue
            size = min(window, h2conn.max_outbound_frame_size, len(view))
            last = size == len(view)
            try:
                h2conn.send_data(sid, bytes(view[:size]), end_stream=end_stream and last)
            except h2.exceptions.H2Error as exc:
                raise TransportError(f"the stream cannot send: {describe(exc)}") from exc
            if end_stream and last:
                self._local_closed = True
            view = view[size:]
            await conn.flush()
            if last:
                return
        if end_stream and not self._local_closed:
            await self.end()

    async def end(self) -> None:
        """Send END_STREAM (an empty DATA frame), unless the stream can no longer send."""
        if self._local_closed:
            return
        self._local_closed = True
        if self.reset_code is not None or self._dead is not None:
            return  # nothing to end: writing to a finished stream is an error (spec §11.5)
        try:
            self._conn.h2.end_stream(self.stream_id)
        except h2.exceptions.H2Error:
            return
        await self._conn.flush()

    async def receive(self) -> bytes:
        """The next DATA bytes as they arrive; ``b""`` after END_STREAM.

        Raises ``TransportError`` when the server reset the stream or the connection broke.
        """
        buffer = self._buffer
        if not buffer:
            await self._conn.wait(lambda: bool(buffer) or self.remote_done, self, _DATA | _END)
        if buffer:
            data, flow = buffer.popleft()
            self._conn.acknowledge(self.stream_id, flow)
            return data
        if self.remote_ended:
            return b""
        raise self._failure("receiving")

    def fits(self, size: int) -> bool:
        """``size`` bytes can be sent now without waiting for the server's window."""
        try:
            return self._conn.h2.local_flow_control_window(self.stream_id) >= size
        except h2.exceptions.H2Error:
            return False

    def stop(self) -> None:
        """Make a ``send`` waiting for window (and any later one) give up at once."""
        self.stop_sending = True
        self._wake(_ANY)

    async def wait_remote_done(self) -> None:
        """Read the connection (for everyone) until the server has finished this stream."""
        await self._conn.wait(lambda: self.remote_done, self, _END)

    async def reset(self) -> None:
        """RST_STREAM(CANCEL) unless both sides are already closed; never raises."""
        conn = self._conn
        done = self.remote_done and self._local_closed
        self._local_closed = True
        if not done and self._dead is None and self.reset_code is None:
            try:
                conn.h2.reset_stream(self.stream_id, h2.errors.ErrorCodes.CANCEL)
            except h2.exceptions.H2Error:
                pass
            else:
                await conn.flush_quietly()
        self.release()

    def release(self) -> None:
        """Forget the stream: its unread data is handed back to the connection window."""
        if self._released:
            return
        self._released = True
        self._local_closed = True
        for _, flow in self._buffer:
            self._conn.acknowledge(self.stream_id, flow)
        self._buffer.clear()
        self._conn.forget(self)


class _Connection:
    """One HTTP/2 connection: the ``h2`` state, the socket, and who reads it now."""

    def __init__(self, sock: anyio.abc.ByteStream, origin: str, stream_window: int) -> None:
        config = h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_inbound_headers=True
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.sock = sock
        self.origin = origin
        self.streams: dict[int, DuplexStream] = {}
        self.error: TransportError | None = None
        self.goaway = False
        self.settings_received = False
        self.used = False
        self._reading = False
        self._waiting: dict[_Waiter, None] = {}  # every waiter, oldest first (an ordered set)
        self._conn_waiters: list[_Waiter] = []  # waits not tied to a stream (connect, refresh)
        self._write_lock = anyio.Lock(fast_acquire=True)
        self._stream_window = stream_window
        self._closed = False

    def start(self, connection_window: int) -> None:
        h2conn = self.h2
        h2conn.initiate_connection()
        h2conn.update_settings(
            {
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self._stream_window,
            }
        )
        if connection_window > 65535:
            h2conn.increment_flow_control_window(connection_window - 65535)

    # -- capacity

    @property
    def usable(self) -> bool:
        return self.error is None and not self.goaway and not self._closed

    @property
    def has_capacity(self) -> bool:
        limit = self.h2.remote_settings.max_concurrent_streams
        return self.h2.open_outbound_streams < limit and self.h2.highest_outbound_stream_id < (
            2**31 - 3
        )

    async def refresh(self) -> None:
        """Before reusing an idle connection, read what waits on it (STYLE §8).

        On HTTP/2 that is often harmless (late frames of streams we reset, a PING), but it may
        be a GOAWAY or an EOF: then the connection is marked unusable here, not found broken
        by the next session's first write.
        """
        if self.streams or not self.used or self._reading:
            return
        raw = self.sock.extra(anyio.abc.SocketAttribute.raw_socket, None)  # noqa: S610
        for _ in range(16):
            if raw is None or not _readable(raw) or not self.usable:
                return
            with anyio.move_on_after(_REFRESH_READ_S):  # a TLS record may be incomplete
                self._reading = True
                try:
                    await self._read_once()
                finally:
                    self._reading = False
                    self._hand_off()

    # -- reading: whoever waits, reads

    async def wait(
        self, ready: Callable[[], bool], stream: DuplexStream | None = None, mask: int = _ANY
    ) -> None:
        """Return once ``ready()`` holds (or the connection failed), reading frames meanwhile.

        While another task reads, wait to be woken for ``stream`` (what ``mask`` names), or,
        without a stream, after every read. On the way out, if no one reads any more, the
        reading is handed on to one waiter, so the socket is never left unread while someone
        waits (also when this task was cancelled).
        """
        try:
            while not ready() and self.error is None:
                if self._reading:
                    waiter = _Waiter(mask)
                    targets = stream._waiters if stream is not None else self._conn_waiters
                    targets.append(waiter)
                    self._waiting[waiter] = None
                    try:
                        await waiter.event.wait()
                    finally:
                        targets.remove(waiter)
                        del self._waiting[waiter]
                    continue
                self._reading = True
                try:
                    await self._read_once()
                finally:
                    self._reading = False
        finally:
            self._hand_off()

    def _hand_off(self) -> None:
        """No one reads: wake the oldest waiter to take over (it passes it on if it is done)."""
        if not self._reading and self._waiting:
            next(iter(self._waiting)).event.set()

    async def _read_once(self) -> None:
        try:
            data = await self.sock.receive(_READ_SIZE)
        except anyio.EndOfStream:
            self._fail(TransportError("the server closed the HTTP/2 connection"))
            return
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, ssl.SSLError) as e:
            self._fail(TransportError(f"the HTTP/2 connection broke: {describe(e)}"))
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._fail(TransportError(f"the server broke the HTTP/2 protocol: {describe(exc)}"))
            with contextlib.suppress(*_IO_ERRORS):  # tell the server why: h2 queued a GOAWAY
                await self.sock.send(self.h2.data_to_send())
            return
        for event in events:
            self._dispatch(event)
        for waiter in self._conn_waiters:
            waiter.event.set()
        await self.flush_quietly()

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id or 0)
            flow = event.flow_controlled_length or 0
            if stream is None:
                self.acknowledge(event.stream_id or 0, flow)
            else:
                stream._on_data(event.data or b"", flow)
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                pairs = event.headers or []
                headers = ResponseHeaders.from_pairs(
                    [(k, v) for k, v in pairs if not bytes(k).startswith(b":")]
                )
                status = next((bytes(v) for k, v in pairs if bytes(k) == b":status"), b"")
                stream.headers = headers
                stream.status = int(status) if status.isdigit() else 0
                stream._wake(_HEAD)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.remote_ended = True
                stream._wake(_END)
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.reset_code = int(event.error_code or 0)
                stream._wake(_ANY)
        elif isinstance(event, h2.events.WindowUpdated):
            sid = event.stream_id or 0
            if sid == 0:  # the connection's window: any stream may send again
                for stream in self.streams.values():
                    stream._wake(_WINDOW)
            elif (stream := self.streams.get(sid)) is not None:
                stream._wake(_WINDOW)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_received = True
            for stream in self.streams.values():  # a new initial window resizes every stream's
                stream._wake(_WINDOW)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = True
            last = event.last_stream_id or 0
            for sid, stream in self.streams.items():
                if sid > last:  # never processed: safe to send again elsewhere
                    stream.reset_code = h2.errors.ErrorCodes.REFUSED_STREAM
            self._wake_all()
            if event.error_code:
                self._fail(
                    TransportError(
                        f"the server ended the HTTP/2 connection "
                        f"(GOAWAY {_error_name(int(event.error_code))})"
                    )
                )

    def _wake_all(self) -> None:
        for waiter in self._waiting:
            waiter.event.set()

    def _fail(self, error: TransportError) -> None:
        if self.error is None:
            self.error = error
        self._wake_all()

    # -- writing

    async def flush(self) -> None:
        """Write what ``h2`` has queued, in order; raise ``TransportError`` if it fails."""
        if self.error is not None:
            raise self.error
        async with self._write_lock:
            while True:
                data = self.h2.data_to_send()
                if not data:
                    return
                # Shielded: a write cancelled halfway loses the rest of a frame (or, under TLS,
                # of an encrypted record already taken from the SSL object), which corrupts the
                # connection for every other stream on it. Bounded instead.
                limit = anyio.current_time() + _WRITE_TIMEOUT_S
                with anyio.CancelScope(shield=True, deadline=limit) as t:
                    try:
                        await self.sock.send(data)
                    except _IO_ERRORS as exc:
                        error = TransportError(f"writing to the server failed: {describe(exc)}")
                        self._fail(error)
                        raise error from exc
                if t.cancelled_caught:
                    error = TransportError(
                        f"writing to the server stalled for {_WRITE_TIMEOUT_S:g} s; "
                        "the connection is given up"
                    )
                    self._fail(error)
                    raise error

    async def flush_quietly(self) -> None:
        """Flush unless a writer is at it (it writes what we queued); failures are recorded."""
        if self._write_lock.locked() or self.error is not None:
            return
        with contextlib.suppress(TransportError):
            await self.flush()

    def acknowledge(self, stream_id: int, flow: int) -> None:
        if flow and self.error is None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.acknowledge_received_data(flow, stream_id)

    def forget(self, stream: DuplexStream) -> None:
        self.streams.pop(stream.stream_id, None)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
            if self.error is None:
                try:
                    self.h2.close_connection()
                    await self.flush()
                except (TransportError, h2.exceptions.H2Error):
                    pass
            with contextlib.suppress(OSError, anyio.BrokenResourceError, ssl.SSLError):
                await self.sock.aclose()


def _error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error {code}"


class H2Engine:
    """Full-duplex HTTP/2 streams, one pool of multiplexed connections per origin.

    Args:
        ssl_context: the TLS context for ``https`` origins; it must offer ALPN ``h2``. Default:
            ``make_ssl_context()`` when given, else a verifying context with the system CAs
            (``default_ssl_context``), built lazily in a worker thread (CA files are read).
        make_ssl_context: builds that default context (blocking; run in a worker thread).
        stream_window: the receive window advertised per stream.
        connection_window: the receive window of each connection.
        proxy: given an endpoint URL, the proxy to tunnel through (None: connect directly).
        proxy_ssl_context: builds the TLS context for ``https://`` proxies themselves
            (blocking; run in a worker thread). Default: ``ssl.create_default_context()``.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        make_ssl_context: Callable[[], ssl.SSLContext] | None = None,
        stream_window: int = DEFAULT_STREAM_WINDOW,
        connection_window: int = DEFAULT_CONNECTION_WINDOW,
        proxy: ProxyFor | None = None,
        proxy_ssl_context: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        self._proxy = proxy
        self._make_proxy_ssl = proxy_ssl_context or ssl.create_default_context
        self._proxy_ssl: ssl.SSLContext | None = None
        self._ssl = ssl_context
        self._make_ssl = make_ssl_context or default_ssl_context
        self._stream_window = stream_window
        self._connection_window = connection_window
        self._pools: dict[str, list[_Connection]] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._closed = False
        self.connections_opened = 0
        """How many connections this engine opened (observable for tests)."""

    @property
    def open_connections(self) -> int:
        """Connections currently held in the pools."""
        return sum(len(pool) for pool in self._pools.values())

    async def open_stream(
        self,
        *,
        scheme: str,
        host: str,
        port: int,
        authority: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        connect_timeout: float | None,
    ) -> DuplexStream:
        """Send a POST's HEADERS (no END_STREAM) on a pooled or new connection; return the stream.

        Nothing waits for the response: the caller sends and receives as it likes. Raises
        ``TransportError`` (``request_sent=False``: nothing reached the server) when no
        connection could be had, ``RequestTimeout(timeout="connect")`` past ``connect_timeout``.
        """
        if self._closed:
            raise TransportError("the HTTP/2 engine is closed", request_sent=False)
        origin = f"{scheme}://{host}:{port}"
        via = self._proxy(f"{scheme}://{authority}/") if self._proxy is not None else None
        conn = await self._connection(origin, scheme, host, port, connect_timeout, via)
        h2conn = conn.h2
        sid = h2conn.get_next_available_stream_id()
        stream = DuplexStream(conn, sid)
        conn.streams[sid] = stream
        conn.used = True
        wire = [
            (":method", "POST"),
            (":scheme", scheme),
            (":authority", authority),
            (":path", path),
            *((name.lower(), value) for name, value in headers),
        ]
        try:
            h2conn.send_headers(sid, wire, end_stream=False)
        except h2.exceptions.H2Error as exc:
            stream.release()
            raise TransportError(
                f"the request head could not be sent: {describe(exc)}", request_sent=False
            ) from exc
        try:
            await conn.flush()
        except TransportError as exc:
            stream.release()
            exc.request_sent = False  # a head that did not leave cannot have been acted on
            raise
        return stream

    async def _connection(
        self,
        origin: str,
        scheme: str,
        host: str,
        port: int,
        connect_timeout: float | None,
        via: Proxy | None,
    ) -> _Connection:
        lock = self._locks.setdefault(origin, anyio.Lock())
        async with lock:  # one connect per origin at a time: the others then share it
            pool = self._pools.setdefault(origin, [])
            for conn in list(pool):
                await conn.refresh()
                if not conn.usable:
                    pool.remove(conn)
                    await conn.aclose()
                elif conn.has_capacity:
                    return conn
            conn = await self._connect(origin, scheme, host, port, connect_timeout, via)
            pool.append(conn)
            return conn

    async def _connect(
        self,
        origin: str,
        scheme: str,
        host: str,
        port: int,
        connect_timeout: float | None,
        via: Proxy | None,
    ) -> _Connection:
        sock: anyio.abc.ByteStream | None = None
        with anyio.move_on_after(connect_timeout if connect_timeout is not None else float("inf")):
            try:
                if via is not None:
                    sock = await self._tunnel(via, host, port)
                elif scheme == "http":
                    sock = await anyio.connect_tcp(host.strip("[]"), port)
                if scheme == "https":
                    context = self._ssl
                    if context is None:
                        context = await anyio.to_thread.run_sync(self._make_ssl)
                        if self._ssl is None:  # another connection may have built it meanwhile
                            self._ssl = context
                        context = self._ssl
                    if sock is None:
                        sock = await anyio.connect_tcp(
                            host.strip("[]"),
                            port,
                            ssl_context=context,
                            tls_hostname=host.strip("[]"),
                            tls_standard_compatible=False,
                        )
                    else:  # inside the tunnel: TLS end to end, the proxy sees only ciphertext
                        tunnel, sock = sock, None
                        try:
                            sock = await TLSStream.wrap(
                                tunnel,
                                hostname=host.strip("[]"),
                                ssl_context=context,
                                standard_compatible=False,
                            )
                        finally:
                            if sock is None:
                                with anyio.CancelScope(shield=True):
                                    await tunnel.aclose()
                    alpn = sock.extra(TLSAttribute.alpn_protocol, None)  # noqa: S610
                    if alpn != "h2":
                        await sock.aclose()
                        raise ProtocolNegotiationError(
                            f"{origin} did not agree to HTTP/2 over TLS (ALPN chose {alpn!r}, "
                            "we offered only 'h2'); this operation needs HTTP/2"
                        )
                assert sock is not None
            except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
                if sock is not None:
                    with anyio.CancelScope(shield=True):
                        await sock.aclose()
                raise TransportError(
                    f"could not connect to {origin}: {describe(exc)}", request_sent=False
                ) from exc
            conn = _Connection(sock, origin, self._stream_window)
            self.connections_opened += 1
            try:
                conn.start(self._connection_window)
                await conn.flush()
                # The server's SETTINGS first: its stream limit decides multiplexing.
                await conn.wait(lambda: conn.settings_received)
            except BaseException:
                await conn.aclose()
                raise
            if conn.error is not None:
                await conn.aclose()
                error = conn.error
                error.request_sent = False
                raise error
            return conn
        if sock is not None:
            with anyio.CancelScope(shield=True):
                await sock.aclose()
        raise RequestTimeout(
            f"connecting to {origin} took longer than {connect_timeout:g} s",
            timeout="connect",
            request_sent=False,
        )

    async def _tunnel(self, via: Proxy, host: str, port: int) -> anyio.abc.ByteStream:
        """A ``CONNECT host:port`` tunnel through ``via``; raises ``TransportError`` (nothing
        sent to the endpoint) when the proxy refuses it, e.g. 407 for missing credentials."""
        parts = urlsplit(via.url)  # no credentials in it: they are in via.authorization
        proxy_host = parts.hostname or ""
        proxy_port = parts.port or (443 if parts.scheme == "https" else 80)
        sock: anyio.abc.ByteStream = await anyio.connect_tcp(proxy_host, proxy_port)
        try:
            if parts.scheme == "https":
                if self._proxy_ssl is None:
                    self._proxy_ssl = await anyio.to_thread.run_sync(self._make_proxy_ssl)
                sock = await TLSStream.wrap(
                    sock,
                    hostname=proxy_host,
                    ssl_context=self._proxy_ssl,
                    standard_compatible=False,
                )
            target = f"{host}:{port}"
            lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
            if via.authorization:
                lines.append(f"Proxy-Authorization: {via.authorization}")
            await sock.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            # Read the head alone, a byte at a time (a few hundred bytes, once per connection):
            # what follows it belongs to the endpoint (an h2c server speaks first), so nothing
            # past the blank line may be taken from the socket here.
            head = bytearray()
            while not head.endswith(b"\r\n\r\n"):
                if len(head) >= _MAX_PROXY_HEAD:
                    raise TransportError(
                        f"the proxy {via.url} sent no valid answer to CONNECT",
                        request_sent=False,
                    )
                head += await sock.receive(1)
            status_line = bytes(head).split(b"\r\n", 1)[0].decode("latin-1")
            words = status_line.split(" ", 2)
            if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
                raise TransportError(
                    f"the proxy {via.url} answered CONNECT with {status_line[:100]!r}",
                    request_sent=False,
                )
            status = int(words[1])
            if not 200 <= status < 300:
                why = " (Proxy Authentication Required: check the proxy URL's credentials)"
                raise TransportError(
                    f"the proxy {via.url} refused the tunnel to {target}: "
                    f"{status}{why if status == 407 else ''}",
                    request_sent=False,
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sock.aclose()
            raise
        return sock

    async def settle(self, stream: DuplexStream) -> None:
        """After a stream is released: close its connection if it is done for (GOAWAY, error)."""
        conn = stream._conn
        if conn.streams or conn.usable:
            return
        pool = self._pools.get(conn.origin, [])
        if conn in pool:
            pool.remove(conn)
        await conn.aclose()

    async def aclose(self) -> None:
        """Close every connection (GOAWAY, then the socket). Safe twice."""
        self._closed = True
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            for conn in pool:
                await conn.aclose()
