"""Frozen value types the client takes and returns: credentials, timeouts, results."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

from ._errors import ParamValidationError

if TYPE_CHECKING:
    from ._retry import Retry

__all__ = [
    "BidiPayloadPart",
    "ChatCompletionResult",
    "Credentials",
    "InvokeEndpointResult",
    "InvokeOptions",
    "NewSession",
    "ProxiesConfig",
    "SessionInvokeOptions",
    "SessionStreamOptions",
    "Timeout",
]


class SessionStreamOptions(TypedDict, total=False):
    """The keyword options of ``invoke_endpoint_with_response_stream`` besides the body and
    the session id: what ``**options`` may name on the methods that forward them, so a
    misspelled option is a type error (``Unpack[...]``), as it is on the operations."""

    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    target_variant: str | None
    target_container_hostname: str | None
    inference_id: str | None
    inference_component_name: str | None
    prefix_aware_id: str | None
    timeout: Timeout | float | None
    retry: Retry | int | bool | None


class SessionInvokeOptions(SessionStreamOptions, total=False):
    """The keyword options of ``invoke_endpoint`` besides the body and the session id."""

    target_model: str | None
    enable_explanations: str | None


class InvokeOptions(SessionInvokeOptions, total=False):
    """Every keyword option of ``invoke_endpoint`` besides the body."""

    session_id: str | None


class ProxiesConfig(TypedDict, total=False):
    """The client's ``proxies_config=``: botocore's ``Config(proxies_config=...)`` keys.

    ``proxy_ca_bundle``: the CA bundle (a PEM file) that verifies an ``https://`` proxy's own
    certificate, instead of the endpoint's CAs. ``proxy_client_cert``: the certificate (a PEM
    path, or a ``(cert, key)`` pair of paths) presented to an ``https://`` proxy.
    ``proxy_use_forwarding_for_https``: botocore's forwarding of HTTPS requests as absolute
    URIs through an ``https://`` proxy; only False is supported (every HTTPS request is
    tunnelled with CONNECT, end-to-end TLS).
    """

    proxy_ca_bundle: str
    proxy_client_cert: str | tuple[str, str]
    proxy_use_forwarding_for_https: bool


def _mask(value: str) -> str:
    return value[:4] + "…" + value[-4:] if len(value) > 12 else "…"


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """AWS credentials. The secret key and the session token never appear in repr or str."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expiry: datetime | None = None
    """When temporary credentials stop working (aware UTC); None for long-term keys."""

    def __repr__(self) -> str:
        token = ", session_token=<hidden>" if self.session_token else ""
        expiry = f", expiry={self.expiry.isoformat()}" if self.expiry else ""
        return (
            f"Credentials(access_key_id={_mask(self.access_key_id)!r}, "
            f"secret_access_key=<hidden>{token}{expiry})"
        )

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Timeout:
    """Per-call deadlines in seconds (None = no limit).

    - ``connect``: opening a connection; ``pool``: waiting for a free one; ``write``: sending.
    - ``read``: the longest wait for the next bytes from the server. For InvokeEndpoint that is
      the time the model may think: SageMaker lets a model take 60 s and AWS recommends a 70 s
      socket timeout (spec §7). On a response stream it bounds the gap between parts.
    - ``first_byte``: the wait for the response headers, when it should differ from ``read``
      (e.g. a slow first token but fast ones after it).
    - ``total``: the whole call, or the whole stream from sending to its last part.

    A passed deadline raises ``RequestTimeout`` whose ``timeout`` names it: ``connect``,
    ``pool``, ``write``, ``first_byte`` (no headers in time), ``idle`` (a gap after the
    headers), or ``total``.
    """

    connect: float | None = 10.0
    read: float | None = 70.0
    write: float | None = 30.0
    pool: float | None = 30.0
    first_byte: float | None = None
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool", "first_byte", "total"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise ParamValidationError(
                    "timeout", f"{name} must be a positive number of seconds or None"
                )

    @property
    def header_wait(self) -> float | None:
        """The deadline for the response headers (``first_byte``, else ``read``)."""
        return self.read if self.first_byte is None else self.first_byte

    @classmethod
    def of(cls, value: Timeout | float | None) -> Timeout:
        """A Timeout from a Timeout, one number for connect/read/write/pool, or None (no limits)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(None, None, None, None)
        return cls(value, value, value, value)


_NEW_SESSION_RE = re.compile(
    r"^(?P<id>[a-zA-Z0-9](?:-*[a-zA-Z0-9])*);\s*Expires=(?P<exp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$"
)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A stateful session the container opened: its id and when it expires (UTC)."""

    session_id: str
    expires: datetime | None

    @classmethod
    def parse(cls, header: str) -> NewSession:
        """Parse ``<id>; Expires=YYYY-MM-DDTHH:MM:SSZ``; keep the id if the expiry is odd."""
        match = _NEW_SESSION_RE.match(header.strip())
        if match is None:
            return cls(header.split(";", 1)[0].strip(), None)
        expires = datetime.strptime(match["exp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return cls(match["id"], expires)


@dataclass(frozen=True, slots=True)
class InvokeEndpointResult:
    """The answer of InvokeEndpoint: the model's bytes and the response members."""

    body: bytes = field(repr=False)
    content_type: str | None
    invoked_production_variant: str | None = None
    custom_attributes: str | None = None
    new_session_id: str | None = None
    """The raw ``X-Amzn-SageMaker-New-Session-Id`` value (``<id>; Expires=...``)."""
    closed_session_id: str | None = None
    request_id: str | None = None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def new_session(self) -> NewSession | None:
        """The parsed new session (id and expiry), when the call opened one."""
        return NewSession.parse(self.new_session_id) if self.new_session_id else None

    def __repr__(self) -> str:
        return (
            f"InvokeEndpointResult(body=<{len(self.body)} bytes>, "
            f"content_type={self.content_type!r}, "
            f"invoked_production_variant={self.invoked_production_variant!r}, "
            f"request_id={self.request_id!r})"
        )


@dataclass(frozen=True, slots=True)
class ChatCompletionResult:
    """The answer of ``chat_completions``: the container's Chat Completions JSON, as sent.

    ``json()`` parses it (``choices[0]["message"]["content"]``, ``usage``, ...); ``headers``
    match names case-insensitively; ``request_id`` is ``x-amzn-RequestId`` when SageMaker sent one.
    """

    body: bytes = field(repr=False)
    status_code: int
    headers: Mapping[str, str] = field(repr=False)
    content_type: str | None = None
    request_id: str | None = None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class BidiPayloadPart:
    """One PayloadPart of a bidirectional stream: one WebSocket frame of the model's answer.

    ``data_type`` is ``"UTF8"`` (a text frame) or ``"BINARY"``; ``completion_state`` is
    ``"PARTIAL"`` for a frame of a fragmented message whose end is still to come, else
    ``"COMPLETE"`` (absent headers read as BINARY / COMPLETE).
    """

    data: bytes = field(repr=False)
    data_type: str = "BINARY"
    completion_state: str = "COMPLETE"

    @property
    def text(self) -> str:
        """``data`` decoded as UTF-8, invalid bytes replaced (a PARTIAL part may end
        mid-character: ``messages()`` joins those)."""
        return self.data.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return (
            f"BidiPayloadPart(<{len(self.data)} bytes>, data_type={self.data_type!r}, "
            f"completion_state={self.completion_state!r})"
        )
