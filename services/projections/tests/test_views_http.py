"""The query API of the read models, over ASGI in process (no consumer running)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from customer_events import (
    Record,
    changed,
    metadata,
    opened,
    overdue,
    pipeline,
    placed,
    registered,
    won,
)
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
        "lifecycle_stage",
        "classification",
        "segments",
        "value_tier",
        "tags",
        "open_opportunities",
        "revenue_won",
        "orders",
        "receivables",
        "latest_interactions",
        "last_interaction_at",
        "service",
        "loyalty",
        "assignees",
        "churn_signals",
        "merged_into",
        "merged_from",
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
    body = answer.json()
    assert body.pop("read_models").keys() == {p.name for p in service.projectors}
    assert body == {
        "status": "unavailable",
        "service": "projections",
        "store": "ok",
        "broker": "unreachable",
        "folds": [p.name for p in service.projectors],
        "consumer_group": "crm-projections",
    }


async def fold(service: ProjectionsService, records: list[Record]) -> None:
    for envelope, event in records:
        for projector in service.projectors:
            await projector.apply(envelope, event)


async def test_the_customer_360_shows_the_sales_side_as_json(
    service: ProjectionsService, http: httpx.AsyncClient
) -> None:
    await fold(
        service,
        [
            *pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1", "48000.50")),
            *pipeline("opp_2", opened("opp_2", "cus_1", amount="100.00", probability=10)),
            *pipeline(
                "ord_1",
                *placed("ord_1", "cus_1", "21600.00"),
                overdue("ord_1", "cus_1", "21600.00"),
            ),
        ],
    )
    view = (await http.get("/views/customers/cus_1")).json()
    assert view["revenue_won"] == {"EUR": "48000.50"}
    assert [o["opportunity_id"] for o in view["open_opportunities"]] == ["opp_2"]
    assert (view["orders"]["count"], view["orders"]["last_placed_at"]) == (
        1,
        "2026-11-24T09:30:00Z",
    )
    assert [o["order_id"] for o in view["orders"]["recent"]] == ["ord_1"]
    assert view["receivables"]["overdue_balance"] == {"EUR": "21600.00"}
    assert [s["signal"] for s in view["churn_signals"]] == ["receivable_overdue"]


async def test_the_receivables_views_answer_per_rep_and_in_total(
    service: ProjectionsService, http: httpx.AsyncClient
) -> None:
    await fold(service, pipeline("ord_1", *placed("ord_1", "cus_1", "21600.00")))
    await fold(service, pipeline("ord_2", *placed("ord_2", "cus_2", "5.00", owner_id="u2")))
    listed = await http.get("/views/receivables", params={"team": "north"})
    assert listed.status_code == 200
    body = listed.json()
    assert [(rep["owner_id"], rep["open_total"]) for rep in body["reps"]] == [
        ("u1", {"EUR": "21600.00"}),
        ("u2", {"EUR": "5.00"}),
    ]
    assert {k: v for k, v in body.items() if k != "reps"} == {
        "open_total": {"EUR": "21605.00"},
        "overdue_total": {},
        "open_count": 2,
        "overdue_count": 0,
    }
    one = (await http.get("/views/receivables/u1")).json()
    assert one["receivables"] == [
        {
            "order_id": "ord_1",
            "customer_id": "cus_1",
            "total": "21600.00",
            "balance": "21600.00",
            "currency": "EUR",
            "due_date": "2026-12-24",
            "overdue": False,
        }
    ]
    assert (await http.get("/views/receivables/u9")).status_code == 404


async def test_the_forecast_answers_a_period_and_refuses_anything_else(
    service: ProjectionsService, http: httpx.AsyncClient
) -> None:
    await fold(
        service, pipeline("opp_1", opened("opp_1", "cus_1", amount="1000.00", probability=10))
    )
    answer = await http.get("/views/forecast", params={"period": "2027-03"})
    assert answer.status_code == 200
    assert answer.json() == {
        "period": "2027-03",
        "owner_id": None,
        "team": None,
        "totals": {"EUR": {"weighted": "100.00", "amount": "1000.00", "count": 1}},
        "by_team": [
            {
                "team": "north",
                "totals": {"EUR": {"weighted": "100.00", "amount": "1000.00", "count": 1}},
            }
        ],
        "by_rep": [
            {
                "owner_id": "u1",
                "team": "north",
                "totals": {"EUR": {"weighted": "100.00", "amount": "1000.00", "count": 1}},
            }
        ],
    }
    for bad in ({"period": "2027-Q5"}, {}):
        refused = await http.get("/views/forecast", params=bad)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_the_lifespan_creates_every_topic_it_consumes(
    service: ProjectionsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[list[str]] = []

    async def ensure_topics(_: str, topics: list[str]) -> None:
        created.append(topics)

    async def nothing() -> None:
        return None

    monkeypatch.setattr("crm_projections.entrypoints.http.ensure_topics", ensure_topics)
    monkeypatch.setattr(service.broker, "start", nothing)
    monkeypatch.setattr(service.broker, "stop", nothing)
    app = create_app(service)
    async with app.router.lifespan_context(app):
        pass
    assert created == [
        [
            "crm.contacts.events",
            "crm.pipeline.events",
            "crm.tickets.events",
            "crm.loyalty.events",
            "crm.projections.dlt",
        ]
    ]


def test_where_the_pipeline_is_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PIPELINE_TOPIC", "other.pipeline")
    monkeypatch.setenv("CRM_PIPELINE_DATABASE", "pipeline_db")
    monkeypatch.setenv("CRM_PIPELINE_MONGODB_URL", "mongodb://pipeline:27017")
    settings = ProjectionsSettings()
    assert (settings.pipeline_topic, settings.pipeline_database, settings.pipeline_mongodb_url) == (
        "other.pipeline",
        "pipeline_db",
        "mongodb://pipeline:27017",
    )
