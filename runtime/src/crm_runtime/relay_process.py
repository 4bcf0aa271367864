"""The outbox relay process of a bounded context: publishes its event store to Kafka.

It serves ``/health`` and ``/metrics`` on its own port for probes; the relay
itself runs in the app's lifespan and stops cleanly on SIGTERM/SIGINT. Personal
fields sealed at rest are revealed on the way out (docs/adr/0008).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_runtime.eventstore import EventStore
from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.kafka import KafkaEventPublisher, build_broker, ensure_topics, kafka_reachable
from crm_runtime.leases import Lease
from crm_runtime.outbox import OutboxRelay, RelayMetrics
from crm_runtime.personal_data import RevealingPublisher, SealedEvents


class RelaySettings(Protocol):
    kafka_bootstrap_servers: str
    topic: str
    topic_partitions: int
    relay_batch_size: int


class RelayingDependencies(Protocol):
    @property
    def sealed(self) -> SealedEvents: ...


class RelayingService(Protocol):
    """What a context's bootstrap provides to run its relay."""

    @property
    def settings(self) -> RelaySettings: ...
    @property
    def store(self) -> EventStore: ...
    @property
    def deps(self) -> RelayingDependencies: ...
    @property
    def tracer_provider(self) -> TracerProvider: ...
    @property
    def metrics(self) -> CollectorRegistry: ...

    def relay_lease(self) -> Lease: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


def create_relay_app(context: str, service: RelayingService) -> FastAPI:
    """The relay of ``context`` (e.g. ``contacts``) as an app: health and metrics on its port."""
    settings = service.settings
    metrics = RelayMetrics(service.metrics, context)
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
            client_id=f"crm-{context}-relay",
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

    app = FastAPI(title=f"CRM {context} outbox relay", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, f"{context}-relay")

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
                "service": f"{context}-relay",
                "relay": "running" if running else "stopped",
                "broker": "ok" if broker_ok else "unreachable",
                "unpublished_commits": lag,
            },
            status_code=200 if healthy else 503,
        )

    return app
