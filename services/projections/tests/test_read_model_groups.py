"""Processes folding groups of the read models (``CRM_PROJECTIONS_FOLD``), each group's
read models in a database of its own if so placed (``CRM_PROJECTIONS_DATABASES``): every
group gets every record (a consumer group per group), folds only its read models, and
every process serves the views of all of them."""

from __future__ import annotations

from typing import Any

import pytest
from customer_events import metadata, opened, pipeline, registered
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError
from test_batch_fold import as_records, consumer_of, mixed_histories

from crm_contracts import cloudevents
from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import READ_MODELS, ProjectionsSettings
from crm_projections.domain.streams import folded_types

CUSTOMERS = "customer360,customer_rows"
PLACED = "customer360=crm_customers,customer_rows=crm_customers"


def test_the_settings_name_the_read_models_in_fold_order() -> None:
    settings = ProjectionsSettings(
        embedded_backend="memory",
        CRM_PROJECTIONS_FOLD=" customer_rows, customer360 ",
        CRM_PROJECTIONS_DATABASES=PLACED,
    )
    assert settings.folded == ("customer360", "customer_rows")
    assert settings.group_id == "crm-projections.customer360+customer_rows"
    assert settings.database_of("customer_rows") == "crm_customers"
    assert settings.database_of("deals") == "crm_projections"
    every = ProjectionsSettings(embedded_backend="memory")
    assert (every.folded, every.group_id) == (READ_MODELS, "crm-projections")
    named = [p.name for p in bootstrap(every).projectors]
    assert tuple(named) == READ_MODELS


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CRM_PROJECTIONS_FOLD", "customer360,dealz", "unknown read model dealz"),
        ("CRM_PROJECTIONS_DATABASES", "deals", "'deals' is not read_model=database"),
        ("CRM_PROJECTIONS_DATABASES", "deals=", "'deals=' is not read_model=database"),
        ("CRM_PROJECTIONS_DATABASES", "dealz=x", "unknown read model dealz"),
        ("CRM_PROJECTIONS_DATABASES", "deals=x,deals=y", "deals is placed twice"),
    ],
)
def test_a_group_or_a_placement_that_names_no_read_model_is_refused(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ProjectionsSettings(embedded_backend="memory", **{variable: value})


def group(memory_client: Any, fold: str) -> ProjectionsService:
    placed = ProjectionsSettings(
        embedded_backend="memory", CRM_PROJECTIONS_FOLD=fold, CRM_PROJECTIONS_DATABASES=PLACED
    )
    return bootstrap(placed, document_client=memory_client)


def test_a_group_consumes_the_topics_of_the_events_its_read_models_fold(
    memory_client: Any,
) -> None:
    every = bootstrap(ProjectionsSettings(embedded_backend="memory"), document_client=memory_client)
    assert every.topics == every.settings.topics
    assert group(memory_client, CUSTOMERS).topics == every.settings.topics  # the 360: all
    sales = group(memory_client, "deals,forecast,tickets,members")
    assert sales.topics == [
        sales.settings.pipeline_topic,
        sales.settings.tickets_topic,
        sales.settings.loyalty_topic,
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=mixed_histories())
def test_whether_a_read_model_folds_an_event_depends_on_its_type_alone(
    streams: dict[str, list[Any]],
) -> None:
    """What ``folded_types`` derives from placeholder events is what ``target`` answers
    for real ones, so a group's topics never leave out an event one of its models folds."""
    service = bootstrap(ProjectionsSettings(embedded_backend="memory"))
    folded = {p.name: folded_types(p.model) for p in service.projectors}
    for records in streams.values():
        for envelope, event in records:
            for projector in service.projectors:
                aimed = projector.model.target(envelope, event) is not None
                assert aimed == (event.event_type in folded[projector.name]), projector.name


async def test_each_group_folds_its_read_models_and_serves_all_of_them(memory_client: Any) -> None:
    customers = group(memory_client, CUSTOMERS)
    others = ",".join(name for name in READ_MODELS if name not in CUSTOMERS.split(","))
    sales = group(memory_client, others)
    event = registered("cus_1")
    records = as_records(
        [(metadata(event, "cus_1", 1), event), *pipeline("opp_1", opened("opp_1", "cus_1"))]
    )

    await consumer_of(customers).fold_batch(records)
    assert await customers.customer360.get("cus_1") is not None
    assert await sales.deals.documents.find_one({"_id": "deal_1"}) is None  # not its group
    await consumer_of(sales).fold_batch(records)

    stored = await memory_client["crm_customers"]["customer360"].find_one({"_id": "cus_1"})
    assert stored["streams"] == {"contacts:cus_1": 1, "pipeline:opp_1": 1}
    assert await memory_client["crm_projections"]["customer360"].find_one({}) is None
    for service in (customers, sales):  # every process reads every read model
        assert (await service.customer360.get("cus_1"))["customer_id"] == "cus_1"
        assert (await service.deals.documents.find_one({"_id": "deal_1"})) is not None
        assert await service.customer_rows.documents.find_one({"_id": "cus_1"}) is not None
    assert [p.name for p in customers.folding] == ["customer360", "customer_rows"]
    assert customers.settle_lease()._name != sales.settle_lease()._name


async def test_a_groups_poison_record_is_dead_lettered_under_its_own_consumer_group(
    memory_client: Any,
) -> None:
    customers = group(memory_client, CUSTOMERS)
    letters: list[dict[str, str]] = []

    @customers.broker.subscriber(customers.settings.dead_letter_topic)
    async def capture(message: KafkaMessage) -> None:
        letters.append(dict(message.headers))

    event = registered("cus_1")
    key, headers, _ = cloudevents.encode(metadata(event, "cus_1", 1), {})
    async with TestKafkaBroker(customers.broker) as broker:
        await broker.publish(
            b"[]", topic=customers.settings.contacts_topic, key=key, headers=headers
        )

    (letter,) = letters
    assert letter["dlt_consumer_group"] == "crm-projections.customer360+customer_rows"
    assert letter["dlt_reason"].startswith("contract violation: ")


async def test_a_read_model_is_behind_only_the_sources_whose_events_it_folds(
    memory_client: Any,
) -> None:
    """A group folding no contacts record never records a contacts position: its read
    models are not reported behind the contacts store for it."""
    service = bootstrap(
        ProjectionsSettings(embedded_backend="memory"), document_client=memory_client
    )
    report = await service.lag.report(service.projectors)
    assert set(report["customer360"].sources) == {"contacts", "pipeline", "tickets", "loyalty"}
    assert set(report["deals"].sources) == {"pipeline"}
    assert set(report["members"].sources) == {"loyalty"}
    assert set(report["customer_rows"].sources) == {"contacts"}
