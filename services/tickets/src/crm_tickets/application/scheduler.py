"""The scheduled SLA check: flag and escalate breached deadlines.

Every interval the holder of a lease catches the ticket rows up, asks them which
first-response and resolution deadlines passed unmet, and sends ``FlagBreach``
through the decider. Safe with two replicas, and with a holder that paused past
its lease: the decider flags each target at most once per resolution cycle (a
repeated check is a no-op), and two checks racing on one ticket collide on the
stream version, after which the loser decides again and finds nothing to do.
"""

from __future__ import annotations

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_contracts.tickets import SlaTarget
from crm_runtime.leases import Lease
from crm_runtime.scheduling import LeaderMetrics, LeasedScheduler
from crm_tickets.application.rows import TicketRows
from crm_tickets.application.streams import Dependencies, settle
from crm_tickets.domain.ticket import FlagBreach

CONTEXT = "tickets"
log = structlog.get_logger("crm.tickets.scheduler")


class SchedulerMetrics(LeaderMetrics):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, CONTEXT)
        self.breaches = Counter(
            "crm_tickets_sla_breaches",
            "SLA breaches flagged by the scheduled check, by target.",
            ["target"],
            registry=registry,
        )
        self.lag = Gauge(
            "crm_tickets_rows_lag_commits",
            "Commits of the event store the ticket rows do not reflect yet.",
            registry=registry,
        )


class SlaScheduler(LeasedScheduler):
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
        super().__init__(
            CONTEXT, lease, metrics, interval_seconds=interval_seconds, new_id=deps.new_id
        )
        self._deps = deps
        self._rows = rows
        self._metrics = metrics
        self._batch = batch_size

    async def check_due(self) -> int:
        """Catch up, then flag every deadline passed now; returns the breaches flagged."""
        await self._rows.catch_up()
        now = self._deps.clock()
        flagged = 0
        for target in SlaTarget:
            for ticket_id in await self._rows.due(target, now, self._batch):
                breach = FlagBreach(ticket_id, target, now)
                try:
                    outcome = await settle(self._deps, ticket_id, breach, self.command_context())
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
