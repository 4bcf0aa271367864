"""The outbox relay: publishes appended events to Kafka, in order, at least once.

The event store is the outbox: every commit is written with ``published:
false``. The relay takes the oldest unpublished commits in position order,
publishes their events and waits for Kafka's acknowledgements, and only then
marks the commits published. A crash in between publishes them again on
restart (at least once; consumers deduplicate by stream sequence). Per stream
order holds because a stream's commits are appended, and so positioned, in
sequence order, and aiokafka keeps one batch in flight per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_runtime.eventstore import EventStore, StoredEvent
from crm_runtime.leases import Lease

log = structlog.get_logger("crm.outbox")


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[StoredEvent]) -> None: ...


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry, context: str) -> None:
        self.published = Counter(
            "crm_outbox_published_events",
            "Events the outbox relay published to Kafka.",
            ["context"],
            registry=registry,
        ).labels(context)
        self.lag = Gauge(
            "crm_outbox_lag_commits",
            "Commits appended to the event store and not yet published.",
            ["context"],
            registry=registry,
        ).labels(context)
        self.leader = Gauge(
            "crm_outbox_is_leader",
            "1 while this relay holds the lease.",
            ["context"],
            registry=registry,
        ).labels(context)


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        publisher: EventPublisher,
        lease: Lease,
        metrics: RelayMetrics,
        *,
        batch_size: int = 500,
        idle_seconds: float = 0.05,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._lease = lease
        self._metrics = metrics
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds

    async def relay_once(self) -> int:
        """Publish one batch of unpublished commits; returns the number of events sent."""
        commits = await self._store.unpublished(self._batch_size)
        if not commits:
            self._metrics.lag.set(0)
            return 0
        events = [event for commit in commits for event in commit.events]
        await self._publisher.publish(events)
        await self._store.mark_published([commit.id for commit in commits])
        self._metrics.published.inc(len(events))
        if len(commits) == self._batch_size:
            self._metrics.lag.set(await self._store.count_unpublished())
        else:
            self._metrics.lag.set(0)
        return len(events)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; only while holding the lease."""
        log.info("relay started", owner=self._lease.owner)
        try:
            while not stop.is_set():
                if not await self._lease.hold():
                    self._metrics.leader.set(0)
                    await _sleep_or_stop(stop, 1.0)
                    continue
                self._metrics.leader.set(1)
                try:
                    sent = await self.relay_once()
                except Exception:
                    log.exception("relay batch failed; retrying")
                    await _sleep_or_stop(stop, 1.0)
                    continue
                if sent == 0:
                    await _sleep_or_stop(stop, self._idle_seconds)
        finally:
            await self._lease.release()
            log.info("relay stopped")


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
