"""A fake InvokeEndpointWithBidirectionalStream endpoint: an HTTP/2 server on 127.0.0.1.

h2c (prior knowledge) or TLS with ALPN ``h2`` (a ``trustme`` CA), on its own asyncio loop in a
daemon thread, so asyncio and trio clients alike can talk to it. It checks what the service
checks (bidirectional-stream spec §4–§5): the initial SigV4 signature (payload hash
``STREAMING-AWS4-HMAC-SHA256-EVENTS``) and, for every event, the chained signature, recomputed
here with ``hashlib``/``hmac`` alone. A broken chain ends the answer with an error message
(``:error-code InvalidSignatureException``) and END_STREAM; how the real service words that is
UNVERIFIED, but it cannot go on with a stream it cannot authenticate.

Handlers (``add_endpoint(name, handler)``) are async callables given a ``FakeBidiSession``:
``async for part in session`` reads the caller's parts (acknowledging flow control as it
goes: a slow handler holds the client back), ``await session.send(...)`` answers (waiting for
the client's window). Ready-made ones: ``echo``, ``transcriber``, ``fragmented``,
``stream_error``, ``initial_error`` (e.g. a 424, optionally kept open), ``closes_first`` and
``slow_reader``; ``FakeBidiServer()`` serves them under those names.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from .._errors import EventStreamProtocolError
from .._eventstream import EventStreamDecoder, HeaderType, encode_message
from .._models import Credentials
from .._sigv4 import build_header_signature
from ._base import TEST_CREDENTIALS, parse_authorization

__all__ = [
    "BIDI_HANDLERS",
    "BidiHandler",
    "FakeBidiServer",
    "FakeBidiSession",
    "ReceivedPart",
    "closes_first",
    "echo",
    "fragmented",
    "initial_error",
    "slow_reader",
    "stream_error",
    "transcriber",
]

_READ_SIZE = 64 * 1024
_START_TIMEOUT_S = 10.0
_STREAMING = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
_SUFFIX = "invocations-bidirectional-stream"


@dataclass(frozen=True)
class ReceivedPart:
    """A PayloadPart the fake received (its signature verified)."""

    data: bytes
    data_type: str | None
    completion_state: str | None
    date_ms: int


@dataclass
class RecordedSession:
    """What one session looked like from the server: for assertions."""

    endpoint_name: str
    headers: dict[str, str]
    parts: list[ReceivedPart] = field(default_factory=list)
    input_ended: bool = False
    """The signed end frame arrived (then END_STREAM)."""
    signature_error: str | None = None
    reset_by_client: bool = False
    max_unread_bytes: int = 0
    """The most bytes received but not yet read by the handler (bounded by flow control)."""
    finished: bool = False
    refused: str | None = None
    """How the server refused this stream unprocessed (``"reset"``, ``"goaway"``), if it did."""


BidiHandler = Callable[["FakeBidiSession"], Awaitable[None]]
"""An endpoint's behaviour: reads the caller's parts and answers (the head is sent first)."""


class _InitialError:
    """A handler that answers with an error status before any event (see ``initial_error``)."""

    def __init__(self, status: int, code: str, message: str, keep_open: bool) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.keep_open = keep_open

    async def __call__(self, session: FakeBidiSession) -> None:  # pragma: no cover - never run
        raise AssertionError("an initial error has no handler body")


def initial_error(
    status: int = 424, code: str = "ModelError", message: str = "", *, keep_open: bool = False
) -> BidiHandler:
    """Answer the request with ``status`` and a rest-json error body, no stream.

    ``keep_open`` leaves the server's side open after the body (no END_STREAM): the case the
    official SDK hangs on (spec §11.3); the client must raise the error anyway.
    """
    return _InitialError(status, code, message or f"{code} from the fake", keep_open)


class FakeBidiSession:
    """One bidirectional stream as a handler sees it."""

    def __init__(self, conn: _ServerConnection, stream_id: int, record: RecordedSession) -> None:
        self._conn = conn
        self._sid = stream_id
        self.record = record
        self._queue: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue()
        self._parts: list[ReceivedPart] = []
        self._decoder = EventStreamDecoder()
        self._prior = ""
        self._key_cache: dict[str, bytes] = {}
        self._secret = ""
        self._region = ""
        self._ended = False
        self._unread = 0
        self.closed = False
        """The server's side ended (END_STREAM or reset)."""

    @property
    def endpoint_name(self) -> str:
        """The endpoint this session was opened on."""
        return self.record.endpoint_name

    def __aiter__(self) -> FakeBidiSession:
        return self

    async def __anext__(self) -> ReceivedPart:
        part = await self.receive()
        if part is None:
            raise StopAsyncIteration
        return part

    async def receive(self) -> ReceivedPart | None:
        """The caller's next part, verified; None once the input ended (or the stream broke)."""
        while not self._parts:
            if self._ended:
                return None
            item = await self._queue.get()
            if item is None:
                self._ended = True
                continue
            data, flow = item
            self._unread -= len(data)
            self._conn.acknowledge(self._sid, flow)
            try:
                messages = self._decoder.feed(data)
            except EventStreamProtocolError as exc:
                await self._reject(f"bad event-stream bytes: {exc}")
                return None
            for message in messages:
                if not self._verify(message.headers, message.payload):
                    await self._reject(self.record.signature_error or "bad signature")
                    return None
                if not message.payload:
                    self.record.input_ended = True
                    self._ended = True
                    break
                try:
                    inner = EventStreamDecoder().feed(message.payload)
                except EventStreamProtocolError as exc:
                    await self._reject(f"bad inner message: {exc}")
                    return None
                for event in inner:
                    h = event.headers
                    date = message.headers.get(":date")
                    part = ReceivedPart(
                        event.payload,
                        h.get("DataType") if isinstance(h.get("DataType"), str) else None,  # type: ignore[arg-type]
                        h.get("CompletionState")  # type: ignore[arg-type]
                        if isinstance(h.get("CompletionState"), str)
                        else None,
                        date if isinstance(date, int) else 0,
                    )
                    self.record.parts.append(part)
                    self._parts.append(part)
        return self._parts.pop(0)

    def _feed(self, data: bytes, flow: int) -> None:
        self._unread += len(data)
        self.record.max_unread_bytes = max(self.record.max_unread_bytes, self._unread)
        self._queue.put_nowait((data, flow))

    def _verify(self, headers: Any, payload: bytes) -> bool:
        """Check one envelope's signature against the chain (spec §5.3), independently."""
        if not self._conn.server.verify_signatures:
            return True
        date = headers.get(":date")
        signature = headers.get(":chunk-signature")
        if not isinstance(date, int) or not isinstance(signature, bytes) or len(signature) != 32:
            self.record.signature_error = "an event lacks :date or :chunk-signature"
            return False
        if date % 1000:
            self.record.signature_error = ":date is not a whole second"
            return False
        when = datetime.fromtimestamp(date // 1000, timezone.utc)
        amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        key = self._key_cache.get(day)
        if key is None:
            key = ("AWS4" + self._secret).encode()
            for part in (day, self._region, "sagemaker", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key_cache[day] = key
        date_header = b"\x05:date\x08" + struct.pack(">q", date)
        sts = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                f"{day}/{self._region}/sagemaker/aws4_request",
                self._prior,
                hashlib.sha256(date_header).hexdigest(),
                hashlib.sha256(payload).hexdigest(),
            )
        )
        expected = hmac.new(key, sts.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            self.record.signature_error = f"event {len(self.record.parts) + 1}: broken chain"
            return False
        self._prior = expected.hex()
        return True

    async def _reject(self, reason: str) -> None:
        self.record.signature_error = self.record.signature_error or reason
        await self.send_raw(
            encode_message(
                [
                    (":message-type", HeaderType.STRING, "error"),
                    (":error-code", HeaderType.STRING, "InvalidSignatureException"),
                    (":error-message", HeaderType.STRING, reason),
                ],
                b"",
            )
        )
        await self.end()
        self._ended = True

    async def send(
        self, data: bytes | str, *, data_type: str | None = None, completion_state: str = "COMPLETE"
    ) -> None:
        """Answer one PayloadPart (str → UTF8); waits for the client's flow-control window."""
        if isinstance(data, str):
            data, kind = data.encode(), data_type or "UTF8"
        else:
            kind = data_type or "BINARY"
        headers: list[tuple[str, HeaderType, object]] = [
            (":message-type", HeaderType.STRING, "event"),
            (":event-type", HeaderType.STRING, "PayloadPart"),
            ("DataType", HeaderType.STRING, kind),
            ("CompletionState", HeaderType.STRING, completion_state),
        ]
        if data:
            headers.append((":content-type", HeaderType.STRING, "application/octet-stream"))
        await self.send_raw(encode_message(headers, data))  # type: ignore[arg-type]

    async def model_stream_error(self, message: str, error_code: str = "1011") -> None:
        """Send a ModelStreamError exception event and end the stream."""
        body = json.dumps({"Message": message, "ErrorCode": error_code}).encode()
        await self.send_raw(
            encode_message(
                [
                    (":message-type", HeaderType.STRING, "exception"),
                    (":exception-type", HeaderType.STRING, "ModelStreamError"),
                    (":content-type", HeaderType.STRING, "application/json"),
                ],
                body,
            )
        )
        await self.end()

    async def reset(self, error_code: int = 2) -> None:
        """RST_STREAM from the server (default INTERNAL_ERROR): the stream breaks."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(h2.exceptions.H2Error):
                self._conn.h2.reset_stream(self._sid, error_code)
            await self._conn.flush()

    async def ping(self) -> None:
        """Send an HTTP/2 PING; ``FakeBidiServer.pings_acked`` counts the client's answers."""
        self._conn.h2.ping(b"fakeping")
        await self._conn.flush()

    async def goaway(self) -> None:
        """Send GOAWAY (no error): this connection takes no new stream."""
        self._conn.h2.close_connection()
        await self._conn.flush()

    async def send_raw(self, wire: bytes) -> None:
        """Send bytes as DATA as they are (to inject truncation, bad CRCs, ...)."""
        if not self.closed:
            await self._conn.send_data(self._sid, wire)

    async def end(self) -> None:
        """End the server's side (END_STREAM): the container closed."""
        if not self.closed:
            self.closed = True
            await self._conn.end_stream(self._sid)

    def _start(self, secret: str, region: str, seed: str) -> None:
        self._secret, self._region, self._prior = secret, region, seed

    def _input_closed(self) -> None:
        self._queue.put_nowait(None)


# -- ready-made handlers ---------------------------------------------------------------------------


async def echo(session: FakeBidiSession) -> None:
    """Answer every part with its own bytes, DataType and CompletionState; end with the input."""
    async for part in session:
        await session.send(
            part.data,
            data_type=part.data_type or "BINARY",
            completion_state=part.completion_state or "COMPLETE",
        )


async def transcriber(session: FakeBidiSession) -> None:
    """A toy speech-to-text model: a UTF8 line per binary (audio) part as it arrives, then a
    final transcript when the input ends; a UTF8 part is acknowledged as a command."""
    total = 0
    chunks = 0
    async for part in session:
        if part.data_type == "UTF8":
            await session.send(f"command: {part.data.decode('utf-8', 'replace')}")
            continue
        total += len(part.data)
        chunks += 1
        await session.send(f"heard chunk {chunks} ({len(part.data)} bytes)")
    await session.send(f"transcript: {chunks} chunks, {total} bytes")


async def fragmented(session: FakeBidiSession) -> None:
    """Answer each part with ``got: <text>`` as a fragmented UTF8 message: 3-byte PARTIAL
    pieces (cutting multi-byte characters) ended by a COMPLETE one."""
    async for part in session:
        text = b"got: " + part.data
        pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
        for piece in pieces[:-1]:
            await session.send(piece, data_type="UTF8", completion_state="PARTIAL")
        await session.send(pieces[-1], data_type="UTF8", completion_state="COMPLETE")


async def stream_error(session: FakeBidiSession) -> None:
    """Echo the first part, then fail with a ModelStreamError (ErrorCode ``1011``)."""
    part = await session.receive()
    if part is not None:
        await session.send(part.data, data_type=part.data_type)
    await session.model_stream_error("Container closed the WebSocket", "1011")


async def closes_first(session: FakeBidiSession) -> None:
    """Echo the first part, then end the answer while the caller may still be sending."""
    part = await session.receive()
    if part is not None:
        await session.send(part.data, data_type=part.data_type)
    await session.end()
    async for _ in session:  # keep taking (and acknowledging) the caller's input
        pass


async def slow_reader(session: FakeBidiSession) -> None:
    """Read one part every 20 ms, answering its size: the caller's sends must wait for window."""
    async for part in session:
        await asyncio.sleep(0.02)
        await session.send(str(len(part.data)))


BIDI_HANDLERS: dict[str, BidiHandler] = {
    "echo": echo,
    "transcriber": transcriber,
    "fragmented": fragmented,
    "stream-error": stream_error,
    "model-error": initial_error(424, "ModelError", "Received client error (400) from primary"),
    "model-error-open": initial_error(424, "ModelError", "the container refused", keep_open=True),
    "closes-first": closes_first,
    "slow-reader": slow_reader,
}
"""The endpoints a ``FakeBidiServer`` serves from the start, by name."""


# -- the server ------------------------------------------------------------------------------------


class _ServerConnection:
    def __init__(
        self, server: FakeBidiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8", validate_inbound_headers=True
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.sessions: dict[int, FakeBidiSession] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.window = asyncio.Event()
        self.lock = asyncio.Lock()

    async def flush(self) -> None:
        async with self.lock:
            data = self.h2.data_to_send()
            if data:
                self.writer.write(data)
                await self.writer.drain()

    def acknowledge(self, sid: int, flow: int) -> None:
        if flow:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.acknowledge_received_data(flow, sid)
            self.writer.write(self.h2.data_to_send())

    async def send_data(self, sid: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                window = self.h2.local_flow_control_window(sid)
            except h2.exceptions.H2Error:
                return  # the client reset the stream
            if window <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            size = min(window, self.h2.max_outbound_frame_size, len(view))
            try:
                self.h2.send_data(sid, bytes(view[:size]))
            except h2.exceptions.H2Error:
                return
            view = view[size:]
            await self.flush()

    async def end_stream(self, sid: int) -> None:
        with contextlib.suppress(h2.exceptions.H2Error):
            self.h2.end_stream(sid)
        await self.flush()

    async def run(self) -> None:
        self.h2.initiate_connection()
        self.h2.update_settings(
            {
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.server.stream_window,
            }
        )
        await self.flush()
        try:
            while True:
                data = await self.reader.read(_READ_SIZE)
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    await self.flush()
                    break
                for event in events:
                    self._dispatch(event)
                await self.flush()
        finally:
            for task in list(self.tasks):
                task.cancel()
            for session in self.sessions.values():
                session._input_closed()

    def _dispatch(self, event: h2.events.Event) -> None:
        session: FakeBidiSession | None
        if isinstance(event, h2.events.RequestReceived):
            sid = event.stream_id or 0
            headers = {str(k): str(v) for k, v in (event.headers or [])}
            path = headers.get(":path", "")
            parts = path.split("?", 1)[0].split("/")
            record = RecordedSession(unquote(parts[2]) if len(parts) == 4 else "", headers)
            self.server.sessions.append(record)
            # Registered now: the caller's DATA may arrive before the handler task runs.
            fresh = self.sessions[sid] = FakeBidiSession(self, sid, record)
            task = asyncio.get_running_loop().create_task(self._serve(fresh, parts))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif isinstance(event, h2.events.DataReceived):
            session = self.sessions.get(event.stream_id or 0)
            flow = event.flow_controlled_length or 0
            if session is None:
                self.acknowledge(event.stream_id or 0, flow)
            else:
                session._feed(event.data or b"", flow)
        elif isinstance(event, h2.events.StreamEnded):
            session = self.sessions.get(event.stream_id or 0)
            if session is not None:
                session._input_closed()
        elif isinstance(event, h2.events.StreamReset):
            session = self.sessions.pop(event.stream_id or 0, None)
            if session is not None:
                session.record.reset_by_client = True
                session.closed = True
                session._input_closed()
        if isinstance(event, h2.events.PingAckReceived):
            self.server.pings_acked += 1
        if isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self.window.set()

    async def _respond(
        self, sid: int, status: int, body: bytes, *, end: bool, extra: list[tuple[str, str]]
    ) -> None:
        headers = [(":status", str(status)), *extra]
        self.h2.send_headers(sid, headers, end_stream=end and not body)
        await self.flush()
        if body:
            await self.send_data(sid, body)
            if end:
                await self.end_stream(sid)

    async def _serve(self, session: FakeBidiSession, parts: list[str]) -> None:
        server = self.server
        server.streams_opened += 1
        sid, record = session._sid, session.record
        headers, name = record.headers, record.endpoint_name
        request_id = f"fake-{server.streams_opened}"
        base = [("x-amzn-requestid", request_id)]

        async def error(status: int, code: str, message: str, *, end: bool = True) -> None:
            body = json.dumps({"message": message, "ErrorCode": code}).encode()
            await self._respond(
                sid,
                status,
                body,
                end=end,
                extra=[*base, ("x-amzn-errortype", code), ("content-type", "application/json")],
            )

        try:
            failure = self._check(headers, parts)
            if failure is not None:
                await error(*failure)
                return
            entry = server.handlers.get(name)
            if entry is None:
                await error(400, "InputValidationError", f"Endpoint {name} not found.")
                return
            if isinstance(entry, _InitialError):
                message = json.dumps(
                    {
                        "Message": entry.message,
                        "ErrorCode": entry.code,
                        "OriginalStatusCode": 400,
                        "OriginalMessage": "refused",
                        "LogStreamArn": "arn:aws:logs:fake",
                    }
                ).encode()
                await self._respond(
                    sid,
                    entry.status,
                    message,
                    end=not entry.keep_open,
                    extra=[*base, ("x-amzn-errortype", entry.code)],
                )
                if entry.keep_open:
                    await asyncio.sleep(3600)  # until the client resets the stream
                return
            auth = parse_authorization(headers)
            assert auth is not None or not server.verify_signatures
            session._start(
                server.credentials.secret_access_key,
                server.region,
                auth.signature if auth is not None else "",
            )
            if server._refusals:
                await self._refuse(session, *server._refusals.pop(0))
                return
            variant = headers.get("x-amzn-sagemaker-target-variant", "AllTraffic")
            await self._respond(
                sid,
                200,
                b"",
                end=False,
                extra=[
                    *base,
                    ("content-type", "application/vnd.amazon.eventstream"),
                    ("x-amzn-invoked-production-variant", variant),
                ],
            )
            await entry(session)
            record.finished = True  # before END_STREAM: a client seeing the end sees this
            await session.end()
        except (ConnectionError, h2.exceptions.H2Error):
            pass
        finally:
            self.sessions.pop(sid, None)

    async def _refuse(self, session: FakeBidiSession, how: str, after_parts: int) -> None:
        """Take ``after_parts`` parts, then refuse the stream without answering (no HEADERS)."""
        for _ in range(after_parts):
            if await session.receive() is None:
                break
        session.record.refused = how
        session.closed = True
        sid = session._sid
        if how == "goaway":  # the last stream processed is below this one: never processed
            self.h2.close_connection(last_stream_id=max(sid - 2, 0))
        else:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
        await self.flush()

    def _check(self, headers: dict[str, str], parts: list[str]) -> tuple[int, str, str] | None:
        """The initial request's shape and SigV4 signature (spec §3–§4); an error or None."""
        server = self.server
        if headers.get(":method") != "POST" or len(parts) != 4 or parts[3] != _SUFFIX:
            return 404, "UnknownOperationException", "not InvokeEndpointWithBidirectionalStream"
        if headers.get("content-type") != "application/vnd.amazon.eventstream":
            return 400, "InputValidationError", "content-type must be the event-stream type"
        if "content-length" in headers:
            return 400, "InputValidationError", "a bidirectional stream has no content-length"
        if not server.verify_signatures:
            return None
        auth = parse_authorization(headers)
        if auth is None:
            return 403, "MissingAuthenticationToken", "no SigV4 Authorization"
        if headers.get("x-amz-content-sha256") != _STREAMING:
            return 400, "InvalidSignatureException", f"x-amz-content-sha256 must be {_STREAMING}"
        _, access_key, _, region, service, _ = auth.scope
        creds = server.credentials
        if access_key != creds.access_key_id:
            return 403, "UnrecognizedClientException", "The security token is invalid."
        if region != server.region or service != "sagemaker":
            return 403, "InvalidSignatureException", "wrong credential scope"
        signed = [
            ("host" if name == "host" else name, headers[":authority" if name == "host" else name])
            for name in auth.signed_names
            if name == "host" or name in headers
        ]
        expected = build_header_signature(
            method="POST",
            path=headers[":path"],
            headers=signed,
            payload_hash=_STREAMING,
            access_key=access_key,
            secret_key=creds.secret_access_key,
            session_token=None,
            region=region,
            service="sagemaker",
            now=auth.when,
        ).signature
        if not hmac.compare_digest(expected, auth.signature):
            return 403, "InvalidSignatureException", "The request signature does not match."
        return None


class FakeBidiServer:
    """Serve fake bidirectional endpoints over HTTP/2 on 127.0.0.1 (a context manager).

    Args:
        tls: serve TLS (ALPN ``h2``) with a certificate from a fresh ``trustme`` CA; clients
            get a context trusting it from ``client_ssl_context()``.
        alpn: the protocols the TLS server accepts (``["http/1.1"]`` makes a server that
            refuses HTTP/2).
        credentials / region: what signatures are checked against.
        verify_signatures: check the initial signature and every event's chained one.
        stream_window: the receive window the server advertises per stream (64 KiB: a
            handler that reads slowly holds the client back soon).
        max_concurrent_streams: SETTINGS_MAX_CONCURRENT_STREAMS.
        host / port: where to listen (port 0: any free one).
    """

    def __init__(
        self,
        *,
        tls: bool = False,
        alpn: list[str] | None = None,
        credentials: Credentials = TEST_CREDENTIALS,
        region: str = "us-east-1",
        verify_signatures: bool = True,
        stream_window: int = 65535,
        max_concurrent_streams: int = 100,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.tls = tls
        self.alpn = alpn or ["h2"]
        self.credentials = credentials
        self.region = region
        self.verify_signatures = verify_signatures
        self.stream_window = stream_window
        self.max_concurrent_streams = max_concurrent_streams
        self.handlers: dict[str, BidiHandler] = dict(BIDI_HANDLERS)
        self.sessions: list[RecordedSession] = []
        self.open_connections = 0
        self.total_connections = 0
        self.streams_opened = 0
        self.pings_acked = 0
        """PINGs (``FakeBidiSession.ping``) the clients answered."""
        self.host = host
        self.port = port
        self._ca: Any = None
        self._ca_pem: bytes | None = None
        self._server_ssl: ssl.SSLContext | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusals: list[tuple[str, int]] = []
        if tls:
            import trustme

            self._ca = trustme.CA()
            cert = self._ca.issue_cert("localhost", "127.0.0.1")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            context.set_alpn_protocols(self.alpn)
            self._server_ssl = context
            self._ca_pem = self._ca.cert_pem.bytes()

    def add_endpoint(self, name: str, handler: BidiHandler) -> None:
        """Serve ``handler`` as the endpoint ``name``."""
        self.handlers[name] = handler

    def refuse_next(self, how: str = "reset", *, after_parts: int = 1) -> None:
        """Refuse the next stream (each call, one more) as a server that did not process it:
        after ``after_parts`` parts arrived, before any response HEADERS, RST_STREAM
        (REFUSED_STREAM) with ``how="reset"``, or with ``how="goaway"`` a GOAWAY whose last
        stream id is below it (the connection then takes no new stream)."""
        if how not in ("reset", "goaway"):
            raise ValueError("how must be 'reset' or 'goaway'")
        self._refusals.append((how, after_parts))

    @property
    def url(self) -> str:
        """The endpoint URL to pass as ``endpoint_url``."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting this server's CA, offering ALPN ``h2``."""
        context = ssl.create_default_context()
        if self._ca_pem is not None:
            context.load_verify_locations(cadata=self._ca_pem.decode())
        context.set_alpn_protocols(["h2"])
        return context

    def write_ca(self, path: str | Path) -> Path:
        """Write the CA certificate (PEM) to ``path``, for other processes (curl, the CLI)."""
        if self._ca_pem is None:
            raise RuntimeError("this server does not use TLS")
        target = Path(path)
        target.write_bytes(self._ca_pem)
        return target

    # -- lifecycle (as LoopbackServer)

    def start(self) -> FakeBidiServer:
        """Start serving; returns once the socket is bound."""
        self._thread = threading.Thread(target=self._run, name="fake-bidi", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("the fake bidirectional server did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the fake bidirectional server failed: {self._error}")
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(_START_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> FakeBidiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeBidiServer:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.stop)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(
            self._connection, self.host, self.port, ssl=self._server_ssl
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for writer in list(self._writers):
                writer.close()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=_START_TIMEOUT_S)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self.total_connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        conn = _ServerConnection(self, reader, writer)
        try:
            await conn.run()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
                await writer.wait_closed()
