"""Records for the integration tests: CloudEvents as the relay would publish them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from crm_contracts import EventMetadata, cloudevents
from crm_contracts.contacts import CustomerRegistered


def registration(customer_id: str) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    envelope = EventMetadata(
        id=f"evt_{uuid.uuid4().hex}",
        type="crm.contacts.CustomerRegistered",
        schema_version=1,
        source="/crm/contacts",
        subject=customer_id,
        sequence=1,
        time=datetime.now(UTC),
        correlation_id="corr-dlt",
        causation_id="cmd_1",
        actor="user:u1",
    )
    event = CustomerRegistered(customer_id=customer_id, name="Grace Hopper", kind="person")
    key, headers, body = cloudevents.encode(envelope, event.model_dump(mode="json"))
    return key, [(k, v.encode()) for k, v in headers.items()], body


async def produce(bootstrap_servers: str, topic: str, *records: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        for key, headers, body in records:
            await producer.send_and_wait(topic, body, key=key, headers=headers)
    finally:
        await producer.stop()
