"""The scheduler process: SLA breaches, flagged and escalated.

It serves ``/health`` and ``/metrics`` on its own port for probes; the checks
run in the app's lifespan, only while this replica holds the scheduler lease,
and stop cleanly on SIGTERM/SIGINT (``crm_runtime.scheduler_process``).
"""

from __future__ import annotations

from fastapi import FastAPI

from crm_runtime import scheduler_process
from crm_tickets.application.scheduler import SchedulerMetrics, SlaScheduler
from crm_tickets.bootstrap import TicketsService


def create_scheduler_app(service: TicketsService) -> FastAPI:
    def scheduler() -> SlaScheduler:
        return SlaScheduler(
            service.deps,
            service.rows,
            service.scheduler_lease(),
            SchedulerMetrics(service.metrics),
            interval_seconds=service.settings.scheduler_interval_seconds,
        )

    return scheduler_process.create_scheduler_app("tickets", service, scheduler, service.rows)
