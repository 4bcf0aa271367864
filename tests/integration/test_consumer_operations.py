"""The projections consumer as operations see it: lag in events behind, and a clean stop."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from crm_projections.application.projector import BatchUnfit
from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_runtime.kafka import ensure_topics
from tests.integration.kafka_records import produce, registration

pytestmark = pytest.mark.integration


async def consumer_on_one_partition(embedded_kafka: str) -> tuple[ProjectionsService, str]:
    topic = f"test.lag.{uuid.uuid4().hex[:8]}"
    await ensure_topics(embedded_kafka, [topic], partitions=1)
    service = bootstrap(
        ProjectionsSettings(
            embedded_backend="memory",
            kafka_bootstrap_servers=embedded_kafka,
            contacts_topic=topic,
            dead_letter_topic=f"{topic}.dlt",
            consumer_group=f"g-{uuid.uuid4().hex[:6]}",
        )
    )
    return service, topic


def lag(service: ProjectionsService, topic: str) -> float | None:
    labels = {"group": service.settings.consumer_group, "topic": topic, "partition": "0"}
    return service.metrics.get_sample_value("crm_consumer_lag_events", labels)


async def test_consumer_lag_counts_the_events_behind_on_each_partition(
    embedded_kafka: str,
) -> None:
    service, topic = await consumer_on_one_partition(embedded_kafka)
    await produce(embedded_kafka, topic, *(registration(f"cus_{n}") for n in range(5)))
    seen: list[float | None] = []
    apply = service.customer360.apply

    async def observed(*args: Any) -> Any:
        seen.append(lag(service, topic))
        return await apply(*args)

    async def record_by_record(items: Any) -> Any:
        raise BatchUnfit("this test watches the lag between records")

    service.customer360.apply = observed  # type: ignore[method-assign]
    service.customer360.prepare_batch = record_by_record  # type: ignore[method-assign]
    await service.broker.start()
    try:
        async with asyncio.timeout(20):
            while lag(service, topic) != 0 or len(seen) < 5:
                await asyncio.sleep(0.05)
    finally:
        await service.broker.stop()
        await service.close()

    assert seen == [None, 4, 3, 2, 1]


async def test_stopping_the_consumer_finishes_the_event_in_hand_and_commits_it(
    embedded_kafka: str,
) -> None:
    service, topic = await consumer_on_one_partition(embedded_kafka)
    await produce(embedded_kafka, topic, registration("cus_slow"))
    started = asyncio.Event()
    prepare = service.customer360.prepare_batch

    async def slow(*args: Any) -> Any:
        started.set()
        await asyncio.sleep(0.5)
        return await prepare(*args)

    service.customer360.prepare_batch = slow  # type: ignore[method-assign]
    await service.broker.start()
    await asyncio.wait_for(started.wait(), 20)
    await service.broker.stop()  # what the lifespan does on SIGTERM
    folded = await service.customer360.get("cus_slow")
    await service.close()

    assert folded is not None
    group = AIOKafkaConsumer(
        bootstrap_servers=embedded_kafka, group_id=service.settings.consumer_group
    )
    await group.start()
    try:
        assert await group.committed(TopicPartition(topic, 0)) == 1
    finally:
        await group.stop()
