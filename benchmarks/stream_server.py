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
  It also counts connections: ``open`` now, ``peak`` (the most open at once, exact: counted
  as each is accepted and lost), ``connections`` accepted in all, and ``invocations``
  (InvokeEndpoint answers). ``GET /stats/reset-peak`` starts a new peak from ``open``.

For the load test (``load.py``):

* ``POST /endpoints/<name>/invocations`` (InvokeEndpoint) answers 200, ``application/json``,
  with the request body echoed, so a client can check that each answer is its own. A name
  ``think-<T>ms`` waits T ms first (a model's think time), without blocking the server.
* ``POST /endpoints/paced-<N>x<S>x<G>ms/invocations-response-stream`` is a stream of N parts of
  S bytes with a G ms pause between parts, so many streams are open at the same time.
* ``--control`` opens a second listening socket whose connections are not counted (printed as
  ``control http://127.0.0.1:<port>`` after the ``listening`` line): ``/stats`` read there does
  not disturb the counts it reports. ``--backlog`` sizes the listen queue (a thousand clients
  connecting at once overflow the default 128, and the kernel then retries after 1 s).

For ``bench_invoke.py``:

* ``POST /endpoints/<name>/async-invocations`` (InvokeEndpointAsync) answers 202 with a JSON
  body ``{"InferenceId", "OutputLocation", "FailureLocation"}`` and the two locations in the
  ``X-Amzn-SageMaker-OutputLocation`` / ``-FailureLocation`` headers (what the clients read;
  the body is a superset of the modeled one, which holds only ``InferenceId``). The ids come
  from a counter; nothing is written to any S3. ``/stats`` counts these in ``async_invocations``.
* ``--cpu N`` pins the server to CPU N (``sched_setaffinity``, before any thread starts), so a
  client pinned to the other core does not share one with it.

Signatures are not verified (no credentials are involved anywhere). Run it directly
(``python benchmarks/stream_server.py``: it prints ``listening http://127.0.0.1:<port>`` and
serves until stdin closes, SIGTERM, or ``--max-seconds``), or from a benchmark with
:func:`start` and :func:`stats`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

_NAME = re.compile(rb"^/endpoints/bench-(\d+)x(\d+)/invocations-response-stream$")
_PACED = re.compile(rb"^/endpoints/paced-(\d+)x(\d+)x(\d+)ms/invocations-response-stream$")
_INVOKE = re.compile(rb"^/endpoints/([^/?]+)/invocations$")
_ASYNC = re.compile(rb"^/endpoints/([^/?]+)/async-invocations$")
_THINK = re.compile(rb"^think-(\d+)ms$")
_MAX_THINK_MS = 60_000
_MAX_GAP_MS = 10_000
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
    open = 0  # data connections (not --control ones) open now
    peak = 0  # the most data connections open at once
    connections = 0  # data connections accepted
    invocations = 0  # InvokeEndpoint answers
    async_invocations = 0  # InvokeEndpointAsync answers


_bodies: dict[tuple[int, int], tuple[bytes, int]] = {}


def _http_chunk(size: int) -> bytes:
    # Imported here, not at the top: a benchmark's client process imports this module for
    # ``stats()`` alone, and must not import sagemaker_rt_async unless it is the client.
    from sagemaker_rt_async._eventstream import payload_part

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


def _invoke_answer(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"x-Amzn-Invoked-Production-Variant: AllTraffic\r\n"
        b"x-amzn-RequestId: 00000000-0000-4000-8000-000000bench1\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def _async_answer(number: int) -> bytes:
    inference_id = b"bench-%08d" % number
    output = b"s3://bench-bucket/output/%s.out" % inference_id
    failure = b"s3://bench-bucket/failure/%s-error.out" % inference_id
    body = b'{"InferenceId": "%s", "OutputLocation": "%s", "FailureLocation": "%s"}' % (
        inference_id,
        output,
        failure,
    )
    return (
        b"HTTP/1.1 202 Accepted\r\n"
        b"Content-Type: application/json\r\n"
        b"X-Amzn-SageMaker-OutputLocation: %s\r\n"
        b"X-Amzn-SageMaker-FailureLocation: %s\r\n"
        b"x-amzn-RequestId: 00000000-0000-4000-8000-000000bench2\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (output, failure, len(body), body)
    )


def _stats_body() -> bytes:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return json.dumps(
        {
            "cpu": usage.ru_utime + usage.ru_stime,
            "requests": _Counters.requests,
            "body_bytes": _Counters.body_bytes,
            "open": _Counters.open,
            "peak": _Counters.peak,
            "connections": _Counters.connections,
            "invocations": _Counters.invocations,
            "async_invocations": _Counters.async_invocations,
        }
    ).encode()


def _simple(status: bytes, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        content_type,
        len(body),
        body,
    )


class _Connection(asyncio.Protocol):
    def __init__(self, *, control: bool = False) -> None:
        self._control = control  # a --control connection: not counted
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False  # a streamed response is being written
        self._close_after = False
        self._resumed: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._control:
            _Counters.open += 1
            _Counters.connections += 1
            _Counters.peak = max(_Counters.peak, _Counters.open)
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._control:
            _Counters.open -= 1
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
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            self._dispatch(method, target, body)

    def _dispatch(self, method: bytes, target: bytes, body: bytes = b"") -> None:
        transport = self._transport
        assert transport is not None
        _Counters.requests += 1
        if method == b"GET" and target in (b"/stats", b"/stats/reset-peak"):
            if target == b"/stats/reset-peak":
                _Counters.peak = _Counters.open
            transport.write(_simple(b"200 OK", _stats_body()))
            self._finish()
            return
        if method == b"POST" and self._dispatch_load(target, body):
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

    # ------------------------------------------------------------------ for the load test

    def _dispatch_load(self, target: bytes, body: bytes) -> bool:
        """Answer an InvokeEndpoint(Async) or a paced stream; False if ``target`` is none."""
        transport = self._transport
        assert transport is not None
        invoke = _INVOKE.match(target)
        if invoke is not None:
            think = _THINK.match(invoke[1])
            delay_ms = int(think[1]) if think is not None else 0
            if delay_ms > _MAX_THINK_MS:
                transport.write(_simple(b"400 Bad Request", b'{"message": "T out of range"}'))
                self._finish()
            elif delay_ms:
                self._busy = True  # no pipelined request is read meanwhile
                loop = asyncio.get_running_loop()
                loop.call_later(delay_ms / 1000, self._answer_invoke, body)
            else:
                self._answer_invoke(body)
            return True
        if _ASYNC.match(target) is not None:
            _Counters.async_invocations += 1
            transport.write(_async_answer(_Counters.async_invocations))
            self._finish()
            return True
        paced = _PACED.match(target)
        if paced is not None:
            parts, size, gap_ms = int(paced[1]), int(paced[2]), int(paced[3])
            if not (0 < parts <= _MAX_PARTS and 0 <= size <= _BLOCK and gap_ms <= _MAX_GAP_MS):
                transport.write(_simple(b"400 Bad Request", b'{"message": "out of range"}'))
                self._finish()
                return True
            self._busy = True
            asyncio.get_running_loop().create_task(self._paced(parts, size, gap_ms / 1000))
            return True
        return False

    def _answer_invoke(self, body: bytes) -> None:
        self._busy = False
        if self._transport is None:
            return  # the client went away while the model was thinking
        _Counters.invocations += 1
        self._transport.write(_invoke_answer(body))
        self._finish()
        if self._buffer:
            self._next_request()

    async def _paced(self, parts: int, size: int, gap: float) -> None:
        chunk = _body_plan(1, size)[0]  # one part, framed as an HTTP chunk
        transport = self._transport
        if transport is None:
            return
        transport.write(_RESPONSE_HEAD)
        for index in range(parts):
            if self._transport is None:
                return
            transport.write(chunk)
            _Counters.body_bytes += len(chunk)
            if index + 1 < parts:
                await asyncio.sleep(gap)
        if self._transport is None:
            return
        transport.write(_END)
        self._busy = False
        self._finish()
        if self._buffer:
            self._next_request()


async def _serve(
    port: int, max_seconds: float, announce: bool, *, control: bool = False, backlog: int = 128
) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, "127.0.0.1", port, backlog=backlog)
    control_server = None
    if control:
        control_server = await loop.create_server(
            lambda: _Connection(control=True), "127.0.0.1", 0, backlog=16
        )
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
        if control_server is not None:
            bound = control_server.sockets[0].getsockname()[1]
            print(f"control http://127.0.0.1:{bound}", flush=True)
    async with server:
        try:
            await asyncio.wait_for(stop.wait(), max_seconds)
        except TimeoutError:
            print("stream_server: --max-seconds reached, exiting", file=sys.stderr)
        finally:
            if control_server is not None:
                control_server.close()


# ---------------------------------------------------------------------- for the benchmarks


def start(
    max_seconds: float = 900.0, *, cpu: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server in a child process (pinned to ``cpu`` if given); return it and its URL."""
    pin = [] if cpu is None else ["--cpu", str(cpu)]
    proc = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(Path(__file__).resolve()), "--max-seconds", str(max_seconds), *pin],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("listening "):
        proc.kill()
        raise RuntimeError(f"stream_server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def start_with_control(
    max_seconds: float = 900.0, backlog: int = 1024
) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start the server with ``--control``; return it, its base URL and its control URL.

    Read ``stats(control_url)`` and ``reset_peak(control_url)`` there: those connections are
    not counted, so ``open`` and ``peak`` are the clients' alone.
    """
    proc = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--max-seconds",
            str(max_seconds),
            "--control",
            "--backlog",
            str(backlog),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline().decode().strip() for _ in range(2)]
    if not (lines[0].startswith("listening ") and lines[1].startswith("control ")):
        proc.kill()
        proc.wait(10)
        raise RuntimeError(f"stream_server did not start: {lines!r}")
    return proc, lines[0].split(" ", 1)[1], lines[1].split(" ", 1)[1]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :func:`start` (closing its stdin), waiting a bounded time."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def stats(url: str, timeout: float = 5.0, *, path: str = "/stats") -> dict[str, float]:
    """``GET /stats`` over a fresh blocking socket (outside any timed region)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" % path.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    result: dict[str, float] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return result


def reset_peak(url: str, timeout: float = 5.0) -> dict[str, float]:
    """``GET /stats/reset-peak``: the peak starts again from the connections open now."""
    return stats(url, timeout, path="/stats/reset-peak")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument(
        "--control", action="store_true", help="also listen on an uncounted control port"
    )
    parser.add_argument("--backlog", type=int, default=128, help="listen queue length")
    parser.add_argument("--cpu", type=int, help="pin the server to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        # Before asyncio or the stdin thread exist: threads inherit the mask they start with.
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(
        _serve(
            args.port, args.max_seconds, announce=True, control=args.control, backlog=args.backlog
        )
    )


if __name__ == "__main__":
    main()
