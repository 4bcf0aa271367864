"""The scheduler process: points expiry, coupon expiry and tier downgrades.

It serves ``/health`` and ``/metrics`` on its own port; the work runs in the app's
lifespan, only while this replica holds the lease, and stops cleanly on SIGTERM
(``crm_runtime.scheduler_process``). Its health reports the roster's lag, not its
position.
"""

from __future__ import annotations

from fastapi import FastAPI

from crm_loyalty.application.scheduler import LoyaltyScheduler, SchedulerMetrics
from crm_loyalty.bootstrap import LoyaltyService
from crm_runtime import scheduler_process


def create_scheduler_app(service: LoyaltyService) -> FastAPI:
    def scheduler() -> LoyaltyScheduler:
        return LoyaltyScheduler(
            service.deps,
            service.scheduler_lease(),
            SchedulerMetrics(service.metrics),
            interval_seconds=service.settings.scheduler_interval_seconds,
        )

    return scheduler_process.create_scheduler_app(
        "loyalty", service, scheduler, service.roster, reports_position=False
    )
