"""Fixtures of the projections tests: in-memory stores, the projector, the wired service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_projections.application.projector import Customer360Projector
from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_runtime.telemetry import build_tracer_provider


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    return build_tracer_provider("crm-projections", exporter=span_exporter)


@pytest.fixture
def projector(memory_client: Any, tracer_provider: TracerProvider) -> Customer360Projector:
    return Customer360Projector(
        memory_client["crm_projections"], tracer_provider.get_tracer("test")
    )


@pytest.fixture
def settings(tmp_path: Path) -> ProjectionsSettings:
    """The in-memory store, and a token signing key of this test's own."""
    return ProjectionsSettings(embedded_backend="memory", max_attempts=2, data_dir=tmp_path)


@pytest.fixture
def service(
    settings: ProjectionsSettings, memory_client: Any, tracer_provider: TracerProvider
) -> ProjectionsService:
    return bootstrap(settings, document_client=memory_client, tracer_provider=tracer_provider)


@pytest.fixture
def projections(
    memory_client: Any, tracer_provider: TracerProvider, tmp_path: Path
) -> ProjectionsService:
    """Every read model on the in-memory store (the default settings)."""
    settings = ProjectionsSettings(embedded_backend="memory", data_dir=tmp_path)
    return bootstrap(settings, document_client=memory_client, tracer_provider=tracer_provider)
