"""A hostile HTTP/1.1 server on loopback: each connection follows a script of the test's.

A script is an async function ``script(conn)`` run on the server's own asyncio loop (a daemon
thread, so asyncio and trio clients alike can call it). ``conn`` reads requests and writes raw
bytes: it can answer well, reset, trickle, mis-frame, or push bytes nobody asked for. The server
counts connections open now and requests read, which is what the tests assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

Script = Callable[["Conn"], Awaitable[None]]


class Conn:
    """One accepted connection, as a script sees it."""

    def __init__(
        self, server: Hostile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.index = server.total_connections
        self.reader = reader
        self.writer = writer

    async def request(self) -> bytes | None:
        """Read one whole request (head and Content-Length body); None when the client left."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        self.server.requests += 1
        return body

    async def send(self, data: bytes) -> None:
        """Write raw bytes and wait until they left."""
        self.writer.write(data)
        await self.writer.drain()

    async def trickle(self, data: bytes, gap: float) -> None:
        """Write ``data`` one byte at a time, ``gap`` seconds apart."""
        for i in range(len(data)):
            await self.send(data[i : i + 1])
            await asyncio.sleep(gap)

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0)."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def idle(self, seconds: float = 30.0) -> None:
        """Keep the connection open, reading (and discarding) anything more, until it closes."""
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(self.reader.read(), seconds)


def response(
    body: bytes = b"ok", *, status: str = "200 OK", extra: bytes = b"", close: bool = False
) -> bytes:
    """A well-formed response with a Content-Length."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + extra + b"\r\n" + body


class Hostile:
    """The server; a context manager. ``url`` once started."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.open_connections = 0
        self.total_connections = 0
        self.requests = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        conn = Conn(self, reader, writer)
        self.total_connections += 1
        try:
            await self.script(conn)
            # A script that returns leaves the connection to the client: keep reading until it
            # goes, so open_connections counts what the client still holds.
            await conn.idle()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went, or the server is shutting down
        finally:
            self.open_connections -= 1
            writer.transport.abort()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

    def __enter__(self) -> Hostile:
        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._serve())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the hostile server did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)
