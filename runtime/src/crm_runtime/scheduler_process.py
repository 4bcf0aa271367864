"""The scheduler process of a bounded context: its ``LeasedScheduler`` as an app.

It serves ``/health`` and ``/metrics`` on its own port for probes; the rounds run
in the app's lifespan, only while this replica holds the scheduler lease, and stop
cleanly on SIGTERM/SIGINT. Health reports how far the follower the scheduler reads
has come (its checkpoint and the commits it has not read yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.scheduling import LeasedScheduler


class SchedulingService(Protocol):
    """What a context's bootstrap provides to run its scheduler process."""

    @property
    def metrics(self) -> CollectorRegistry: ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...


class FollowerProgress(Protocol):
    """How far the follower the scheduler asks has read the event store."""

    async def position(self) -> int: ...
    async def lag(self) -> int: ...


def create_scheduler_app(
    context: str,
    service: SchedulingService,
    scheduler: Callable[[], LeasedScheduler],
    follower: FollowerProgress,
    *,
    reports_position: bool = True,
) -> FastAPI:
    """The scheduler of ``context`` (e.g. ``tickets``); ``scheduler`` is built once started."""
    name = f"{context}-scheduler"
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler().run(stop), name=name)
        state.update(task=task)
        try:
            yield
        finally:
            stop.set()
            await task
            await service.close()

    app = FastAPI(title=f"CRM {context} scheduler", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, name)

    @app.get("/health")
    async def health() -> JSONResponse:
        task = state.get("task")
        running = task is not None and not task.done()
        position: int | None
        lag: int | None
        try:
            position = await follower.position() if reports_position else None
            lag = await follower.lag()
            store = "ok"
        except Exception as error:
            position, lag, store = None, None, f"unreachable: {error}"
        healthy = running and store == "ok"
        answer: dict[str, Any] = {
            "status": "ok" if healthy else "unavailable",
            "service": name,
            "scheduler": "running" if running else "stopped",
            "store": store,
        }
        if reports_position:
            answer["position"] = position
        answer["lag_commits"] = lag
        return JSONResponse(answer, status_code=200 if healthy else 503)

    return app
