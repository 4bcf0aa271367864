"""Leader-only periodic work: a scheduler that runs its rounds while it holds a lease.

A context's scheduler (pipeline deadlines, tickets SLAs, loyalty expiry) subclasses
``LeasedScheduler`` with its ``check_due``; every interval the replica holding the
lease runs one round, the others wait. A failing round is logged and retried on the
next one; stopping releases the lease so the next replica takes over at once.

The lease keeps two replicas from working at once in the normal case, not always (a
holder can pause past its expiry): the rounds must tolerate a second run, which each
context gets from its deciders (a repeated check is a no-op, and two checks racing on
one stream collide on its version).
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_runtime.eventstore import CommandContext
from crm_runtime.leases import Lease


class LeaderMetrics:
    """Whether this replica holds the scheduler's lease, and the rounds it ran holding it.

    Named ``crm_<context>_scheduler_is_leader`` and ``crm_<context>_scheduler_ticks``;
    a context adds its own counters by subclassing.
    """

    def __init__(self, registry: CollectorRegistry, context: str) -> None:
        self.leader = Gauge(
            f"crm_{context}_scheduler_is_leader",
            "1 while this replica holds the scheduler lease.",
            registry=registry,
        )
        self.ticks = Counter(
            f"crm_{context}_scheduler_ticks",
            "Rounds run while holding the lease.",
            registry=registry,
        )


class LeasedScheduler(ABC):
    """Runs ``check_due`` every ``interval_seconds``, only while holding ``lease``."""

    def __init__(
        self,
        context: str,
        lease: Lease,
        metrics: LeaderMetrics,
        *,
        interval_seconds: float,
        new_id: Callable[[str], str],
    ) -> None:
        self._lease = lease
        self._leadership = metrics
        self._interval = interval_seconds
        self._new_id = new_id
        self._actor = f"service:{context}-scheduler"
        self._log = structlog.get_logger(f"crm.{context}.scheduler")

    @property
    def owner(self) -> str:
        return self._lease.owner

    @abstractmethod
    async def check_due(self) -> int:
        """One round of the work; returns how many things it changed."""

    async def tick(self) -> bool:
        """One round, only while holding the lease; True when it ran."""
        if not await self._lease.hold():
            self._leadership.leader.set(0)
            return False
        self._leadership.leader.set(1)
        self._leadership.ticks.inc()
        await self.check_due()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop`` is set; then the lease is released for the next replica."""
        self._log.info("scheduler started", owner=self.owner, interval_seconds=self._interval)
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    self._log.exception("scheduled checks failed; retrying next round")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
        finally:
            self._leadership.leader.set(0)
            await self._lease.release()
            self._log.info("scheduler stopped")

    def command_context(self) -> CommandContext:
        """A fresh command sent by this scheduler: its own correlation, the scheduler as actor."""
        command_id = self._new_id("cmd")
        return CommandContext(
            command_id=command_id,
            correlation_id=command_id,
            causation_id=command_id,
            actor=self._actor,
        )
