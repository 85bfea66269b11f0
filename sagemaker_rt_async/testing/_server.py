"""The fake service as a real HTTP/1.1 server on 127.0.0.1, in a background thread.

It runs its own asyncio loop in a daemon thread, so sync clients (boto3), asyncio clients
(aiobotocore, ours) and trio code can all call it. HTTP/1.1 is parsed with h11; streamed bodies
go out chunked. ``open_connections`` counts sockets the server holds right now, which is what leak
tests assert on after a client is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Generic

import h11

from ._base import FakeT

_READ_SIZE = 64 * 1024
_START_TIMEOUT_S = 10.0


class LoopbackServer(Generic[FakeT]):
    """Serve a fake (``FakeSageMakerRuntime``, ``FakeS3``) on loopback; a context manager."""

    def __init__(
        self,
        fake: FakeT,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.fake = fake
        self.ssl_context = ssl_context
        """Serve HTTPS with this server-side context (e.g. a ``trustme`` certificate's)."""
        self.host = host
        self.port = port
        self.open_connections = 0
        self.total_connections = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (``https://`` with ``ssl_context``)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def environ(self) -> dict[str, str]:
        """The environment that points an AWS client (ours, boto3, ``sagemaker-rt``) here.

        ``AWS_ENDPOINT_URL`` and its SageMaker Runtime and S3 forms (a developer's own setting of
        those would win otherwise; both services are served here), ``AWS_REGION`` (and
        ``AWS_DEFAULT_REGION``, which boto3 reads) and the
        fake's public test credentials (``AWS_SESSION_TOKEN`` only when the fake has
        one). For a process: ``os.environ.update(server.environ())`` after dropping a stale
        ``AWS_SESSION_TOKEN``; for a child: ``env={**os.environ, **server.environ()}``.
        """
        fake: Any = self.fake
        creds = fake.credentials
        env = {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.url,
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_REGION": str(fake.region),
            "AWS_DEFAULT_REGION": str(fake.region),  # the name boto3 reads
            "AWS_ACCESS_KEY_ID": creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        }
        if creds.session_token:
            env["AWS_SESSION_TOKEN"] = creds.session_token
        return env

    def start(self) -> LoopbackServer[FakeT]:
        """Start serving; returns once the socket is bound."""
        self._thread = threading.Thread(target=self._run, name="fake-sagemaker", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("the loopback server did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the loopback server failed to start: {self._error}")
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be gone
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(_START_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> LoopbackServer[FakeT]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LoopbackServer[FakeT]:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.start)  # thread start + bind: off the loop

    async def __aexit__(self, *exc_info: object) -> None:
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.stop)  # joins the server thread: off the loop

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(
            self._connection, self.host, self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            # Closing the sockets gives every connection task EOF, so they end on their own
            # instead of being cancelled at loop teardown.
            for writer in list(self._writers):
                writer.close()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=_START_TIMEOUT_S)
            await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self.total_connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        conn = h11.Connection(h11.SERVER)
        try:
            while await self._one_exchange(conn, reader, writer):
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _next(self, conn: h11.Connection, reader: asyncio.StreamReader) -> object:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await reader.read(_READ_SIZE)
            conn.receive_data(data)

    async def _one_exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        event = await self._next(conn, reader)
        if not isinstance(event, h11.Request):
            return False
        body = bytearray()
        while True:
            part = await self._next(conn, reader)
            if isinstance(part, h11.Data):
                body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return False
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        answer = await self.fake.handle(
            event.method.decode(), event.target.decode("ascii"), headers, bytes(body)
        )
        if answer.status == 0:  # ResetConnection: reset the socket before any response
            self._reset(writer)
            return False
        out_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        if isinstance(answer.body, bytes):
            # A fake may state the length itself: a HEAD answer has the object's, not 0.
            if not any(k.lower() == b"content-length" for k, _ in out_headers):
                out_headers.append((b"Content-Length", str(len(answer.body)).encode()))
            writer.write(conn.send(h11.Response(status_code=answer.status, headers=out_headers)))
            if answer.body:
                writer.write(conn.send(h11.Data(data=answer.body)))
        else:
            out_headers.append((b"Transfer-Encoding", b"chunked"))
            writer.write(conn.send(h11.Response(status_code=answer.status, headers=out_headers)))
            await writer.drain()
            await self._stream(conn, writer, answer.body)
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _stream(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        body: AsyncIterator[bytes | object],
    ) -> None:
        try:
            async for chunk in body:
                if not isinstance(chunk, bytes):  # the RESET sentinel
                    self._reset(writer)
                    raise ConnectionResetError("reset by the fake (StreamFault.reset)")
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)))
                    await writer.drain()
        finally:
            closer = getattr(body, "aclose", None)
            if closer is not None:
                await closer()
