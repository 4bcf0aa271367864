"""Lead routes: capture, read, qualify (opens the opportunity), disqualify."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from crm_pipeline.application import handlers
from crm_pipeline.application.policy import (
    CAPTURE_LEAD,
    PIPELINE_POLICY,
    QUALIFY_LEAD,
    READ_LEAD,
)
from crm_pipeline.application.streams import execute
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.domain.lead import CaptureLead, DisqualifyLead, QualifyLead, opportunity_id_for
from crm_pipeline.domain.opportunity import OpportunityTerms
from crm_pipeline.entrypoints.answers import Lead, Opportunity
from crm_pipeline.entrypoints.conventions import answer, owner_of
from crm_pipeline.entrypoints.requests import (
    CaptureLeadRequest,
    DisqualifyLeadRequest,
    QualifyLeadRequest,
)
from crm_runtime.auth import Principal
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.guard import Caller
from crm_runtime.policy import Forbidden, Ownership, Scope, masked


def lead_routes(service: PipelineService) -> APIRouter:
    router = APIRouter(prefix="/leads", tags=["leads"])
    deps = service.deps
    leads = deps.deciders.lead

    async def shown(caller: Principal, action: str, view: dict[str, Any]) -> dict[str, Any]:
        """The lead as the caller may see it; unmasked answers go to the access log."""
        if not PIPELINE_POLICY.reveals(caller, READ_LEAD):
            return masked(view)
        seen = [f for f in ("email", "phone") if view.get(f) is not None]
        if seen:
            await service.access_log.record(caller, action, str(view["id"]), seen)
        return view

    @router.post("", status_code=201, response_model=Lead)
    async def capture_lead(
        caller: Caller,
        request: Request,
        response: Response,
        body: CaptureLeadRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        owner = Ownership(owner_id=body.owner_id or caller.subject, team=body.team or caller.team)
        widest = PIPELINE_POLICY.scope_of(caller, CAPTURE_LEAD)
        if owner.team != caller.team and widest is not Scope.ANY:
            raise Forbidden(caller, CAPTURE_LEAD, "only those granted any team capture for others")
        PIPELINE_POLICY.authorise(caller, CAPTURE_LEAD, owner)
        command = CaptureLead(
            lead_id=deps.new_id("lead"),
            source=body.source,
            name=body.name,
            owner_id=str(owner.owner_id),
            team=owner.team,
            company=body.company,
            email=body.email,
            phone=body.phone,
            customer_id=body.customer_id,
        )
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            leads,
            command.lead_id,
            command,
            context_of(request, caller),
            expected_version=0,
            idempotency=idempotency,
        )
        view = await answer(deps, request, response, outcome, idempotency, created=True)
        response.headers["Location"] = f"/pipeline/leads/{view['id']}"
        return await shown(caller, CAPTURE_LEAD, view)

    @router.get("/{lead_id}", response_model=Lead)
    async def get_lead(caller: Caller, lead_id: str, response: Response) -> dict[str, Any]:
        loaded = await handlers.existing(deps, leads, lead_id)
        PIPELINE_POLICY.authorise(caller, READ_LEAD, owner_of(loaded.state))
        response.headers["ETag"] = f'"{loaded.version}"'
        return await shown(caller, READ_LEAD, leads.view(loaded.state, loaded.version))

    @router.post("/{lead_id}/qualification", status_code=201, response_model=Opportunity)
    async def qualify_lead(
        caller: Caller,
        lead_id: str,
        request: Request,
        response: Response,
        body: QualifyLeadRequest,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Qualify the lead: opens its opportunity (answered, with its Location)."""
        loaded = await handlers.existing(deps, leads, lead_id)
        PIPELINE_POLICY.authorise(caller, QUALIFY_LEAD, owner_of(loaded.state))
        command = QualifyLead(lead_id, opportunity_id_for(lead_id), body.customer_id)
        terms = OpportunityTerms(
            amount=body.amount,
            currency=body.currency,
            expected_close_date=body.expected_close_date,
            title=body.title,
            stage=body.stage,
        )
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await handlers.qualify_lead(
            deps,
            command,
            terms,
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        response.status_code = 200
        view = await answer(deps, request, response, outcome, idempotency, created=True)
        response.headers["Location"] = f"/pipeline/opportunities/{view['id']}"
        return view

    @router.post("/{lead_id}/disqualification", response_model=Lead)
    async def disqualify_lead(
        caller: Caller,
        lead_id: str,
        request: Request,
        response: Response,
        body: Annotated[DisqualifyLeadRequest, Body()],
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        loaded = await handlers.existing(deps, leads, lead_id)
        PIPELINE_POLICY.authorise(caller, QUALIFY_LEAD, owner_of(loaded.state))
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            leads,
            lead_id,
            DisqualifyLead(lead_id, body.reason),
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        view = await answer(deps, request, response, outcome, idempotency)
        return await shown(caller, QUALIFY_LEAD, view)

    return router
