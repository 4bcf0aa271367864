"""Fixtures of the loyalty tests: a service of each test's own, a clock, callers with tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import tinymongo
from fastapi import FastAPI
from loyalty_testing import ClientFactory, Clock
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_loyalty.bootstrap import LoyaltyService, bootstrap
from crm_loyalty.config import LoyaltySettings
from crm_loyalty.entrypoints.http import create_app
from crm_runtime.auth import mint_token
from crm_runtime.telemetry import build_tracer_provider


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> LoyaltySettings:
    """In-memory store, a signing key of this test's own; parametrise indirectly to change."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return LoyaltySettings(
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
    settings: LoyaltySettings, span_exporter: InMemorySpanExporter, clock: Clock, store_client: Any
) -> AsyncIterator[LoyaltyService]:
    numbers = count(1)
    service = bootstrap(
        settings,
        document_client=store_client,
        tracer_provider=build_tracer_provider("crm-loyalty-test", exporter=span_exporter),
        clock=clock,
        id_factory=lambda prefix: f"{prefix}_{next(numbers):04x}",
    )
    await service.start()
    yield service
    await service.close()


@pytest.fixture
def app(service: LoyaltyService) -> FastAPI:
    return create_app(service)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[ClientFactory]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    opened: list[httpx.AsyncClient] = []

    def open_client(headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(
            transport=transport, base_url="http://loyalty.test", headers=headers or {}
        )
        opened.append(http)
        return http

    yield open_client
    for http in opened:
        await http.aclose()


@pytest.fixture
def signed_in(client: ClientFactory, settings: LoyaltySettings) -> ClientFactory:
    """``signed_in(*roles, subject="u1", team="sto_mitte")``: a client with a fresh token."""

    def as_caller(
        *roles: str, subject: str = "u1", team: str | None = "sto_mitte"
    ) -> httpx.AsyncClient:
        token = mint_token(settings, subject=subject, roles=list(roles), team=team)
        return client({"Authorization": f"Bearer {token}"})

    return as_caller
