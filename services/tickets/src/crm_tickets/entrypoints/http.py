"""HTTP API of the tickets service under /tickets; domain errors map to problems here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from crm_runtime.eventstore import IdempotencyKeyReused, WrongExpectedVersion
from crm_runtime.guard import Caller, install_guard
from crm_runtime.http import (
    Problem,
    install_correlation,
    install_observability,
    install_problem_handlers,
)
from crm_runtime.shredding import KeyDestroyed
from crm_tickets.application.policy import READ_ACCESS_LOG, TICKETS_POLICY
from crm_tickets.bootstrap import TicketsService
from crm_tickets.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    SurveyAlreadyAnswered,
    WrongState,
)
from crm_tickets.entrypoints.tickets import ticket_routes

PREFIX = "/tickets"


def create_app(service: TicketsService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.close()

    app = FastAPI(
        title="CRM tickets",
        version="0.1.0",
        description="Customer service tickets: workflow, SLA deadlines and escalation, replies "
        "and notes, satisfaction surveys. Errors are application/problem+json (RFC 9457).",
        lifespan=lifespan,
    )
    install_problem_handlers(app, DOMAIN_ERRORS)
    install_guard(app, service.settings, service.verifier)
    install_correlation(app, lambda: service.deps.new_id("cmd"))
    install_observability(app, service.metrics, "tickets")
    app.include_router(_service_routes(service), prefix=PREFIX)
    app.include_router(ticket_routes(service), prefix=PREFIX)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


def _service_routes(service: TicketsService) -> APIRouter:
    router = APIRouter()

    @router.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        try:
            await service.client[service.settings.database].command("ping")
        except Exception as error:
            raise Problem(503, "Unavailable", f"document store unreachable: {error}") from error
        return {"status": "ok", "service": "tickets", "store": "ok"}

    @router.get("/access-log", tags=["audit"])
    async def access_log(
        caller: Caller,
        customer_id: Annotated[str | None, Query(max_length=200)] = None,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Who read tickets' personal text unmasked, newest first (auditors and admins)."""
        TICKETS_POLICY.authorise(caller, READ_ACCESS_LOG)
        entries = await service.access_log.entries(
            customer_id=customer_id, actor=actor, limit=limit
        )
        return {"entries": entries}

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
    SurveyAlreadyAnswered: lambda e: Problem(
        409, "Survey already answered", str(e), type_="urn:crm:problem:survey-answered"
    ),
    InvalidInput: _invalid,
    KeyDestroyed: lambda e: Problem(
        410,
        "Customer erased",
        "the customer was erased: nothing new can be recorded about them",
        type_="urn:crm:problem:customer-erased",
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
