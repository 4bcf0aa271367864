"""Fixtures shared by every test: the embedded broker, stores, tracing, a service's callers.

A service's tests/conftest.py declares what differs: its ``settings``, its ``service`` (wired
with ``wiring``), its ``app``, the ``app_url`` its clients call and its callers' ``home_team``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crm_runtime import testing
from crm_runtime.settings import RuntimeSettings


@pytest.fixture(scope="session")
def embedded_kafka() -> Iterator[str]:
    """A Tansu broker (the embedded default) on a free loopback port, for the whole session."""
    from crm_stack.embedded_broker import embedded_broker

    with embedded_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def memory_settings() -> RuntimeSettings:
    return RuntimeSettings(embedded_backend="memory")


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "store", embedded_backend="sqlite")


@pytest.fixture
def span_exporter():  # type: ignore[no-untyped-def]
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


@pytest.fixture
async def memory_client() -> AsyncIterator[object]:
    client = testing.memory_document_client()
    yield client
    await client.close()


@pytest.fixture
def store_client() -> Any:
    """The in-memory store a test's service is wired to (left open for the service to close)."""
    return testing.memory_document_client()


@pytest.fixture
def clock() -> Callable[[], Any]:
    """A clock the test moves by hand (``clock.advance(days=1)``), at ``testing.NOW``."""
    return testing.Clock()


@pytest.fixture
def wiring(span_exporter: Any, clock: Any, store_client: Any) -> Callable[..., dict[str, Any]]:
    """``wiring(name, numbered=True)``: what a test's ``bootstrap`` is given besides settings.

    The test's store, spans kept in ``span_exporter``, the test's clock, and, if ``numbered``,
    ids counted up per prefix (``ord_0001``) instead of random ones.
    """

    def given_to_bootstrap(name: str, *, numbered: bool = True) -> dict[str, Any]:
        wired: dict[str, Any] = {
            "document_client": store_client,
            "tracer_provider": testing.tracer_provider(name, span_exporter),
            "clock": clock,
        }
        if numbered:
            wired["id_factory"] = testing.numbered_ids()
        return wired

    return given_to_bootstrap


@pytest.fixture
async def client(app: Any, app_url: str) -> AsyncIterator[testing.ClientFactory]:
    """``client(headers)``: an HTTP client of the app sending these headers (none by default).

    Server errors come back as answers (a 500), not as exceptions, so tests can assert on them.
    """
    clients = testing.Clients(app, app_url)
    yield clients
    await clients.aclose()


@pytest.fixture
def signed_in(
    client: testing.ClientFactory, settings: RuntimeSettings, home_team: str | None
) -> testing.ClientFactory:
    """``signed_in(*roles, subject="u1", team=home_team)``: a client with a fresh token for them."""

    def as_caller(
        *roles: str, subject: str = "u1", team: str | None = home_team
    ) -> httpx.AsyncClient:
        return client(testing.bearer(settings, *roles, subject=subject, team=team))

    return as_caller
