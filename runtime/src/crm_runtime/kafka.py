"""Kafka through FastStream (aiokafka underneath): broker factory, topics, event publishing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider

from crm_contracts import cloudevents
from crm_runtime.eventstore import StoredEvent
from crm_runtime.telemetry import context_from_traceparent


def build_broker(
    bootstrap_servers: str, *, tracer_provider: TracerProvider, client_id: str
) -> KafkaBroker:
    """A FastStream Kafka broker with OpenTelemetry producer and consumer spans."""
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)],
        logger=None,
    )


async def ensure_topics(
    bootstrap_servers: str, topics: Sequence[str], *, partitions: int = 3
) -> None:
    """Create missing topics (production clusters may pre-create them; that is fine too)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="crm-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
                )
    finally:
        await admin.close()


async def kafka_reachable(bootstrap_servers: str, within_seconds: float = 2.0) -> bool:
    """True when the cluster answers a metadata request in time."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(within_seconds * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), within_seconds)
        await asyncio.wait_for(admin.list_topics(), within_seconds)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(Exception):  # closing a client that never connected
            await admin.close()


class KafkaEventPublisher:
    """Publishes stored events as CloudEvents, keyed by aggregate id, in the order given."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Send all, then wait for every acknowledgement; raises if any send failed."""
        pending: list[Any] = []
        for event in events:
            key, headers, body = cloudevents.encode(
                event.metadata, event.data, position=event.position
            )
            token = otel_context.attach(context_from_traceparent(event.traceparent))
            try:
                pending.append(
                    await self._broker.publish(
                        body,
                        topic=self._topic,
                        key=key,
                        headers=headers,
                        correlation_id=event.metadata.correlation_id,
                        no_confirm=True,
                    )
                )
            finally:
                otel_context.detach(token)
        await asyncio.gather(*pending)
