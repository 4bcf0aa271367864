"""Query API of the read models, with the Kafka consumer running in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from crm_projections.application.policy import READ_ACCESS_LOG, READ_CUSTOMER_360, VIEWS_POLICY
from crm_projections.bootstrap import ProjectionsService
from crm_runtime.guard import Caller, install_guard
from crm_runtime.http import Problem, install_observability, install_problem_handlers
from crm_runtime.kafka import ensure_topics, kafka_reachable
from crm_runtime.policy import Ownership, masked


def create_app(service: ProjectionsService, *, consume: bool = True) -> FastAPI:
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
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
    install_guard(app, settings, service.verifier)
    install_observability(app, service.metrics, "projections")
    app.include_router(_routes(service))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


def _routes(service: ProjectionsService) -> APIRouter:
    router = APIRouter(prefix="/views")

    @router.get("/customers/{customer_id}")
    async def customer_360(caller: Caller, customer_id: str) -> dict[str, Any]:
        """The customer 360; contact details masked unless the caller's role allows more."""
        view = await service.customer360.get(customer_id)
        if view is None:
            raise Problem(
                404,
                "Not found",
                f"no customer 360 for {customer_id} (unknown id, or its events are not folded yet)",
                type_="urn:crm:problem:not-found",
            )
        owner = view.get("owner") or {}
        VIEWS_POLICY.authorise(
            caller, READ_CUSTOMER_360, Ownership(owner.get("owner_id"), owner.get("team"))
        )
        profile = view.get("profile") or {}
        if not VIEWS_POLICY.reveals(caller, READ_CUSTOMER_360):
            return {**view, "profile": masked(profile)}
        shown = [f for f in ("email", "phone") if profile.get(f) is not None]
        if shown:
            await service.access_log.record(caller, READ_CUSTOMER_360, customer_id, shown)
        return view

    @router.get("/access-log")
    async def access_log(
        caller: Caller,
        customer_id: Annotated[str | None, Query(max_length=200)] = None,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Who read unmasked contact details in the views, newest first."""
        VIEWS_POLICY.authorise(caller, READ_ACCESS_LOG)
        entries = await service.access_log.entries(
            customer_id=customer_id, actor=actor, limit=limit
        )
        return {"entries": entries}

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
