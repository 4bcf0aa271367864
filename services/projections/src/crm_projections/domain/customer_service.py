"""The customer 360's service side: tickets, SLA breaches and satisfaction.

A row per ticket is kept (``tickets``) and the summaries the view shows are
recomputed from the rows after every event, as for the sales side: every
tickets event carries the ticket's kind, priority, status, team and assignee
after it, so a row is always the latest such snapshot plus what the event adds
(deadlines, first response, breaches, survey). No personal text (subject,
replies, notes, survey comment) is kept: the view links to the ticket instead.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import DomainEvent
from crm_contracts import tickets as t
from crm_projections.domain.deals import Row, with_row
from crm_projections.domain.streams import Document, utc

RECENT_TICKETS = 5
DONE = frozenset({t.TicketStatus.RESOLVED.value, t.TicketStatus.CLOSED.value})
TICKET_SHOWN = (
    "ticket_id",
    "kind",
    "channel",
    "priority",
    "status",
    "team",
    "assignee_id",
    "opened_at",
    "first_response_due",
    "resolution_due",
    "first_responded_at",
    "resolved_at",
    "breaches",
    "csat",
)


def service_changes(document: Document, event: DomainEvent) -> Document:
    """The top-level fields a tickets event sets."""
    if not isinstance(event, t.TicketEvent):
        return {}
    change = _ticket_change(event)
    tickets = with_row(
        document.get("tickets", {}),
        event.ticket_id,
        change,
        creates=isinstance(event, t.TicketOpened),
    )
    return {"tickets": tickets, **service_summary(tickets)}


def _ticket_change(event: t.TicketEvent) -> Row:
    """The snapshot every tickets event carries, plus what this kind of event adds."""
    row: Row = {
        "kind": event.kind.value,
        "priority": event.priority.value,
        "status": event.status.value,
        "team": event.team,
        "assignee_id": event.assignee_id,
    }
    match event:
        case t.TicketOpened():
            row |= {
                "ticket_id": event.ticket_id,
                "channel": event.channel.value,
                "opened_at": utc(event.opened_at),
                "first_response_due": utc(event.first_response_due),
                "resolution_due": utc(event.resolution_due),
                "first_responded_at": None,
                "resolved_at": None,
                "breaches": [],
                "csat": None,
            }
        case t.TicketPriorityChanged():
            row |= {
                "first_response_due": utc(event.first_response_due),
                "resolution_due": utc(event.resolution_due),
            }
        case t.TicketReplied() if event.first_response:
            row["first_responded_at"] = utc(event.replied_at)
        case t.TicketCustomerResponded() | t.TicketReopened():
            row["resolution_due"] = utc(event.resolution_due)
            if isinstance(event, t.TicketReopened):
                row["resolved_at"] = None
        case t.TicketResolved():
            row["resolved_at"] = utc(event.resolved_at)
        case t.SlaBreached():
            row["breach"] = {"target": event.target.value, "due": utc(event.due)}
        case t.SurveyAnswered():
            row["csat"] = {
                "csat": event.csat,
                "would_recommend": event.would_recommend,
                "answered_at": utc(event.answered_at),
            }
    return row


def service_summary(tickets: dict[str, Row]) -> Document:
    rows = [_with_breach(row) for row in tickets.values()]
    newest_first = sorted(rows, key=lambda r: (r["opened_at"], r["ticket_id"]), reverse=True)
    open_rows = sorted(
        (row for row in rows if row["status"] not in DONE),
        key=lambda r: (r["opened_at"], r["ticket_id"]),
    )
    surveys = sorted(
        (row for row in rows if row.get("csat")),
        key=lambda r: (r["csat"]["answered_at"], r["ticket_id"]),
        reverse=True,
    )
    last_survey = surveys[0] if surveys else None
    previous_survey = surveys[1] if len(surveys) > 1 else None
    breaches = [
        {"ticket_id": row["ticket_id"], **breach} for row in rows for breach in row["breaches"]
    ]
    return {
        "tickets": {row["ticket_id"]: row for row in rows},
        "open_tickets": [_shown(row) for row in open_rows],
        "recent_tickets": [_shown(row) for row in newest_first[:RECENT_TICKETS]],
        "ticket_count": len(rows),
        "last_csat": None
        if last_survey is None
        else {"ticket_id": last_survey["ticket_id"], **last_survey["csat"]},
        "previous_csat": None
        if previous_survey is None
        else {"ticket_id": previous_survey["ticket_id"], **previous_survey["csat"]},
        "sla_breaches": {
            "count": len(breaches),
            "open": sorted(
                (b for b in breaches if tickets[b["ticket_id"]]["status"] not in DONE),
                key=lambda b: (b["due"], b["ticket_id"], b["target"]),
            ),
        },
        "assignees": sorted(
            {
                row["assignee_id"]
                for row in rows
                if row["assignee_id"] and row["status"] != t.TicketStatus.CLOSED.value
            }
        ),
        "service_signals": [
            {
                "signal": "complaint_past_sla",
                "ticket_id": row["ticket_id"],
                "breaches": [b["target"] for b in row["breaches"]],
            }
            for row in open_rows
            if row["kind"] == t.TicketKind.COMPLAINT.value and row["breaches"]
        ],
    }


def _with_breach(row: Row) -> Row:
    """A row with the breach an SlaBreached event left in ``breach`` moved into ``breaches``
    (once per target: the tickets service flags each target once, a replay changes nothing)."""
    breach = row.get("breach")
    if breach is None:
        return row
    current = dict(row)
    del current["breach"]
    if all(b["target"] != breach["target"] for b in current["breaches"]):
        current["breaches"] = [*current["breaches"], breach]
    return current


def _shown(row: Row) -> dict[str, Any]:
    return {field: row.get(field) for field in TICKET_SHOWN}
