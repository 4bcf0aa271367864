"""How a ticket answers: the view of its state, and the same with personal text masked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_tickets.domain.ticket import Message, Ticket

MASK = "[masked]"
PERSONAL = ("subject", "description", "resolution")
"""Top-level personal fields of the view; reply and note bodies and the comment too."""


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _message(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "body": message.body,
        "author_id": message.author_id,
        "at": message.at.isoformat(),
    }


def ticket_view(ticket: Ticket, version: int) -> dict[str, Any]:
    survey = ticket.survey
    return {
        "id": ticket.ticket_id,
        "customer_id": ticket.customer_id,
        "kind": ticket.kind.value,
        "channel": ticket.channel.value,
        "priority": ticket.priority.value,
        "status": ticket.status.value,
        "subject": ticket.subject,
        "description": ticket.description,
        "team": ticket.team,
        "assignee_id": ticket.assignee_id,
        "opened_at": ticket.opened_at.isoformat(),
        "first_response_due": ticket.first_response_due.isoformat(),
        "resolution_due": ticket.resolution_due.isoformat(),
        "first_responded_at": _time(ticket.first_responded_at),
        "waiting_since": _time(ticket.waiting_since),
        "resolved_at": _time(ticket.resolved_at),
        "resolution": ticket.resolution,
        "closed_at": _time(ticket.closed_at),
        "replies": [_message(reply) for reply in ticket.replies],
        "notes": [_message(note) for note in ticket.notes],
        "breaches": [
            {
                "target": breach.target.value,
                "due": breach.due.isoformat(),
                "detected_at": breach.detected_at.isoformat(),
            }
            for breach in ticket.breaches
        ],
        "escalations": ticket.escalations,
        "survey": None
        if survey is None
        else {
            "csat": survey.csat,
            "would_recommend": survey.would_recommend,
            "comment": survey.comment,
            "answered_at": survey.answered_at.isoformat(),
        },
        "version": version,
    }


def masked(view: dict[str, Any]) -> dict[str, Any]:
    """The view with every personal text replaced by ``[masked]`` (null stays null)."""
    copy = dict(view)
    for field in PERSONAL:
        if copy.get(field) is not None:
            copy[field] = MASK
    copy["replies"] = [{**reply, "body": MASK} for reply in view["replies"]]
    copy["notes"] = [{**note, "body": MASK} for note in view["notes"]]
    if view["survey"] is not None and view["survey"]["comment"] is not None:
        copy["survey"] = {**view["survey"], "comment": MASK}
    return copy
