"""On SIGTERM the relay finishes the batch in flight, starts no other, and hands over."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from crm_runtime.eventstore import CommandContext, EventStore, NewEvent, StoredEvent
from crm_runtime.leases import Lease
from crm_runtime.outbox import OutboxRelay, RelayMetrics


class SlowPublisher:
    """Kafka taking its time to acknowledge a batch."""

    def __init__(self) -> None:
        self.in_flight = asyncio.Event()
        self.sent: list[StoredEvent] = []

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.in_flight.set()
        await asyncio.sleep(0.3)
        self.sent.extend(events)


def lease(client: Any, owner: str) -> Lease:
    return Lease(
        client["outbox"], "relay", owner, ttl=timedelta(seconds=30), clock=lambda: datetime.now(UTC)
    )


async def test_the_relay_finishes_the_batch_in_flight_then_stops_and_hands_over(
    memory_client: Any,
) -> None:
    store = EventStore(memory_client["outbox"], source="/crm/test")
    await store.create_indexes()
    for n in range(3):
        await store.append(
            f"s{n}",
            0,
            [NewEvent("crm.test.Happened", 1, {})],
            CommandContext(f"c{n}", "corr", f"c{n}", "test"),
            now=datetime.now(UTC),
            event_ids=[f"e{n}"],
        )
    publisher = SlowPublisher()
    relay = OutboxRelay(
        store,
        publisher,
        lease(memory_client, "pod-a"),
        RelayMetrics(CollectorRegistry(), "test"),
        batch_size=2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await asyncio.wait_for(publisher.in_flight.wait(), 5)

    stop.set()
    await asyncio.wait_for(task, 2)

    assert [e.metadata.id for e in publisher.sent] == ["e0", "e1"]  # the batch in flight, whole
    assert await store.count_unpublished() == 1  # marked after the acknowledgement; no new batch
    assert await lease(memory_client, "pod-b").hold()  # released: the next pod takes over at once
