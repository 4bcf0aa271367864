"""Ticket routes: open, read, list, and one POST per command on a ticket.

Every command answers with the ticket as it now is, its version as the ETag;
If-Match is the version the command expects (409 when it moved on), and an
Idempotency-Key replays the first answer instead of acting twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from crm_contracts.tickets import TicketStatus
from crm_runtime.auth import Principal
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.guard import Caller
from crm_runtime.http import answer_correlation
from crm_runtime.policy import Forbidden, Scope
from crm_tickets.application import views
from crm_tickets.application.policy import (
    ANSWER_SURVEY,
    ASSIGN_TICKET,
    OPEN_TICKET,
    READ_TICKET,
    TICKETS_POLICY,
    WORK_TICKET,
    ownership_of,
)
from crm_tickets.application.streams import Loaded, Outcome, execute, existing
from crm_tickets.bootstrap import TicketsService
from crm_tickets.domain import ticket
from crm_tickets.entrypoints.requests import (
    AssignRequest,
    CustomerResponseRequest,
    MessageRequest,
    OpenTicketRequest,
    PriorityRequest,
    ReopenRequest,
    ResolveRequest,
    SurveyRequest,
)

Make = Callable[[str, Principal], ticket.TicketCommand]
"""Builds a command from the ticket id and the caller."""

ROW_FIELDS = (
    "customer_id",
    "kind",
    "priority",
    "status",
    "team",
    "assignee_id",
    "opened_at",
    "first_response_due",
    "resolution_due",
)


def ticket_routes(service: TicketsService) -> APIRouter:
    router = APIRouter(tags=["tickets"])
    deps = service.deps

    async def answer(
        request: Request,
        response: Response,
        outcome: Outcome,
        idempotency: Any,
        *,
        created: bool = False,
    ) -> dict[str, Any]:
        response.headers["ETag"] = f'"{outcome.version}"'
        if created and (outcome.changed or outcome.replayed):
            response.status_code = 201
            response.headers["Location"] = f"/tickets/{outcome.state.ticket_id}"
        if outcome.replayed:
            response.headers["Idempotent-Replayed"] = "true"
            original = await deps.store.find_by_idempotency_key(idempotency)
            if original is not None and original.events:
                answer_correlation(request, original.events[0].metadata.correlation_id)
        return views.ticket_view(outcome.state, outcome.version)

    async def command(
        caller: Principal,
        ticket_id: str,
        action: str,
        make: Make,
        request: Request,
        response: Response,
        body: BaseModel | None,
        if_match: str | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        state, version = await existing(deps, ticket_id)
        TICKETS_POLICY.authorise(caller, action, ownership_of(state))
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            ticket_id,
            make(ticket_id, caller),
            context_of(request, caller),
            expected_version=version_from(if_match),
            idempotency=idempotency,
            loaded=Loaded(ticket_id, state, version),
        )
        return await answer(request, response, outcome, idempotency)

    @router.post("", status_code=201, responses={201: {"description": "Opened."}})
    async def open_ticket(
        caller: Caller,
        body: OpenTicketRequest,
        request: Request,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Open a ticket for a customer; its SLA deadlines follow from the priority."""
        TICKETS_POLICY.authorise(caller, OPEN_TICKET)
        ticket_id = deps.new_id("tkt")
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            ticket_id,
            ticket.OpenTicket(
                ticket_id=ticket_id,
                customer_id=body.customer_id,
                kind=body.kind,
                channel=body.channel,
                priority=body.priority,
                subject=body.subject,
                description=body.description,
                by=caller.subject,
                at=deps.clock(),
                team=body.team,
                assignee_id=body.assignee_id,
            ),
            context_of(request, caller),
            expected_version=0,
            idempotency=idempotency,
        )
        return await answer(request, response, outcome, idempotency, created=True)

    @router.get("")
    async def list_tickets(
        caller: Caller,
        customer_id: Annotated[str | None, Query(max_length=200)] = None,
        assignee_id: Annotated[str | None, Query(max_length=200)] = None,
        team: Annotated[str | None, Query(max_length=200)] = None,
        status: Annotated[list[TicketStatus] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Tickets by customer, assignee, team and status, newest first (no personal text).

        ``status`` may be repeated (``?status=new&status=open``: either). Agents see their
        team's tickets and those assigned to them.
        """
        scope = TICKETS_POLICY.scope_of(caller, READ_TICKET)
        if scope is None:
            raise Forbidden(caller, READ_TICKET, "not granted to these roles")
        await service.rows.catch_up()
        rows = await service.rows.search(
            customer_id=customer_id,
            assignee_id=assignee_id,
            team=team,
            statuses=[one.value for one in status] if status else None,
            visible_to=None if scope is Scope.ANY else (caller.subject, caller.team),
            limit=limit,
        )
        return {"tickets": [_summary(row) for row in rows]}

    @router.get("/{ticket_id}")
    async def get_ticket(caller: Caller, ticket_id: str, response: Response) -> dict[str, Any]:
        """The ticket: status, deadlines, breaches, replies, notes and survey."""
        state, version = await existing(deps, ticket_id)
        TICKETS_POLICY.authorise(caller, READ_TICKET, ownership_of(state))
        response.headers["ETag"] = f'"{version}"'
        view = views.ticket_view(state, version)
        if not TICKETS_POLICY.reveals(caller, READ_TICKET):
            return views.masked(view)
        await service.access_log.record(
            caller, READ_TICKET, state.customer_id, ["subject", "description", "replies", "notes"]
        )
        return view

    def post(path: str, action: str, body_type: type[BaseModel] | None, build: Any) -> None:
        """A command route: POST /{ticket_id}/<path>, with or without a body."""
        summary = (build.__doc__ or "").strip() or None
        if body_type is None:

            @router.post(f"/{{ticket_id}}/{path}", summary=summary, name=path)
            async def without_body(
                caller: Caller,
                ticket_id: str,
                request: Request,
                response: Response,
                if_match: IfMatch = None,
                idempotency_key: IdempotencyKey = None,
            ) -> dict[str, Any]:
                return await command(
                    caller,
                    ticket_id,
                    action,
                    lambda tid, who: build(tid, who, None),
                    request,
                    response,
                    None,
                    if_match,
                    idempotency_key,
                )

            return

        async def with_body(
            caller: Caller,
            ticket_id: str,
            body: BaseModel,
            request: Request,
            response: Response,
            if_match: IfMatch = None,
            idempotency_key: IdempotencyKey = None,
        ) -> dict[str, Any]:
            return await command(
                caller,
                ticket_id,
                action,
                lambda tid, who: build(tid, who, body),
                request,
                response,
                body,
                if_match,
                idempotency_key,
            )

        with_body.__annotations__["body"] = body_type  # the request model FastAPI validates
        router.post(f"/{{ticket_id}}/{path}", summary=summary, name=path)(with_body)

    def now() -> Any:
        return deps.clock()

    def assign(tid: str, who: Principal, body: AssignRequest) -> ticket.TicketCommand:
        """Hand the ticket to an agent (and perhaps another team)."""
        return ticket.AssignTicket(tid, body.assignee_id, who.subject, now(), team=body.team)

    def priority(tid: str, who: Principal, body: PriorityRequest) -> ticket.TicketCommand:
        """Change the priority; the SLA deadlines are computed again."""
        return ticket.ChangePriority(tid, body.priority, who.subject, now())

    def reply(tid: str, who: Principal, body: MessageRequest) -> ticket.TicketCommand:
        """Reply to the customer publicly (the first reply is the first response)."""
        return ticket.ReplyToCustomer(tid, deps.new_id("rep"), body.body, who.subject, now())

    def note(tid: str, who: Principal, body: MessageRequest) -> ticket.TicketCommand:
        """Add an internal note."""
        return ticket.AddNote(tid, deps.new_id("note"), body.body, who.subject, now())

    def wait(tid: str, who: Principal, _: None) -> ticket.TicketCommand:
        """Wait on the customer: the resolution clock pauses."""
        return ticket.WaitOnCustomer(tid, who.subject, now())

    def responded(tid: str, who: Principal, body: CustomerResponseRequest) -> ticket.TicketCommand:
        """Record that the customer answered: the ticket is open again."""
        return ticket.RecordCustomerResponse(tid, who.subject, now(), body.message)

    def resolve(tid: str, who: Principal, body: ResolveRequest) -> ticket.TicketCommand:
        """Resolve the ticket (the survey may then be answered)."""
        return ticket.ResolveTicket(tid, body.resolution, who.subject, now())

    def close(tid: str, who: Principal, _: None) -> ticket.TicketCommand:
        """Close a resolved ticket for good."""
        return ticket.CloseTicket(tid, who.subject, now())

    def reopen(tid: str, who: Principal, body: ReopenRequest) -> ticket.TicketCommand:
        """Reopen a resolved ticket: a new resolution deadline."""
        return ticket.ReopenTicket(tid, who.subject, now(), body.reason)

    def survey(tid: str, who: Principal, body: SurveyRequest) -> ticket.TicketCommand:
        """Record the customer's survey answer (once, after resolution)."""
        return ticket.AnswerSurvey(
            tid, body.csat, body.would_recommend, who.subject, now(), body.comment
        )

    post("assign", ASSIGN_TICKET, AssignRequest, assign)
    post("priority", WORK_TICKET, PriorityRequest, priority)
    post("replies", WORK_TICKET, MessageRequest, reply)
    post("notes", WORK_TICKET, MessageRequest, note)
    post("wait", WORK_TICKET, None, wait)
    post("customer-response", WORK_TICKET, CustomerResponseRequest, responded)
    post("resolve", WORK_TICKET, ResolveRequest, resolve)
    post("close", WORK_TICKET, None, close)
    post("reopen", WORK_TICKET, ReopenRequest, reopen)
    post("survey", ANSWER_SURVEY, SurveyRequest, survey)
    return router


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"id": row["_id"]}
    for field in ROW_FIELDS:
        value = row.get(field)
        summary[field] = value.isoformat() if hasattr(value, "isoformat") else value
    return summary
