"""map_invoke (bounded, ordered, fail-fast or per-item errors) and stateful sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ModelFailure, ModelResponse

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """An endpoint that doubles numbers (slowly, counting concurrency) and fails on 13."""
    f = FakeSageMakerRuntime()
    f.in_flight = 0  # type: ignore[attr-defined]
    f.peak = 0  # type: ignore[attr-defined]

    async def double(inv: Invocation) -> Any:
        f.in_flight += 1  # type: ignore[attr-defined]
        f.peak = max(f.peak, f.in_flight)  # type: ignore[attr-defined]
        try:
            await anyio.sleep(0.01)
            n = inv.json()["n"] if inv.content_type == "application/json" else int(inv.text)
            if n == 13:
                raise ModelFailure(400, "unlucky")
            return {"n": n * 2}
        finally:
            f.in_flight -= 1  # type: ignore[attr-defined]

    f.add_endpoint("double", double)
    return f


async def test_results_in_input_order_with_bounded_concurrency(fake: FakeSageMakerRuntime) -> None:
    """100 inputs at concurrency 7: results line up with inputs; never more than 7 in flight."""
    async with fake.client() as rt:
        results = await rt.map_invoke("double", [{"n": i} for i in range(100, 200)], concurrency=7)
    assert [r.json()["n"] for r in results if isinstance(r, sm.InvokeEndpointResult)] == [
        i * 2 for i in range(100, 200)
    ]
    assert fake.peak == 7  # type: ignore[attr-defined]


async def test_fail_fast_raises_the_first_error_and_stops(fake: FakeSageMakerRuntime) -> None:
    """By default the first error is raised itself (not a group) and the rest is not sent."""
    async with fake.client() as rt:
        with pytest.raises(sm.ModelError):
            await rt.map_invoke("double", [{"n": i} for i in range(10, 1000)], concurrency=4)
    assert len(fake.requests) < 100


async def test_per_item_errors(fake: FakeSageMakerRuntime) -> None:
    """return_exceptions=True puts each item's typed error in its place."""
    async with fake.client() as rt:
        results = await rt.map_invoke(
            "double", [b"12", b"13", "14"], concurrency=2, return_exceptions=True
        )
    assert isinstance(results[1], sm.ModelError)
    assert [r.json() for i, r in enumerate(results) if i != 1] == [{"n": 24}, {"n": 28}]  # type: ignore[union-attr]


async def test_batch_wide_errors_stop_even_with_return_exceptions(
    fake: FakeSageMakerRuntime,
) -> None:
    """No credentials or a bad option stop the batch; a too-large item is that item's error."""

    async def no_credentials() -> sm.Credentials:
        raise sm.CredentialsError("none found")

    async with fake.client(credentials=no_credentials) as rt:
        with pytest.raises(sm.CredentialsError):
            await rt.map_invoke("double", [b"1"] * 50, concurrency=2, return_exceptions=True)
    async with fake.client() as rt:
        with pytest.raises(sm.ParamValidationError) as bad_option:
            await rt.map_invoke(
                "double", [b"1"] * 50, return_exceptions=True, custom_attributes="\n"
            )
        assert bad_option.value.param == "custom_attributes"
        results = await rt.map_invoke(
            "double", [b"12", b"x" * 7_000_000], concurrency=2, return_exceptions=True
        )
    assert results[0].json() == {"n": 24}  # type: ignore[union-attr]
    assert isinstance(results[1], sm.ParamValidationError) and results[1].param == "body"
    assert fake.requests and len(fake.requests) == 1


async def test_async_iterable_inputs_and_progress(fake: FakeSageMakerRuntime) -> None:
    """Inputs can come from an async generator; progress(done, total) is called per item."""

    async def lines() -> AsyncIterator[dict[str, int]]:
        for i in range(20):
            yield {"n": 100 + i}

    seen: list[tuple[int, int | None]] = []
    async with fake.client() as rt:
        results = await rt.map_invoke(
            "double", lines(), concurrency=3, progress=lambda d, t: seen.append((d, t))
        )
    assert len(results) == 20
    assert seen[-1] == (20, None)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"concurrency": 0}, "concurrency"), ({"body": b"x"}, "body"), ({"json": {}}, "json")],
)
async def test_map_invoke_validation(
    fake: FakeSageMakerRuntime, kwargs: dict[str, Any], param: str
) -> None:
    """Bad batch arguments are refused before anything is sent."""
    async with fake.client() as rt:
        with pytest.raises(sm.ParamValidationError) as info:
            await rt.map_invoke("double", [1], **kwargs)
    assert info.value.param == param
    assert fake.requests == []


def _stateful(fake: FakeSageMakerRuntime, expires_in: timedelta) -> None:
    sessions: dict[str, int] = {}

    def model(inv: Invocation) -> ModelResponse:
        sid = inv.session_id
        if sid == "NEW_SESSION":
            sid = f"sess-{len(sessions) + 1}"
            sessions[sid] = 0
            expiry = (datetime.now(timezone.utc) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
            return ModelResponse(b"opened", new_session_id=f"{sid}; Expires={expiry}")
        assert sid in sessions, sid
        sessions[sid] += 1
        if inv.text == "bye":
            return ModelResponse(b"closed", closed_session_id=sid)
        return ModelResponse(f"turn {sessions[sid]}".encode())

    fake.add_endpoint("chat", model)


async def test_session_round_trip(fake: FakeSageMakerRuntime) -> None:
    """open_session opens, later calls carry the id, a close reported by the service sticks."""
    _stateful(fake, timedelta(minutes=20))
    async with fake.client() as rt:
        session = await rt.open_session("chat", b"hello")
        assert session.session_id == "sess-1"
        assert session.expires is not None and session.expires > datetime.now(timezone.utc)
        assert session.opened_by.body == b"opened"
        assert (await session.invoke(b"hi")).body == b"turn 1"
        assert fake.requests[-1].header("x-amzn-sagemaker-session-id") == "sess-1"
        assert (await session.invoke(b"bye")).body == b"closed"
        assert session.closed
        with pytest.raises(sm.SessionClosedError):
            await session.invoke(b"again")
        assert "closed" in repr(session)


async def test_expired_session_refuses_calls(fake: FakeSageMakerRuntime) -> None:
    """After its announced expiry the session raises SessionClosedError without sending."""
    _stateful(fake, timedelta(seconds=-1))
    async with fake.client() as rt:
        session = await rt.open_session("chat", b"hello")
        sent = len(fake.requests)
        with pytest.raises(sm.SessionClosedError, match="expired"):
            await session.invoke(b"hi")
        with pytest.raises(sm.SessionClosedError):
            session.stream(b"hi")
    assert len(fake.requests) == sent


async def test_endpoint_without_sessions(fake: FakeSageMakerRuntime) -> None:
    """An endpoint that does not open sessions gives a clear error, not a None session."""
    fake.add_endpoint("plain")
    async with fake.client() as rt:
        with pytest.raises(sm.SageMakerRuntimeError, match="without opening a session"):
            await rt.open_session("plain", b"x")
