"""Opportunity routes: open, read, change amount and close date, move stage, win, lose, reopen,
hand over to another rep."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel

from crm_pipeline.application import handlers
from crm_pipeline.application.policy import (
    CHANGE_OPPORTUNITY,
    OPEN_OPPORTUNITY,
    PIPELINE_POLICY,
    READ_OPPORTUNITY,
    REASSIGN_OPPORTUNITY,
)
from crm_pipeline.application.streams import Loaded, execute
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.domain.opportunity import (
    ChangeOpportunityDetails,
    LoseOpportunity,
    MoveStage,
    OpenOpportunity,
    OpportunityCommand,
    OpportunityState,
    ReassignOpportunity,
    ReopenOpportunity,
    WinOpportunity,
)
from crm_pipeline.entrypoints.answers import Opportunity
from crm_pipeline.entrypoints.conventions import answer, owner_of
from crm_pipeline.entrypoints.requests import (
    ChangeOpportunityRequest,
    LoseOpportunityRequest,
    MoveStageRequest,
    OpenOpportunityRequest,
    ReassignOpportunityRequest,
    ReopenOpportunityRequest,
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
from crm_runtime.policy import Forbidden, Ownership, Scope


def opportunity_routes(service: PipelineService) -> APIRouter:
    router = APIRouter(prefix="/opportunities", tags=["opportunities"])
    deps = service.deps
    opportunities = deps.deciders.opportunity

    async def change(
        caller: Principal,
        opportunity_id: str,
        command: OpportunityCommand,
        request: Request,
        response: Response,
        body: BaseModel | None,
        if_match: str | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        loaded = await handlers.existing(deps, opportunities, opportunity_id)
        PIPELINE_POLICY.authorise(caller, CHANGE_OPPORTUNITY, owner_of(loaded.state))
        return await run(
            caller, loaded, command, request, response, body, if_match, idempotency_key
        )

    async def run(
        caller: Principal,
        loaded: Loaded[OpportunityState],
        command: OpportunityCommand,
        request: Request,
        response: Response,
        body: BaseModel | None,
        if_match: str | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        """The command on the opportunity already loaded, and authorised, by the caller."""
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            opportunities,
            loaded.stream_id,
            command,
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        return await answer(deps, request, response, outcome, idempotency)

    @router.post("", status_code=201, response_model=Opportunity)
    async def open_opportunity(
        caller: Caller,
        request: Request,
        response: Response,
        body: OpenOpportunityRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        owner = Ownership(owner_id=body.owner_id or caller.subject, team=body.team or caller.team)
        widest = PIPELINE_POLICY.scope_of(caller, OPEN_OPPORTUNITY)
        if owner.team != caller.team and widest is not Scope.ANY:
            raise Forbidden(caller, OPEN_OPPORTUNITY, "only those granted any team open for others")
        PIPELINE_POLICY.authorise(caller, OPEN_OPPORTUNITY, owner)
        command = OpenOpportunity(
            opportunity_id=deps.new_id("opp"),
            customer_id=body.customer_id,
            title=body.title,
            amount=body.amount,
            currency=body.currency,
            expected_close_date=body.expected_close_date,
            owner_id=str(owner.owner_id),
            team=owner.team,
            stage=body.stage,
        )
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            opportunities,
            command.opportunity_id,
            command,
            context_of(request, caller),
            expected_version=0,
            idempotency=idempotency,
        )
        view = await answer(deps, request, response, outcome, idempotency, created=True)
        response.headers["Location"] = f"/pipeline/opportunities/{view['id']}"
        return view

    @router.get("/{opportunity_id}", response_model=Opportunity)
    async def get_opportunity(
        caller: Caller, opportunity_id: str, response: Response
    ) -> dict[str, Any]:
        loaded = await handlers.existing(deps, opportunities, opportunity_id)
        PIPELINE_POLICY.authorise(caller, READ_OPPORTUNITY, owner_of(loaded.state))
        response.headers["ETag"] = f'"{loaded.version}"'
        return opportunities.view(loaded.state, loaded.version)

    @router.patch("/{opportunity_id}", response_model=Opportunity)
    async def change_opportunity(
        caller: Caller,
        opportunity_id: str,
        request: Request,
        response: Response,
        body: Annotated[ChangeOpportunityRequest, Body()],
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Change the expected amount and/or close date (a JSON merge patch)."""
        command = ChangeOpportunityDetails(
            opportunity_id, amount=body.amount, expected_close_date=body.expected_close_date
        )
        return await change(
            caller, opportunity_id, command, request, response, body, if_match, idempotency_key
        )

    @router.post("/{opportunity_id}/stage", response_model=Opportunity)
    async def move_stage(
        caller: Caller,
        opportunity_id: str,
        request: Request,
        response: Response,
        body: MoveStageRequest,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Move to another open stage, forwards or back (won and lost have their own routes)."""
        command = MoveStage(opportunity_id, body.stage)
        return await change(
            caller, opportunity_id, command, request, response, body, if_match, idempotency_key
        )

    @router.post("/{opportunity_id}/won", response_model=Opportunity)
    async def win(
        caller: Caller,
        opportunity_id: str,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        command = WinOpportunity(opportunity_id)
        return await change(
            caller, opportunity_id, command, request, response, None, if_match, idempotency_key
        )

    @router.post("/{opportunity_id}/lost", response_model=Opportunity)
    async def lose(
        caller: Caller,
        opportunity_id: str,
        request: Request,
        response: Response,
        body: LoseOpportunityRequest,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        command = LoseOpportunity(opportunity_id, body.reason)
        return await change(
            caller, opportunity_id, command, request, response, body, if_match, idempotency_key
        )

    @router.post("/{opportunity_id}/reopen", response_model=Opportunity)
    async def reopen(
        caller: Caller,
        opportunity_id: str,
        request: Request,
        response: Response,
        body: Annotated[ReopenOpportunityRequest | None, Body()] = None,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Reopen a won or lost deal, in the given open stage or the one it closed from."""
        command = ReopenOpportunity(opportunity_id, body.stage if body else None)
        return await change(
            caller, opportunity_id, command, request, response, body, if_match, idempotency_key
        )

    @router.post("/{opportunity_id}/owner", response_model=Opportunity)
    async def reassign(
        caller: Caller,
        opportunity_id: str,
        request: Request,
        response: Response,
        body: ReassignOpportunityRequest,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Hand an open opportunity to another rep (and team, if named), with the reason.

        Managers hand over within their team, admins and services anywhere; a won or lost
        opportunity is not handed over (409), and handing it to its owner changes nothing.
        """
        loaded = await handlers.existing(deps, opportunities, opportunity_id)
        current = owner_of(loaded.state)
        PIPELINE_POLICY.authorise(caller, REASSIGN_OPPORTUNITY, current)
        handed_to = Ownership(owner_id=body.owner_id, team=body.team or current.team)
        widest = PIPELINE_POLICY.scope_of(caller, REASSIGN_OPPORTUNITY)
        if handed_to.team != caller.team and widest is not Scope.ANY:
            raise Forbidden(
                caller, REASSIGN_OPPORTUNITY, "only those granted any team hand over to another"
            )
        command = ReassignOpportunity(
            opportunity_id, body.owner_id, body.reason, by=caller.subject, team=body.team
        )
        return await run(
            caller, loaded, command, request, response, body, if_match, idempotency_key
        )

    return router
