"""Fixtures of the pipeline tests: a service of each test's own, a clock, callers with tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import tinymongo
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pipeline_testing import ClientFactory, Clock

from crm_pipeline.bootstrap import PipelineService, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_pipeline.entrypoints.http import create_app
from crm_runtime.auth import mint_token
from crm_runtime.telemetry import build_tracer_provider


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> PipelineSettings:
    """The in-memory store and a token signing key of this test's own.

    Parametrise it indirectly with a dict to change settings, e.g. ``{"payment_terms_days": 14}``.
    """
    overrides: dict[str, Any] = getattr(request, "param", {})
    return PipelineSettings(
        embedded_backend="memory", data_dir=tmp_path, rate_limit="100000/second", **overrides
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store_client() -> Any:
    return tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)


@pytest.fixture
async def service(
    settings: PipelineSettings, span_exporter: InMemorySpanExporter, clock: Clock, store_client: Any
) -> AsyncIterator[PipelineService]:
    """The pipeline service wired by bootstrap, started as its lifespan would."""
    numbers = count(1)
    service = bootstrap(
        settings,
        document_client=store_client,
        tracer_provider=build_tracer_provider("crm-pipeline-test", exporter=span_exporter),
        clock=clock,
        id_factory=lambda prefix: f"{prefix}_{next(numbers):04x}",
    )
    await service.start()
    yield service
    await service.close()


@pytest.fixture
def app(service: PipelineService) -> FastAPI:
    return create_app(service)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[ClientFactory]:
    """``client(headers)``: an HTTP client of the app sending these headers (none by default)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    opened: list[httpx.AsyncClient] = []

    def open_client(headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(
            transport=transport, base_url="http://pipeline.test", headers=headers or {}
        )
        opened.append(http)
        return http

    yield open_client
    for http in opened:
        await http.aclose()


@pytest.fixture
def signed_in(client: ClientFactory, settings: PipelineSettings) -> ClientFactory:
    """``signed_in(*roles, subject="u1", team="north")``: a client with a fresh token for them."""

    def as_caller(
        *roles: str, subject: str = "u1", team: str | None = "north"
    ) -> httpx.AsyncClient:
        token = mint_token(settings, subject=subject, roles=list(roles), team=team)
        return client({"Authorization": f"Bearer {token}"})

    return as_caller
