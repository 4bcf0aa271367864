"""Pipeline streams on the document store: routed by what their first event named, and the
receivables and forecast read models beside the customer 360."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from customer_events import (
    drafted,
    metadata,
    opened,
    paid,
    pipeline,
    placed,
    registered,
    won,
)
from opentelemetry.sdk.trace import TracerProvider

from crm_contracts import pipeline as p
from crm_projections.application.projector import (
    Applied,
    Customer360Projector,
    ForecastProjector,
    OutOfOrder,
    ReceivablesProjector,
    StreamRoutes,
)
from crm_projections.domain.streams import stream_key


@pytest.fixture
def receivables(memory_client: Any, tracer_provider: TracerProvider) -> ReceivablesProjector:
    return ReceivablesProjector(memory_client["crm_projections"], tracer_provider.get_tracer("t"))


@pytest.fixture
def forecast(memory_client: Any, tracer_provider: TracerProvider) -> ForecastProjector:
    return ForecastProjector(memory_client["crm_projections"], tracer_provider.get_tracer("t"))


async def test_a_stream_is_routed_to_the_customer_its_first_event_named(
    projector: Customer360Projector, memory_client: Any
) -> None:
    for envelope, event in pipeline(
        "quo_1", drafted("quo_1", "opp_1", "cus_1"), p.QuoteSent(quote_id="quo_1")
    ):
        assert await projector.apply(envelope, event) is Applied.APPLIED
    routes = [r async for r in memory_client["crm_projections"]["stream_customers"].find({})]
    assert routes == [{"_id": "pipeline:quo_1", "customer_id": "cus_1"}]
    view = await projector.get("cus_1")
    assert view is not None
    assert (view["profile"], view["streams"]) == (None, {"pipeline:quo_1": 2})


async def test_an_unnamed_event_of_an_unknown_stream_is_out_of_order_and_writes_nothing(
    projector: Customer360Projector, memory_client: Any
) -> None:
    ((envelope, event),) = pipeline("quo_1", p.QuoteSent(quote_id="quo_1"), first=2)
    with pytest.raises(OutOfOrder, match="has not seen the first event of stream pipeline:quo_1"):
        await projector.apply(envelope, event)
    assert await projector.documents.count_documents({}) == 0
    assert await memory_client["crm_projections"]["stream_customers"].count_documents({}) == 0


async def test_lead_streams_are_ignored(projector: Customer360Projector) -> None:
    lead = p.LeadQualified(lead_id="lead_1", opportunity_id="opp_1", customer_id="cus_1")
    ((envelope, event),) = pipeline("lead_1", lead)
    assert await projector.apply(envelope, event) is Applied.IGNORED
    assert await projector.documents.count_documents({}) == 0


async def test_racing_writers_learn_one_route(memory_client: Any) -> None:
    routes = StreamRoutes(memory_client["views"]["stream_customers"], "customer_id")
    learnt = await asyncio.gather(
        routes.resolve("pipeline:ord_1", "cus_1"),
        routes.resolve("pipeline:ord_1", "cus_2"),
        routes.resolve("pipeline:ord_1", None),
    )
    assert len(set(learnt) - {None}) == 1
    assert await routes.resolve("pipeline:ord_1", None) in {"cus_1", "cus_2"}


async def test_pipeline_events_before_the_registration_make_the_document(
    projector: Customer360Projector,
) -> None:
    for envelope, event in pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1")):
        await projector.apply(envelope, event)
    first = registered("cus_1")
    assert await projector.apply(metadata(first, "cus_1", 1), first) is Applied.APPLIED
    view = await projector.get("cus_1")
    assert view is not None
    assert (view["profile"]["name"], view["revenue_won"]) == ("Ada Lovelace", {"EUR": "48000.00"})
    assert view["streams"] == {"pipeline:opp_1": 2, "contacts:cus_1": 1}


async def test_receivables_by_rep_are_kept_and_queried_by_owner_and_team(
    receivables: ReceivablesProjector,
) -> None:
    history = [
        *pipeline(
            "ord_1", *placed("ord_1", "cus_1", "100.00"), paid("ord_1", "cus_1", "40.00", "60.00")
        ),
        *pipeline("ord_2", *placed("ord_2", "cus_2", "5.00", owner_id="u3", team="south")),
    ]
    for envelope, event in history:
        assert await receivables.apply(envelope, event) is Applied.APPLIED
    assert await receivables.apply(*history[0]) is Applied.DUPLICATE
    u1 = await receivables.get("u1")
    assert u1 is not None
    assert (u1["open_total"], u1["open_count"]) == ({"EUR": "60.00"}, 1)
    assert [v["owner_id"] for v in await receivables.find({"team": "south"}, limit=10)] == ["u3"]
    assert [v["owner_id"] for v in await receivables.find({}, limit=10)] == ["u1", "u3"]
    assert await receivables.get("u9") is None


async def test_the_forecast_sums_the_open_rows_of_a_period(forecast: ForecastProjector) -> None:
    await forecast.create_indexes()
    history = [
        *pipeline("opp_1", opened("opp_1", "cus_1", amount="1000.00", closes=date(2027, 2, 1))),
        *pipeline("opp_2", opened("opp_2", "cus_2", amount="500.00", closes=date(2027, 4, 1))),
        *pipeline(
            "opp_3", opened("opp_3", "cus_3", closes=date(2027, 3, 1)), won("opp_3", "cus_3")
        ),
        *pipeline("opp_4", opened("opp_4", "cus_4", amount="10.00", owner_id="u3", team="south")),
    ]
    for envelope, event in history:
        await forecast.apply(envelope, event)
    quarter = await forecast.summary("2027-Q1", {})
    assert quarter["totals"] == {"EUR": {"weighted": "101.00", "amount": "1010.00", "count": 2}}
    north = await forecast.summary("2027-Q1", {"team": "north"})
    assert north["totals"] == {"EUR": {"weighted": "100.00", "amount": "1000.00", "count": 1}}
    assert (await forecast.summary("2027-04", {}))["totals"]["EUR"]["count"] == 1
    assert (await forecast.summary("2027", {"owner_id": "u1"}))["totals"]["EUR"]["count"] == 2


def test_a_stream_key_names_each_event_s_own_context_and_subject_in_turn() -> None:
    """The key of the last event asked about is kept; asking about others in turn, or about
    a copy of the last with another subject, gives each its own."""
    first = metadata(registered("cus_1"), "cus_1", 1, source="/crm/contacts")
    second = metadata(paid("ord_1", "cus_1", "5.00", "0.00"), "ord_1", 2, source="/crm/pipeline/")
    for _ in range(2):
        assert stream_key(first) == "contacts:cus_1"
        assert stream_key(second) == "pipeline:ord_1"
    assert stream_key(first.model_copy(update={"subject": "cus_2"})) == "contacts:cus_2"
    assert stream_key(first) == "contacts:cus_1"
