"""Fixtures of the contacts tests: a service of each test's own, and callers with real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import tinymongo
from contacts_testing import ClientFactory
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_contacts.bootstrap import ContactsService, bootstrap, utc_now
from crm_contacts.config import ContactsSettings
from crm_contacts.entrypoints.http import create_app
from crm_runtime.auth import mint_token
from crm_runtime.telemetry import build_tracer_provider


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ContactsSettings:
    """The in-memory store and a token signing key of this test's own.

    Parametrise it indirectly with a dict to change settings, e.g. ``{"rate_limit": "3/minute"}``.
    """
    overrides: dict[str, Any] = getattr(request, "param", {})
    return ContactsSettings(embedded_backend="memory", data_dir=tmp_path, **overrides)


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return utc_now


@pytest.fixture
async def service(
    settings: ContactsSettings,
    span_exporter: InMemorySpanExporter,
    clock: Callable[[], datetime],
) -> AsyncIterator[ContactsService]:
    """The contacts service wired by bootstrap, started as its lifespan would."""
    service = bootstrap(
        settings,
        document_client=tinymongo.AsyncMongoClient(backend="memory", tz_aware=True),
        tracer_provider=build_tracer_provider("crm-contacts-test", exporter=span_exporter),
        clock=clock,
    )
    await service.start()
    yield service
    await service.close()


@pytest.fixture
def app(service: ContactsService) -> FastAPI:
    return create_app(service)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[ClientFactory]:
    """``client(headers)``: an HTTP client of the app sending these headers (none by default).

    Server errors come back as answers (a 500), not as exceptions, so tests can assert on them.
    """
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    opened: list[httpx.AsyncClient] = []

    def open_client(headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(
            transport=transport, base_url="http://contacts.test", headers=headers or {}
        )
        opened.append(http)
        return http

    yield open_client
    for http in opened:
        await http.aclose()


@pytest.fixture
def signed_in(client: ClientFactory, settings: ContactsSettings) -> ClientFactory:
    """``signed_in(*roles, subject="u1", team="north")``: a client with a fresh token for them."""

    def as_caller(
        *roles: str, subject: str = "u1", team: str | None = "north"
    ) -> httpx.AsyncClient:
        token = mint_token(settings, subject=subject, roles=list(roles), team=team)
        return client({"Authorization": f"Bearer {token}"})

    return as_caller
