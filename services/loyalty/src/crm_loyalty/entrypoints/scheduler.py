"""The scheduler process: points expiry, coupon expiry and tier downgrades.

It serves ``/health`` and ``/metrics`` on its own port; the work runs in the app's
lifespan, only while this replica holds the lease, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from crm_loyalty.application.scheduler import LoyaltyScheduler, SchedulerMetrics
from crm_loyalty.bootstrap import LoyaltyService
from crm_runtime.http import install_observability, install_problem_handlers


def create_scheduler_app(service: LoyaltyService) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        scheduler = LoyaltyScheduler(
            service.deps,
            service.scheduler_lease(),
            SchedulerMetrics(service.metrics),
            interval_seconds=service.settings.scheduler_interval_seconds,
        )
        stop = asyncio.Event()
        state["task"] = asyncio.create_task(scheduler.run(stop), name="loyalty-scheduler")
        try:
            yield
        finally:
            stop.set()
            await state["task"]
            await service.close()

    app = FastAPI(title="CRM loyalty scheduler", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, "loyalty-scheduler")

    @app.get("/health")
    async def health() -> JSONResponse:
        task = state.get("task")
        running = task is not None and not task.done()
        try:
            lag: int | None = await service.roster.lag()
            store = "ok"
        except Exception as error:
            lag, store = None, f"unreachable: {error}"
        healthy = running and store == "ok"
        return JSONResponse(
            {
                "status": "ok" if healthy else "unavailable",
                "service": "loyalty-scheduler",
                "scheduler": "running" if running else "stopped",
                "store": store,
                "lag_commits": lag,
            },
            status_code=200 if healthy else 503,
        )

    return app
