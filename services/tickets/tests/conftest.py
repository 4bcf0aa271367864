"""Fixtures of the tickets tests: a service of each test's own, a clock, callers with tokens."""

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
from tickets_testing import LEAD, TEAM, ClientFactory, Clock

from crm_runtime.auth import mint_token
from crm_runtime.telemetry import build_tracer_provider
from crm_tickets.bootstrap import TicketsService, bootstrap
from crm_tickets.config import TicketsSettings
from crm_tickets.entrypoints.http import create_app


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> TicketsSettings:
    """The in-memory store and a token signing key of this test's own.

    Parametrise it indirectly with a dict to change settings, e.g. ``{"team_leads": {...}}``.
    """
    overrides: dict[str, Any] = getattr(request, "param", {})
    values: dict[str, Any] = {"team_leads": {TEAM: LEAD}, **overrides}
    return TicketsSettings(
        embedded_backend="memory", data_dir=tmp_path, rate_limit="100000/second", **values
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store_client() -> Any:
    return tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)


@pytest.fixture
async def service(
    settings: TicketsSettings, span_exporter: InMemorySpanExporter, clock: Clock, store_client: Any
) -> AsyncIterator[TicketsService]:
    """The tickets service wired by bootstrap, started as its lifespan would."""
    numbers = count(1)
    service = bootstrap(
        settings,
        document_client=store_client,
        tracer_provider=build_tracer_provider("crm-tickets-test", exporter=span_exporter),
        clock=clock,
        id_factory=lambda prefix: f"{prefix}_{next(numbers):04x}",
    )
    await service.start()
    yield service
    await service.close()


@pytest.fixture
def app(service: TicketsService) -> FastAPI:
    return create_app(service)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[ClientFactory]:
    """``client(headers)``: an HTTP client of the app sending these headers (none by default)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    opened: list[httpx.AsyncClient] = []

    def open_client(headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(
            transport=transport, base_url="http://tickets.test", headers=headers or {}
        )
        opened.append(http)
        return http

    yield open_client
    for http in opened:
        await http.aclose()


@pytest.fixture
def signed_in(client: ClientFactory, settings: TicketsSettings) -> ClientFactory:
    """``signed_in(*roles, subject="u1", team="north")``: a client with a fresh token for them."""

    def as_caller(*roles: str, subject: str = "u1", team: str | None = TEAM) -> httpx.AsyncClient:
        token = mint_token(settings, subject=subject, roles=list(roles), team=team)
        return client({"Authorization": f"Bearer {token}"})

    return as_caller
