"""The loyalty consumer over the real Kafka protocol (the embedded broker, aiokafka): a
payment delivered twice earns its points once, and the record is committed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from crm_contracts import EventMetadata, cloudevents
from crm_contracts.pipeline import PaymentReceived
from crm_loyalty.application import handlers
from crm_loyalty.bootstrap import LoyaltyService, bootstrap
from crm_loyalty.config import LoyaltySettings
from crm_loyalty.domain.member import Enrol, Member
from crm_loyalty.domain.store import OpenStore
from crm_runtime.eventstore import CommandContext
from crm_runtime.kafka import ensure_topics
from tests.integration.kafka_records import produce

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def payment(customer_id: str, payment_id: str) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    envelope = EventMetadata(
        id=f"evt_{payment_id}",
        type=PaymentReceived.event_type,
        schema_version=PaymentReceived.schema_version,
        source="/crm/pipeline",
        subject="ord_1",
        sequence=4,
        time=NOW,
        correlation_id="corr-pay",
        causation_id="cmd_pay",
        actor="user:u1",
    )
    event = PaymentReceived(
        order_id="ord_1",
        customer_id=customer_id,
        payment_id=payment_id,
        amount=Decimal("120.00"),
        currency="EUR",
        balance_after=Decimal("0.00"),
    )
    key, headers, body = cloudevents.encode(envelope, event.model_dump(mode="json"))
    return key, [(k, v.encode()) for k, v in headers.items()], body


async def a_member(service: LoyaltyService, customer_id: str) -> None:
    def seeding(name: str) -> CommandContext:
        return CommandContext(f"cmd_{name}", "corr_seed", f"cmd_{name}", "user:root")

    opened = OpenStore("sto_mitte", "Mitte", "Berlin", NOW)
    await handlers.open_store(service.deps, opened, seeding("store"))
    await handlers.on_member(service.deps, Enrol(customer_id, "sto_mitte", NOW), seeding("enrol"))


def seen(service: LoyaltyService, outcome: str) -> float:
    found = service.metrics.get_sample_value(
        "crm_loyalty_pipeline_events_total", {"outcome": outcome}
    )
    return found or 0.0


async def test_a_payment_delivered_twice_earns_points_once(embedded_kafka: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"test.pipeline.{suffix}"
    settings = LoyaltySettings(
        embedded_backend="memory",
        kafka_bootstrap_servers=embedded_kafka,
        pipeline_topic=topic,
        tickets_topic=f"test.tickets.{suffix}",
        dead_letter_topic=f"test.loyalty.dlt.{suffix}",
        consumer_group=f"g-{suffix}",
    )
    await ensure_topics(
        embedded_kafka, [topic, settings.tickets_topic, settings.dead_letter_topic], partitions=1
    )
    service = bootstrap(settings)
    await service.start()
    customer_id = f"cus_{suffix}"
    await a_member(service, customer_id)
    record = payment(customer_id, f"pay_{suffix}")
    await produce(embedded_kafka, topic, record, record)  # the producer retried: twice on the log

    await service.broker.start()
    try:
        async with asyncio.timeout(30):
            while seen(service, "applied") + seen(service, "duplicate") < 2:
                await asyncio.sleep(0.05)
    finally:
        await service.broker.stop()
    loaded = await handlers.existing(service.deps, service.deps.deciders.member, customer_id)
    await service.close()

    assert (seen(service, "applied"), seen(service, "duplicate")) == (1, 1)
    assert isinstance(loaded.state, Member)
    assert loaded.state.balance == 120 and len(loaded.state.earnings) == 1
    group = AIOKafkaConsumer(bootstrap_servers=embedded_kafka, group_id=settings.consumer_group)
    await group.start()
    try:
        assert await group.committed(TopicPartition(topic, 0)) == 2  # both acknowledged
    finally:
        await group.stop()
