"""The sagas' consumer through FastStream's TestKafkaBroker (in memory: a redelivery is
written as publishing the same record again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sagas_testing import NOW, FakeServices

from crm_contracts import EventMetadata, cloudevents
from crm_contracts.pipeline import OpportunityWon, OrderPlaced, ReceivableSettled
from crm_contracts.registry import DomainEvent
from crm_sagas.bootstrap import SagasService

Record = tuple[bytes, dict[str, str], bytes]


def record(event: DomainEvent, event_id: str, subject: str) -> Record:
    metadata = EventMetadata(
        id=event_id, type=event.event_type, schema_version=event.schema_version,
        source="/crm/pipeline", subject=subject, sequence=3, time=NOW,
        correlation_id=f"corr_{event_id}", causation_id="cmd_1", actor="user:u1",
    )  # fmt: skip
    return cloudevents.encode(metadata, event.model_dump(mode="json"))


def won() -> Record:
    event = OpportunityWon(
        opportunity_id="opp_1", customer_id="cus_ada", owner_id="u1", team="north",
        from_stage="proposal", amount=Decimal("48000.00"), currency="EUR", probability=100,
    )  # fmt: skip
    return record(event, "evt_won", "opp_1")


@pytest.fixture
async def broker(service: SagasService) -> AsyncIterator[tuple[Any, list[dict[str, str]]]]:
    dead: list[dict[str, str]] = []

    @service.broker.subscriber(service.settings.dead_letter_topic)
    async def capture(message: KafkaMessage) -> None:
        dead.append(dict(message.headers))

    async with TestKafkaBroker(service.broker) as test_broker:
        yield test_broker, dead


async def publish(broker: Any, service: SagasService, made: Record) -> None:
    key, headers, body = made
    await broker.publish(body, topic=service.settings.pipeline_topic, key=key, headers=headers)


async def test_a_won_deal_on_kafka_onboards_the_customer_once(
    service: SagasService, services: FakeServices, broker: tuple[Any, list[dict[str, str]]]
) -> None:
    test_broker, dead = broker
    await publish(test_broker, service, won())
    await publish(test_broker, service, won())  # redelivered
    document = await service.documents.load("sag_onboarding_opp_1")
    assert document is not None and document["status"] == "completed"
    assert document["correlation_id"] == "corr_evt_won"
    assert len(services.effects) == 4  # purchase, home store, enrolment, ticket
    assert dead == []
    assert service.metrics.get_sample_value("crm_sagas_events_total", {"outcome": "applied"}) == 2


async def test_other_events_are_ignored_and_poison_is_dead_lettered(
    service: SagasService, services: FakeServices, broker: tuple[Any, list[dict[str, str]]]
) -> None:
    test_broker, dead = broker
    placed = OrderPlaced(
        order_id="ord_1", quote_id="quo_1", opportunity_id="opp_1", customer_id="cus_ada",
        owner_id="u1", total=Decimal("10.00"), currency="EUR", placed_at=NOW,
        payment_due_date=NOW.date(),
    )  # fmt: skip
    await publish(test_broker, service, record(placed, "evt_placed", "ord_1"))
    settled = ReceivableSettled(
        order_id="ord_1", customer_id="cus_ada", amount=Decimal("10.00"), currency="EUR"
    )
    await publish(test_broker, service, record(settled, "evt_settled", "ord_1"))
    key, headers, _ = won()
    await test_broker.publish(
        b'{"opportunity_id": 7}', topic=service.settings.pipeline_topic, key=key, headers=headers
    )
    assert services.requests == []
    [letter] = dead
    assert letter["dlt_reason"].startswith("contract violation")
    assert letter["dlt_consumer_group"] == "crm-sagas"
    count = service.metrics.get_sample_value
    assert count("crm_sagas_events_total", {"outcome": "ignored"}) == 1
    assert count("crm_sagas_events_total", {"outcome": "no_saga"}) == 1
