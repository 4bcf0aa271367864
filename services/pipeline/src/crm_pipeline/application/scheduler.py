"""The scheduled checks: flag overdue receivables and orders unpaid after the unpaid window.

The window is ``CRM_PIPELINE_UNPAID_AFTER`` (48 hours by default); the flag is still
``OrderUnpaidAfter48Hours`` and its metric label ``unpaid_48h``, names kept from when the
window was fixed.

Every interval the holder of a lease catches the deadlines follower up, asks
it which orders are due, and sends ``MarkOverdue`` / ``FlagUnpaid`` through
the handlers. Safe with two replicas, and with a holder that paused past its
lease: the order's decider flags each thing at most once (a repeated check is
a no-op), and two checks racing on one order collide on the stream version,
after which the loser decides again and finds nothing to do.
"""

from __future__ import annotations

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_pipeline.application.deadlines import ReceivableDeadlines
from crm_pipeline.application.handlers import PipelineDependencies, settle
from crm_pipeline.domain.order import FlagUnpaid, MarkOverdue, OrderCommand
from crm_runtime.leases import Lease
from crm_runtime.scheduling import LeaderMetrics, LeasedScheduler

CONTEXT = "pipeline"
log = structlog.get_logger("crm.pipeline.scheduler")


class SchedulerMetrics(LeaderMetrics):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, CONTEXT)
        self.flagged = Counter(
            "crm_pipeline_deadline_flags",
            "Receivables flagged by the scheduled checks, by kind (overdue, unpaid_48h).",
            ["kind"],
            registry=registry,
        )
        self.lag = Gauge(
            "crm_pipeline_deadlines_lag_commits",
            "Commits of the event store the deadlines follower has not read yet.",
            registry=registry,
        )


class DeadlineScheduler(LeasedScheduler):
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
        super().__init__(
            CONTEXT, lease, metrics, interval_seconds=interval_seconds, new_id=deps.new_id
        )
        self._deps = deps
        self._deadlines = deadlines
        self._metrics = metrics
        self._batch = batch_size

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
                    self._deps, orders, command.order_id, command, self.command_context()
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
