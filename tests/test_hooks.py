"""Event hooks: the order, the timings and the outcome of every call, exactly once.

Each test records the events a client emits against the fake endpoint and checks the sequence
and its fields against what happened on the wire: the invocation id the fake received, the
request id it answered, retries, stream parts, errors, cancellation and early close.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    Invocation,
    ModelFailure,
    ModelStream,
    ModelStreamFailure,
    ServiceFailure,
)

pytestmark = pytest.mark.anyio

TGI = [
    b'data: {"token": {"id": 1, "text": "", "special": true}}\n\n',
    b'data: {"token": {"id": 2, "text": "Hel", "special": false}}\n\n',
    b'data: {"token": {"id": 3, "text": "lo", "special": false}}\n\n',
]


def _kinds(events: list[sm.Event]) -> list[str]:
    return [type(e).__name__ for e in events]


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """A fake with a plain, a failing, a flaky, a streaming and a slow endpoint."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("echo", variant="Blue")
    calls = {"flaky": 0}

    def fails(inv: Invocation) -> bytes:
        raise ModelFailure(500, "boom")

    def flaky(inv: Invocation) -> bytes:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ServiceFailure(503, "ServiceUnavailable", "try again")
        return b"ok"

    async def slow(inv: Invocation) -> bytes:
        await anyio.sleep(30)
        return b"late"

    async def endless(inv: Invocation) -> AsyncIterator[bytes]:
        yield b"first"
        await anyio.sleep(30)
        yield b"never"

    def broken(inv: Invocation) -> Iterator[bytes]:
        yield b"a"
        yield b"b"
        raise ModelStreamFailure("it broke", error_code="StreamBroken")

    fake.add_endpoint("fails", fails)
    fake.add_endpoint("flaky", flaky)
    fake.add_endpoint("slow", slow)
    fake.add_endpoint("endless", endless)
    fake.add_endpoint("broken", broken)
    fake.add_endpoint(
        "tgi", lambda inv: ModelStream(TGI, content_type="text/event-stream"), variant="Green"
    )
    fake.add_endpoint("badjson", lambda inv: ModelStream([b"{not json\n"]))
    return fake


def _client(fake: FakeSageMakerRuntime, events: list[sm.Event], **kw: Any) -> Any:
    return fake.client(event_hooks=[events.append], **kw)


async def test_invoke_sequence_and_fields(fake: FakeSageMakerRuntime) -> None:
    """A call emits Started, Sent, Received, Ended; one CallInfo; ids match the wire."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        r = await rt.invoke_endpoint(
            "echo", b"hello", inference_component_name="comp-1", target_variant="Blue"
        )
    assert _kinds(events) == ["CallStarted", "RequestSent", "ResponseReceived", "CallEnded"]
    started, sent, received, ended = events
    assert isinstance(started, sm.CallStarted) and isinstance(sent, sm.RequestSent)
    assert isinstance(received, sm.ResponseReceived) and isinstance(ended, sm.CallEnded)
    call = started.call
    assert all(e.call is call for e in events)
    assert (call.operation, call.endpoint_name, call.streaming) == ("InvokeEndpoint", "echo", False)
    assert (call.inference_component_name, call.target_variant) == ("comp-1", "Blue")
    wire = dict((k.lower(), v) for k, v in fake.requests[-1].headers)
    assert call.invocation_id == wire["amz-sdk-invocation-id"]
    assert sent.attempt == 1 and sent.region == fake.region and sent.body_size == 5
    assert sent.url == "http://sagemaker.fake/endpoints/echo/invocations"
    assert received.status_code == 200
    assert received.request_id == r.request_id and r.request_id is not None
    assert received.invoked_production_variant == "Blue"
    assert 0 <= received.time_to_first_byte <= received.elapsed <= ended.elapsed
    assert ended.outcome == "ok" and ended.error is None and ended.attempts == 1
    assert (ended.status_code, ended.request_id, ended.bytes_received) == (200, r.request_id, 5)
    assert ended.invoked_production_variant == "Blue"
    assert ended.time_to_first_part is None and ended.parts_received == 0


async def test_retry_is_reported(fake: FakeSageMakerRuntime, monkeypatch: Any) -> None:
    """A retried call reports the failed attempt, the delay, and a second RequestSent."""
    monkeypatch.setattr("sagemaker_rt_async._client.random.random", lambda: 0.0)
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        await rt.invoke_endpoint("flaky", b"x")
    assert _kinds(events) == [
        "CallStarted",
        "RequestSent",
        "ResponseReceived",
        "RetryScheduled",
        "RequestSent",
        "ResponseReceived",
        "CallEnded",
    ]
    retry = events[3]
    assert isinstance(retry, sm.RetryScheduled)
    assert retry.attempt == 1 and retry.delay >= 0
    assert isinstance(retry.error, sm.ServiceUnavailable)
    assert [e.attempt for e in events if isinstance(e, sm.RequestSent)] == [1, 2]
    ended = events[-1]
    assert isinstance(ended, sm.CallEnded) and ended.outcome == "ok" and ended.attempts == 2
    ids = {
        dict((k.lower(), v) for k, v in r.headers)["amz-sdk-invocation-id"] for r in fake.requests
    }
    assert ids == {ended.call.invocation_id}


async def test_error_ends_the_call(fake: FakeSageMakerRuntime) -> None:
    """A typed error is CallEnded(outcome="error") carrying it, with status and request id."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        with pytest.raises(sm.ModelError) as caught:
            await rt.invoke_endpoint("fails", b"x")
    ended = events[-1]
    assert isinstance(ended, sm.CallEnded)
    assert ended.outcome == "error" and ended.error is caught.value
    assert ended.status_code == 424 and ended.request_id == caught.value.request_id
    assert sum(isinstance(e, sm.CallEnded) for e in events) == 1


async def test_stream_sequence(fake: FakeSageMakerRuntime) -> None:
    """A stream emits FirstPart and FirstToken (the first token with text), then CallEnded."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        stream = rt.invoke_endpoint_with_response_stream("tgi", b"x")
        assert events == []  # made, not opened: nothing happened yet
        async with stream:
            text = [t.text async for t in stream.tokens()]
    assert "".join(text) == "Hello"
    assert _kinds(events) == [
        "CallStarted",
        "RequestSent",
        "ResponseReceived",
        "FirstPart",
        "FirstToken",
        "CallEnded",
    ]
    first, token, ended = events[3], events[4], events[5]
    assert isinstance(first, sm.FirstPart) and isinstance(token, sm.FirstToken)
    assert isinstance(ended, sm.CallEnded)
    assert first.call.streaming and first.call.operation == "InvokeEndpointWithResponseStream"
    assert first.invoked_production_variant == "Green" and first.request_id == stream.request_id
    assert first.time_to_first_part <= token.time_to_first_token <= ended.elapsed
    assert ended.outcome == "ok" and ended.parts_received == 3
    assert ended.bytes_received == sum(len(p) for p in TGI)
    assert ended.time_to_first_part == first.time_to_first_part


async def test_stream_closed_early_and_by_consumer_error(fake: FakeSageMakerRuntime) -> None:
    """``break`` and an exception of the consumer's own end the call as "closed", once."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        async with rt.invoke_endpoint_with_response_stream("tgi", b"x") as stream:
            async for _ in stream:
                break
        with pytest.raises(KeyError):
            async with rt.invoke_endpoint_with_response_stream("tgi", b"x") as stream:
                async for _ in stream:
                    raise KeyError("consumer")
    ended = [e for e in events if isinstance(e, sm.CallEnded)]
    assert [(e.outcome, e.error, e.parts_received) for e in ended] == [
        ("closed", None, 1),
        ("closed", None, 1),
    ]


async def test_stream_error_in_stream(fake: FakeSageMakerRuntime) -> None:
    """A ModelStreamError after parts ends the call as "error" with the parts counted."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        with pytest.raises(sm.ModelStreamError) as caught:
            async with rt.invoke_endpoint_with_response_stream("broken", b"x") as stream:
                async for _ in stream:
                    pass
    ended = events[-1]
    assert isinstance(ended, sm.CallEnded)
    assert ended.outcome == "error" and ended.error is caught.value
    assert ended.parts_received == 2 and ended.bytes_received == 2
    assert sum(isinstance(e, sm.CallEnded) for e in events) == 1


async def test_stream_framing_error_is_an_error(fake: FakeSageMakerRuntime) -> None:
    """A FramingError from json_lines() ends the call as "error", not "closed"."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        with pytest.raises(sm.FramingError) as caught:
            async with rt.invoke_endpoint_with_response_stream("badjson", b"x") as stream:
                async for _ in stream.json_lines():
                    pass
    ended = events[-1]
    assert isinstance(ended, sm.CallEnded) and ended.error is caught.value


async def test_stream_error_response_at_open(fake: FakeSageMakerRuntime) -> None:
    """A 424 at stream open ends the call once, as "error", before any part."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        with pytest.raises(sm.ModelError):
            async with rt.invoke_endpoint_with_response_stream("fails", b"x"):
                pass  # pragma: no cover - the open raises
    assert _kinds(events) == ["CallStarted", "RequestSent", "ResponseReceived", "CallEnded"]
    ended = events[-1]
    assert isinstance(ended, sm.CallEnded) and ended.outcome == "error"


async def test_stream_total_deadline_is_an_error(fake: FakeSageMakerRuntime) -> None:
    """The stream's own total deadline is a RequestTimeout error, not a cancellation."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        with pytest.raises(sm.RequestTimeout):
            async with rt.invoke_endpoint_with_response_stream(
                "endless", b"x", timeout=sm.Timeout(total=0.3)
            ) as stream:
                async for _ in stream:
                    pass
    ended = events[-1]
    assert isinstance(ended, sm.CallEnded)
    assert ended.outcome == "error" and isinstance(ended.error, sm.RequestTimeout)
    assert ended.parts_received == 1


async def test_cancellation_ends_the_call(fake: FakeSageMakerRuntime) -> None:
    """A cancelled invoke and a cancelled stream read each end as "cancelled"."""
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        with anyio.move_on_after(0.2):
            await rt.invoke_endpoint("slow", b"x")
        with anyio.move_on_after(0.3):
            async with rt.invoke_endpoint_with_response_stream("endless", b"x") as stream:
                async for _ in stream:
                    pass
    ended = [e for e in events if isinstance(e, sm.CallEnded)]
    assert [(e.call.endpoint_name, e.outcome) for e in ended] == [
        ("slow", "cancelled"),
        ("endless", "cancelled"),
    ]
    assert ended[1].parts_received == 1


async def test_async_inference_call(fake: FakeSageMakerRuntime) -> None:
    """InvokeEndpointAsync is observed like InvokeEndpoint (202, request id)."""
    fake.add_endpoint("queued", async_output_path="s3://out/results")
    events: list[sm.Event] = []
    async with _client(fake, events) as rt:
        job = await rt.invoke_endpoint_async("queued", input_location="s3://in/x.json")
    ended = events[-1]
    assert isinstance(ended, sm.CallEnded)
    assert ended.call.operation == "InvokeEndpointAsync" and ended.status_code == 202
    assert ended.outcome == "ok" and ended.request_id == job.request_id


async def test_a_raising_hook_is_logged_not_fatal(
    fake: FakeSageMakerRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises never breaks the call; the failure is logged, later hooks still run."""
    seen: list[sm.Event] = []

    def bad(event: sm.Event) -> None:
        raise RuntimeError("observer bug")

    with caplog.at_level(logging.WARNING, logger="sagemaker_rt_async"):
        async with fake.client(event_hooks=[bad, seen.append]) as rt:
            r = await rt.invoke_endpoint("echo", b"hi")
    assert r.body == b"hi" and len(seen) == 4
    assert sum("observer bug" in (rec.exc_text or "") for rec in caplog.records) == 4


async def test_events_hold_no_secrets(fake: FakeSageMakerRuntime) -> None:
    """No event's repr carries the secret key, the session token or the signature."""
    events: list[sm.Event] = []
    creds = sm.Credentials("AKIDEXAMPLE", "s3cr3t-key-value", "t0ken-value")
    fake.credentials = creds
    async with _client(fake, events, credentials=creds) as rt:
        await rt.invoke_endpoint("echo", b"hi")
        with pytest.raises(sm.ModelError):
            await rt.invoke_endpoint("fails", b"x")
    text = " ".join(repr(e) for e in events)
    signature = dict((k.lower(), v) for k, v in fake.requests[-1].headers)["authorization"]
    for secret in ("s3cr3t-key-value", "t0ken-value", signature.rsplit("=", 1)[1]):
        assert secret not in text


@pytest.mark.parametrize(
    "hooks",
    [print, "print", [1], 42],
)
def test_event_hooks_validated(hooks: Any) -> None:
    """``event_hooks`` must be a list of callables: anything else is refused up front."""
    with pytest.raises(sm.ParamValidationError, match="event_hooks"):
        sm.SageMakerRuntimeClient(region="us-east-1", event_hooks=hooks)


def test_no_hooks_no_trace() -> None:
    """Without hooks a call makes no trace at all (nothing to pay on the hot path)."""
    from sagemaker_rt_async._operations import INVOKE_ENDPOINT

    rt = sm.SageMakerRuntimeClient(region="us-east-1")
    assert rt._trace(INVOKE_ENDPOINT, "ep", []) is None
    assert rt._hooks == ()


def test_events_are_immutable_values() -> None:
    """Events compare by value, hash, refuse mutation and list every field in their repr."""
    call = sm.CallInfo(operation="InvokeEndpoint", endpoint_name="ep", invocation_id="i-1")
    a = sm.FirstToken(call, 0.5, 0.5)
    assert a == sm.FirstToken(call, 0.5, 0.5) and a != sm.FirstToken(call, 0.5, 0.6)
    assert len({a, sm.FirstToken(call, 0.5, 0.5)}) == 1
    assert repr(a) == (
        "FirstToken(call=CallInfo(operation='InvokeEndpoint', endpoint_name='ep', "
        "invocation_id='i-1'), elapsed=0.5, time_to_first_token=0.5)"
    )
    with pytest.raises(AttributeError):
        a.elapsed = 1.0
    with pytest.raises(TypeError):
        sm.FirstToken(call, 0.5)
    assert call.state == {} and call.streaming is False


def _page_blocks(page: str) -> list[str]:
    text = (Path(__file__).resolve().parents[1] / "docs" / page).read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


async def test_docs_observability_blocks_run(fake: FakeSageMakerRuntime) -> None:
    """The docs' hook example runs as written and prints what it promises for a stream."""
    blocks = _page_blocks("observability.md")
    (first,) = [b for b in blocks if "def log_timings" in b]
    (otel_block,) = [b for b in blocks if "OpenTelemetryHook(" in b]
    namespace: dict[str, Any] = {"__name__": "docs"}
    for block in (first, otel_block):
        code = compile(block, "observability.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # noqa: S307 - the docs' own code, under test
        if inspect.iscoroutine(result):
            await result
    await namespace["rt"].aclose()  # the OpenTelemetry block's client
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        async with (
            fake.client(event_hooks=[namespace["log_timings"]]) as rt,
            rt.invoke_endpoint_with_response_stream("tgi", b"x") as stream,
        ):
            async for _ in stream:
                pass
    first_line, ended = out.getvalue().splitlines()
    assert re.fullmatch(
        rf"tgi: first part after \d\.\d{{3}} s \(variant Green, request {stream.request_id}\)",
        first_line,
    )
    size = sum(len(p) for p in TGI)
    assert re.fullmatch(
        rf"InvokeEndpointWithResponseStream ok in \d\.\d{{3}} s, 1 attempt\(s\), {size} bytes",
        ended,
    )
