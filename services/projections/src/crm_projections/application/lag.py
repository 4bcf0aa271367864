"""How far behind the event stores each read model is, per source: metrics and health.

For each read model (its active generation) and each source whose events it folds (a read
model of orders is behind no contacts store; ``folded_contexts``): the position recorded
(``positions``), the store's head position, and

- ``events_behind``: head position minus the position folded. A position is one
  commit (the events of one command: usually one); a position lost to a
  concurrency conflict is counted too, so it is an upper bound of commits behind
  when folded in order, and a lower bound on the live path when a partition lags
  (the recorded position is the highest folded; see ``positions``);
- ``seconds_behind``: 0 when nothing is behind, else the age of the oldest commit
  after the position folded (how old the newest fact the read model misses is).

Exposed as the gauges ``crm_projection_lag_events``, ``crm_projection_lag_seconds``,
``crm_projection_position`` (labels ``projection``, ``source``) and
``crm_projection_generation`` (label ``projection``), refreshed by ``run`` every
``EVERY_SECONDS`` and by each ``GET /views/health``; the consumer also sets
``crm_projection_lag_seconds`` at each fold to the age of the event folded, so it
moves between refreshes. ``crm_consumer_lag_events`` stays what Kafka says: records
of a partition not handled yet, whatever the read model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Gauge

from crm_contracts.contacts import SOURCE as CONTACTS_SOURCE
from crm_contracts.loyalty import SOURCE as LOYALTY_SOURCE
from crm_contracts.pipeline import SOURCE as PIPELINE_SOURCE
from crm_contracts.tickets import SOURCE as TICKETS_SOURCE
from crm_projections.application.positions import SourcePosition, source_name
from crm_projections.domain.streams import folded_contexts
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore

if TYPE_CHECKING:
    from crm_projections.application.projector import Projector
    from crm_projections.config import ProjectionsSettings

log = structlog.get_logger("crm.projections.lag")

EVERY_SECONDS = 5.0
GENERATIONS_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class SourceLag:
    position: int | None
    time: datetime | None
    head: int | None
    events_behind: int | None
    seconds_behind: float | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "position": self.position,
            "time": None if self.time is None else _utc(self.time).isoformat(),
            "head": self.head,
            "events_behind": self.events_behind,
            "seconds_behind": self.seconds_behind,
        }
        if self.error is not None:
            answer["error"] = self.error
        return answer


@dataclass(frozen=True)
class ReadModelLag:
    generation: int
    sources: dict[str, SourceLag]

    @property
    def events_behind(self) -> int | None:
        counts = [s.events_behind for s in self.sources.values()]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    @property
    def seconds_behind(self) -> float | None:
        ages = [s.seconds_behind for s in self.sources.values()]
        if any(a is None for a in ages):
            return None
        return max([a for a in ages if a is not None], default=0.0)

    def as_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "events_behind": self.events_behind,
            "seconds_behind": self.seconds_behind,
            "sources": {name: lag.as_json() for name, lag in self.sources.items()},
        }


class ProjectionLag:
    """The sources' event stores, read for their heads, and the lag gauges."""

    def __init__(
        self,
        stores: dict[str, EventStore],
        *,
        clients: Sequence[Any] = (),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._stores = stores
        self._clients = list(clients)
        self._now = now
        self._gauges: dict[str, Gauge] = {}
        self._folded: dict[str, frozenset[str]] = {}

    @classmethod
    def of_settings(cls, settings: ProjectionsSettings, client: Any) -> ProjectionLag:
        """Every context's store: in ``client``'s deployment unless its URL says otherwise."""
        clients: list[Any] = []
        stores: dict[str, EventStore] = {}
        for url, database, source in (
            (settings.contacts_mongodb_url, settings.contacts_database, CONTACTS_SOURCE),
            (settings.pipeline_mongodb_url, settings.pipeline_database, PIPELINE_SOURCE),
            (settings.tickets_mongodb_url, settings.tickets_database, TICKETS_SOURCE),
            (settings.loyalty_mongodb_url, settings.loyalty_database, LOYALTY_SOURCE),
        ):
            owner = client
            if url:
                owner = open_document_client(
                    settings.model_copy(update={"mongodb_url": url}), app_name="crm-projections"
                )
                clients.append(owner)
            stores[source_name(source)] = EventStore(owner[database], source=source)
        return cls(stores, clients=clients)

    @property
    def sources(self) -> list[str]:
        return list(self._stores)

    def install(self, registry: CollectorRegistry) -> None:
        """Register the gauges (once per registry: the consumer's wiring calls this)."""
        labels = ["projection", "source"]
        self._gauges = {
            "events": Gauge(
                "crm_projection_lag_events",
                "Store positions (commits) of the source not folded into the read model yet.",
                labels,
                registry=registry,
            ),
            "seconds": Gauge(
                "crm_projection_lag_seconds",
                "Seconds the read model is behind the source: 0 when caught up, else the age "
                "of the oldest commit not folded (set at each fold to the age of the event).",
                labels,
                registry=registry,
            ),
            "position": Gauge(
                "crm_projection_position",
                "The last position of the source's event store folded into the read model.",
                labels,
                registry=registry,
            ),
            "generation": Gauge(
                "crm_projection_generation",
                "The generation of collections the read model serves from.",
                ["projection"],
                registry=registry,
            ),
        }

    def folded(self, projection: str, source: str, time: datetime) -> None:
        """An event of ``source`` recorded at ``time`` was just folded into ``projection``."""
        gauge = self._gauges.get("seconds")
        if gauge is not None:
            age = (self._now() - _utc(time)).total_seconds()
            gauge.labels(projection, source_name(source)).set(max(0.0, age))

    async def of(self, projector: Projector) -> ReadModelLag:
        """One read model's lag per source, from its active generation's positions."""
        generation = await projector.refresh_generation()
        await projector.positions.flush()
        recorded = await projector.positions.read(generation)
        folded = self._folded.get(projector.name)
        if folded is None:  # the contexts whose events it folds: it is behind no other
            folded = self._folded[projector.name] = folded_contexts(projector.model)
        sources = {
            name: await self._source_lag(store, recorded.get(name))
            for name, store in self._stores.items()
            if name in folded
        }
        for name, found in recorded.items():  # a source this service was not told about
            if name not in self._stores:
                sources[name] = SourceLag(found.position, found.time, None, None, None)
        lag = ReadModelLag(generation, sources)
        self._publish(projector.name, lag)
        return lag

    async def report(self, projectors: Sequence[Projector]) -> dict[str, ReadModelLag]:
        return {projector.name: await self.of(projector) for projector in projectors}

    async def run(self, projectors: Sequence[Projector], stop: asyncio.Event) -> None:
        """Until ``stop``: re-read the active generations every second (so queries follow a
        switch when no event arrives) and refresh the lag every ``EVERY_SECONDS``."""
        loop = asyncio.get_running_loop()
        measured = float("-inf")
        while not stop.is_set():
            try:
                for projector in projectors:
                    await projector.refresh_generation()
                if loop.time() - measured >= EVERY_SECONDS:
                    measured = loop.time()
                    await self.report(projectors)
            except Exception:
                log.exception("could not measure the projection lag; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), GENERATIONS_EVERY_SECONDS)

    async def close(self) -> None:
        for client in self._clients:
            await client.close()

    async def _source_lag(self, store: EventStore, found: SourcePosition | None) -> SourceLag:
        position = found.position if found is not None else 0
        time = found.time if found is not None else None
        try:
            head = await store.head_position()
            if position is None:  # folded only events that did not say their position
                return SourceLag(None, time, head, None, None)
            behind = max(0, head - position)
            seconds = 0.0
            if behind:
                oldest = await _first_after(store, position)
                if oldest is not None:
                    seconds = max(0.0, (self._now() - _utc(oldest)).total_seconds())
            return SourceLag(position, time, head, behind, seconds)
        except Exception as error:
            return SourceLag(position, time, None, None, None, error=f"unreachable: {error}")

    def _publish(self, projection: str, lag: ReadModelLag) -> None:
        if not self._gauges:
            return
        self._gauges["generation"].labels(projection).set(lag.generation)
        for source, found in lag.sources.items():
            if found.position is not None:
                self._gauges["position"].labels(projection, source).set(found.position)
            if found.events_behind is not None:
                self._gauges["events"].labels(projection, source).set(found.events_behind)
            if found.seconds_behind is not None:
                self._gauges["seconds"].labels(projection, source).set(found.seconds_behind)


async def _first_after(store: EventStore, position: int) -> datetime | None:
    """When the first commit after ``position`` was recorded."""
    commits = store.read_all(after_position=position, batch=1)
    async with contextlib.aclosing(commits):
        async for commit in commits:
            return commit.events[0].metadata.time if commit.events else None
    return None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
