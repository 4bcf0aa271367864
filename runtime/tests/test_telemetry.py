"""The standard OTEL_* variables choose the span exporter."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from crm_runtime.telemetry import build_tracer_provider, context_from_traceparent


def exporters(provider: object) -> list[type]:
    processors = provider._active_span_processor._span_processors  # type: ignore[attr-defined]
    return [type(p.span_exporter) for p in processors]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, [OTLPSpanExporter]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, [OTLPSpanExporter]),
        ({"OTEL_TRACES_EXPORTER": "console"}, [ConsoleSpanExporter]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, []),
    ],
)
def test_exporter_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: list[type]
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provider = build_tracer_provider("crm-test")
    assert exporters(provider) == expected
    provider.shutdown()


def test_service_name_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "contacts-eu")
    assert (
        build_tracer_provider("crm-contacts").resource.attributes["service.name"] == "contacts-eu"
    )


def test_a_stored_traceparent_becomes_the_parent_context() -> None:
    from opentelemetry import trace

    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    span_context = trace.get_current_span(context_from_traceparent(parent)).get_span_context()
    assert format(span_context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span_context.is_remote
    assert (
        trace.get_current_span(context_from_traceparent(None)).get_span_context().is_valid is False
    )
