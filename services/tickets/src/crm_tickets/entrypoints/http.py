"""HTTP API of the tickets service under /tickets; domain errors map to problems here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query

from crm_runtime.guard import Caller
from crm_runtime.http import Problem
from crm_runtime.service_app import context_problems, create_service_app, store_health
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
    return create_service_app(
        "tickets",
        service,
        title="CRM tickets",
        version="0.1.0",
        description="Customer service tickets: workflow, SLA deadlines and escalation, replies "
        "and notes, satisfaction surveys. Errors are application/problem+json (RFC 9457).",
        domain_errors=DOMAIN_ERRORS,
        # before the tickets: /tickets/health and /tickets/access-log are no ticket ids
        routers=[store_health("tickets", service), _audit_routes(service), ticket_routes(service)],
        prefix=PREFIX,
    )


def _audit_routes(service: TicketsService) -> APIRouter:
    router = APIRouter()

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


DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], Problem]] = {
    **context_problems(
        not_found=NotFound,
        already_exists=AlreadyExists,
        wrong_state=WrongState,
        invalid_input=InvalidInput,
    ),
    SurveyAlreadyAnswered: lambda e: Problem(
        409, "Survey already answered", str(e), type_="urn:crm:problem:survey-answered"
    ),
    KeyDestroyed: lambda e: Problem(
        410,
        "Customer erased",
        "the customer was erased: nothing new can be recorded about them",
        type_="urn:crm:problem:customer-erased",
    ),
}
