"""What every part of the test kit shares: the response a fake gives, the request it records,
the credentials it accepts, SigV4 header parsing, and the protocol its front doors need.

The fakes (``_fake``, ``_s3``) and their front doors (``_transport``, ``_server``) all build on
this module and on nothing of each other's but what their methods construct.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from .._models import Credentials

if TYPE_CHECKING:
    from typing_extensions import TypeVar
else:
    from typing import TypeVar

__all__ = [
    "RESET",
    "TEST_CREDENTIALS",
    "FakeResponse",
    "FakeService",
    "FakeT",
    "ParsedAuthorization",
    "RecordedRequest",
    "parse_authorization",
]

TEST_CREDENTIALS = Credentials("AKIDFAKEEXAMPLE00001", "fake/secret/key/for/tests/only/0000000001")
"""The credentials the fake accepts by default (and ``fake.client()`` signs with)."""


def _redact(name: str, value: str) -> str:
    lower = name.lower()
    if lower == "x-amz-security-token":
        return "<hidden>"
    if lower == "authorization" and value.startswith("Bearer "):
        return "Bearer sagemaker-api-key-***"
    if lower == "authorization" and "Signature=" in value:
        return value.split("Signature=", 1)[0] + "Signature=<hidden>"
    return value


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """A request exactly as the fake received it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def __repr__(self) -> str:
        shown = [(k, _redact(k, v)) for k, v in self.headers]
        return f"RecordedRequest({self.method} {self.path}, headers={shown}, body={self.body!r})"

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def json(self) -> Any:
        """The body parsed as JSON (as ``Invocation.json()``)."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")


RESET = object()
"""In a FakeResponse body stream: reset the connection here."""


@dataclass
class FakeResponse:
    """An HTTP response from the fake: a status, headers and a body (bytes or an async stream)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | AsyncIterator[bytes | object] = b""
    """Bytes, or an async iterator of wire chunks (the ``RESET`` sentinel resets the socket)."""


class FakeService(Protocol):
    """What the front doors (transport, loopback server) need from a fake: ``handle``."""

    async def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> FakeResponse:
        """Answer one request; ``target`` is the raw request target (path and query)."""
        ...


FakeT = TypeVar("FakeT", bound=FakeService)
"""The fake behind a front door (``FakeSageMakerRuntime``, ``FakeS3``)."""


@dataclass(frozen=True)
class ParsedAuthorization:
    """The fields of a SigV4 ``Authorization`` header (what the fakes verify)."""

    scope: tuple[str, str, str, str, str, str]
    """algorithm, access key, date, region, service, terminal."""
    signed_names: list[str]
    signature: str = field(repr=False)
    amz_date: str
    when: datetime


def parse_authorization(lower: Mapping[str, str]) -> ParsedAuthorization | None:
    """Split a SigV4 Authorization header (header names lower-cased); None when malformed."""
    try:
        algorithm, rest = lower["authorization"].split(" ", 1)
        fields = dict(part.strip().split("=", 1) for part in rest.split(","))
        access_key, date, region, service, terminal = fields["Credential"].split("/")
        amz_date = lower["x-amz-date"]
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        return ParsedAuthorization(
            (algorithm, access_key, date, region, service, terminal),
            fields["SignedHeaders"].split(";"),
            fields["Signature"],
            amz_date,
            when,
        )
    except (ValueError, KeyError):
        return None
