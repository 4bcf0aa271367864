"""The scheduled checks: flag overdue receivables and orders unpaid after 48 hours.

Every interval the holder of a lease catches the deadlines follower up, asks
it which orders are due, and sends ``MarkOverdue`` / ``FlagUnpaid`` through
the handlers. Safe with two replicas, and with a holder that paused past its
lease: the order's decider flags each thing at most once (a repeated check is
a no-op), and two checks racing on one order collide on the stream version,
after which the loser decides again and finds nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_pipeline.application.deadlines import ReceivableDeadlines
from crm_pipeline.application.handlers import PipelineDependencies, settle
from crm_pipeline.domain.order import FlagUnpaid, MarkOverdue, OrderCommand
from crm_runtime.eventstore import CommandContext
from crm_runtime.leases import Lease

log = structlog.get_logger("crm.pipeline.scheduler")
ACTOR = "service:pipeline-scheduler"


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.flagged = Counter(
            "crm_pipeline_deadline_flags",
            "Receivables flagged by the scheduled checks, by kind (overdue, unpaid_48h).",
            ["kind"],
            registry=registry,
        )
        self.leader = Gauge(
            "crm_pipeline_scheduler_is_leader",
            "1 while this scheduler holds the lease.",
            registry=registry,
        )
        self.lag = Gauge(
            "crm_pipeline_deadlines_lag_commits",
            "Commits of the event store the deadlines follower has not read yet.",
            registry=registry,
        )
        self.ticks = Counter(
            "crm_pipeline_scheduler_ticks", "Checks run while holding the lease.", registry=registry
        )


class DeadlineScheduler:
    def __init__(
        self,
        deps: PipelineDependencies,
        deadlines: ReceivableDeadlines,
        lease: Lease,
        metrics: SchedulerMetrics,
        *,
        interval_seconds: float,
        batch_size: int = 200,
    ) -> None:
        self._deps = deps
        self._deadlines = deadlines
        self._lease = lease
        self._metrics = metrics
        self._interval = interval_seconds
        self._batch = batch_size

    @property
    def owner(self) -> str:
        return self._lease.owner

    async def check_due(self) -> int:
        """Catch up, then flag what is due now; returns the number of flags raised."""
        await self._deadlines.catch_up()
        now = self._deps.clock()
        overdue = await self._deadlines.overdue(now, self._batch)
        unpaid = await self._deadlines.unpaid(now, self._batch)
        due: list[tuple[str, OrderCommand]] = [
            *(("overdue", MarkOverdue(order_id, now)) for order_id in overdue),
            *(("unpaid_48h", FlagUnpaid(order_id, now)) for order_id in unpaid),
        ]
        flagged = 0
        orders = self._deps.deciders.order
        for kind, command in due:
            try:
                outcome = await settle(
                    self._deps, orders, command.order_id, command, self._context()
                )
            except Exception:
                log.exception("scheduled check failed", order_id=command.order_id, check=kind)
                continue
            if outcome.changed:
                flagged += 1
                self._metrics.flagged.labels(kind).inc()
                log.info("flagged", order_id=command.order_id, check=kind)
        if flagged:
            await self._deadlines.catch_up()
        self._metrics.lag.set(await self._deadlines.lag())
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
                    log.exception("scheduled checks failed; retrying next round")
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
