"""The scheduled SLA check: flag and escalate breached deadlines.

Every interval the holder of a lease catches the ticket rows up, asks them which
first-response and resolution deadlines passed unmet, and sends ``FlagBreach``
through the decider. Safe with two replicas, and with a holder that paused past
its lease: the decider flags each target at most once per resolution cycle (a
repeated check is a no-op), and two checks racing on one ticket collide on the
stream version, after which the loser decides again and finds nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_contracts.tickets import SlaTarget
from crm_runtime.eventstore import CommandContext
from crm_runtime.leases import Lease
from crm_tickets.application.rows import TicketRows
from crm_tickets.application.streams import Dependencies, settle
from crm_tickets.domain.ticket import FlagBreach

log = structlog.get_logger("crm.tickets.scheduler")
ACTOR = "service:tickets-scheduler"


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.breaches = Counter(
            "crm_tickets_sla_breaches",
            "SLA breaches flagged by the scheduled check, by target.",
            ["target"],
            registry=registry,
        )
        self.leader = Gauge(
            "crm_tickets_scheduler_is_leader",
            "1 while this scheduler holds the lease.",
            registry=registry,
        )
        self.lag = Gauge(
            "crm_tickets_rows_lag_commits",
            "Commits of the event store the ticket rows do not reflect yet.",
            registry=registry,
        )
        self.ticks = Counter(
            "crm_tickets_scheduler_ticks", "Checks run while holding the lease.", registry=registry
        )


class SlaScheduler:
    def __init__(
        self,
        deps: Dependencies,
        rows: TicketRows,
        lease: Lease,
        metrics: SchedulerMetrics,
        *,
        interval_seconds: float,
        batch_size: int = 200,
    ) -> None:
        self._deps = deps
        self._rows = rows
        self._lease = lease
        self._metrics = metrics
        self._interval = interval_seconds
        self._batch = batch_size

    @property
    def owner(self) -> str:
        return self._lease.owner

    async def check_due(self) -> int:
        """Catch up, then flag every deadline passed now; returns the breaches flagged."""
        await self._rows.catch_up()
        now = self._deps.clock()
        flagged = 0
        for target in SlaTarget:
            for ticket_id in await self._rows.due(target, now, self._batch):
                try:
                    outcome = await settle(
                        self._deps, ticket_id, FlagBreach(ticket_id, target, now), self._context()
                    )
                except Exception:
                    log.exception("SLA check failed", ticket_id=ticket_id, target=target.value)
                    continue
                if outcome.changed:
                    flagged += 1
                    self._metrics.breaches.labels(target.value).inc()
                    log.info("SLA breached", ticket_id=ticket_id, target=target.value)
        if flagged:
            await self._rows.catch_up()
        self._metrics.lag.set(await self._rows.lag())
        return flagged

    async def tick(self) -> bool:
        """One round, only while holding the lease; True when it ran."""
        if not await self._lease.hold():
            self._metrics.leader.set(0)
            return False
        self._metrics.leader.set(1)
        self._metrics.ticks.inc()
        await self.check_due()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        log.info("scheduler started", owner=self.owner, interval_seconds=self._interval)
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    log.exception("SLA checks failed; retrying next round")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
        finally:
            self._metrics.leader.set(0)
            await self._lease.release()
            log.info("scheduler stopped")

    def _context(self) -> CommandContext:
        command_id = self._deps.new_id("cmd")
        return CommandContext(
            command_id=command_id, correlation_id=command_id, causation_id=command_id, actor=ACTOR
        )
