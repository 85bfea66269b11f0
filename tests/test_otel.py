"""The OpenTelemetry hook: one CLIENT span per call, GenAI attributes and metrics, no content.

An SDK tracer and meter with in-memory exporters (never the global providers) record what the
hook emits for calls against the fake endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import sagemaker_rt_async as sm
from sagemaker_rt_async.otel import OpenTelemetryHook
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    Invocation,
    ModelFailure,
    ModelStream,
    ServiceFailure,
)

pytestmark = pytest.mark.anyio


class Telemetry:
    """An SDK tracer/meter pair with in-memory exporters, and the hook bound to them."""

    def __init__(self, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.hook = OpenTelemetryHook(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def histograms(self) -> dict[str, list[tuple[dict[str, Any], int, float]]]:
        """Metric name -> [(attributes, count, sum)] per data point."""
        out: dict[str, list[tuple[dict[str, Any], int, float]]] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = [
                        (dict(p.attributes or {}), p.count, p.sum)  # type: ignore[union-attr]
                        for p in metric.data.data_points
                    ]
        return out


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    """Fresh in-memory telemetry per test."""
    t = Telemetry()
    yield t
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """Echo, failing, flaky and streaming endpoints."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("echo", variant="Blue")
    tries = {"n": 0}

    def fails(inv: Invocation) -> bytes:
        raise ModelFailure(500, "PROMPT-SECRET-ECHO")

    def flaky(inv: Invocation) -> bytes:
        tries["n"] += 1
        if tries["n"] == 1:
            raise ServiceFailure(503, "ServiceUnavailable", "again")
        return b"ok"

    fake.add_endpoint("fails", fails)
    fake.add_endpoint("flaky", flaky)
    fake.add_endpoint(
        "llm", lambda inv: ModelStream([b"a", b"b", b"c"], invoked_production_variant="Green")
    )
    return fake


async def test_invoke_span(fake: FakeSageMakerRuntime, otel: Telemetry) -> None:
    """An InvokeEndpoint call is one CLIENT span with the GenAI and AWS attributes."""
    async with fake.client(event_hooks=[otel.hook]) as rt:
        r = await rt.invoke_endpoint("echo", b"PROMPT-TEXT", inference_component_name="comp-a")
    [span] = otel.finished()
    assert span.name == "text_completion comp-a" and span.kind is SpanKind.CLIENT
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "text_completion"
    assert a["gen_ai.provider.name"] == "aws.sagemaker"
    assert a["gen_ai.request.model"] == "comp-a"
    assert a["aws.sagemaker.endpoint_name"] == "echo"
    assert a["aws.sagemaker.inference_component_name"] == "comp-a"
    assert a["aws.request_id"] == r.request_id
    assert a["aws.sagemaker.invoked_production_variant"] == "Blue"
    assert a["rpc.method"] == "InvokeEndpoint" and a["rpc.system"] == "aws-api"
    assert a["http.response.status_code"] == 200
    assert a["server.address"] == "sagemaker.fake" and a["server.port"] == 80
    assert a["cloud.region"] == fake.region
    assert "error.type" not in a and span.status.status_code is StatusCode.UNSET
    assert "PROMPT-TEXT" not in repr(span.to_json())  # no content recorded
    [(attrs, count, total)] = otel.histograms()["gen_ai.client.operation.duration"]
    assert count == 1 and total > 0
    assert attrs == {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.provider.name": "aws.sagemaker",
        "gen_ai.request.model": "comp-a",
        "server.address": "sagemaker.fake",
        "server.port": 80,
    }


async def test_span_parent_is_the_callers_span(fake: FakeSageMakerRuntime, otel: Telemetry) -> None:
    """The call's span is a child of the span current where the call was made."""
    tracer = otel.tracer_provider.get_tracer("app")
    async with fake.client(event_hooks=[otel.hook]) as rt:
        with tracer.start_as_current_span("handler") as parent:
            await rt.invoke_endpoint("echo", b"x")
    call, handler = otel.finished()
    assert handler.name == "handler"
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.context is not None and handler.context is not None
    assert call.context.trace_id == handler.context.trace_id


async def test_error_span(fake: FakeSageMakerRuntime, otel: Telemetry) -> None:
    """A failed call's span has error status, error.type = the service's code, the exception."""
    async with fake.client(event_hooks=[otel.hook]) as rt:
        with pytest.raises(sm.ModelError):
            await rt.invoke_endpoint("fails", b"x")
    [span] = otel.finished()
    a = dict(span.attributes or {})
    assert a["error.type"] == "ModelError" and a["http.response.status_code"] == 424
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    [(attrs, count, _)] = otel.histograms()["gen_ai.client.operation.duration"]
    assert attrs["error.type"] == "ModelError" and count == 1


async def test_retry_event(
    fake: FakeSageMakerRuntime, otel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retried call is still one span, with a "retry" event and the resend count."""
    monkeypatch.setattr("sagemaker_rt_async._client.random.random", lambda: 0.0)
    async with fake.client(event_hooks=[otel.hook]) as rt:
        await rt.invoke_endpoint("flaky", b"x")
    [span] = otel.finished()
    [retry] = span.events
    assert retry.name == "retry"
    assert dict(retry.attributes or {})["error.type"] == "ServiceUnavailable"
    assert dict(span.attributes or {})["http.request.resend_count"] == 1


async def test_stream_span_and_first_chunk(fake: FakeSageMakerRuntime, otel: Telemetry) -> None:
    """A stream's span lasts until it is closed and records time to first chunk."""
    hook = OpenTelemetryHook(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        operation_name="chat",
    )
    async with (
        fake.client(event_hooks=[hook]) as rt,
        rt.invoke_endpoint_with_response_stream("llm", b"x") as stream,
    ):
        assert otel.finished() == []  # open while the stream is
        parts = [p async for p in stream]
    assert parts == [b"a", b"b", b"c"]
    [span] = otel.finished()
    assert span.name == "chat llm"
    a = dict(span.attributes or {})
    assert a["sagemaker_rt_async.parts_received"] == 3
    assert a["aws.sagemaker.invoked_production_variant"] == "Green"
    assert [e.name for e in span.events] == ["gen_ai.first_chunk"]
    [(_, count, ttfc)] = otel.histograms()["gen_ai.client.operation.time_to_first_chunk"]
    assert count == 1 and ttfc > 0
    assert span.end_time is not None and span.start_time is not None
    # Time to first chunk is measured on the monotonic clock, the span on the wall clock: a
    # millisecond apart at most, which matters only for a call as quick as the in-process fake.
    assert ttfc <= (span.end_time - span.start_time) / 1e9 + 0.001


async def test_cancelled_call_ends_its_span(fake: FakeSageMakerRuntime, otel: Telemetry) -> None:
    """A cancelled call still ends its span (no leak), marked error.type=cancelled."""

    async def slow(inv: Invocation) -> bytes:
        await anyio.sleep(30)
        return b""

    fake.add_endpoint("slow", slow)
    async with fake.client(event_hooks=[otel.hook]) as rt:
        with anyio.move_on_after(0.2):
            await rt.invoke_endpoint("slow", b"x")
    [span] = otel.finished()
    assert dict(span.attributes or {})["error.type"] == "cancelled"


async def test_noop_without_sdk(fake: FakeSageMakerRuntime) -> None:
    """With the API's default (no-op) providers the hook runs and changes nothing."""
    async with fake.client(event_hooks=[OpenTelemetryHook()]) as rt:
        r = await rt.invoke_endpoint("echo", b"hi")
    assert r.body == b"hi"
