"""A row per ticket, from its opening to its survey: what the service boards read.

Every tickets event folds into the row of its ticket (the stream's own id), so the
row's stream position never skips one. Every tickets event carries the ticket's
kind, priority, status, team and assignee after it: the row keeps that latest
snapshot, plus what the event adds. Moments are the contract's own times (opened,
resolved, answered), each with the week, month and quarter it falls in
(``opened_week``, ``resolved_month``, ``answered_quarter``...), which the boards
are keyed by.

- ``resolver`` and ``resolver_team``: the assignee and team right after the
  ticket was resolved (the agent credited with it);
- ``within_sla``: resolved, by its resolution deadline, and no SLA target of the
  ticket was ever breached (``breaches``: one per target and deadline flagged);
- a reopening resets the resolution (time, periods, resolver, within_sla) until
  the ticket is resolved again; the survey (once per ticket) stays.

No personal text (subject, replies, notes, resolution, survey comment) is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import tickets as t
from crm_projections.domain.periods import BOARD_GRANULARITIES, periods_of
from crm_projections.domain.streams import Document, ReadModel, Target, stamped, utc

RESOLUTION_FIELDS = ("resolved_at", "resolver", "resolver_team", "resolution_within_sla")


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    return Target(event.ticket_id) if isinstance(event, t.TicketEvent) else None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    if not isinstance(event, t.TicketEvent):
        raise ValueError(f"{metadata.type} does not belong to the tickets rows")
    row = stamped(document, metadata) | {
        "ticket_id": event.ticket_id,
        "customer_id": event.customer_id,
        "kind": event.kind.value,
        "priority": event.priority.value,
        "status": event.status.value,
        "team": event.team,
        "assignee_id": event.assignee_id,
    }
    match event:
        case t.TicketOpened():
            row |= {
                "channel": event.channel.value,
                "first_response_due": utc(event.first_response_due),
                "resolution_due": utc(event.resolution_due),
                **_moment("opened", event.opened_at),
            }
        case t.TicketPriorityChanged():
            row |= {
                "first_response_due": utc(event.first_response_due),
                "resolution_due": utc(event.resolution_due),
            }
        case t.TicketReplied() if event.first_response:
            row |= {
                "first_responded_at": utc(event.replied_at),
                "first_response_within_sla": event.first_response_within_sla,
            }
        case t.TicketCustomerResponded():
            row["resolution_due"] = utc(event.resolution_due)
        case t.TicketResolved():
            row |= {
                "resolver": event.assignee_id,
                "resolver_team": event.team,
                "resolution_within_sla": event.within_sla,
                "resolution_due": utc(event.resolution_due),
                **_moment("resolved", event.resolved_at),
            }
        case t.TicketReopened():
            row |= {
                "resolution_due": utc(event.resolution_due),
                "reopened": int(row.get("reopened", 0)) + 1,
                **dict.fromkeys(RESOLUTION_FIELDS),
                **_no_moment("resolved"),
            }
        case t.SlaBreached():
            breach = {"target": event.target.value, "due": utc(event.due)}
            known = list(row.get("breaches", []))
            if breach not in known:
                row["breaches"] = [*known, breach]
        case t.SurveyAnswered():
            row |= {
                "csat": event.csat,
                "would_recommend": event.would_recommend,
                **_moment("answered", event.answered_at),
            }
    row["within_sla"] = bool(
        row.get("resolved_at") is not None
        and row.get("resolution_within_sla") is True
        and not row.get("breaches")
    )
    return row


def _moment(name: str, moment: datetime) -> dict[str, Any]:
    at = utc(moment)
    return {f"{name}_at": at, **{f"{name}_{g}": p for g, p in periods_of(at).items()}}


def _no_moment(name: str) -> dict[str, Any]:
    return {f"{name}_at": None, **{f"{name}_{g.value}": None for g in BOARD_GRANULARITIES}}


def empty(ticket_id: str) -> Document:
    return {
        "_id": ticket_id,
        "ticket_id": ticket_id,
        "streams": {},
        "revision": 0,
        "breaches": [],
        "reopened": 0,
        "within_sla": False,
    }


MODEL = ReadModel(name="tickets", target=target, project=project, empty=empty)
