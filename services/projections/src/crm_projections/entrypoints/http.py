"""Query API of the read models, with the Kafka consumer running in the app's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from crm_projections.application.boards import keep_settled
from crm_projections.application.policy import (
    READ_ACCESS_LOG,
    READ_CUSTOMER_360,
    READ_FORECAST,
    READ_RECEIVABLES,
    READ_STORES,
    VIEWS_POLICY,
    visible,
)
from crm_projections.bootstrap import ProjectionsService
from crm_projections.domain.forecast import PERIOD_PATTERN
from crm_projections.domain.receivables import combined
from crm_projections.entrypoints.board_routes import board_routes
from crm_runtime.auth import Principal
from crm_runtime.guard import Caller, install_guard
from crm_runtime.http import Problem, install_observability, install_problem_handlers
from crm_runtime.kafka import ensure_topics, kafka_reachable
from crm_runtime.policy import Ownership, masked

Id = Annotated[str | None, Query(max_length=200)]


def create_app(service: ProjectionsService, *, consume: bool = True) -> FastAPI:
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        if consume:
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                [*settings.topics, settings.dead_letter_topic],
            )
            await service.broker.start()
        # Follows rebuilds' switches when no event arrives, and keeps the lag gauges fresh.
        stop = asyncio.Event()
        upkeep = asyncio.create_task(service.lag.run(service.projectors, stop), name="lag")
        # Refreshes the boards the folds marked pending, once per board per round.
        settling = asyncio.create_task(
            keep_settled(service.folding, stop, lease=service.settle_lease()), name="boards"
        )
        try:
            yield
        finally:
            stop.set()
            await upkeep
            await settling
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
    app.include_router(board_routes(service))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


def _routes(service: ProjectionsService) -> APIRouter:
    router = APIRouter(prefix="/views")

    @router.get("/customers/{customer_id}")
    async def customer_360(caller: Caller, customer_id: str, response: Response) -> dict[str, Any]:
        """The customer 360; contact details and interaction summaries masked unless the
        caller's role allows more (unmasked reads are recorded in the access log).

        A merged duplicate answers with its survivor's view (the Content-Location header
        names it); a survivor's sales sections, interactions and churn signals include those
        of every customer merged into it."""
        view = await _survivor(customer_id)
        survivor_id = view["customer_id"]
        if survivor_id != customer_id:
            response.headers["Content-Location"] = f"/views/customers/{survivor_id}"
        return await _shown_to(caller, view)

    @router.get("/tickets/{ticket_id}/agent-view")
    async def agent_view(caller: Caller, ticket_id: str) -> dict[str, Any]:
        """What the agent who picks up a ticket sees of its customer, from the customer 360:
        the profile (masked as in the 360), stage, value tier, loyalty membership, the last
        satisfaction score, recent orders and open receivables, recent and open tickets, SLA
        breaches and churn signals. The ticket itself is the tickets service's."""
        customer_id = await service.customer360.customer_of_ticket(ticket_id)
        if customer_id is None:
            raise Problem(
                404,
                "Not found",
                f"no ticket {ticket_id} in the views (unknown id, or not folded yet)",
                type_="urn:crm:problem:not-found",
            )
        view = await _shown_to(caller, await _survivor(customer_id))
        tickets = [*view["service"]["open_tickets"], *view["service"]["recent_tickets"]]
        return {
            "ticket_id": ticket_id,
            "ticket": next((t for t in tickets if t["ticket_id"] == ticket_id), None),
            "customer": {
                field: view[field]
                for field in (
                    "customer_id",
                    "profile",
                    "owner",
                    "lifecycle_stage",
                    "classification",
                    "segments",
                    "value_tier",
                    "loyalty",
                )
            },
            "recent_orders": view["orders"]["recent"],
            "receivables": view["receivables"],
            "open_tickets": view["service"]["open_tickets"],
            "recent_tickets": view["service"]["recent_tickets"],
            "last_csat": view["service"]["last_csat"],
            "sla_breaches": view["service"]["sla_breaches"],
            "churn_signals": view["churn_signals"],
            "latest_interactions": view["latest_interactions"],
        }

    async def _survivor(customer_id: str) -> dict[str, Any]:
        view = await service.customer360.survivor(customer_id)
        if view is None:
            raise Problem(
                404,
                "Not found",
                f"no customer 360 for {customer_id} (unknown id, or its events are not folded yet)",
                type_="urn:crm:problem:not-found",
            )
        return view

    async def _shown_to(caller: Principal, view: dict[str, Any]) -> dict[str, Any]:
        """The view if the caller may read it, masked unless their role reveals more (an
        unmasked read of contact details is recorded in the access log)."""
        owner = view.get("owner") or {}
        VIEWS_POLICY.authorise(
            caller,
            READ_CUSTOMER_360,
            Ownership(owner.get("owner_id"), owner.get("team"), frozenset(view["assignees"])),
        )
        profile = view.get("profile") or {}
        interactions = view["latest_interactions"]
        if not VIEWS_POLICY.reveals(caller, READ_CUSTOMER_360):
            hidden = [{**i, "summary": _hidden(i["summary"])} for i in interactions]
            return {**view, "profile": masked(profile), "latest_interactions": hidden}
        shown = [f for f in ("email", "phone") if profile.get(f) is not None]
        if any(i["summary"] is not None for i in interactions):
            shown.append("interaction_summaries")
        if shown:
            await service.access_log.record(caller, READ_CUSTOMER_360, view["customer_id"], shown)
        return view

    @router.get("/stores")
    async def stores(
        caller: Caller,
        period: Annotated[str, Query(pattern=PERIOD_PATTERN)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> dict[str, Any]:
        """Every store with its members, the members enrolled in ``period`` (YYYY-MM,
        YYYY-Qn or YYYY), its repeat purchasers (members who paid for two or more orders since
        enrolling) and repeat-purchase rate (repeat purchasers / members)."""
        VIEWS_POLICY.authorise(caller, READ_STORES)
        return {"period": period, "stores": await service.stores.all(period, limit=limit)}

    @router.get("/stores/{store_id}")
    async def store(
        caller: Caller, store_id: str, period: Annotated[str, Query(pattern=PERIOD_PATTERN)]
    ) -> dict[str, Any]:
        """One store and its member counts for ``period`` (see ``/views/stores``)."""
        VIEWS_POLICY.authorise(caller, READ_STORES)
        view = await service.stores.get(store_id, period)
        if view is None:
            raise Problem(
                404,
                "Not found",
                f"no store {store_id} (unknown id, or not folded yet)",
                type_="urn:crm:problem:not-found",
            )
        return view

    @router.get("/receivables")
    async def receivables_by_rep(
        caller: Caller,
        owner_id: Id = None,
        team: Id = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> dict[str, Any]:
        """Open and overdue receivables per rep (reps: their own; managers: their team's)."""
        query = visible(caller, READ_RECEIVABLES, owner_id=owner_id, team=team)
        reps = await service.receivables.find(query, limit=limit)
        return {"reps": reps, **combined(reps)}

    @router.get("/receivables/{owner_id}")
    async def receivables_of_rep(caller: Caller, owner_id: str) -> dict[str, Any]:
        """One rep's open receivables and their open and overdue totals."""
        view = await service.receivables.get(owner_id)
        if view is None:
            raise Problem(
                404,
                "Not found",
                f"no receivables of {owner_id} (unknown rep, or none folded yet)",
                type_="urn:crm:problem:not-found",
            )
        VIEWS_POLICY.authorise(caller, READ_RECEIVABLES, Ownership(owner_id, view["team"]))
        return view

    @router.get("/forecast")
    async def forecast(
        caller: Caller,
        period: Annotated[str, Query(pattern=PERIOD_PATTERN)],
        owner_id: Id = None,
        team: Id = None,
    ) -> dict[str, Any]:
        """Weighted pipeline of the open opportunities expected to close in ``period``
        (YYYY-MM, YYYY-Qn or YYYY), per currency: overall, per team and per rep."""
        query = visible(caller, READ_FORECAST, owner_id=owner_id, team=team)
        summary = await service.forecast.summary(period, query)
        covers = {"owner_id": query.get("owner_id"), "team": query.get("team")}
        return {"period": period, **covers, **summary}

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
        """Whether the store and the broker answer (503 when one does not), the read models
        this process folds and its consumer group, and how far each read model (folded here
        or by another process) is behind each source's event store: the position folded, the store's
        head, events (store positions) and seconds behind. A read model behind still serves:
        lag alone never makes the answer 503 (alert on the lag metrics instead)."""
        checks: dict[str, str] = {}
        try:
            await service.client[service.settings.database].command("ping")
            checks["store"] = "ok"
        except Exception as error:
            checks["store"] = f"unreachable: {error}"
        broker_ok = await kafka_reachable(service.settings.kafka_bootstrap_servers)
        checks["broker"] = "ok" if broker_ok else "unreachable"
        healthy = all(value == "ok" for value in checks.values())
        answer: dict[str, Any] = {
            "status": "ok" if healthy else "unavailable",
            "service": "projections",
            **checks,
            "folds": list(service.settings.folded),
            "consumer_group": service.settings.group_id,
        }
        if checks["store"] == "ok":
            try:
                lag = await service.lag.report(service.projectors)
                answer["read_models"] = {name: found.as_json() for name, found in lag.items()}
            except Exception as error:
                answer["read_models"] = f"unavailable: {error}"
        return JSONResponse(answer, status_code=200 if healthy else 503)

    return router


def _hidden(summary: str | None) -> str | None:
    """An interaction summary is personal data: masked roles see that there is one."""
    return None if summary is None else "***"
