"""One signed attempt, for every request the package makes (STYLE.md §1).

credentials → SigV4 (SageMaker or S3 mode) → the engine → status and head → a typed error, or a
``Response`` whose body is read through one capped reader, every read under a deadline. The
OpenAI-compatible route authenticates with a bearer token instead of SigV4 (``send(bearer=...)``,
the token fetched per attempt); everything else about the attempt is the same.
The client's attempt loop and the S3 client both send through ``Exchange.send``; nothing else
signs or sends. What does not change between the attempts of a call (URL, the headers to sign,
the payload hash) is a ``Prepared`` value made once per call.

The phases of a deadline (``Timeout``), the same on every engine:

- ``pool``: waiting for a free connection: the client's own limit (a gate in front of every
  engine: httpx's pool deadline is not reliable, upstream encode/httpcore#822), then a lent
  client's pool, if it has one;
- ``connect``: opening a new connection (DNS, TCP, TLS);
- ``first_byte`` (else ``read``): from when the request starts going out on a connection
  until the response head is complete: sending the body and a head trickled byte by byte
  count too;
- ``read``: each gap between body bytes; a slow reader is never blamed on the server;
- ``total``: the whole call, bounded by the client's attempt loop and by response streams.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

import anyio

from ._engines.base import gap_limit
from ._errors import (
    RequestTimeout,
    ResponseHeaders,
    ResponseTooLarge,
    SageMakerRuntimeError,
    TransportError,
)
from ._sigv4 import sha256_hex, sign_headers
from ._version import __version__

if TYPE_CHECKING:
    from ._credentials import CredentialResolver
    from ._engines import Engine, EngineResponse
    from ._hooks import CallTrace
    from ._models import Timeout

__all__ = [
    "MAX_ERROR_BODY",
    "BearerSource",
    "Exchange",
    "Prepared",
    "Response",
    "deadline_error",
    "prepare",
    "unsigned_headers",
    "user_agent",
]

logger = logging.getLogger("sagemaker_rt_async")


def _log_attempt(
    where: str,
    host: str,
    attempt: str,
    status: int | None,
    request_id: str | None,
    started: float,
    error: BaseException | None,
) -> None:
    """The one DEBUG line of an attempt: operation and path (the endpoint name), host,
    attempt, status, request id and the time to the response head. Nothing signed or secret:
    no header value, no credential, no body."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    if error is None:
        logger.debug(
            "%s host=%s %s status=%s request_id=%s head_ms=%.1f",
            where, host, attempt, status, request_id, elapsed_ms,
        )  # fmt: skip
    else:
        logger.debug(
            "%s host=%s %s status=none error=%s after_ms=%.1f",
            where, host, attempt, type(error).__name__, elapsed_ms,
        )  # fmt: skip


# Error bodies are small documents (a Message is at most 2048 characters); a larger one is cut
# so a misbehaving proxy cannot make us buffer without bound.
MAX_ERROR_BODY = 64 * 1024
# Closing must finish even when the surrounding scope is being cancelled, and not hang.
_CLOSE_TIMEOUT_S = 5.0

ErrorFactory = Callable[[int, Mapping[str, str], bytes], SageMakerRuntimeError]
"""Builds the typed error of an error response from its status, headers and (capped) body."""

BearerSource = Callable[[], Awaitable[str]]
"""Returns the bearer token for an attempt (``sagemaker-api-key-…``; cached by its owner)."""


@functools.cache
def user_agent() -> str:
    """Our ``User-Agent``, shaped as boto3 shapes its own (built once)."""
    import platform

    return f"sagemaker-rt-async/{__version__} python/{platform.python_version()}"


def unsigned_headers(
    invocation_id: str | None = None, attempt: str = "attempt=1; max=1"
) -> list[tuple[str, str]]:
    """The headers sent after signing, as boto3 sends them.

    ``invocation_id`` stays the same across the attempts of one call; ``attempt`` is the
    ``amz-sdk-request`` value (``attempt=N; max=M``).
    """
    return [
        ("User-Agent", user_agent()),
        ("Accept-Encoding", "identity"),  # raw bytes: an event stream must not be decoded
        ("amz-sdk-invocation-id", invocation_id or str(uuid.uuid4())),
        ("amz-sdk-request", attempt),
    ]


class Prepared(NamedTuple):
    """What stays the same across the attempts of one call: made once, signed per attempt.

    (A named tuple: built once per call on the hot path, where a frozen dataclass costs
    several times more to construct.)
    """

    method: str
    url: str
    """The URL as sent: encoded once, never re-quoted by an engine."""
    host: str
    path: str
    """The path exactly as in ``url`` and as signed."""
    members: tuple[tuple[str, str], ...]
    """Headers sent and signed besides ``host``."""
    body: bytes
    payload_hash: str
    region: str
    service: str
    """``"sagemaker"``, or ``"s3"`` (S3 signing: path as sent, x-amz-content-sha256)."""
    where: str
    """What errors and logs call this request (no secret: an operation and a path)."""
    content_length: bool
    """Send ``Content-Length`` (always for POST and PUT, even when 0: S3 wants it)."""


def prepare(
    *,
    method: str,
    url: str,
    host: str,
    path: str,
    members: Sequence[tuple[str, str]],
    body: bytes,
    region: str,
    service: str,
    where: str,
) -> Prepared:
    """The per-call value of a request (its payload hashed once, whatever the attempts)."""
    s3 = service == "s3"
    payload_hash = sha256_hex(body)
    return Prepared(
        method,
        url,
        host,
        path,
        tuple(members),
        body,
        payload_hash,
        region,
        service,
        where,
        method in ("POST", "PUT") or (bool(body) and not s3),
    )


def deadline_error(where: str, timeout: str, seconds: float) -> RequestTimeout:
    """The error for one of our own deadlines (``idle`` or ``total``) passing."""
    what = "the call" if timeout == "total" else "the next bytes"
    return RequestTimeout(f"{where}: {what} took longer than {seconds:g} s", timeout=timeout)


def _locate(exc: TransportError, where: str) -> TransportError:
    """Name the request in an engine's message (engines do not know what they send)."""
    text = str(exc)
    if not text.startswith(where):
        exc.args = (f"{where}: {text}",)
    return exc


class _Phases:
    """The deadline of a send in progress, moved on as the engine reports each phase."""

    __slots__ = ("name", "scope", "seconds", "timeout")

    def __init__(self, scope: anyio.CancelScope, timeout: Timeout) -> None:
        self.scope = scope
        self.timeout = timeout
        self.name: str | None = None
        self.seconds: float | None = None

    def __call__(self, name: str | None) -> None:
        if name == self.name:
            return
        self.name = name
        timeout = self.timeout
        if name == "request":
            limit = timeout.header_wait
        elif name == "connect":
            limit = timeout.connect
        elif name == "pool":
            limit = timeout.pool
        else:
            limit = None
        self.seconds = limit
        self.scope.deadline = math.inf if limit is None else anyio.current_time() + limit

    def error(self, where: str) -> RequestTimeout:
        seconds = self.seconds or 0.0
        if self.name == "pool":
            return RequestTimeout(
                f"{where}: no free connection within {seconds:g} s (all max_connections busy)",
                timeout="pool",
                request_sent=False,
            )
        if self.name == "connect":
            return RequestTimeout(
                f"{where}: connecting took longer than {seconds:g} s",
                timeout="connect",
                request_sent=False,
            )
        return RequestTimeout(
            f"{where}: no complete response head within {seconds:g} s", timeout="first_byte"
        )


class Response:
    """A response whose head arrived: status, headers and the body, read under deadlines.

    ``aclose`` (shielded, idempotent) gives the connection back, or closes it when the body was
    not read to its end; ``abort`` does the same synchronously, for a response abandoned
    without being closed.
    """

    __slots__ = ("_closed", "_gate", "_idle", "_raw", "content", "headers", "status", "where")

    def __init__(
        self, raw: EngineResponse, *, where: str, idle: float | None, gate: anyio.Semaphore
    ) -> None:
        self.status = raw.status
        self.headers: ResponseHeaders = raw.headers
        self.where = where
        self.content = b""
        """The body, once ``read_all`` read it."""
        self._raw = raw
        self._idle = idle
        self._gate: anyio.Semaphore | None = gate
        self._closed = False

    @property
    def request_id(self) -> str | None:
        """``x-amzn-RequestId`` (SageMaker) or ``x-amz-request-id`` (S3)."""
        h = self.headers
        return h.get("x-amzn-RequestId") or h.get("x-amz-request-id")

    async def read_chunk(self, deadline: float | None = None, total: float = 0.0) -> bytes:
        """The next body bytes (``b""`` at its clean end) within the gap bound ``read``, and
        before ``deadline`` (an absolute ``anyio.current_time()``; the whole stream's, which
        is ``total`` seconds long: for the message)."""
        idle = self._idle
        which = "idle"
        limit = idle
        if deadline is not None:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                # Checked here, not left to the cancel scope: a read that finds bytes already
                # buffered never suspends, so a server that never lets the client wait (a
                # flood) would otherwise stream past the deadline for ever.
                raise deadline_error(self.where, "total", total)
            if idle is None or remaining <= idle:
                limit, which = remaining, "total"
        try:
            if limit is None:
                return await self._raw.read_chunk()
            with anyio.move_on_after(limit):
                return await self._raw.read_chunk()
        except TransportError as exc:
            raise _locate(exc, self.where)  # noqa: B904 - the engine's error, its cause kept
        raise deadline_error(self.where, which, total if which == "total" else limit)

    async def read_all(self, limit: int | None, *, cut: bool = False) -> bytes:
        """The whole body (then the response is closed), at most ``limit`` bytes.

        A larger body raises ``ResponseTooLarge`` (refused from ``Content-Length`` before
        reading, or as soon as more arrived), unless ``cut``: then it is cut at ``limit``.
        """
        try:
            if limit is not None and not cut:
                declared = self.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise self._too_large(limit, int(declared))
            chunks: list[bytes] = []
            size = 0
            buffered = getattr(self._raw, "read_buffered", None)
            while True:
                # What already arrived needs no deadline (nor the cost of arming one): a small
                # answer is usually whole in the head's read.
                chunk = buffered() if buffered is not None else None
                if chunk is None:
                    chunk = await self.read_chunk()
                if not chunk:
                    break
                size += len(chunk)
                if limit is not None and size > limit:
                    if not cut:
                        raise self._too_large(limit, None)
                    chunks.append(chunk[: len(chunk) - (size - limit)])
                    break
                chunks.append(chunk)
        finally:
            await self.aclose()
        self.content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.content

    def _too_large(self, limit: int, declared: int | None) -> ResponseTooLarge:
        size = f"{declared:,} bytes" if declared is not None else f"more than {limit:,} bytes"
        return ResponseTooLarge(
            f"{self.where}: the response body is {size}, over the limit of {limit:,} bytes "
            "(raise max_response_bytes to accept it)",
            limit=limit,
            content_length=declared,
            request_id=self.request_id,
        )

    async def aclose(self) -> None:
        """Release the connection, whatever is going on around us (shielded, bounded)."""
        if self._closed:
            return
        self._closed = True
        try:
            raw = self._raw
            if getattr(raw, "shields_close", False):
                await raw.aclose()  # the engine shields its close itself, where it must
            else:
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
                    await raw.aclose()
        finally:
            self._release()

    def abort(self) -> None:
        """Close now, synchronously: for a response its owner dropped without closing it."""
        if self._closed:
            return
        self._closed = True
        try:
            abort = getattr(self._raw, "abort", None)
            if abort is not None:
                abort()
        finally:
            self._release()

    def _release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.release()


class Exchange:
    """Sends prepared requests: signs each attempt, bounds each phase, types each failure.

    Args:
        credentials: the resolver every attempt is signed with (fresh credentials per attempt).
        engine: an async callable returning the engine (built once, lazily, by the client).
        max_connections: how many responses may be open at once (the pool gate).
    """

    def __init__(
        self,
        *,
        credentials: CredentialResolver,
        engine: Callable[[], Awaitable[Engine]],
        max_connections: int,
    ) -> None:
        self._credentials = credentials
        self._engine = engine
        self._max_connections = max_connections
        self._gate: anyio.Semaphore | None = None

    async def _wait_for_slot(self, gate: anyio.Semaphore, pool: float | None, where: str) -> None:
        if pool is None:
            await gate.acquire()
            return
        with anyio.move_on_after(pool) as waited:
            await gate.acquire()
        if waited.cancelled_caught:
            raise RequestTimeout(
                f"{where}: no free connection within {pool:g} s "
                f"(all {self._max_connections} max_connections busy)",
                timeout="pool",
                request_sent=False,
            )

    def _signed_headers(
        self, prepared: Prepared, access_key: str, secret_key: str, token: str | None
    ) -> list[tuple[str, str]]:
        s3 = prepared.service == "s3"
        return sign_headers(
            method=prepared.method,
            path=prepared.path,
            headers=[("host", prepared.host), *prepared.members],
            payload_hash=prepared.payload_hash,
            access_key=access_key,
            secret_key=secret_key,
            session_token=token,
            region=prepared.region,
            service=prepared.service,
            now=datetime.now(timezone.utc),
            normalize_path=not s3,
            encode_path=not s3,
            add_content_sha256=s3,
        )

    async def send(
        self,
        prepared: Prepared,
        timeout: Timeout,
        *,
        errors: ErrorFactory,
        invocation_id: str | None = None,
        attempt: str = "attempt=1; max=1",
        trace: CallTrace | None = None,
        bearer: BearerSource | None = None,
    ) -> Response:
        """One signed attempt. A 2xx/1xx answer returns its ``Response`` (body not read yet);
        an error status raises ``errors(status, headers, body)`` with the body read (capped).

        With ``bearer``, the attempt carries ``Authorization: Bearer <token>`` (the token taken
        from ``bearer()`` now, so a retry gets a fresh one) instead of a SigV4 signature.
        """
        started = time.perf_counter()
        engine = await self._engine()
        if bearer is not None:
            auth = [("Authorization", f"Bearer {await bearer()}")]
        else:
            creds = await self._credentials.get()
            # Exactly what boto3 signs: host, the modeled headers, x-amz-date and the token.
            # Content-Length, User-Agent, Accept-Encoding and the telemetry headers stay unsigned.
            auth = self._signed_headers(
                prepared, creds.access_key_id, creds.secret_access_key, creds.session_token
            )
        headers = [
            ("Host", prepared.host),
            *prepared.members,
            *auth,
            *unsigned_headers(invocation_id, attempt),
        ]
        if prepared.content_length:
            headers.append(("Content-Length", str(len(prepared.body))))
        where = prepared.where
        gate = self._gate
        if gate is None:
            gate = self._gate = anyio.Semaphore(self._max_connections, fast_acquire=True)
        try:
            gate.acquire_nowait()  # the common case: a free slot, no deadline to arm
        except anyio.WouldBlock:
            await self._wait_for_slot(gate, timeout.pool, where)
        try:
            if trace is not None:
                trace.sent(prepared.url, prepared.region, len(prepared.body))
            with anyio.CancelScope() as scope:
                phases = _Phases(scope, timeout)
                # An engine with no pool of its own to wait in (our gate admitted the call)
                # starts in its connect phase: one timer fewer to arm.
                # An engine with no pool of its own to wait in (our gate admitted the call)
                # says where it starts: the aiohttp engine arms nothing until the request
                # goes out (aiohttp bounds its connect itself).
                phases(getattr(engine, "first_phase", "pool"))
                raw = await engine.send(
                    prepared.method, prepared.url, headers, prepared.body, timeout, phases
                )
            if scope.cancelled_caught:
                raise phases.error(where)
        except BaseException as exc:
            gate.release()
            if isinstance(exc, TransportError):
                _locate(exc, where)
            if isinstance(exc, Exception):
                _log_attempt(where, prepared.host, attempt, None, None, started, exc)
            raise
        # The gap between body bytes: bounded by the engine itself when it can (no timer of
        # ours per read), by us when it cannot or when ``read`` is shorter than the head's wait.
        idle = timeout.read
        if getattr(raw, "bounds_gaps", False) and gap_limit(timeout) == idle:
            idle = None
        response = Response(raw, where=where, idle=idle, gate=gate)
        status = response.status
        if trace is not None:
            h = response.headers
            trace.headers(
                status, h.get("x-amzn-RequestId"), h.get("x-Amzn-Invoked-Production-Variant")
            )
        _log_attempt(where, prepared.host, attempt, status, response.request_id, started, None)
        if status >= 300:
            body = await response.read_all(MAX_ERROR_BODY, cut=True)
            raise errors(status, response.headers, body)
        return response
