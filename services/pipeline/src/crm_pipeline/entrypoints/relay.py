"""The outbox relay process: publishes the pipeline event store to Kafka.

It serves ``/health`` and ``/metrics`` on its own port for probes; the relay
itself runs in the app's lifespan and stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from crm_pipeline.bootstrap import PipelineService
from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.kafka import KafkaEventPublisher, build_broker, ensure_topics, kafka_reachable
from crm_runtime.outbox import OutboxRelay, RelayMetrics
from crm_runtime.personal_data import RevealingPublisher


def create_relay_app(service: PipelineService) -> FastAPI:
    settings = service.settings
    metrics = RelayMetrics(service.metrics, "pipeline")
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        await ensure_topics(
            settings.kafka_bootstrap_servers, [settings.topic], partitions=settings.topic_partitions
        )
        broker = build_broker(
            settings.kafka_bootstrap_servers,
            tracer_provider=service.tracer_provider,
            client_id="crm-pipeline-relay",
        )
        await broker.connect()
        relay = OutboxRelay(
            service.store,
            RevealingPublisher(KafkaEventPublisher(broker, settings.topic), service.deps.sealed),
            service.relay_lease(),
            metrics,
            batch_size=settings.relay_batch_size,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop), name="outbox-relay")
        state.update(task=task)
        try:
            yield
        finally:
            stop.set()
            await task
            await broker.stop()
            await service.close()

    app = FastAPI(title="CRM pipeline outbox relay", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, "pipeline-relay")

    @app.get("/health")
    async def health() -> JSONResponse:
        task = state.get("task")
        running = task is not None and not task.done()
        broker_ok = await kafka_reachable(settings.kafka_bootstrap_servers)
        lag = await service.store.count_unpublished()
        healthy = running and broker_ok
        return JSONResponse(
            {
                "status": "ok" if healthy else "unavailable",
                "service": "pipeline-relay",
                "relay": "running" if running else "stopped",
                "broker": "ok" if broker_ok else "unreachable",
                "unpublished_commits": lag,
            },
            status_code=200 if healthy else 503,
        )

    return app
