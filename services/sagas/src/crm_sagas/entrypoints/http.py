"""HTTP API of the sagas under /sagas: each saga's state, history and pending deadline, the
operators' retry and cancel, the decisions a saga asks a person for (a requirement's sales
review), a rep's departure, and the requirements' cycle times. Errors are problem+json
(RFC 9457) in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from statistics import fmean
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_runtime.commands_http import context_of
from crm_runtime.guard import Caller
from crm_runtime.http import Problem
from crm_runtime.policy import Scope
from crm_runtime.service_app import create_service_app, store_health
from crm_runtime.telemetry import current_traceparent
from crm_sagas.application.policy import (
    DECIDE,
    OPERATE,
    READ,
    REQUEST_DEPARTURE,
    SAGAS_POLICY,
)
from crm_sagas.application.runner import SagaConflict, SagaNotFound
from crm_sagas.bootstrap import SagasService
from crm_sagas.domain import rep_departure, requirement
from crm_sagas.domain.requirement import InvalidDecision
from crm_sagas.domain.saga import (
    TERMINAL,
    Decided,
    DecisionNotAwaited,
    DecisionNotYours,
    SagaNotCancellable,
    SagaNotRetryable,
    Status,
)

UserId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.@:-]+$")]

PREFIX = "/sagas"
MAX_DEPARTURES = 20
"""Departures of one rep kept apart (a rep rehired and leaving again, one cancelled)."""


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str = Field(min_length=1, max_length=500, examples=["customer asked us to stop"])


class DepartureUnderWay(Exception):
    def __init__(self, saga_id: str) -> None:
        super().__init__(
            f"a departure of this rep is under way ({saga_id}) with other successors, reason "
            "or team; cancel it first, or wait until it ends"
        )
        self.title = "Departure under way"


class DecisionRequest(BaseModel):
    """A person's answer to the question a saga asks (e.g. a requirement's sales review)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    accepted: bool = Field(description="Confirmed (true) or rejected (false).", examples=[True])
    reason: str = Field(
        min_length=1, max_length=1000,
        description="Why; a rejection's reason reaches the customer.",
        examples=["Three accounts in the region asked for it; worth a release slot."],
    )  # fmt: skip
    business_value: Literal["low", "medium", "high"] | None = Field(
        default=None, description="Required to confirm a requirement.", examples=["high"]
    )
    value_note: str | None = Field(
        default=None, max_length=1000,
        description="What R&D should know about the value (no personal data).",
        examples=["Lets B2B customers export invoices in their ERP's format."],
    )  # fmt: skip


class DepartureRequest(BaseModel):
    """A sales rep leaves: their customers, open opportunities and open tickets move."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rep_id: UserId = Field(examples=["u1"])
    successor_ids: list[UserId] = Field(min_length=1, max_length=50, examples=[["u2", "u3"]])
    reason: str = Field(min_length=1, max_length=500, examples=["rep left the company"])
    team: UserId | None = Field(
        default=None,
        description="The successors' team; defaults to each customer's.",
        examples=["north"],
    )

    @model_validator(mode="after")
    def _successors(self) -> DepartureRequest:
        if self.rep_id in self.successor_ids:
            raise ValueError("the leaving rep cannot be their own successor")
        if len(set(self.successor_ids)) != len(self.successor_ids):
            raise ValueError("successor_ids must not repeat a successor")
        return self


def view(document: dict[str, Any], *, with_history: bool = True) -> dict[str, Any]:
    """A saga as the API shows it (times as ISO 8601)."""
    shown: dict[str, Any] = {
        "id": document["_id"],
        "type": document["type"],
        "status": document["status"],
        "state": document["state"],
        "correlation_id": document["correlation_id"],
        "started_at": _iso(document["started_at"]),
        "updated_at": _iso(document["updated_at"]),
        "pending_deadline": _deadline(document.get("deadline")),
        "next_attempt_at": _iso(document.get("retry_at")),
        "outstanding": document.get("outstanding", []),
        "stuck": document.get("stuck"),
        "revision": document["revision"],
    }
    if with_history:
        shown["history"] = [_jsonable(entry) for entry in document["history"]]
    return shown


def saga_routes(service: SagasService) -> APIRouter:
    router = APIRouter(tags=["sagas"])
    runner = service.runner

    @router.get("")
    async def list_sagas(
        caller: Caller,
        type: Annotated[str | None, Query(max_length=100)] = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Sagas, newest first, filtered by type and status (without their histories)."""
        SAGAS_POLICY.authorise(caller, READ)
        found = await service.documents.search(
            type_=type, status=status.value if status else None, limit=limit
        )
        return {"sagas": [view(doc, with_history=False) for doc in found]}

    @router.post("/rep-departures", status_code=201)
    async def request_departure(
        caller: Caller, body: DepartureRequest, request: Request, response: Response
    ) -> dict[str, Any]:
        """Hand a leaving rep's book over: customers (contacts), open opportunities
        (pipeline) and open tickets (tickets). Asking again while it runs (or failed) answers
        it; a different request meanwhile is a 409; once it ended, a new one may start."""
        SAGAS_POLICY.authorise(caller, REQUEST_DEPARTURE)
        saga_id = await _departure_id(body)
        context = context_of(request, caller)
        trigger = rep_departure.departure_trigger(
            {**body.model_dump(), "requested_by": caller.subject, "saga_id": saga_id},
            event_id=context.command_id,
            correlation_id=context.correlation_id,
            at=service.deps.clock(),
        )
        loaded, created = await runner.request(rep_departure.TYPE, trigger, current_traceparent())
        response.headers["Location"] = f"{PREFIX}/{loaded.id}"
        if not created:
            response.status_code = 200
        return view(loaded.document)

    async def _departure_id(body: DepartureRequest) -> str:
        """The saga a departure request names: the rep's departure under way (the same
        request answers it), or the next one after those that ended."""
        for generation in range(1, MAX_DEPARTURES + 1):
            saga_id = rep_departure.saga_id_of(body.rep_id, generation)
            existing = await runner.load(saga_id)
            if existing is None:
                return saga_id
            if existing.status in TERMINAL:
                continue
            asked = existing.document["history"][0]["trigger"]["data"]
            if any(asked.get(k) != v for k, v in body.model_dump().items()):
                raise DepartureUnderWay(saga_id)
            return saga_id
        raise DepartureUnderWay(rep_departure.saga_id_of(body.rep_id, MAX_DEPARTURES))

    @router.post("/{saga_id}/decisions/{step}", status_code=202)
    async def decide(
        caller: Caller,
        saga_id: str,
        step: Annotated[str, Path(max_length=100)],
        body: DecisionRequest,
    ) -> dict[str, Any]:
        """Answer the question the saga waits for: it acts on it at once (the runner)."""
        scope = SAGAS_POLICY.scope_of(caller, DECIDE)
        if scope is None:
            SAGAS_POLICY.authorise(caller, DECIDE)  # raises: not granted
        details = {"business_value": body.business_value, "value_note": body.value_note}
        decided = Decided(
            service.deps.clock(), step, caller.subject, body.accepted, body.reason,
            {k: v for k, v in details.items() if v is not None},
        )  # fmt: skip
        # A rep decides only where the saga asks them, checked on the saga as it is written.
        only_if_asked = scope is Scope.OWN
        return view((await runner.decide(saga_id, decided, only_if_asked)).document)

    @router.get("/requirements/cycle-times")
    async def cycle_times(
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Cycle time per requirement and per step (sales review, R&D estimate, follow-up),
        newest first, and their averages over the finished ones listed."""
        SAGAS_POLICY.authorise(caller, READ)
        found = await service.documents.search(type_=requirement.TYPE, status=None, limit=limit)
        rows = [_cycle_row(doc) for doc in found]
        finished = [row for row in rows if row["cycle_seconds"] is not None]
        averages: dict[str, float | None] = {
            "cycle": _mean(row["cycle_seconds"] for row in finished)
        }
        for step in requirement.PHASES:
            averages[step] = _mean(row["steps"].get(step, {}).get("seconds") for row in rows)
        return {"requirements": rows, "finished": len(finished), "average_seconds": averages}

    @router.get("/{saga_id}")
    async def get_saga(caller: Caller, saga_id: str) -> dict[str, Any]:
        """The saga's state, history of steps with times, and pending deadline."""
        SAGAS_POLICY.authorise(caller, READ)
        document = await service.documents.load(saga_id)
        if document is None:
            raise SagaNotFound(saga_id)
        return view(document)

    @router.post("/{saga_id}/retry", status_code=202)
    async def retry(caller: Caller, saga_id: str) -> dict[str, Any]:
        """Try a failed (stuck) saga again: the runner sends its outstanding step at once."""
        SAGAS_POLICY.authorise(caller, OPERATE)
        return view((await runner.retry(saga_id, caller.actor)).document)

    @router.post("/{saga_id}/cancel")
    async def cancel(caller: Caller, saga_id: str, body: CancelRequest) -> dict[str, Any]:
        """Stop a running or failed saga: nothing more is sent (no compensation)."""
        SAGAS_POLICY.authorise(caller, OPERATE)
        return view((await runner.cancel(saga_id, caller.actor, body.reason)).document)

    return router


def create_app(service: SagasService) -> FastAPI:
    return create_service_app(
        "sagas",
        service,
        title="CRM sagas",
        version="0.1.0",
        description="The process managers coordinating the contexts: state, history, pending "
        "deadline; operators retry or cancel. Errors are application/problem+json (RFC 9457).",
        domain_errors=DOMAIN_ERRORS,
        routers=[store_health("sagas", service), saga_routes(service)],
        prefix=PREFIX,
    )


def _cycle_row(document: dict[str, Any]) -> dict[str, Any]:
    state = document["state"]
    return {
        "saga_id": document["_id"],
        "ticket_id": state["ticket_id"],
        "status": document["status"],
        "phase": state["phase"],
        "result": state["result"],
        "opened_at": state["opened_at"],
        "cycle_seconds": state["cycle_seconds"],
        "steps": state["steps"],
    }


def _mean(values: Any) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(fmean(present), 3) if present else None


def _wrong_state(error: Exception) -> Problem:
    return Problem(
        409, getattr(error, "title", "Wrong state"), str(error), type_="urn:crm:problem:wrong-state"
    )


DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], Problem]] = {
    SagaNotFound: lambda e: Problem(404, "Not found", str(e), type_="urn:crm:problem:not-found"),
    SagaNotRetryable: _wrong_state,
    SagaNotCancellable: _wrong_state,
    DecisionNotAwaited: _wrong_state,
    DepartureUnderWay: _wrong_state,
    DecisionNotYours: lambda e: Problem(
        403, "Forbidden", str(e), type_="urn:crm:problem:forbidden"
    ),
    InvalidDecision: lambda e: Problem(
        422, "Invalid decision", str(e), type_="urn:crm:problem:invalid-decision"
    ),
    SagaConflict: lambda e: Problem(
        409, "Version conflict", f"{e}; try again", type_="urn:crm:problem:version-conflict"
    ),
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _deadline(deadline: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if deadline is None else {"name": deadline["name"], "at": _iso(deadline["at"])}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
