"""Quote routes: draft for an opportunity, read, send, accept (places the order), reject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from crm_pipeline.application import handlers
from crm_pipeline.application.policy import (
    CHANGE_QUOTE,
    DRAFT_QUOTE,
    PIPELINE_POLICY,
    READ_QUOTE,
)
from crm_pipeline.application.streams import execute, load
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.domain.errors import InvalidInput
from crm_pipeline.domain.quote import LineItem, RejectQuote, SendQuote
from crm_pipeline.entrypoints.answers import Order, Quote
from crm_pipeline.entrypoints.conventions import answer, owner_of
from crm_pipeline.entrypoints.requests import DraftQuoteRequest, RejectQuoteRequest
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.guard import Caller


def quote_routes(service: PipelineService) -> APIRouter:
    router = APIRouter(prefix="/quotes", tags=["quotes"])
    deps = service.deps
    quotes = deps.deciders.quote

    @router.post("", status_code=201, response_model=Quote)
    async def draft_quote(
        caller: Caller,
        request: Request,
        response: Response,
        body: DraftQuoteRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Draft a quote for an opportunity; who it is for comes from the opportunity."""
        priced = await load(deps, deps.deciders.opportunity, body.opportunity_id)
        if not deps.deciders.opportunity.exists(priced.state):
            raise InvalidInput("opportunity_id", f"no opportunity with id {body.opportunity_id}")
        PIPELINE_POLICY.authorise(caller, DRAFT_QUOTE, owner_of(priced.state))
        lines = [
            LineItem(
                sku=line.sku,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_percent=line.discount_percent,
            )
            for line in body.lines
        ]
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await handlers.draft_quote(
            deps,
            priced.state,
            deps.new_id("quo"),
            lines,
            context_of(request, caller),
            currency=body.currency,
            idempotency=idempotency,
        )
        view = await answer(deps, request, response, outcome, idempotency, created=True)
        response.headers["Location"] = f"/pipeline/quotes/{view['id']}"
        return view

    @router.get("/{quote_id}", response_model=Quote)
    async def get_quote(caller: Caller, quote_id: str, response: Response) -> dict[str, Any]:
        loaded = await handlers.existing(deps, quotes, quote_id)
        PIPELINE_POLICY.authorise(caller, READ_QUOTE, owner_of(loaded.state))
        response.headers["ETag"] = f'"{loaded.version}"'
        return quotes.view(loaded.state, loaded.version)

    @router.post("/{quote_id}/sent", response_model=Quote)
    async def send_quote(
        caller: Caller,
        quote_id: str,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Record that the quote went out to the customer."""
        loaded = await handlers.existing(deps, quotes, quote_id)
        PIPELINE_POLICY.authorise(caller, CHANGE_QUOTE, owner_of(loaded.state))
        idempotency = idempotency_of(request, caller, idempotency_key, None)
        outcome = await execute(
            deps,
            quotes,
            quote_id,
            SendQuote(quote_id),
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        return await answer(deps, request, response, outcome, idempotency)

    @router.post("/{quote_id}/accepted", status_code=201, response_model=Order)
    async def accept_quote(
        caller: Caller,
        quote_id: str,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """The customer accepted: places the order and opens its receivable (answered)."""
        loaded = await handlers.existing(deps, quotes, quote_id)
        PIPELINE_POLICY.authorise(caller, CHANGE_QUOTE, owner_of(loaded.state))
        idempotency = idempotency_of(request, caller, idempotency_key, None)
        outcome = await handlers.accept_quote(
            deps,
            quote_id,
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        response.status_code = 200
        view = await answer(deps, request, response, outcome, idempotency, created=True)
        response.headers["Location"] = f"/pipeline/orders/{view['id']}"
        return view

    @router.post("/{quote_id}/rejected", response_model=Quote)
    async def reject_quote(
        caller: Caller,
        quote_id: str,
        request: Request,
        response: Response,
        body: Annotated[RejectQuoteRequest | None, Body()] = None,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        loaded = await handlers.existing(deps, quotes, quote_id)
        PIPELINE_POLICY.authorise(caller, CHANGE_QUOTE, owner_of(loaded.state))
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            quotes,
            quote_id,
            RejectQuote(quote_id, body.reason if body else None),
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        return await answer(deps, request, response, outcome, idempotency)

    return router
