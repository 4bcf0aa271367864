"""What the tickets tests share: a clock to move, given/when/then, request bodies, problems.

The clock and the answer readers are those of every service, from crm_runtime.testing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from crm_contracts.registry import DomainEvent
from crm_runtime.testing import NOW as NOW
from crm_runtime.testing import PROBLEM_JSON as PROBLEM_JSON
from crm_runtime.testing import ClientFactory as ClientFactory
from crm_runtime.testing import Clock as Clock
from crm_runtime.testing import created as created
from crm_runtime.testing import ok as ok
from crm_runtime.testing import problem as problem
from crm_tickets.domain import ticket
from crm_tickets.domain.sla import SlaPolicy

TICKETS = "/tickets"
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


async def open_ticket(http: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    return created(await http.post(TICKETS, json={**COMPLAINT, **changes}))
