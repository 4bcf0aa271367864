"""HTTP API of the pipeline service under /pipeline: routes per aggregate, errors in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query

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
from crm_pipeline.entrypoints.opportunity_list import opportunity_list_routes
from crm_pipeline.entrypoints.orders import order_routes
from crm_pipeline.entrypoints.quotes import quote_routes
from crm_runtime.guard import Caller
from crm_runtime.http import Problem
from crm_runtime.service_app import context_problems, create_service_app, store_health

PREFIX = "/pipeline"
AGGREGATES = (lead_routes, opportunity_routes, quote_routes, order_routes)
LISTS = (opportunity_list_routes,)


def create_app(service: PipelineService) -> FastAPI:
    return create_service_app(
        "pipeline",
        service,
        title="CRM pipeline",
        version="0.1.0",
        description="Leads, opportunities, quotes, orders and receivables. Amounts are decimal "
        'strings ("1250.00") with an ISO 4217 currency. Errors are application/problem+json '
        "(RFC 9457).",
        domain_errors=DOMAIN_ERRORS,
        routers=[
            *(routes(service) for routes in AGGREGATES),
            *(routes(service) for routes in LISTS),
            _audit_routes(service),
            store_health("pipeline", service),
        ],
        prefix=PREFIX,
    )


def _audit_routes(service: PipelineService) -> APIRouter:
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

    return router


DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], Problem]] = {
    **context_problems(
        not_found=NotFound,
        already_exists=AlreadyExists,
        wrong_state=WrongState,
        invalid_input=InvalidInput,
    ),
    Overpayment: lambda e: Problem(
        422,
        "Over-payment",
        str(e),
        type_="urn:crm:problem:over-payment",
        extra={"balance": str(e.balance), "amount": str(e.amount), "currency": e.currency},
    ),
}
