"""The scheduler process: SLA breaches, flagged and escalated.

It serves ``/health`` and ``/metrics`` on its own port for probes; the checks
run in the app's lifespan, only while this replica holds the scheduler lease,
and stop cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from crm_runtime.http import install_observability, install_problem_handlers
from crm_tickets.application.scheduler import SchedulerMetrics, SlaScheduler
from crm_tickets.bootstrap import TicketsService


def create_scheduler_app(service: TicketsService) -> FastAPI:
    settings = service.settings
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        scheduler = SlaScheduler(
            service.deps,
            service.rows,
            service.scheduler_lease(),
            SchedulerMetrics(service.metrics),
            interval_seconds=settings.scheduler_interval_seconds,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop), name="sla-scheduler")
        state.update(task=task)
        try:
            yield
        finally:
            stop.set()
            await task
            await service.close()

    app = FastAPI(title="CRM tickets scheduler", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, "tickets-scheduler")

    @app.get("/health")
    async def health() -> JSONResponse:
        task = state.get("task")
        running = task is not None and not task.done()
        try:
            position = await service.rows.position()
            lag = await service.rows.lag()
            store = "ok"
        except Exception as error:
            position, lag, store = None, None, f"unreachable: {error}"
        healthy = running and store == "ok"
        return JSONResponse(
            {
                "status": "ok" if healthy else "unavailable",
                "service": "tickets-scheduler",
                "scheduler": "running" if running else "stopped",
                "store": store,
                "position": position,
                "lag_commits": lag,
            },
            status_code=200 if healthy else 503,
        )

    return app
