"""A fast loopback event-stream server for the client benchmarks, run in its own process.

Why not ``sagemaker_rt_async.testing.FakeSageMakerRuntime``: it parses HTTP with h11, records
every request and encodes every part on demand, in a thread of the client's own process. That
is right for tests and wrong for a throughput benchmark, where the server must cost next to
nothing and must not share the client's interpreter (GIL) or core.

This server is a plain ``asyncio.Protocol``, HTTP/1.1 with keep-alive, and does no per-part work:

* ``POST /endpoints/bench-<N>x<S>/invocations-response-stream`` answers 200 with
  ``Transfer-Encoding: chunked``: N PayloadPart messages of S payload bytes, each message in its
  own HTTP chunk (as the service frames them). The wire bytes are precomputed per (N, S) up to
  a 16 MiB cache entry; beyond that a ~256 KiB block of ready chunks is written again and again,
  so a 1 GiB stream is generated on the fly, never held in memory. Writes honour the
  transport's flow control (``pause_writing`` / ``resume_writing``).
* ``GET /stats`` answers this process's CPU seconds (``getrusage(RUSAGE_SELF)``, user +
  system, all threads), requests served and body bytes sent, so a benchmark can show the
  server is not the bottleneck: its CPU share over a measured interval is ``Δcpu / Δwall``.

Signatures are not verified (no credentials are involved anywhere). Run it directly
(``python benchmarks/stream_server.py``: it prints ``listening http://127.0.0.1:<port>`` and
serves until stdin closes, SIGTERM, or ``--max-seconds``), or from a benchmark with
:func:`start` and :func:`stats`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from sagemaker_rt_async._eventstream import payload_part

_NAME = re.compile(rb"^/endpoints/bench-(\d+)x(\d+)/invocations-response-stream$")
_MAX_HEAD = 64 * 1024
_MAX_PARTS = 10_000_000
_MAX_PART_SIZE = 16 * 1024 * 1024
_CACHE_LIMIT = 16 * 1024 * 1024  # whole bodies up to this size are precomputed once
_BLOCK = 256 * 1024  # otherwise: this much of ready chunks, written repeatedly
_HIGH_WATER = 1024 * 1024
_END = b"0\r\n\r\n"

_RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/vnd.amazon.eventstream\r\n"
    b"X-Amzn-SageMaker-Content-Type: application/octet-stream\r\n"
    b"x-Amzn-Invoked-Production-Variant: AllTraffic\r\n"
    b"x-amzn-RequestId: 00000000-0000-4000-8000-000000bench0\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)


class _Counters:
    requests = 0
    body_bytes = 0


_bodies: dict[tuple[int, int], tuple[bytes, int]] = {}


def _http_chunk(size: int) -> bytes:
    message = payload_part(bytes(range(256)) * (size // 256) + bytes(range(size % 256)))
    return b"%x\r\n%s\r\n" % (len(message), message)


def _body_plan(parts: int, size: int) -> tuple[bytes, int]:
    """``(block, chunks per block)``: the block is either the whole body or a repeatable unit."""
    key = (parts, size)
    plan = _bodies.get(key)
    if plan is None:
        chunk = _http_chunk(size)
        if parts * len(chunk) <= _CACHE_LIMIT:
            plan = (chunk * parts, parts)
        else:
            per_block = max(1, _BLOCK // len(chunk))
            plan = (chunk * per_block, per_block)
        if len(_bodies) > 32:
            _bodies.clear()
        _bodies[key] = plan
    return plan


def _simple(status: bytes, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        content_type,
        len(body),
        body,
    )


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False  # a streamed response is being written
        self._close_after = False
        self._resumed: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > _MAX_HEAD + _MAX_HEAD and not self._busy:
            self._fail(b"413 Content Too Large")
            return
        if not self._busy:
            self._next_request()

    def _fail(self, status: bytes) -> None:
        if self._transport is not None:
            self._transport.write(_simple(status, b"{}"))
            self._transport.close()

    def _next_request(self) -> None:
        while not self._busy and self._transport is not None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._fail(b"431 Request Header Fields Too Large")
                return
            head = bytes(self._buffer[:end]).split(b"\r\n")
            try:
                method, target, _ = head[0].split(b" ", 2)
            except ValueError:
                self._fail(b"400 Bad Request")
                return
            length = 0
            self._close_after = False
            for line in head[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    try:
                        length = int(value.strip())
                    except ValueError:
                        self._fail(b"400 Bad Request")
                        return
                elif name == b"transfer-encoding":
                    self._fail(b"501 Not Implemented")  # the clients all send Content-Length
                    return
                elif name == b"connection" and value.strip().lower() == b"close":
                    self._close_after = True
            if len(self._buffer) < end + 4 + length:
                return  # the body is still on its way
            del self._buffer[: end + 4 + length]
            self._dispatch(method, target)

    def _dispatch(self, method: bytes, target: bytes) -> None:
        transport = self._transport
        assert transport is not None
        _Counters.requests += 1
        if method == b"GET" and target == b"/stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            body = json.dumps(
                {
                    "cpu": usage.ru_utime + usage.ru_stime,
                    "requests": _Counters.requests,
                    "body_bytes": _Counters.body_bytes,
                }
            ).encode()
            transport.write(_simple(b"200 OK", body))
            self._finish()
            return
        match = _NAME.match(target) if method == b"POST" else None
        if match is None:
            transport.write(_simple(b"404 Not Found", b'{"message": "no such bench endpoint"}'))
            self._finish()
            return
        parts, size = int(match[1]), int(match[2])
        if not (0 < parts <= _MAX_PARTS and 0 <= size <= _MAX_PART_SIZE):
            transport.write(_simple(b"400 Bad Request", b'{"message": "N or S out of range"}'))
            self._finish()
            return
        self._busy = True
        asyncio.get_running_loop().create_task(self._stream(parts, size))

    async def _stream(self, parts: int, size: int) -> None:
        block, per_block = _body_plan(parts, size)
        view = memoryview(block)
        chunk_len = len(block) // per_block
        transport = self._transport
        if transport is None:
            return
        transport.write(_RESPONSE_HEAD)
        remaining = parts
        while remaining and self._transport is not None:
            count = min(per_block, remaining)
            # Slices of at most _BLOCK bytes, so flow control is checked between them.
            piece = view[: count * chunk_len]
            for start in range(0, len(piece), _BLOCK):
                transport.write(piece[start : start + _BLOCK])
                if self._paused:
                    self._resumed = asyncio.get_running_loop().create_future()
                    await self._resumed
                    if self._transport is None:
                        return
            _Counters.body_bytes += len(piece)
            remaining -= count
        transport.write(_END)
        self._busy = False
        self._finish()
        if self._buffer:
            self._next_request()

    def _finish(self) -> None:
        if self._close_after and self._transport is not None:
            self._transport.close()


async def _serve(port: int, max_seconds: float, announce: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, "127.0.0.1", port, backlog=128)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        # The parent holds our stdin open; EOF means it is gone, so we go too.
        with open(sys.stdin.fileno(), "rb", closefd=False) as stdin:
            while stdin.read(4096):
                pass
        loop.call_soon_threadsafe(stop.set)

    if announce:
        threading.Thread(target=watch_stdin, daemon=True).start()
        bound = server.sockets[0].getsockname()[1]
        print(f"listening http://127.0.0.1:{bound}", flush=True)
    async with server:
        try:
            await asyncio.wait_for(stop.wait(), max_seconds)
        except TimeoutError:
            print("stream_server: --max-seconds reached, exiting", file=sys.stderr)


# ---------------------------------------------------------------------- for the benchmarks


def start(max_seconds: float = 900.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server in a child process; return it and its base URL."""
    proc = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(Path(__file__).resolve()), "--max-seconds", str(max_seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("listening "):
        proc.kill()
        raise RuntimeError(f"stream_server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :func:`start` (closing its stdin), waiting a bounded time."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def stats(url: str, timeout: float = 5.0) -> dict[str, float]:
    """``GET /stats`` over a fresh blocking socket (outside any timed region)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    result: dict[str, float] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.max_seconds, announce=True))


if __name__ == "__main__":
    main()
