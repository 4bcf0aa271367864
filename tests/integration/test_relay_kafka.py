"""The outbox relay over the real Kafka protocol (embedded broker, real aiokafka clients)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from crm_contracts import cloudevents
from crm_contracts.contacts import CustomerRegistered
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import CommandContext, EventStore, NewEvent
from crm_runtime.kafka import KafkaEventPublisher, build_broker, ensure_topics
from crm_runtime.leases import Lease
from crm_runtime.outbox import OutboxRelay, RelayMetrics
from crm_runtime.settings import RuntimeSettings
from crm_runtime.telemetry import build_tracer_provider
from tests.support import free_port

pytestmark = pytest.mark.integration


async def seed(store: EventStore, streams: int, per_stream: int) -> int:
    for n in range(per_stream):
        for s in range(streams):
            data = (
                CustomerRegistered(customer_id=f"cus_{s}", name=f"C{s}", kind="person").model_dump(
                    mode="json"
                )
                if n == 0
                else {"customer_id": f"cus_{s}", "name": f"C{s} v{n}", "cleared": []}
            )
            event_type = (
                "crm.contacts.CustomerRegistered"
                if n == 0
                else "crm.contacts.CustomerDetailsChanged"
            )
            await store.append(
                f"cus_{s}",
                n,
                [NewEvent(event_type, 1, data)],
                CommandContext(f"cmd-{s}-{n}", f"corr-{s}", f"cmd-{s}-{n}", "test"),
                now=datetime.now(UTC),
                event_ids=[f"evt-{s}-{n}"],
            )
    return streams * per_stream


async def consume_all(bootstrap: str, topic: str, expected: int, within: float = 30) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    records.extend(messages)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return records


def assert_consumable_in_order(records: list[Any]) -> dict[str, int]:
    """Per key, no record skips ahead of what came before (duplicates are allowed)."""
    highest: dict[str, int] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        key = record.key.decode()
        sequence = int(dict(record.headers)["ce_sequence"])
        assert sequence <= highest.get(key, 0) + 1, f"{key} jumped to {sequence}"
        highest[key] = max(highest.get(key, 0), sequence)
    return highest


async def test_relay_publishes_cloudevents_keyed_by_customer(
    any_kafka: str, memory_client: Any
) -> None:
    topic = f"test.contacts.{uuid.uuid4().hex[:8]}"
    await ensure_topics(any_kafka, [topic])
    store = EventStore(memory_client["contacts"], source="/crm/contacts")
    await store.create_indexes()
    total = await seed(store, streams=4, per_stream=3)
    broker = build_broker(
        any_kafka, tracer_provider=build_tracer_provider("test"), client_id="test"
    )
    await broker.connect()
    try:
        clock = lambda: datetime.now(UTC)  # noqa: E731
        relay = OutboxRelay(
            store,
            KafkaEventPublisher(broker, topic),
            Lease(memory_client["contacts"], "relay", "me", ttl=timedelta(seconds=5), clock=clock),
            RelayMetrics(CollectorRegistry(), "test"),
        )
        while await relay.relay_once():
            pass
    finally:
        await broker.stop()
    records = await consume_all(any_kafka, topic, total)
    assert len(records) == total
    highest = assert_consumable_in_order(records)
    assert highest == {f"cus_{s}": 3 for s in range(4)}
    first = next(r for r in records if r.key == b"cus_0" and dict(r.headers)["ce_sequence"] == b"1")
    headers = {k: v.decode() for k, v in first.headers}
    for name in (
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "traceparent",
        "content-type",
    ):
        assert name in headers, name
    assert headers["ce_type"] == "crm.contacts.CustomerRegistered"
    assert headers["ce_subject"] == "cus_0"
    assert headers["ce_position"] == "1"  # the commit's position in the store
    assert {int(dict(r.headers)["ce_position"]) for r in records} == set(range(1, total + 1))
    assert json.loads(first.value)["name"] == "C0"
    metadata, event = cloudevents.decode(first.headers, first.value)
    assert isinstance(event, CustomerRegistered)
    assert metadata.correlation_id == "corr-0"


async def test_killing_the_relay_between_append_and_publish_loses_nothing(
    embedded_kafka: str, tmp_path: Path
) -> None:
    topic = f"test.contacts.kill.{uuid.uuid4().hex[:8]}"
    settings = RuntimeSettings(data_dir=tmp_path / "store")
    client = open_document_client(settings)
    store = EventStore(client["crm_contacts"], source="/crm/contacts")
    await store.create_indexes()
    total = await seed(store, streams=10, per_stream=30)
    env = {
        **os.environ,
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_KAFKA_BOOTSTRAP_SERVERS": embedded_kafka,
        "CRM_CONTACTS_TOPIC": topic,
        "CRM_CONTACTS_RELAY_PORT": str(free_port()),
        "CRM_RELAY_BATCH_SIZE": "5",
        "CRM_RELAY_LEASE_SECONDS": "1",
    }

    def start_relay() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "crm_contacts", "relay"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    relay = start_relay()
    try:
        async with asyncio.timeout(60):
            while (remaining := await store.count_unpublished()) > total * 2 // 3:
                await asyncio.sleep(0.01)
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
        left_behind = await store.count_unpublished()
        assert 0 < left_behind < total, "the kill should land while the relay is mid-way"
        relay = start_relay()
        async with asyncio.timeout(60):
            while await store.count_unpublished():
                await asyncio.sleep(0.05)
    finally:
        relay.terminate()
        relay.wait(timeout=10)
        await client.close()
    records = await consume_all(embedded_kafka, topic, total)
    delivered = {(r.key.decode(), int(dict(r.headers)["ce_sequence"])) for r in records}
    assert delivered == {(f"cus_{s}", n) for s in range(10) for n in range(1, 31)}
    assert_consumable_in_order(records)
    assert remaining > 0
