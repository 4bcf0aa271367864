"""Backlog drain: how fast the outbox relay publishes and the projection folds a backlog.

A backlog of registrations (two events each: registered, owner assigned) is
written straight into the contacts event store, as a burst of commands would
leave it, then the harness watches the store: the relay is done when no
commit is unpublished, the projection when every registered customer's 360
shows its owner (the registration's last event). ``settle`` is the same
watch, used between phases so that one phase's leftovers do not load the next.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.commits import seed_commits
from bench.histories import customer_histories
from bench.system import RunningSystem

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class DrainResult:
    commits: int
    events: int
    relay_seconds: float | None  # None: not drained within the time allowed
    projection_seconds: float | None

    @property
    def relay_rate(self) -> float | None:
        return self.events / self.relay_seconds if self.relay_seconds else None

    @property
    def projection_rate(self) -> float | None:
        return self.events / self.projection_seconds if self.projection_seconds else None


async def unpublished(system: RunningSystem) -> int:
    return int(await system.contacts_db["commits"].count_documents({"published": False}))


async def unprojected(system: RunningSystem) -> int:
    customers = await system.contacts_db["commits"].count_documents({"first": 1})
    views = system.projections_db["customer360"]
    owned = await views.count_documents({"owner.owner_id": {"$exists": True}})
    return int(customers) - int(owned)


async def settle(system: RunningSystem, seconds: float) -> float:
    """Wait (at most ``seconds``) until the API has stopped appending (requests the load
    generator gave up on may still be running) and everything is published and projected."""
    started = time.perf_counter()
    commits = -1
    while time.perf_counter() - started < seconds:
        previous, commits = commits, await system.contacts_db["commits"].count_documents({})
        quiet = commits == previous
        if quiet and await unpublished(system) == 0 and await unprojected(system) <= 0:
            break
        await asyncio.sleep(POLL_SECONDS * 3)
    return time.perf_counter() - started


async def measure_drain(system: RunningSystem, commits: int, seconds: float) -> DrainResult:
    history = customer_histories(commits, 1, tag="backlog")
    events = await seed_commits(system.store, history)
    started = time.perf_counter()
    deadline = started + seconds
    relay_done: float | None = None
    projection_done: float | None = None
    while time.perf_counter() < deadline and (relay_done is None or projection_done is None):
        if relay_done is None and await unpublished(system) == 0:
            relay_done = time.perf_counter() - started
        if projection_done is None and await unprojected(system) <= 0:
            projection_done = time.perf_counter() - started
        await asyncio.sleep(POLL_SECONDS)
    return DrainResult(len(history), events, relay_done, projection_done)
