"""Hooks and OpenTelemetry for bidirectional sessions: opened, first part, ended, no secrets.

A session is one call: CallStarted when the block is entered, RequestSent per stream opened,
ResponseReceived when the head arrives, FirstPart for the first answer, CallEnded when the
block is left. The OpenTelemetry hook turns them into one CLIENT span (SDK tracer with an
in-memory exporter, never the global provider) whose attributes and events are asserted here;
neither content nor any secret (secret key, session token, signatures) appears in it.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sagemaker_rt_async import (
    CallEnded,
    CallStarted,
    Credentials,
    Event,
    FirstPart,
    ModelError,
    RequestSent,
    ResponseReceived,
    Retry,
    RetryScheduled,
    SageMakerRuntimeClient,
)
from sagemaker_rt_async.otel import OpenTelemetryHook
from sagemaker_rt_async.testing import FakeBidiServer

pytestmark = pytest.mark.anyio

WAIT_S = 10.0
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
TOKEN = "SESSION-TOKEN-NEVER-SHOWN"
CREDENTIALS = Credentials("AKIDEXAMPLE", SECRET, TOKEN)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


@pytest.fixture
def server() -> Iterator[FakeBidiServer]:
    """The fake endpoint over h2c, checking signatures made with CREDENTIALS."""
    with FakeBidiServer(credentials=CREDENTIALS) as fake:
        yield fake


class Recorder:
    """An in-memory OpenTelemetry SDK and the hook bound to it, plus the raw events."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        self.hook = OpenTelemetryHook(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.events: list[Event] = []

    def record(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def otel() -> Iterator[Recorder]:
    """Fresh telemetry per test."""
    recorder = Recorder()
    yield recorder
    recorder.tracer_provider.shutdown()
    recorder.meter_provider.shutdown()


def _client(server: FakeBidiServer, otel: Recorder, **options: object) -> SageMakerRuntimeClient:
    return SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=CREDENTIALS,
        event_hooks=[otel.record, otel.hook],
        **options,  # type: ignore[arg-type]
    )


async def test_a_session_is_one_span_with_its_events(
    server: FakeBidiServer, otel: Recorder
) -> None:
    """Opened, head, first part, ended: in that order, once each; the span carries the
    operation, endpoint, status, request id, variant, parts received and a first-chunk event,
    and stays open while the session is."""
    async with (
        _client(server, otel) as rt,
        rt.invoke_endpoint_with_bidirectional_stream("echo", target_variant="Blue") as session,
    ):
        await session.send("CONTENT-NEVER-RECORDED")
        await session.send(b"second")
        await session.end_input()
        with anyio.fail_after(WAIT_S):
            parts = [p.data async for p in session]
        assert otel.spans.get_finished_spans() == ()  # the span lasts as long as the session
    assert parts == [b"CONTENT-NEVER-RECORDED", b"second"]
    kinds = [type(e) for e in otel.events]
    assert kinds == [CallStarted, RequestSent, ResponseReceived, FirstPart, CallEnded]
    ended = otel.events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.outcome == "ok" and ended.parts_received == 2 and ended.attempts == 1
    assert ended.call.operation == "InvokeEndpointWithBidirectionalStream"

    [span] = otel.spans.get_finished_spans()
    assert span.kind is SpanKind.CLIENT and span.name == "text_completion echo"
    a = dict(span.attributes or {})
    assert a["rpc.method"] == "InvokeEndpointWithBidirectionalStream"
    assert a["aws.sagemaker.endpoint_name"] == "echo"
    assert a["aws.sagemaker.target_variant"] == "Blue"
    assert a["aws.sagemaker.invoked_production_variant"] == "Blue"
    assert a["http.response.status_code"] == 200
    assert a["aws.request_id"] == session.request_id is not None
    assert a["sagemaker_rt_async.parts_received"] == 2
    assert a["sagemaker_rt_async.outcome"] == "ok"
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == server.port
    assert [e.name for e in span.events] == ["gen_ai.first_chunk"]
    assert span.status.status_code is StatusCode.UNSET
    _no_secret(span.to_json(), server)


async def test_a_failed_session_ends_its_span_with_the_error(
    server: FakeBidiServer, otel: Recorder
) -> None:
    """An initial 424: the span ends with error.type=ModelError and ERROR status."""
    async with _client(server, otel, retry=False) as rt:
        with pytest.raises(ModelError):
            async with rt.invoke_endpoint_with_bidirectional_stream("model-error") as session:
                with anyio.fail_after(WAIT_S):
                    async for _ in session:
                        pass
    [span] = otel.spans.get_finished_spans()
    a = dict(span.attributes or {})
    assert a["error.type"] == "ModelError" and a["http.response.status_code"] == 424
    assert span.status.status_code is StatusCode.ERROR
    ended = otel.events[-1]
    assert isinstance(ended, CallEnded) and ended.outcome == "error"
    _no_secret(span.to_json(), server)


async def test_a_replayed_session_shows_its_retry(server: FakeBidiServer, otel: Recorder) -> None:
    """A refused stream replayed on a new one: a retry event and a resend count on the span."""
    server.refuse_next("reset", after_parts=1)
    async with (
        _client(server, otel, retry=Retry(max_attempts=2, max_backoff=0.01)) as rt,
        rt.invoke_endpoint_with_bidirectional_stream("echo") as session,
    ):
        await session.send(b"twice")
        await session.end_input()
        with anyio.fail_after(WAIT_S):
            assert [p.data async for p in session] == [b"twice"]
    assert [type(e) for e in otel.events].count(RetryScheduled) == 1
    [span] = otel.spans.get_finished_spans()
    a = dict(span.attributes or {})
    assert a["http.request.resend_count"] == 1
    assert "retry" in [e.name for e in span.events]
    _no_secret(span.to_json(), server)


def _no_secret(text: str, server: FakeBidiServer) -> None:
    """Neither content nor the secret key, the token, or any signature sent."""
    for secret in (SECRET, TOKEN, "CONTENT-NEVER-RECORDED"):
        assert secret not in text
    for record in server.sessions:
        signature = record.headers["authorization"].rpartition("Signature=")[2]
        assert signature and signature not in text
