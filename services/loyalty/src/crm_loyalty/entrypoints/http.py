"""HTTP API of the loyalty service under /loyalty: stores and members; errors in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from crm_loyalty.bootstrap import LoyaltyService
from crm_loyalty.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotEnoughPoints,
    NotFound,
    WrongState,
)
from crm_loyalty.entrypoints.routes import member_routes, store_routes
from crm_runtime.eventstore import IdempotencyKeyReused, WrongExpectedVersion
from crm_runtime.guard import install_guard
from crm_runtime.http import (
    Problem,
    install_correlation,
    install_observability,
    install_problem_handlers,
)

PREFIX = "/loyalty"


def create_app(service: LoyaltyService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.close()

    app = FastAPI(
        title="CRM loyalty",
        version="0.1.0",
        description="Stores, members, tiers, the points ledger and coupons. Errors are "
        "application/problem+json (RFC 9457).",
        lifespan=lifespan,
    )
    install_problem_handlers(app, DOMAIN_ERRORS)
    install_guard(app, service.settings, service.verifier)
    install_correlation(app, lambda: service.deps.new_id("cmd"))
    install_observability(app, service.metrics, "loyalty")
    app.include_router(store_routes(service), prefix=PREFIX)
    app.include_router(member_routes(service), prefix=PREFIX)
    app.include_router(_health(service), prefix=PREFIX)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


def _health(service: LoyaltyService) -> APIRouter:
    router = APIRouter()

    @router.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        try:
            await service.client[service.settings.database].command("ping")
        except Exception as error:
            raise Problem(503, "Unavailable", f"document store unreachable: {error}") from error
        return {"status": "ok", "service": "loyalty", "store": "ok"}

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
    NotEnoughPoints: lambda e: Problem(
        422,
        "Not enough points",
        str(e),
        type_="urn:crm:problem:not-enough-points",
        extra={"balance": e.balance, "points": e.points},
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
