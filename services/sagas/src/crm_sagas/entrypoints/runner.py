"""The runner process (``crm-sagas run``): the Kafka consumer and the deadline loop.

The subscriber (consumer group ``crm-sagas``) and the lease-guarded deadline loop run in
the app's lifespan and stop cleanly on SIGTERM; ``/health`` answers whether the broker and
the store are reachable and the loop runs; ``/metrics`` is scraped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.kafka import ensure_topics, kafka_reachable
from crm_sagas.application.deadlines import DeadlineLoop
from crm_sagas.bootstrap import SagasService

NAME = "sagas-runner"


def deadline_loop(
    service: SagasService, owner: str | None = None, registry: CollectorRegistry | None = None
) -> DeadlineLoop:
    """The loop of this replica (``owner``: another one, in tests with a ``registry``)."""
    return DeadlineLoop(
        service.runner,
        service.deadline_lease(owner),
        registry or service.metrics,
        clock=service.deps.clock,
        interval_seconds=service.settings.deadline_interval_seconds,
    )


def create_runner_app(service: SagasService) -> FastAPI:
    settings = service.settings
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [
                settings.pipeline_topic,
                settings.tickets_topic,
                settings.rnd_requests_topic,
                settings.rnd_replies_topic,
                settings.events_topic,
                settings.dead_letter_topic,
            ],
            partitions=settings.topic_partitions,
        )
        await service.broker.start()
        stop = asyncio.Event()
        task = asyncio.create_task(deadline_loop(service).run(stop), name="sagas-deadlines")
        state.update(task=task)
        try:
            yield
        finally:
            stop.set()
            await task
            await service.broker.stop()
            await service.close()

    app = FastAPI(title="CRM sagas runner", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, NAME)

    @app.get("/health")
    async def health() -> JSONResponse:
        task = state.get("task")
        running = task is not None and not task.done()
        broker_ok = await kafka_reachable(settings.kafka_bootstrap_servers)
        try:
            await service.client[settings.database].command("ping")
            store = "ok"
        except Exception as error:
            store = f"unreachable: {error}"
        healthy = running and broker_ok and store == "ok"
        return JSONResponse(
            {
                "status": "ok" if healthy else "unavailable",
                "service": NAME,
                "broker": "ok" if broker_ok else "unreachable",
                "store": store,
                "deadlines": "running" if running else "stopped",
            },
            status_code=200 if healthy else 503,
        )

    return app
