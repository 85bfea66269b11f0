"""A CONNECT proxy on loopback for the proxy tests: real sockets, threads, bounded waits.

It answers ``CONNECT host:port`` with ``200`` and relays bytes both ways, recording each
tunnel's target and ``Proxy-Authorization`` header. With ``credentials`` it answers ``407`` to a
CONNECT without the matching Basic header. Anything but CONNECT gets ``405``.

With ``ssl_context`` it is an HTTPS proxy (``https://`` URL): TLS to the proxy first, then the
CONNECT inside it, then the client's own TLS to the server inside the tunnel. That relay runs in
one thread per tunnel (an ``SSLSocket`` must not be read and written from two threads at once).
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any

_TIMEOUT_S = 10.0
_MAX_HEAD = 64 * 1024


class ConnectProxy:
    """``with ConnectProxy() as proxy:`` serves on ``proxy.url`` until the block ends."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connects: list[tuple[str, str | None]] = []
        """(target, Proxy-Authorization value) of each CONNECT received."""
        self.handshake_failures = 0
        """TLS handshakes with the proxy that failed (an https:// proxy only)."""
        self.client_certs: list[object] = []
        """The certificate each TLS client showed the proxy (None: none)."""
        self._tls = ssl_context
        self._expected = None
        if credentials is not None:
            pair = f"{credentials[0]}:{credentials[1]}".encode()
            self._expected = "Basic " + base64.b64encode(pair).decode()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ConnectProxy:
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        for thread in list(self._threads):
            thread.join(_TIMEOUT_S)
        self._listener.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(_TIMEOUT_S)
            self._track(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        # The client went, or the proxy stopped and closed its sockets under this thread
        # (select/recv/send on a closed socket raise ValueError or EBADF): nothing to serve.
        with contextlib.suppress(OSError, ValueError):
            self._serve_one(conn)

    def _serve_one(self, conn: socket.socket) -> None:
        if self._tls is not None:
            try:
                conn = self._tls.wrap_socket(conn, server_side=True)
            except OSError:  # ssl.SSLError included: the client refused our certificate
                self.handshake_failures += 1
                conn.close()
                return
            self._track(conn)
            self.client_certs.append(conn.getpeercert() or None)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
        except OSError:
            return
        text, _, rest = head.partition(b"\r\n\r\n")
        lines = text.decode("latin-1").split("\r\n")
        method, _, target = lines[0].partition(" ")
        target = target.rpartition(" ")[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        auth = headers.get("proxy-authorization")
        self.connects.append((target, auth))
        if self._expected is not None and auth != self._expected:
            conn.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            conn.close()
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=_TIMEOUT_S)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        self._track(upstream)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        if isinstance(conn, ssl.SSLSocket):
            self._relay(conn, upstream)
            return
        self._spawn(self._pipe, upstream, conn)
        self._pipe(conn, upstream)

    def _relay(self, conn: ssl.SSLSocket, upstream: socket.socket) -> None:
        """Both directions in this one thread, until either side closes or the proxy stops."""
        conn.setblocking(False)
        upstream.setblocking(False)
        sides: list[Any] = [conn, upstream]
        peer = {sides[0]: sides[1], sides[1]: sides[0]}
        try:
            while not self._stop.is_set():
                ready = [conn] if conn.pending() else []
                if not ready:
                    ready, _, _ = select.select(sides, [], [], 0.1)
                for source in ready:
                    try:
                        data = source.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                        continue
                    if not data:
                        return
                    _send_all(peer[source], data)
        except (OSError, ValueError):  # ValueError: a socket closed by __exit__ under select
            return
        finally:
            conn.close()
            upstream.close()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


def _send_all(sock: socket.socket, data: bytes) -> None:
    """``sendall`` for a non-blocking socket (plain or TLS), bounded by ``_TIMEOUT_S``."""
    view = memoryview(data)
    deadline = time.monotonic() + _TIMEOUT_S
    while view:
        try:
            sent = sock.send(view)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            if time.monotonic() > deadline:
                raise TimeoutError("the peer stopped reading") from None
            select.select([], [sock], [], 0.1)
            continue
        view = view[sent:]
