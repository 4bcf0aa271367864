"""The outbox relay: in order, at least once, one leader at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from crm_runtime.eventstore import CommandContext, EventStore, NewEvent, StoredEvent
from crm_runtime.leases import Lease
from crm_runtime.outbox import OutboxRelay, RelayMetrics


class RecordingPublisher:
    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[StoredEvent] = []
        self.fail_times = fail_times

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            self.sent.extend(events[: len(events) // 2])  # a partial send before the failure
            raise ConnectionError("broker went away")
        self.sent.extend(events)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(memory_client: Any) -> EventStore:
    store = EventStore(memory_client["outbox"], source="/crm/test")
    await store.create_indexes()
    return store


async def seed(store: EventStore, streams: int, per_stream: int) -> None:
    for n in range(per_stream):
        for s in range(streams):
            await store.append(
                f"s{s}",
                n,
                [NewEvent("crm.test.Happened", 1, {"n": n})],
                CommandContext(f"c{s}-{n}", "corr", f"c{s}-{n}", "test"),
                now=datetime.now(UTC),
                event_ids=[f"e{s}-{n}"],
            )


def relay(store: EventStore, publisher: Any, lease: Lease, batch: int = 4) -> OutboxRelay:
    return OutboxRelay(
        store, publisher, lease, RelayMetrics(CollectorRegistry(), "test"), batch_size=batch
    )


def lease(database: Any, owner: str, clock: Clock) -> Lease:
    return Lease(database, "relay", owner, ttl=timedelta(seconds=10), clock=clock)


def order_per_stream(events: Sequence[StoredEvent]) -> dict[str, list[int]]:
    streams: dict[str, list[int]] = {}
    for event in events:
        streams.setdefault(event.metadata.subject, []).append(event.metadata.sequence)
    return streams


async def test_relay_publishes_everything_in_order_per_stream(
    store: EventStore, memory_client: Any
) -> None:
    await seed(store, streams=3, per_stream=5)
    publisher = RecordingPublisher()
    worker = relay(store, publisher, lease(memory_client["outbox"], "a", Clock()))
    while await worker.relay_once():
        pass
    assert order_per_stream(publisher.sent) == {f"s{i}": [1, 2, 3, 4, 5] for i in range(3)}
    assert await store.count_unpublished() == 0


async def test_a_failed_batch_is_published_again_and_nothing_is_lost(
    store: EventStore, memory_client: Any
) -> None:
    await seed(store, streams=2, per_stream=3)
    publisher = RecordingPublisher(fail_times=1)
    worker = relay(store, publisher, lease(memory_client["outbox"], "a", Clock()), batch=10)
    with pytest.raises(ConnectionError):
        await worker.relay_once()
    while await worker.relay_once():
        pass
    delivered = {(e.metadata.subject, e.metadata.sequence) for e in publisher.sent}
    assert delivered == {(f"s{s}", n) for s in range(2) for n in range(1, 4)}
    # At least once: the retry re-sends from the first unpublished commit, in order.
    tail = publisher.sent[-6:]
    assert order_per_stream(tail) == {"s0": [1, 2, 3], "s1": [1, 2, 3]}


async def test_only_one_relay_holds_the_lease_until_it_expires(memory_client: Any) -> None:
    database = memory_client["leases"]
    clock = Clock()
    first, second = lease(database, "a", clock), lease(database, "b", clock)
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.hold()
    clock.now += timedelta(seconds=11)
    assert await second.acquire()
    assert not await first.acquire()
    await second.release()
    assert await first.acquire()


async def test_run_stops_when_asked_and_releases_the_lease(
    store: EventStore, memory_client: Any
) -> None:
    await seed(store, streams=1, per_stream=2)
    publisher = RecordingPublisher()
    clock = Clock()
    worker = relay(store, publisher, lease(memory_client["outbox"], "a", clock))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(100):
        if len(publisher.sent) == 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert len(publisher.sent) == 2
    assert await lease(memory_client["outbox"], "b", clock).acquire()
