"""The HTTP API app of a bounded context: what every context's ``create_app`` wires the same
way around its own routes and domain errors.

The lifespan starts the service (indexes) and closes it, running the context's background
work in between if it has any; domain errors answer as problems (RFC 9457); the guard
authenticates and limits callers; every request gets a correlation id, a metric and a
span (``/health`` and ``/metrics`` are not traced).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_runtime.auth import TokenVerifier
from crm_runtime.eventstore import IdempotencyKeyReused, WrongExpectedVersion
from crm_runtime.guard import install_guard
from crm_runtime.http import (
    Problem,
    install_correlation,
    install_observability,
    install_problem_handlers,
)
from crm_runtime.settings import RuntimeSettings


class IdFactory(Protocol):
    @property
    def new_id(self) -> Callable[[str], str]: ...


class ServedContext(Protocol):
    """What a context's bootstrap provides to serve its API."""

    @property
    def settings(self) -> RuntimeSettings: ...
    @property
    def deps(self) -> IdFactory: ...
    @property
    def verifier(self) -> TokenVerifier: ...
    @property
    def metrics(self) -> CollectorRegistry: ...
    @property
    def tracer_provider(self) -> TracerProvider: ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...


def create_service_app(
    context: str,
    service: ServedContext,
    *,
    title: str,
    version: str,
    description: str,
    domain_errors: Mapping[type[Exception], Callable[[Any], Problem]],
    routers: Sequence[APIRouter],
    prefix: str = "",
    background: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
) -> FastAPI:
    """The API of ``context`` (e.g. ``tickets``): ``routers`` under ``prefix``, in order (a
    router without a prefix is mounted as built: building routes costs more than an app).

    ``background`` is work that runs while the app serves (e.g. a follower), entered after
    the service started and left before it closes. The service is ``app.state.<context>``.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            async with background() if background is not None else nullcontext():
                yield
        finally:
            await service.close()

    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    install_problem_handlers(app, domain_errors)
    install_guard(app, service.settings, service.verifier)
    install_correlation(app, lambda: service.deps.new_id("cmd"))
    install_observability(app, service.metrics, context)
    setattr(app.state, context, service)
    for router in routers:
        if prefix:
            app.include_router(router, prefix=prefix)
        else:
            app.router.routes.extend(router.routes)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


ProblemOf = Callable[[Any], Problem]


def context_problems(
    *,
    not_found: type[Exception],
    already_exists: type[Exception],
    wrong_state: type[Exception],
    invalid_input: type[Exception],
) -> dict[type[Exception], ProblemOf]:
    """How the errors every context has answer, by its own classes of them (``wrong_state``
    has a ``title``, ``invalid_input`` a ``field`` and a ``reason``), plus the event store's
    version conflict and reused Idempotency-Key. A context adds its own to these."""
    return {
        not_found: lambda e: Problem(404, "Not found", str(e), type_="urn:crm:problem:not-found"),
        already_exists: lambda e: Problem(
            409, "Conflict", str(e), type_="urn:crm:problem:conflict"
        ),
        wrong_state: lambda e: Problem(409, e.title, str(e), type_="urn:crm:problem:wrong-state"),
        invalid_input: lambda e: Problem(
            422,
            "Invalid request",
            str(e),
            type_="urn:crm:problem:validation",
            extra={"errors": [{"field": e.field, "message": e.reason}]},
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


class PingedContext(Protocol):
    @property
    def settings(self) -> Any: ...
    @property
    def client(self) -> Any: ...


def store_health(context: str, service: PingedContext) -> APIRouter:
    """``GET /health``: 200 with the store pinged, else a 503 problem naming why."""
    router = APIRouter()

    @router.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        try:
            await service.client[service.settings.database].command("ping")
        except Exception as error:
            raise Problem(503, "Unavailable", f"document store unreachable: {error}") from error
        return {"status": "ok", "service": context, "store": "ok"}

    return router
