"""The query API of the read models, over ASGI in process (no consumer running)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from customer_events import changed, metadata, registered
from opentelemetry.sdk.trace import TracerProvider

from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_projections.entrypoints.http import create_app
from crm_runtime.auth import mint_token
from tests.support import free_port


def client_of(service: ProjectionsService, role: str = "admin") -> httpx.AsyncClient:
    """A client of the views API whose every request carries a token for ``role``."""
    transport = httpx.ASGITransport(app=create_app(service, consume=False))
    token = mint_token(service.settings, subject="u1", roles=[role], team="north")
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://projections",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
async def http(service: ProjectionsService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(service) as client:
        yield client


async def test_the_customer_360_answers_with_its_public_view(
    service: ProjectionsService, http: httpx.AsyncClient
) -> None:
    first, second = registered("cus_1", "Ada Lovelace"), changed("cus_1", cleared=("phone",))
    await service.customer360.apply(metadata(first, "cus_1", 1), first)
    last = metadata(second, "cus_1", 2)
    await service.customer360.apply(last, second)

    answer = await http.get("/views/customers/cus_1")

    assert answer.status_code == 200
    view = answer.json()
    assert set(view) == {
        "customer_id",
        "profile",
        "owner",
        "erased",
        "registered_at",
        "updated_at",
        "last_event_id",
        "streams",
    }
    assert view["customer_id"] == "cus_1"
    assert view["profile"] == {
        "name": "Ada Lovelace",
        "kind": "person",
        "email": "ada@example.com",
        "phone": None,
    }
    assert view["streams"] == {"contacts:cus_1": 2}
    assert view["last_event_id"] == last.id
    assert datetime.fromisoformat(view["updated_at"]) == last.time


async def test_an_unknown_customer_is_a_not_found_problem(http: httpx.AsyncClient) -> None:
    answer = await http.get("/views/customers/cus_nobody")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"] == "urn:crm:problem:not-found"
    assert problem["status"] == 404
    assert problem["instance"] == "/views/customers/cus_nobody"
    assert "cus_nobody" in problem["detail"]


async def test_health_says_which_dependency_is_down(
    memory_client: Any, tracer_provider: TracerProvider
) -> None:
    nothing_listens = f"127.0.0.1:{free_port()}"
    service = bootstrap(
        ProjectionsSettings(embedded_backend="memory", kafka_bootstrap_servers=nothing_listens),
        document_client=memory_client,
        tracer_provider=tracer_provider,
    )
    async with client_of(service) as http:
        answer = await http.get("/views/health")

    assert answer.status_code == 503
    assert answer.json() == {
        "status": "unavailable",
        "service": "projections",
        "store": "ok",
        "broker": "unreachable",
    }
