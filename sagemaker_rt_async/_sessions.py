"""Stateful sessions: open one, route later calls to it, know when it expires or is closed.

A request with ``SessionId: NEW_SESSION`` asks the container to open a session; the container
answers with ``NewSessionId: <id>; Expires=<UTC time>`` and later requests carrying that id are
pinned to the same instance. How a session is closed is up to the container; when a response
reports ``ClosedSessionId`` for our id, the session is over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import SageMakerRuntimeError, SessionClosedError
from ._models import InvokeEndpointResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._models import SessionInvokeOptions, SessionStreamOptions
    from ._streaming import ResponseStream

__all__ = ["Session", "SessionClient", "SessionClosedError"]


class SessionClient(Protocol):
    """What a session needs of a client: its two real-time operations."""

    @property
    def invoke_endpoint(self) -> Callable[..., Awaitable[InvokeEndpointResult]]:
        """``SageMakerRuntimeClient.invoke_endpoint``."""
        ...

    @property
    def invoke_endpoint_with_response_stream(self) -> Callable[..., ResponseStream]:
        """``SageMakerRuntimeClient.invoke_endpoint_with_response_stream``."""
        ...


class Session:
    """A stateful session on one endpoint; ``invoke`` and ``stream`` send its id."""

    def __init__(
        self,
        client: SessionClient,
        endpoint_name: str,
        session_id: str,
        expires: datetime | None,
        opened_by: InvokeEndpointResult,
    ) -> None:
        self.client = client
        self.endpoint_name = endpoint_name
        self.session_id = session_id
        """The id the container gave the session."""
        self.expires = expires
        """When the session expires (UTC), as the container announced it; None if it did not."""
        self.opened_by = opened_by
        """The response that opened the session (the first call's answer)."""
        self.closed = False
        """True once a response reported this session closed."""

    def __repr__(self) -> str:
        state = "closed" if self.closed else "expired" if self.expired else "open"
        return f"<Session {self.session_id} on {self.endpoint_name} {state}>"

    @property
    def expired(self) -> bool:
        """True once the announced expiry has passed."""
        return self.expires is not None and datetime.now(timezone.utc) >= self.expires

    def _check(self) -> None:
        if self.closed:
            raise SessionClosedError(f"session {self.session_id} was closed")
        if self.expired:
            raise SessionClosedError(f"session {self.session_id} expired at {self.expires}")

    def _observe(self, result: InvokeEndpointResult) -> InvokeEndpointResult:
        if result.closed_session_id == self.session_id:
            self.closed = True
        return result

    async def invoke(
        self, body: Any = None, *, json: Any = None, **options: Unpack[SessionInvokeOptions]
    ) -> InvokeEndpointResult:
        """``invoke_endpoint`` within the session (same options, ``session_id`` set)."""
        self._check()
        result = await self.client.invoke_endpoint(
            self.endpoint_name, body, json=json, session_id=self.session_id, **options
        )
        return self._observe(result)

    def stream(
        self, body: Any = None, *, json: Any = None, **options: Unpack[SessionStreamOptions]
    ) -> ResponseStream:
        """``invoke_endpoint_with_response_stream`` within the session."""
        self._check()
        return self.client.invoke_endpoint_with_response_stream(
            self.endpoint_name, body, json=json, session_id=self.session_id, **options
        )


async def open_session(
    client: SessionClient,
    endpoint_name: str,
    body: Any = None,
    *,
    json: Any = None,
    **options: Unpack[SessionInvokeOptions],
) -> Session:
    """Open a session with a first ``invoke_endpoint`` call; see the client method."""
    result = await client.invoke_endpoint(
        endpoint_name, body, json=json, session_id="NEW_SESSION", **options
    )
    session = result.new_session
    if session is None:
        raise SageMakerRuntimeError(
            f"endpoint {endpoint_name!r} answered without opening a session "
            "(no X-Amzn-SageMaker-New-Session-Id): is it configured for stateful sessions?"
        )
    return Session(client, endpoint_name, session.session_id, session.expires, result)
