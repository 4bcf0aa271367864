"""Rep leaves (issue #7, flow 4): a leaving sales rep's book handed over, confirmed by
every service that holds part of it.

Started by a manager (``POST /sagas/rep-departures``: the rep, one or more successors, the
reason, perhaps the successors' team), the saga

1. hands the rep's customers over in contacts (``POST /contacts/handovers`` with a handover
   id derived from the saga: contacts moves each customer to a successor, round-robin,
   keeping their history, and answers which customer went to whom);
2. lists the rep's open opportunities in the pipeline, page by page, and reassigns each to
   the successor who took its customer (for a customer not moved, one of the successors
   chosen by a hash of the item id, so a resend picks the same);
3. lists the open tickets assigned to the rep and reassigns each the same way.

Lists are read again after each round of reassignments until one names nothing new, so an
opportunity opened for the rep meanwhile is not left behind. An opportunity won or lost
meanwhile (409) or gone (404), and a ticket closed meanwhile, is recorded as skipped with
the reason. The saga completes when contacts confirmed the handover complete and both
lists came back with nothing left to move. Each step must be answered within
``step_deadline`` of the last progress or the saga fails as timed out (an operator may
retry it). Every command is idempotent by its step name (``reassign_opportunity:<id>``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from crm_sagas.domain.saga import (
    Deadline,
    DeadlinePassed,
    Decided,
    Entry,
    Retried,
    SagaCommand,
    Started,
    Status,
    StepRefused,
    StepSucceeded,
    Trigger,
    step_deadline,
    step_outcome,
    timed_out_reason,
)

TYPE = "rep_departure"
REQUESTED = "crm.sagas.RepDepartureRequested"
"""The trigger of a departure: a manager's request to the sagas service (no Kafka event)."""
HAND_OVER = "hand_over_customers"
LIST_OPPORTUNITIES = "list_opportunities"
LIST_TICKETS = "list_tickets"
REASSIGN_OPPORTUNITY = "reassign_opportunity"
REASSIGN_TICKET = "reassign_ticket"
PAGE = 100
OPEN_TICKET_STATUSES = frozenset({"new", "open", "waiting_on_customer", "reopened"})
OPEN_TICKETS_QUERY = "&".join(f"status={status}" for status in sorted(OPEN_TICKET_STATUSES))


def saga_id_of(rep_id: str, generation: int = 1) -> str:
    """The rep's ``generation``-th departure (a rep rehired leaves again; a departure
    cancelled is started anew)."""
    first = f"sag_departure_{rep_id}"
    return first if generation == 1 else f"{first}-{generation}"


def handover_id_of(saga_id: str) -> str:
    """Contacts' handover of the departure: readable, unique per saga, in contacts' alphabet
    (``hov_`` and word characters or dashes)."""
    readable = re.sub(r"[^\w-]", "-", saga_id.removeprefix("sag_"))[:60]
    digest = hashlib.sha256(saga_id.encode()).hexdigest()[:10]
    return f"hov_{readable}_{digest}"


@dataclass(frozen=True)
class Book:
    """One service's part of the rep's book: what was listed, moved and skipped."""

    round: int = 0
    listed: bool = False
    """The list of the current round has been answered."""
    pending: tuple[tuple[str, str], ...] = ()
    """(id, customer id) of the current round, not yet moved."""
    moved: Mapping[str, str] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)
    finished: bool = False

    def step(self, kind: str) -> str:
        return f"{kind}:{self.round}"


@dataclass(frozen=True)
class RepDeparture:
    saga_id: str
    rep_id: str
    successor_ids: tuple[str, ...]
    team: str | None
    reason: str
    requested_by: str
    since: datetime
    customers_moved: Mapping[str, str] | None = None
    """customer id -> successor, once contacts confirmed the handover complete."""
    customers_skipped: int = 0
    opportunities: Book = field(default_factory=Book)
    tickets: Book = field(default_factory=Book)
    timed_out: str | None = None

    def successor_for(self, item_id: str, customer_id: str) -> str:
        moved = self.customers_moved or {}
        if customer_id in moved:
            return moved[customer_id]
        digest = int(hashlib.sha256(item_id.encode()).hexdigest(), 16)
        return self.successor_ids[digest % len(self.successor_ids)]


@dataclass(frozen=True)
class RepDepartureFlow:
    step_deadline: timedelta
    type: str = TYPE

    def starting(self, trigger: Trigger) -> str | None:
        if trigger.type == REQUESTED:
            return str(trigger.data.get("saga_id") or saga_id_of(str(trigger.data["rep_id"])))
        return None

    def following(self, trigger: Trigger) -> str | None:
        return None

    def initial_state(self, started: Started) -> RepDeparture:
        data = started.trigger.data
        saga_id = self.starting(started.trigger)
        assert saga_id is not None
        return RepDeparture(
            saga_id=saga_id,
            rep_id=str(data["rep_id"]),
            successor_ids=tuple(str(s) for s in data["successor_ids"]),
            team=data.get("team"),
            reason=str(data["reason"]),
            requested_by=str(data["requested_by"]),
            since=started.at,
        )

    # --- evolve ----------------------------------------------------------------------------

    def evolve(self, state: RepDeparture, entry: Entry) -> RepDeparture:
        match entry:
            case StepSucceeded(step=step, answer=answer):
                return replace(self._succeeded(state, step, answer), since=entry.at)
            case StepRefused(step=step, detail=detail) if self.expects(state, entry):
                return replace(self._skipped(state, step, f"{entry.status}: {detail}"),
                               since=entry.at)  # fmt: skip
            case DeadlinePassed():
                why = timed_out_reason(self.step_deadline, self.react(state))
                return replace(state, timed_out=why)
            case Retried():
                return replace(state, timed_out=None, since=entry.at)
        return state

    def _succeeded(self, state: RepDeparture, step: str, answer: Mapping[str, Any]) -> RepDeparture:
        kind, _, item = step.partition(":")
        if kind == HAND_OVER:
            if not answer.get("completed"):
                return state  # contacts resumes an unfinished handover when asked again
            moves = {str(m["customer_id"]): str(m["owner_id"]) for m in answer.get("moved", [])}
            return replace(
                state, customers_moved=moves, customers_skipped=len(answer.get("skipped", []))
            )
        if kind == LIST_OPPORTUNITIES:
            rows = [
                (str(row["id"]), str(row.get("customer_id", "")))
                for row in answer.get("opportunities", [])
                if row.get("owner_id", state.rep_id) == state.rep_id
                and row.get("status", "open") == "open"
            ]
            return replace(state, opportunities=_listed(state.opportunities, rows))
        if kind == LIST_TICKETS:
            rows = [
                (str(row["id"]), str(row.get("customer_id", "")))
                for row in answer.get("tickets", [])
                if row.get("assignee_id", state.rep_id) == state.rep_id
                and row.get("status") in OPEN_TICKET_STATUSES
            ]
            return replace(state, tickets=_listed(state.tickets, rows))
        if kind == REASSIGN_OPPORTUNITY:
            return replace(state, opportunities=_moved(state.opportunities, item, state))
        if kind == REASSIGN_TICKET:
            return replace(state, tickets=_moved(state.tickets, item, state))
        return state

    def _skipped(self, state: RepDeparture, step: str, reason: str) -> RepDeparture:
        kind, _, item = step.partition(":")
        if kind == REASSIGN_OPPORTUNITY:
            return replace(state, opportunities=_skip(state.opportunities, item, reason))
        if kind == REASSIGN_TICKET:
            return replace(state, tickets=_skip(state.tickets, item, reason))
        return state

    def expects(self, state: RepDeparture, refused: StepRefused) -> bool:
        kind = refused.step.partition(":")[0]
        return kind in (REASSIGN_OPPORTUNITY, REASSIGN_TICKET) and refused.status in (404, 409)

    # --- react -----------------------------------------------------------------------------

    def react(self, state: RepDeparture) -> list[SagaCommand]:
        if state.customers_moved is None:
            body: dict[str, Any] = {
                "handover_id": handover_id_of(state.saga_id),
                "leaving_rep_id": state.rep_id,
                "successor_ids": list(state.successor_ids),
                "reason": state.reason,
            }
            if state.team is not None:
                body["team"] = state.team
            return [
                SagaCommand(HAND_OVER, "contacts", "POST", "/contacts/handovers", body=body,
                            keep=("completed", "moved", "skipped"))
            ]  # fmt: skip
        return [
            *self._book(state, state.opportunities, "opportunity"),
            *self._book(state, state.tickets, "ticket"),
        ]

    def _book(self, state: RepDeparture, book: Book, what: str) -> list[SagaCommand]:
        if book.finished:
            return []
        rep = state.rep_id
        if not book.listed:
            if what == "opportunity":
                return [
                    SagaCommand(
                        book.step(LIST_OPPORTUNITIES), "pipeline", "GET",
                        f"/pipeline/opportunities?owner_id={rep}&status=open&limit={PAGE}",
                        keep=("opportunities",),
                    )
                ]  # fmt: skip
            return [
                SagaCommand(
                    book.step(LIST_TICKETS), "tickets", "GET",
                    f"/tickets?assignee_id={rep}&{OPEN_TICKETS_QUERY}&limit={PAGE}",
                    keep=("tickets",),
                )
            ]  # fmt: skip
        commands = []
        for item, customer in book.pending:
            successor = state.successor_for(item, customer)
            if what == "opportunity":
                body: dict[str, Any] = {"owner_id": successor, "reason": state.reason}
                if state.team is not None:
                    body["team"] = state.team
                commands.append(
                    SagaCommand(f"{REASSIGN_OPPORTUNITY}:{item}", "pipeline", "POST",
                                f"/pipeline/opportunities/{item}/owner", body=body,
                                keep=("owner_id",))
                )  # fmt: skip
            else:
                body = {"assignee_id": successor}
                commands.append(
                    SagaCommand(f"{REASSIGN_TICKET}:{item}", "tickets", "POST",
                                f"/tickets/{item}/assign", body=body, keep=("assignee_id",))
                )  # fmt: skip
        return commands

    # --- time and outcome ------------------------------------------------------------------

    def deadline(self, state: RepDeparture) -> Deadline | None:
        return step_deadline(
            done=self._done(state), timed_out=state.timed_out, since=state.since,
            limit=self.step_deadline,
        )  # fmt: skip

    def outcome(self, state: RepDeparture) -> Status:
        return step_outcome(done=self._done(state), timed_out=state.timed_out)

    def _done(self, state: RepDeparture) -> bool:
        return (
            state.customers_moved is not None
            and state.opportunities.finished
            and state.tickets.finished
        )

    def awaits(self, state: RepDeparture) -> dict[str, frozenset[str]]:
        return {}

    def check_decision(self, decided: Decided) -> None:
        raise ValueError(f"a {self.type} saga asks no one for a decision")

    def view(self, state: RepDeparture) -> dict[str, Any]:
        def book(part: Book) -> dict[str, Any]:
            return {
                "confirmed": part.finished,
                "moved": dict(part.moved),
                "skipped": dict(part.skipped),
                "rounds": part.round + (1 if part.listed or part.finished else 0),
            }

        return {
            "rep_id": state.rep_id,
            "successor_ids": list(state.successor_ids),
            "team": state.team,
            "reason": state.reason,
            "requested_by": state.requested_by,
            "handover_id": handover_id_of(state.saga_id),
            "customers": {
                "confirmed": state.customers_moved is not None,
                "moved": dict(state.customers_moved or {}),
                "skipped": state.customers_skipped,
            },
            "opportunities": book(state.opportunities),
            "tickets": book(state.tickets),
            "timed_out": state.timed_out,
        }


def _listed(book: Book, rows: Sequence[tuple[str, str]]) -> Book:
    """A round's list answered: what is new to move, or the book is finished."""
    new = tuple({item: customer for item, customer in rows  # each item once
                 if item not in book.moved and item not in book.skipped}.items())  # fmt: skip
    if not new:
        return replace(book, listed=True, pending=(), finished=True)
    return replace(book, listed=True, pending=new)


def _moved(book: Book, item: str, state: RepDeparture) -> Book:
    customer = dict(book.pending).get(item, "")
    moved = {**book.moved, item: state.successor_for(item, customer)}
    return _next_round(replace(book, moved=moved), item)


def _skip(book: Book, item: str, reason: str) -> Book:
    return _next_round(replace(book, skipped={**book.skipped, item: reason}), item)


def _next_round(book: Book, item: str) -> Book:
    pending = tuple(p for p in book.pending if p[0] != item)
    if pending:
        return replace(book, pending=pending)
    return replace(book, pending=(), listed=False, round=book.round + 1)  # list again


def departure_trigger(
    data: Mapping[str, Any], *, event_id: str, correlation_id: str, at: datetime
) -> Trigger:
    """The trigger a manager's departure request makes (the saga's first history entry)."""
    return Trigger(
        event_id=event_id,
        type=REQUESTED,
        subject=str(data["rep_id"]),
        data=dict(data),
        correlation_id=correlation_id,
        at=at,
    )
