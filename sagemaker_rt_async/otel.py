"""OpenTelemetry for SageMaker Runtime calls: one span per call and the GenAI client metrics.

``OpenTelemetryHook`` is an event hook (see ``SageMakerRuntimeClient(event_hooks=...)``) that
follows the OpenTelemetry GenAI semantic conventions for an inference client (development
status; the attribute names are those of semconv 1.37+, ``gen_ai.provider.name`` included)::

    from sagemaker_rt_async import SageMakerRuntimeClient
    from sagemaker_rt_async.otel import OpenTelemetryHook

    rt = SageMakerRuntimeClient(event_hooks=[OpenTelemetryHook()])

Each call (retries included, a stream until it is closed) is one CLIENT span named
``{gen_ai.operation.name} {gen_ai.request.model}``, the child of the span current where the call
was made. It carries the endpoint, the invoked production variant, the AWS request id, the
status, ``error.type`` on failure, and a span event per retry and for the first stream part.
Metrics: ``gen_ai.client.operation.duration`` for every call and
``gen_ai.client.operation.time_to_first_chunk`` for streams (seconds, histograms).

Prompts and completions are never recorded (no request or response content at all). The span
is not made current during the call (a stream's call outlives the block that opened it), so
spans of other instrumentations started inside the call are not its children.

Needs ``opentelemetry-api`` (``pip install 'sagemaker-rt-async[otel]'``); without a configured
SDK the API's no-op providers make the hook nearly free.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        "sagemaker_rt_async.otel needs opentelemetry-api: pip install 'sagemaker-rt-async[otel]'"
    ) from exc

from ._errors import ServiceError, StreamError
from ._hooks import (
    CallEnded,
    CallStarted,
    Event,
    FirstPart,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
)
from ._version import __version__

__all__ = ["OpenTelemetryHook"]

_SPAN = "otel.span"
_ATTRS = "otel.metric_attributes"
# The semconv's advisory buckets for GenAI durations (seconds).
_DURATION_BUCKETS = [
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
]
_CHUNK_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0]


class OpenTelemetryHook:
    """An event hook that records each call as an OpenTelemetry span and GenAI metrics.

    Args:
        tracer_provider: where spans go (default: the global provider).
        meter_provider: where metrics go (default: the global provider).
        operation_name: ``gen_ai.operation.name``: what the endpoint does. SageMaker cannot tell,
            so say it: ``"text_completion"`` (default), ``"chat"``, ``"embeddings"``,
            ``"generate_content"``, or your own value for a non-generative model.
        provider_name: ``gen_ai.provider.name`` (default ``"aws.sagemaker"``).
    """

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        operation_name: str = "text_completion",
        provider_name: str = "aws.sagemaker",
    ) -> None:
        self._tracer = trace.get_tracer(
            "sagemaker_rt_async", __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter("sagemaker_rt_async", __version__, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_CHUNK_BUCKETS,
        )
        self.operation_name = operation_name
        self.provider_name = provider_name

    def __repr__(self) -> str:
        return f"<OpenTelemetryHook {self.operation_name!r} {self.provider_name!r}>"

    def __call__(self, event: Event) -> None:
        """Record one event of a call on that call's span."""
        state = event.call.state
        if isinstance(event, CallStarted):
            self._start(event)
            return
        span = state.get(_SPAN)
        if span is None:
            return
        if isinstance(event, RequestSent):
            where = urlsplit(event.url)
            port = where.port or (443 if where.scheme == "https" else 80)
            span.set_attributes(
                {
                    "server.address": where.hostname or "",
                    "server.port": port,
                    "cloud.region": event.region,
                }
            )
            state[_ATTRS]["server.address"] = where.hostname or ""
            state[_ATTRS]["server.port"] = port
        elif isinstance(event, ResponseReceived):
            span.set_attribute("http.response.status_code", event.status_code)
        elif isinstance(event, RetryScheduled):
            span.add_event(
                "retry",
                {
                    "sagemaker_rt_async.attempt": event.attempt,
                    "sagemaker_rt_async.retry_delay_s": event.delay,
                    "error.type": _error_type(event.error),
                },
            )
        elif isinstance(event, FirstPart):
            span.add_event(
                "gen_ai.first_chunk",
                {"gen_ai.client.operation.time_to_first_chunk": event.time_to_first_part},
            )
            self._first_chunk.record(event.time_to_first_part, state[_ATTRS])
        elif isinstance(event, CallEnded):
            self._end(event, span, state[_ATTRS])

    def _start(self, event: CallStarted) -> None:
        call = event.call
        model = call.inference_component_name or call.endpoint_name
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": self.operation_name,
            "gen_ai.provider.name": self.provider_name,
            "gen_ai.request.model": model,
            "rpc.system": "aws-api",
            "rpc.service": "SageMaker Runtime",
            "rpc.method": call.operation,
            "aws.sagemaker.endpoint_name": call.endpoint_name,
        }
        if call.inference_component_name is not None:
            attributes["aws.sagemaker.inference_component_name"] = call.inference_component_name
        if call.target_variant is not None:
            attributes["aws.sagemaker.target_variant"] = call.target_variant
        if call.target_model is not None:
            attributes["aws.sagemaker.target_model"] = call.target_model
        call.state[_SPAN] = self._tracer.start_span(
            f"{self.operation_name} {model}", kind=SpanKind.CLIENT, attributes=attributes
        )
        call.state[_ATTRS] = {
            "gen_ai.operation.name": self.operation_name,
            "gen_ai.provider.name": self.provider_name,
            "gen_ai.request.model": model,
        }

    def _end(self, event: CallEnded, span: Any, metric_attributes: dict[str, Any]) -> None:
        event.call.state.pop(_SPAN, None)
        if event.request_id is not None:
            span.set_attribute("aws.request_id", event.request_id)
        if event.invoked_production_variant is not None:
            span.set_attribute(
                "aws.sagemaker.invoked_production_variant", event.invoked_production_variant
            )
        if event.status_code is not None:
            span.set_attribute("http.response.status_code", event.status_code)
        if event.attempts > 1:
            span.set_attribute("http.request.resend_count", event.attempts - 1)
        if event.call.streaming:
            span.set_attribute("sagemaker_rt_async.parts_received", event.parts_received)
        span.set_attribute("sagemaker_rt_async.bytes_received", event.bytes_received)
        span.set_attribute("sagemaker_rt_async.outcome", event.outcome)
        attributes = dict(metric_attributes)
        if event.error is not None:
            kind = _error_type(event.error)
            span.set_attribute("error.type", kind)
            span.record_exception(event.error)
            span.set_status(Status(StatusCode.ERROR, kind))
            attributes["error.type"] = kind
        elif event.outcome == "cancelled":
            span.set_attribute("error.type", "cancelled")
            attributes["error.type"] = "cancelled"
        self._duration.record(event.elapsed, attributes)
        span.end()


def _error_type(error: BaseException) -> str:
    """Low-cardinality error.type: the service's error code, else the exception's class."""
    if isinstance(error, (ServiceError, StreamError)) and error.error_code:
        return error.error_code
    return type(error).__name__
