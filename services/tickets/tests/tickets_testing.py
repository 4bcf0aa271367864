"""What the tickets tests share: a clock to move, given/when/then, request bodies, problems."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from crm_contracts.registry import DomainEvent
from crm_tickets.domain import ticket
from crm_tickets.domain.sla import SlaPolicy

TICKETS = "/tickets"
PROBLEM_JSON = "application/problem+json"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CUSTOMER = "cus_acme"
TEAM = "support-north"
LEAD = "lead-north"
POLICY = SlaPolicy(team_leads={TEAM: LEAD})

COMPLAINT = {
    "customer_id": CUSTOMER,
    "kind": "complaint",
    "channel": "email",
    "priority": "normal",
    "subject": "Invoice shows the wrong address",
    "description": "The invoice of order ord_51c2 names our old office.",
    "team": TEAM,
}

ClientFactory = Callable[..., httpx.AsyncClient]
"""``signed_in(*roles, subject=..., team=...)`` or ``client(headers)`` of conftest.py."""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def later(**delta: float) -> datetime:
    return NOW + timedelta(**delta)


def opening(**changes: Any) -> ticket.OpenTicket:
    fields: dict[str, Any] = {
        "ticket_id": "tkt_1",
        "customer_id": CUSTOMER,
        "kind": ticket.TicketKind.COMPLAINT,
        "channel": ticket.Channel.EMAIL,
        "priority": ticket.Priority.NORMAL,
        "subject": "Wrong address",
        "description": "The invoice names our old office.",
        "by": "a1",
        "at": NOW,
        "team": TEAM,
        "assignee_id": "a1",
    }
    fields.update(changes)
    return ticket.OpenTicket(**fields)


def given(
    *commands: ticket.TicketCommand, policy: SlaPolicy = POLICY
) -> tuple[ticket.TicketState, list[DomainEvent]]:
    """The state after deciding and evolving ``commands`` in turn, and all their events."""
    state: ticket.TicketState = ticket.initial_state
    history: list[DomainEvent] = []
    for command in commands:
        events = ticket.decide(command, state, policy)
        history.extend(events)
        for event in events:
            state = ticket.evolve(state, event)
    return state, history


def when(
    state: ticket.TicketState, command: ticket.TicketCommand, policy: SlaPolicy = POLICY
) -> list[DomainEvent]:
    return ticket.decide(command, state, policy)


def names(events: Sequence[DomainEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


def problem(answer: httpx.Response, status: int, type_: str | None = None) -> dict[str, Any]:
    """The problem+json body of ``answer``, after checking its status (and type if given)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    if type_ is not None:
        assert body["type"] == type_, body
    return body


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def open_ticket(http: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    return created(await http.post(TICKETS, json={**COMPLAINT, **changes}))
