"""The scheduler process: overdue receivables and unpaid orders (after 48 hours by default).

It serves ``/health`` and ``/metrics`` on its own port for probes; the checks
run in the app's lifespan, only while this replica holds the scheduler lease,
and stop cleanly on SIGTERM/SIGINT (``crm_runtime.scheduler_process``).
"""

from __future__ import annotations

from fastapi import FastAPI

from crm_pipeline.application.scheduler import DeadlineScheduler, SchedulerMetrics
from crm_pipeline.bootstrap import PipelineService
from crm_runtime import scheduler_process


def create_scheduler_app(service: PipelineService) -> FastAPI:
    def scheduler() -> DeadlineScheduler:
        return DeadlineScheduler(
            service.deps,
            service.deadlines,
            service.scheduler_lease(),
            SchedulerMetrics(service.metrics),
            interval_seconds=service.settings.scheduler_interval_seconds,
        )

    return scheduler_process.create_scheduler_app("pipeline", service, scheduler, service.deadlines)
