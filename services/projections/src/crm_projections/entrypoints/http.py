"""Query API of the read models, with the Kafka consumer running in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from crm_projections.bootstrap import ProjectionsService
from crm_runtime.http import Problem, install_observability, install_problem_handlers
from crm_runtime.kafka import ensure_topics, kafka_reachable


def create_app(service: ProjectionsService, *, consume: bool = True) -> FastAPI:
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if consume:
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                [settings.contacts_topic, settings.dead_letter_topic],
            )
            await service.broker.start()
        try:
            yield
        finally:
            if consume:
                await service.broker.stop()
            await service.close()

    app = FastAPI(
        title="CRM views",
        version="0.1.0",
        description="Read models built from the events of every context.",
        lifespan=lifespan,
    )
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, "projections")
    app.include_router(_routes(service))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


def _routes(service: ProjectionsService) -> APIRouter:
    router = APIRouter(prefix="/views")

    @router.get("/customers/{customer_id}")
    async def customer_360(customer_id: str) -> dict[str, Any]:
        view = await service.customer360.get(customer_id)
        if view is None:
            raise Problem(
                404,
                "Not found",
                f"no customer 360 for {customer_id} (unknown id, or its events are not folded yet)",
                type_="urn:crm:problem:not-found",
            )
        return view

    @router.get("/health")
    async def health() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await service.client[service.settings.database].command("ping")
            checks["store"] = "ok"
        except Exception as error:
            checks["store"] = f"unreachable: {error}"
        broker_ok = await kafka_reachable(service.settings.kafka_bootstrap_servers)
        checks["broker"] = "ok" if broker_ok else "unreachable"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "service": "projections", **checks},
            status_code=200 if healthy else 503,
        )

    return router
