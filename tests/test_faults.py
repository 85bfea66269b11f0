"""Fault suite: what is retried, what is not, how often, and that nothing leaks afterwards.

Each case runs against a real loopback server whose handler fails a scripted number of times.
After every case the server must hold no connection once the client is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    Invocation,
    LoopbackServer,
    ModelFailure,
    ModelStream,
    ResetConnection,
    ServiceFailure,
    StreamFault,
)

pytestmark = pytest.mark.anyio

FAST = sm.Retry(max_attempts=3, max_backoff=0.05)


@dataclass
class Script:
    """Fail the first ``failures`` calls with ``fault``, then answer ``ok``."""

    fault: BaseException | None
    failures: int
    calls: int = 0
    seen: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, inv: Invocation) -> Any:
        self.calls += 1
        self.seen.append(
            {k: inv.headers.get(k, "") for k in ("amz-sdk-request", "amz-sdk-invocation-id")}
        )
        if self.fault is not None and self.calls <= self.failures:
            raise self.fault
        return b"ok"


@pytest.fixture
def served() -> Iterator[tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]]]:
    """A fake on loopback; tests register their scripted endpoints on it."""
    fake = FakeSageMakerRuntime()
    with fake.serve() as server:
        yield fake, server


async def _no_leaks(server: LoopbackServer[FakeSageMakerRuntime]) -> None:
    with anyio.fail_after(5):
        while server.open_connections:
            await anyio.sleep(0.01)


def _throttle() -> ServiceFailure:
    return ServiceFailure(400, "ThrottlingException", "Rate exceeded")


RETRIED = [
    pytest.param(ServiceFailure(503, "ServiceUnavailable", "later"), id="503"),
    pytest.param(ServiceFailure(500, "InternalFailure", "oops"), id="500"),
    pytest.param(ServiceFailure(502, "x", raw_body=b"<html>Bad Gateway</html>"), id="502-html"),
    pytest.param(_throttle(), id="throttling-400"),
    pytest.param(ServiceFailure(429, "ThrottlingException", "slow down"), id="throttling-429"),
    pytest.param(ServiceFailure(429, "ModelNotReadyException", "scaling"), id="model-not-ready"),
    pytest.param(ResetConnection(), id="reset-before-headers"),
]


@pytest.mark.parametrize("fault", RETRIED)
async def test_transient_faults_are_retried(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]],
    transport: str,
    fault: BaseException,
) -> None:
    """Two failures then success: the call succeeds on attempt 3, each attempt labelled."""
    fake, server = served
    script = Script(fault, failures=2)
    fake.add_endpoint("flaky", script)
    async with fake.client(endpoint_url=server.url, transport=transport, retry=FAST) as rt:
        result = await rt.invoke_endpoint("flaky", b"x")
    assert result.body == b"ok"
    assert script.calls == 3
    assert [s["amz-sdk-request"] for s in script.seen] == [
        "attempt=1; max=3",
        "attempt=2; max=3",
        "attempt=3; max=3",
    ]
    assert len({s["amz-sdk-invocation-id"] for s in script.seen}) == 1  # one call, 3 attempts
    await _no_leaks(server)


NOT_RETRIED = [
    pytest.param(ServiceFailure(400, "ValidationError", "bad"), sm.ValidationError, id="400"),
    pytest.param(ModelFailure(400, "bad input"), sm.ModelError, id="424"),
    pytest.param(
        ServiceFailure(530, "InternalDependencyException", "dep"),
        sm.InternalDependencyException,
        id="530",
    ),
    pytest.param(
        ServiceFailure(403, "AccessDeniedException", "no"), sm.AccessDeniedError, id="403"
    ),
]


@pytest.mark.parametrize(("fault", "cls"), NOT_RETRIED)
async def test_client_faults_are_not_retried(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]],
    transport: str,
    fault: BaseException,
    cls: type[Exception],
) -> None:
    """Errors another attempt cannot fix are raised after exactly one attempt."""
    fake, server = served
    script = Script(fault, failures=99)
    fake.add_endpoint("broken", script)
    async with fake.client(endpoint_url=server.url, transport=transport, retry=FAST) as rt:
        with pytest.raises(cls):
            await rt.invoke_endpoint("broken", b"x")
    assert script.calls == 1
    await _no_leaks(server)


async def test_attempts_are_bounded(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]], transport: str
) -> None:
    """A persistent 503 is tried max_attempts times, then raised; retry=False tries once."""
    fake, server = served
    script = Script(ServiceFailure(503, "ServiceUnavailable", "down"), failures=99)
    fake.add_endpoint("down", script)
    async with fake.client(endpoint_url=server.url, transport=transport, retry=FAST) as rt:
        with pytest.raises(sm.ServiceUnavailable):
            await rt.invoke_endpoint("down", b"x")
        assert script.calls == 3
        with pytest.raises(sm.ServiceUnavailable):
            await rt.invoke_endpoint("down", b"x", retry=False)
        assert script.calls == 4
    await _no_leaks(server)


async def test_read_timeouts_are_retried_only_on_request(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]], transport: str
) -> None:
    """A model that may have run is not invoked again unless Retry(retry_timeouts=True)."""
    fake, server = served
    calls = 0

    async def slow_once(inv: Invocation) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep(1)
        return b"ok"

    fake.add_endpoint("slow-once", slow_once)
    deadline = sm.Timeout(read=0.2)
    async with fake.client(endpoint_url=server.url, transport=transport, retry=FAST) as rt:
        with pytest.raises(sm.RequestTimeout):
            await rt.invoke_endpoint("slow-once", b"x", timeout=deadline)
        assert calls == 1
        calls = 0
        opt_in = sm.Retry(max_attempts=3, max_backoff=0.05, retry_timeouts=True)
        result = await rt.invoke_endpoint("slow-once", b"x", timeout=deadline, retry=opt_in)
        assert result.body == b"ok"
        assert calls == 2
    await _no_leaks(server)


async def test_connection_refused_is_retried_then_typed(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listening: every attempt fails to connect (safe to retry), then TransportError."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.DEBUG, logger="sagemaker_rt_async")
    fake = FakeSageMakerRuntime()
    async with fake.client(
        endpoint_url=f"http://127.0.0.1:{port}", transport=transport, retry=FAST
    ) as rt:
        with pytest.raises(sm.TransportError) as info:
            await rt.invoke_endpoint("ep", b"x")
    assert info.value.request_sent is False
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 2


async def test_retry_after_is_honoured(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]], transport: str
) -> None:
    """x-amz-retry-after (ms) sets the wait before the next attempt."""
    fake, server = served
    fault = ServiceFailure(
        503, "ServiceUnavailable", "wait", headers=[("x-amz-retry-after", "400")]
    )
    fake.add_endpoint("paced", Script(fault, failures=1))
    retry = sm.Retry(max_attempts=2, max_backoff=0.01)
    async with fake.client(endpoint_url=server.url, transport=transport, retry=retry) as rt:
        start = anyio.current_time()
        assert (await rt.invoke_endpoint("paced", b"x")).body == b"ok"
        assert anyio.current_time() - start >= 0.35
    await _no_leaks(server)


async def test_wait_for_capacity_outlasts_max_attempts(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]], transport: str
) -> None:
    """Scale from zero: opt-in, ModelNotReady is retried past max_attempts until the deadline."""
    fake, server = served
    script = Script(ServiceFailure(429, "ModelNotReadyException", "cold"), failures=6)
    fake.add_endpoint("cold", script)
    patient = sm.Retry(max_attempts=2, max_backoff=0.02, wait_for_capacity=10)
    async with fake.client(endpoint_url=server.url, transport=transport) as rt:
        assert (await rt.invoke_endpoint("cold", b"x", retry=patient)).body == b"ok"
        assert script.calls == 7
        script.calls, script.failures = 0, 99
        with pytest.raises(sm.ModelNotReadyException):
            await rt.invoke_endpoint("cold", b"x", retry=sm.Retry(max_attempts=2, max_backoff=0.01))
        assert script.calls == 2  # off by default: max_attempts bounds it
    await _no_leaks(server)


async def test_streams_retry_only_before_the_first_part(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]], transport: str
) -> None:
    """A 503 before the stream starts is retried; a reset after a part is raised, never retried."""
    fake, server = served
    opens = 0

    def stream(inv: Invocation) -> Any:
        nonlocal opens
        opens += 1
        if opens == 1:
            raise ServiceFailure(503, "ServiceUnavailable", "later")
        if inv.text == "break":
            return ModelStream([b"one", StreamFault.reset()])
        return ModelStream([b"one", b"two"])

    fake.add_endpoint("s", stream)
    async with fake.client(endpoint_url=server.url, transport=transport, retry=FAST) as rt:
        async with rt.invoke_endpoint_with_response_stream("s", b"") as s:
            assert [p async for p in s] == [b"one", b"two"]
        assert opens == 2
        got: list[bytes] = []
        with pytest.raises(sm.TransportError):
            async for part in rt.invoke_endpoint_with_response_stream("s", b"break"):
                got.append(part)
        assert got == [b"one"]
        assert opens == 3  # not retried after a part was handed out
    await _no_leaks(server)


async def test_adaptive_mode_rate_limits_after_throttling(
    served: tuple[FakeSageMakerRuntime, LoopbackServer[FakeSageMakerRuntime]], transport: str
) -> None:
    """Adaptive mode: after throttling the client paces itself, and still succeeds."""
    fake, server = served
    script = Script(_throttle(), failures=2)
    fake.add_endpoint("busy", script)
    adaptive = sm.Retry(mode="adaptive", max_attempts=3, max_backoff=0.05)
    async with fake.client(endpoint_url=server.url, transport=transport, retry=adaptive) as rt:
        assert (await rt.invoke_endpoint("busy", b"x")).body == b"ok"
        assert rt._limiter.enabled
    assert script.calls == 3
    await _no_leaks(server)


async def test_quota_is_shared_by_the_client(transport: str) -> None:
    """The retry quota belongs to the client: once drained, errors surface without retries."""
    fake = FakeSageMakerRuntime()
    script = Script(ServiceFailure(503, "ServiceUnavailable", "down"), failures=10**6)
    fake.add_endpoint("down", script)
    with fake.serve() as server:
        async with fake.client(
            endpoint_url=server.url, transport=transport, retry=sm.Retry(max_backoff=0.001)
        ) as rt:
            for _ in range(60):  # 5 tokens a retry, 500 tokens: 100 retries at most
                with pytest.raises(sm.ServiceUnavailable):
                    await rt.invoke_endpoint("down", b"x")
            assert script.calls == 60 + 100
            assert rt._quota.available < 5


@pytest.mark.parametrize("front", ["in-process", "loopback"])
async def test_fake_enforces_read_timeout_like_a_socket(front: str) -> None:
    """Slow think time and a gap between parts time out alike in-process and over a socket."""
    fake = FakeSageMakerRuntime()

    async def slow(inv: Invocation) -> bytes:
        await anyio.sleep(1.0)
        return b"late"

    async def gap(inv: Invocation) -> Any:
        yield b"a"
        await anyio.sleep(1.0)
        yield b"b"

    fake.add_endpoint("slow", slow)
    fake.add_endpoint("gap", gap)
    fake.add_endpoint("echo")
    with fake.serve() as server:
        url = {"endpoint_url": server.url} if front == "loopback" else {}
        async with fake.client(timeout=sm.Timeout(read=0.2), retry=False, **url) as rt:
            with pytest.raises(sm.RequestTimeout) as think:
                await rt.invoke_endpoint("slow", b"")
            parts: list[bytes] = []
            with pytest.raises(sm.RequestTimeout) as idle:
                async with rt.invoke_endpoint_with_response_stream("gap", b"") as stream:
                    async for part in stream:
                        parts.append(part)
            assert (await rt.invoke_endpoint("echo", b"ok")).body == b"ok"  # the client recovers
    assert (think.value.timeout, think.value.request_sent) == ("first_byte", True)
    assert (idle.value.timeout, idle.value.parts_received, parts) == ("idle", 1, [b"a"])
