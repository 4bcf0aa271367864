"""Each read model records its position per source; its lag is measured against the stores'
heads, exposed as metrics and in ``GET /views/health``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from customer_events import NOW, changed, metadata, registered
from test_blue_green import appended, consume_all, fold_last
from test_consumer import record, running
from test_projections_rebuild import seed
from test_views_http import client_of

from crm_contracts import cloudevents
from crm_projections.application.positions import PositionLog
from crm_projections.application.rebuild import rebuild
from crm_projections.bootstrap import ProjectionsService
from crm_projections.entrypoints import http


def gauge(service: ProjectionsService, name: str, **labels: str) -> float | None:
    return service.metrics.get_sample_value(name, labels)


async def test_the_lag_is_what_the_stores_hold_past_the_positions_folded(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await consume_all(projections.projectors, contacts, pipeline)
    assert await contacts.store.head_position() == 3
    assert await pipeline.store.head_position() == 7

    lag = await projections.lag.of(projections.customer360)

    assert lag.generation == 0
    assert (lag.events_behind, lag.seconds_behind) == (0, 0.0)
    assert lag.sources["contacts"].as_json() == {
        "position": 3,
        "time": NOW.isoformat(),
        "head": 3,
        "events_behind": 0,
        "seconds_behind": 0.0,
    }
    assert lag.sources["pipeline"].position == 7
    # Sources with no events yet: nothing to be behind.
    assert lag.sources["tickets"].as_json()["events_behind"] == 0
    assert lag.sources["loyalty"].as_json()["head"] == 0

    # Two commits appended to the contacts store and not folded yet.
    await appended(contacts, "cus_a", changed("cus_a", name="Ada King"))
    await appended(contacts, "cus_c", registered("cus_c", "Katherine Johnson"))
    behind = await projections.lag.of(projections.customer360)

    contacts_lag = behind.sources["contacts"]
    assert (contacts_lag.position, contacts_lag.head, contacts_lag.events_behind) == (3, 5, 2)
    age = (datetime.now(UTC) - NOW).total_seconds()  # the oldest commit not folded
    assert contacts_lag.seconds_behind == pytest.approx(age, abs=5)
    assert behind.events_behind == 2
    assert behind.seconds_behind == contacts_lag.seconds_behind
    labels = {"projection": "customer360", "source": "contacts"}
    assert gauge(projections, "crm_projection_lag_events", **labels) == 2
    assert gauge(projections, "crm_projection_position", **labels) == 3
    assert gauge(projections, "crm_projection_lag_seconds", **labels) == pytest.approx(age, abs=5)
    assert gauge(projections, "crm_projection_generation", projection="customer360") == 0

    # The live path records the highest position folded: a commit on a partition that
    # lags behind it is not counted (crm_consumer_lag_events shows that partition).
    await fold_last(projections.projectors, contacts)
    assert (await projections.lag.of(projections.customer360)).events_behind == 0


async def test_positions_only_grow_and_keep_the_latest_time(memory_client: Any) -> None:
    log = PositionLog(memory_client["crm_projections"]["positions"], "customer360")
    later = NOW + timedelta(minutes=5)
    log.note(0, "/crm/contacts", 7, later)
    await log.flush()
    log.note(0, "/crm/contacts", 5, NOW)  # a redelivery of an older event
    log.note(0, "/crm/pipeline", None, NOW)  # an event from a relay that sends no position
    await log.flush()

    found = await log.read(0)

    assert found["contacts"].position == 7
    assert found["contacts"].time == later
    assert found["pipeline"].position is None
    assert found["pipeline"].time == NOW


async def test_a_rebuilt_read_model_reports_the_positions_of_its_new_generation(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await rebuild([projections.receivables], [contacts, pipeline])

    lag = await projections.lag.of(projections.receivables)

    assert lag.generation == 1
    # the receivables fold pipeline events only: they are behind no other store
    assert {s: found.position for s, found in lag.sources.items()} == {"pipeline": 7}
    assert lag.events_behind == 0


@pytest.fixture
async def reachable_broker(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async def reachable(_: str) -> bool:
        return True

    monkeypatch.setattr(http, "kafka_reachable", reachable)
    yield


async def test_health_answers_each_read_models_lag_per_source(
    projections: ProjectionsService, memory_client: Any, reachable_broker: None
) -> None:
    contacts, pipeline = await seed(memory_client)
    await consume_all(projections.projectors, contacts, pipeline)
    await appended(contacts, "cus_a", changed("cus_a", name="Ada King"))

    async with client_of(projections) as client:
        answer = await client.get("/views/health")

    assert answer.status_code == 200  # behind is not down: the views still answer
    body = answer.json()
    assert (body["status"], body["store"], body["broker"]) == ("ok", "ok", "ok")
    assert set(body["read_models"]) == {p.name for p in projections.projectors}
    customer360 = body["read_models"]["customer360"]
    assert customer360["generation"] == 0
    assert customer360["events_behind"] == 1
    assert customer360["seconds_behind"] > 0
    assert set(customer360["sources"]) == {"contacts", "pipeline", "tickets", "loyalty"}
    assert customer360["sources"]["contacts"] == {
        "position": 3,
        "time": NOW.isoformat(),
        "head": 4,
        "events_behind": 1,
        "seconds_behind": customer360["seconds_behind"],
    }
    assert customer360["sources"]["pipeline"]["events_behind"] == 0


async def test_the_consumer_records_the_position_the_relay_sends(
    projections: ProjectionsService,
) -> None:
    event = registered("cus_1")
    key, headers, body = record(event, metadata(event, "cus_1", 1))
    async for kafka in running(projections):
        await kafka.publish((key, {**headers, cloudevents.POSITION: "41"}, body))
        await kafka.publish(record(event, metadata(event, "cus_1", 1)))  # an older relay
        lag = await projections.lag.of(projections.customer360)
    assert lag.sources["contacts"].position == 41
    assert lag.sources["contacts"].events_behind == 0  # the store holds nothing here


async def test_a_position_that_is_not_a_number_is_dead_lettered(
    projections: ProjectionsService,
) -> None:
    event = registered("cus_1")
    key, headers, body = record(event, metadata(event, "cus_1", 1))
    async for kafka in running(projections):
        await kafka.publish((key, {**headers, cloudevents.POSITION: "-3"}, body))
        assert len(kafka.dead_letters) == 1
    assert await projections.customer360.get("cus_1") is None
