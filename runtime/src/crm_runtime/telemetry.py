"""OpenTelemetry wiring: one tracer provider per service, exporters chosen by OTEL_* variables.

The standard variables decide the exporter: ``OTEL_TRACES_EXPORTER=otlp`` (or an
``OTEL_EXPORTER_OTLP_ENDPOINT``) sends spans over OTLP/HTTP, ``console`` prints
them, ``none`` or nothing set keeps them in-process only. ``OTEL_SERVICE_NAME``
overrides the service name. Tests pass their own in-memory exporter instead.
"""

from __future__ import annotations

import os

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def build_tracer_provider(
    service_name: str, *, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A provider for one service; ``exporter`` (tests) wins over the OTEL_* variables."""
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider
    chosen = _chosen_exporter()
    if chosen == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif chosen == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


def _chosen_exporter() -> str | None:
    """The exporter the OTEL_* variables choose: "otlp", "console", or None (none)."""
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen == "otlp" or (not chosen and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return "otlp"
    return "console" if chosen == "console" else None


def spans_exported() -> bool:
    """Whether ``build_tracer_provider`` sends spans anywhere (else they stay in the process,
    where nothing reads them: a service making many spans per second may skip them)."""
    return _chosen_exporter() is not None


def install_global(provider: TracerProvider) -> None:
    """Make ``provider`` the process-wide one (service entry points only, never tests)."""
    trace.set_tracer_provider(provider)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, to store beside what it caused."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    """A context whose parent is the span that ``traceparent`` names (or an empty one)."""
    if not traceparent:
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": traceparent})


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
