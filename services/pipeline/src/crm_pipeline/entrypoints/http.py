"""HTTP API of the pipeline service under /pipeline: routes per aggregate, errors in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from crm_pipeline.application.policy import PIPELINE_POLICY, READ_ACCESS_LOG
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    Overpayment,
    WrongState,
)
from crm_pipeline.entrypoints.leads import lead_routes
from crm_pipeline.entrypoints.opportunities import opportunity_routes
from crm_pipeline.entrypoints.orders import order_routes
from crm_pipeline.entrypoints.quotes import quote_routes
from crm_runtime.eventstore import IdempotencyKeyReused, WrongExpectedVersion
from crm_runtime.guard import Caller, install_guard
from crm_runtime.http import (
    Problem,
    install_correlation,
    install_observability,
    install_problem_handlers,
)

PREFIX = "/pipeline"


def create_app(service: PipelineService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.close()

    app = FastAPI(
        title="CRM pipeline",
        version="0.1.0",
        description="Leads, opportunities, quotes, orders and receivables. Amounts are decimal "
        'strings ("1250.00") with an ISO 4217 currency. Errors are application/problem+json '
        "(RFC 9457).",
        lifespan=lifespan,
    )
    install_problem_handlers(app, DOMAIN_ERRORS)
    install_guard(app, service.settings, service.verifier)
    install_correlation(app, lambda: service.deps.new_id("cmd"))
    install_observability(app, service.metrics, "pipeline")
    for routes in (lead_routes, opportunity_routes, quote_routes, order_routes):
        app.include_router(routes(service), prefix=PREFIX)
    app.include_router(_service_routes(service), prefix=PREFIX)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


def _service_routes(service: PipelineService) -> APIRouter:
    router = APIRouter()

    @router.get("/access-log", tags=["audit"])
    async def access_log(
        caller: Caller,
        lead_id: Annotated[str | None, Query(max_length=200)] = None,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Who saw leads' e-mail or phone unmasked, newest first (auditors and admins)."""
        PIPELINE_POLICY.authorise(caller, READ_ACCESS_LOG)
        entries = await service.access_log.entries(customer_id=lead_id, actor=actor, limit=limit)
        shown = []
        for entry in entries:  # the access log names the subject customer_id; here it is a lead
            subject = entry.pop("customer_id", None)
            shown.append({**entry, "lead_id": subject})
        return {"entries": shown}

    @router.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        try:
            await service.client[service.settings.database].command("ping")
        except Exception as error:
            raise Problem(503, "Unavailable", f"document store unreachable: {error}") from error
        return {"status": "ok", "service": "pipeline", "store": "ok"}

    return router


def _invalid(error: InvalidInput) -> Problem:
    return Problem(
        422,
        "Invalid request",
        str(error),
        type_="urn:crm:problem:validation",
        extra={"errors": [{"field": error.field, "message": error.reason}]},
    )


DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], Problem]] = {
    NotFound: lambda e: Problem(404, "Not found", str(e), type_="urn:crm:problem:not-found"),
    AlreadyExists: lambda e: Problem(409, "Conflict", str(e), type_="urn:crm:problem:conflict"),
    WrongState: lambda e: Problem(409, e.title, str(e), type_="urn:crm:problem:wrong-state"),
    InvalidInput: _invalid,
    Overpayment: lambda e: Problem(
        422,
        "Over-payment",
        str(e),
        type_="urn:crm:problem:over-payment",
        extra={"balance": str(e.balance), "amount": str(e.amount), "currency": e.currency},
    ),
    WrongExpectedVersion: lambda e: Problem(
        409,
        "Version conflict",
        f"{e}; read it again and retry with its current ETag",
        type_="urn:crm:problem:version-conflict",
        extra={"current_version": e.actual},
    ),
    IdempotencyKeyReused: lambda e: Problem(
        422, "Idempotency-Key reused", str(e), type_="urn:crm:problem:idempotency-key-reused"
    ),
}
