"""The ticket aggregate as a decider: ``decide(command, state, policy) -> events``, ``evolve``.

Workflow::

    new --reply--> open <--customer responded-- waiting_on_customer
     |              |  \\--wait-->-----------------------^
     +--resolve-----+--resolve--> resolved --close--> closed (final)
                                   |   ^
                           reopen  v   | resolve
                                 reopened

A reply moves new and reopened tickets to open; waiting on the customer pauses
the resolution clock (the deadline moves back by the time waited). The SLA
deadlines come from the priority's targets: computed on opening, again on a
priority change (from the opening, resp. the start of the resolution cycle), and
for the resolution again on reopening. ``FlagBreach`` is the scheduled check: a
no-op unless the deadline has passed unmet, and at most once per target and
resolution cycle; a breach escalates in the same commit (to the team lead, one
priority up; deadlines are not moved by an escalation). The survey is answered
once, after resolution. The clock is an input (``at``), never read here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from crm_contracts.registry import DomainEvent
from crm_contracts.tickets import (
    Channel,
    Priority,
    SlaBreached,
    SlaTarget,
    SurveyAnswered,
    TicketAssigned,
    TicketClosed,
    TicketCustomerResponded,
    TicketEscalated,
    TicketKind,
    TicketNoteAdded,
    TicketOpened,
    TicketPriorityChanged,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketStatus,
    TicketWaitingOnCustomer,
)
from crm_tickets.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    SurveyAlreadyAnswered,
    WrongState,
)
from crm_tickets.domain.sla import DEFAULT_POLICY, SlaPolicy, raised

KIND = "ticket"
SUBJECT_MAX = 200
TEXT_MAX = 10_000
WORKING = frozenset(
    {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.REOPENED}
)
"""Statuses in which the ticket is still being worked (SLA clocks run, except waiting)."""

# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenTicket:
    ticket_id: str
    customer_id: str
    kind: TicketKind
    channel: Channel
    priority: Priority
    subject: str
    description: str
    by: str
    at: datetime
    team: str | None = None
    assignee_id: str | None = None


@dataclass(frozen=True)
class AssignTicket:
    ticket_id: str
    assignee_id: str
    by: str
    at: datetime
    team: str | None = None
    """Move it to this team too; None keeps the team."""


@dataclass(frozen=True)
class ChangePriority:
    ticket_id: str
    priority: Priority
    by: str
    at: datetime


@dataclass(frozen=True)
class ReplyToCustomer:
    ticket_id: str
    reply_id: str
    body: str
    by: str
    at: datetime


@dataclass(frozen=True)
class AddNote:
    ticket_id: str
    note_id: str
    body: str
    by: str
    at: datetime


@dataclass(frozen=True)
class WaitOnCustomer:
    ticket_id: str
    by: str
    at: datetime


@dataclass(frozen=True)
class RecordCustomerResponse:
    ticket_id: str
    by: str
    at: datetime
    message: str | None = None


@dataclass(frozen=True)
class ResolveTicket:
    ticket_id: str
    resolution: str
    by: str
    at: datetime


@dataclass(frozen=True)
class CloseTicket:
    ticket_id: str
    by: str
    at: datetime


@dataclass(frozen=True)
class ReopenTicket:
    ticket_id: str
    by: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class FlagBreach:
    """The scheduled check: flag (and escalate) ``target`` if its deadline passed unmet."""

    ticket_id: str
    target: SlaTarget
    at: datetime


@dataclass(frozen=True)
class AnswerSurvey:
    ticket_id: str
    csat: int
    would_recommend: int
    by: str
    at: datetime
    comment: str | None = None


TicketCommand = (
    OpenTicket
    | AssignTicket
    | ChangePriority
    | ReplyToCustomer
    | AddNote
    | WaitOnCustomer
    | RecordCustomerResponse
    | ResolveTicket
    | CloseTicket
    | ReopenTicket
    | FlagBreach
    | AnswerSurvey
)

# --- state --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A public reply or an internal note."""

    id: str
    body: str
    author_id: str
    at: datetime


@dataclass(frozen=True)
class Breach:
    target: SlaTarget
    due: datetime
    detected_at: datetime


@dataclass(frozen=True)
class Survey:
    csat: int
    would_recommend: int
    comment: str | None
    answered_at: datetime


@dataclass(frozen=True)
class NoTicket:
    """Nothing opened under this id yet."""


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    customer_id: str
    kind: TicketKind
    channel: Channel
    priority: Priority
    status: TicketStatus
    subject: str
    description: str
    team: str | None
    assignee_id: str | None
    opened_at: datetime
    first_response_due: datetime
    resolution_due: datetime
    cycle_started: datetime
    """Start of the current resolution cycle: the opening, or the last reopening."""
    waited: timedelta = timedelta(0)
    """Time spent waiting on the customer in this cycle (it pushes the deadline back)."""
    waiting_since: datetime | None = None
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    closed_at: datetime | None = None
    replies: tuple[Message, ...] = ()
    notes: tuple[Message, ...] = ()
    breaches: tuple[Breach, ...] = ()
    breached_now: frozenset[SlaTarget] = frozenset()
    """Targets breached in the current cycle (the resolution one is cleared on reopening)."""
    escalations: int = 0
    survey: Survey | None = None


TicketState = NoTicket | Ticket
initial_state: TicketState = NoTicket()


def is_terminal(state: TicketState) -> bool:
    """Closed with its survey answered: nothing can happen to it any more."""
    return (
        isinstance(state, Ticket)
        and state.status is TicketStatus.CLOSED
        and state.survey is not None
    )


def resolution_due_at(ticket: Ticket, at: datetime) -> datetime:
    """The resolution deadline as it stands at ``at`` (a running wait pushes it back)."""
    if ticket.waiting_since is None:
        return ticket.resolution_due
    return ticket.resolution_due + max(at - ticket.waiting_since, timedelta(0))


# --- decide -------------------------------------------------------------------------------------


def decide(
    command: TicketCommand, state: TicketState, policy: SlaPolicy = DEFAULT_POLICY
) -> list[DomainEvent]:
    if isinstance(command, OpenTicket):
        return _open(command, state, policy)
    if not isinstance(state, Ticket):
        raise NotFound(command.ticket_id)
    match command:
        case AssignTicket():
            return _assign(command, state)
        case ChangePriority():
            return _change_priority(command, state, policy)
        case ReplyToCustomer():
            return _reply(command, state)
        case AddNote():
            return _note(command, state)
        case WaitOnCustomer():
            return _wait(command, state)
        case RecordCustomerResponse():
            return _customer_responded(command, state)
        case ResolveTicket():
            return _resolve(command, state)
        case CloseTicket():
            return _close(command, state)
        case ReopenTicket():
            return _reopen(command, state, policy)
        case FlagBreach():
            return _flag_breach(command, state, policy)
        case AnswerSurvey():
            return _answer_survey(command, state)
    raise TypeError(f"not a ticket command: {command!r}")  # pragma: no cover


def _common(ticket: Ticket, **changes: Any) -> dict[str, Any]:
    """The fields every ticket event carries, as they are after the event."""
    fields: dict[str, Any] = {
        "ticket_id": ticket.ticket_id,
        "customer_id": ticket.customer_id,
        "kind": ticket.kind,
        "priority": ticket.priority,
        "status": ticket.status,
        "team": ticket.team,
        "assignee_id": ticket.assignee_id,
    }
    fields.update(changes)
    return fields


def _text(field: str, value: str, limit: int = TEXT_MAX) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    return text


def _optional_text(field: str, value: str | None) -> str | None:
    return _text(field, value) if value is not None and value.strip() else None


def _id(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 200:
        raise InvalidInput(field, "must be 1-200 characters")
    return text


def _open(command: OpenTicket, state: TicketState, policy: SlaPolicy) -> list[DomainEvent]:
    if isinstance(state, Ticket):
        raise AlreadyExists(command.ticket_id)
    if not command.customer_id.strip():
        raise InvalidInput("customer_id", "must not be empty")
    targets = policy.for_priority(command.priority)
    return [
        TicketOpened(
            ticket_id=command.ticket_id,
            customer_id=command.customer_id,
            kind=command.kind,
            priority=command.priority,
            status=TicketStatus.NEW,
            team=_id("team", command.team),
            assignee_id=_id("assignee_id", command.assignee_id),
            channel=command.channel,
            subject=_text("subject", command.subject, SUBJECT_MAX),
            description=_text("description", command.description),
            opened_by=command.by,
            opened_at=command.at,
            first_response_due=command.at + targets.first_response,
            resolution_due=command.at + targets.resolution,
        )
    ]


def _not_closed(ticket: Ticket, what: str) -> None:
    if ticket.status is TicketStatus.CLOSED:
        raise WrongState("Ticket closed", f"ticket {ticket.ticket_id} is closed: cannot {what}")


def _working(ticket: Ticket, what: str) -> None:
    _not_closed(ticket, what)
    if ticket.status is TicketStatus.RESOLVED:
        raise WrongState(
            "Ticket resolved",
            f"ticket {ticket.ticket_id} is resolved: reopen it first to {what}",
        )


def _assign(command: AssignTicket, ticket: Ticket) -> list[DomainEvent]:
    _not_closed(ticket, "assign it")
    assignee = _id("assignee_id", command.assignee_id)
    team = _id("team", command.team) or ticket.team
    if assignee == ticket.assignee_id and team == ticket.team:
        return []
    return [
        TicketAssigned(
            **_common(ticket, assignee_id=assignee, team=team),
            previous_assignee_id=ticket.assignee_id,
            previous_team=ticket.team,
            assigned_by=command.by,
            assigned_at=command.at,
        )
    ]


def _change_priority(
    command: ChangePriority, ticket: Ticket, policy: SlaPolicy
) -> list[DomainEvent]:
    _working(ticket, "change its priority")
    if command.priority is ticket.priority:
        return []
    targets = policy.for_priority(command.priority)
    return [
        TicketPriorityChanged(
            **_common(ticket, priority=command.priority),
            previous_priority=ticket.priority,
            first_response_due=ticket.opened_at + targets.first_response,
            resolution_due=ticket.cycle_started + targets.resolution + ticket.waited,
            changed_by=command.by,
            changed_at=command.at,
        )
    ]


def _reply(command: ReplyToCustomer, ticket: Ticket) -> list[DomainEvent]:
    _working(ticket, "reply")
    first = ticket.first_responded_at is None
    status = (
        TicketStatus.OPEN
        if ticket.status in (TicketStatus.NEW, TicketStatus.REOPENED)
        else ticket.status
    )
    return [
        TicketReplied(
            **_common(ticket, status=status),
            reply_id=command.reply_id,
            body=_text("body", command.body),
            author_id=command.by,
            replied_at=command.at,
            first_response=first,
            first_response_within_sla=(command.at <= ticket.first_response_due) if first else None,
        )
    ]


def _note(command: AddNote, ticket: Ticket) -> list[DomainEvent]:
    _not_closed(ticket, "add a note")
    return [
        TicketNoteAdded(
            **_common(ticket),
            note_id=command.note_id,
            body=_text("body", command.body),
            author_id=command.by,
            added_at=command.at,
        )
    ]


def _wait(command: WaitOnCustomer, ticket: Ticket) -> list[DomainEvent]:
    _working(ticket, "wait on the customer")
    if ticket.status is TicketStatus.WAITING_ON_CUSTOMER:
        return []
    return [
        TicketWaitingOnCustomer(
            **_common(ticket, status=TicketStatus.WAITING_ON_CUSTOMER),
            waiting_since=command.at,
            set_by=command.by,
        )
    ]


def _customer_responded(command: RecordCustomerResponse, ticket: Ticket) -> list[DomainEvent]:
    if ticket.status is not TicketStatus.WAITING_ON_CUSTOMER:
        raise WrongState(
            "Not waiting on the customer",
            f"ticket {ticket.ticket_id} is {ticket.status.value}, not waiting on the customer",
        )
    return [
        TicketCustomerResponded(
            **_common(ticket, status=TicketStatus.OPEN),
            message=_optional_text("message", command.message),
            responded_at=command.at,
            resolution_due=resolution_due_at(ticket, command.at),
            recorded_by=command.by,
        )
    ]


def _resolve(command: ResolveTicket, ticket: Ticket) -> list[DomainEvent]:
    _not_closed(ticket, "resolve it")
    if ticket.status is TicketStatus.RESOLVED:
        return []
    due = resolution_due_at(ticket, command.at)
    return [
        TicketResolved(
            **_common(ticket, status=TicketStatus.RESOLVED),
            resolution=_text("resolution", command.resolution),
            resolved_by=command.by,
            opened_at=ticket.opened_at,
            resolved_at=command.at,
            resolution_due=due,
            within_sla=command.at <= due,
        )
    ]


def _close(command: CloseTicket, ticket: Ticket) -> list[DomainEvent]:
    if ticket.status is TicketStatus.CLOSED:
        return []
    if ticket.status is not TicketStatus.RESOLVED:
        raise WrongState(
            "Ticket not resolved",
            f"ticket {ticket.ticket_id} is {ticket.status.value}: resolve it before closing it",
        )
    return [
        TicketClosed(
            **_common(ticket, status=TicketStatus.CLOSED),
            closed_by=command.by,
            closed_at=command.at,
        )
    ]


def _reopen(command: ReopenTicket, ticket: Ticket, policy: SlaPolicy) -> list[DomainEvent]:
    if ticket.status is TicketStatus.REOPENED:
        return []
    if ticket.status is TicketStatus.CLOSED:
        raise WrongState(
            "Ticket closed",
            f"ticket {ticket.ticket_id} is closed for good: open a new ticket instead",
        )
    if ticket.status is not TicketStatus.RESOLVED:
        raise WrongState(
            "Ticket not resolved",
            f"ticket {ticket.ticket_id} is {ticket.status.value}: only a resolved ticket reopens",
        )
    return [
        TicketReopened(
            **_common(ticket, status=TicketStatus.REOPENED),
            reason=_optional_text("reason", command.reason),
            reopened_by=command.by,
            reopened_at=command.at,
            resolution_due=command.at + policy.for_priority(ticket.priority).resolution,
        )
    ]


def _due(ticket: Ticket, target: SlaTarget) -> datetime | None:
    """The deadline of ``target`` if it can still be breached now, else None."""
    if target in ticket.breached_now or ticket.status not in WORKING:
        return None
    if target is SlaTarget.FIRST_RESPONSE:
        return ticket.first_response_due if ticket.first_responded_at is None else None
    if ticket.status is TicketStatus.WAITING_ON_CUSTOMER:
        return None  # the resolution clock is paused
    return ticket.resolution_due


def _flag_breach(command: FlagBreach, ticket: Ticket, policy: SlaPolicy) -> list[DomainEvent]:
    due = _due(ticket, command.target)
    if due is None or command.at < due:
        return []
    breached = SlaBreached(
        **_common(ticket), target=command.target, due=due, detected_at=command.at
    )
    lead = policy.lead_of(ticket.team)
    to_assignee = lead if lead is not None else ticket.assignee_id
    to_priority = raised(ticket.priority)
    if to_assignee == ticket.assignee_id and to_priority is ticket.priority:
        return [breached]
    return [
        breached,
        TicketEscalated(
            **_common(ticket, assignee_id=to_assignee, priority=to_priority),
            reason=command.target,
            from_assignee_id=ticket.assignee_id,
            to_assignee_id=to_assignee,
            from_priority=ticket.priority,
            to_priority=to_priority,
            escalated_at=command.at,
        ),
    ]


def _answer_survey(command: AnswerSurvey, ticket: Ticket) -> list[DomainEvent]:
    if not 1 <= command.csat <= 5:
        raise InvalidInput("csat", "must be from 1 to 5")
    if not 0 <= command.would_recommend <= 10:
        raise InvalidInput("would_recommend", "must be from 0 to 10")
    if ticket.survey is not None:
        raise SurveyAlreadyAnswered(ticket.ticket_id)
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise WrongState(
            "Ticket not resolved",
            f"ticket {ticket.ticket_id} is {ticket.status.value}: "
            "the survey is answered after resolution",
        )
    return [
        SurveyAnswered(
            **_common(ticket),
            csat=command.csat,
            would_recommend=command.would_recommend,
            comment=_optional_text("comment", command.comment),
            answered_at=command.at,
            recorded_by=command.by,
        )
    ]


# --- evolve -------------------------------------------------------------------------------------


def evolve(state: TicketState, event: DomainEvent) -> TicketState:
    if isinstance(event, TicketOpened):
        return Ticket(
            ticket_id=event.ticket_id,
            customer_id=event.customer_id,
            kind=event.kind,
            channel=event.channel,
            priority=event.priority,
            status=event.status,
            subject=event.subject,
            description=event.description,
            team=event.team,
            assignee_id=event.assignee_id,
            opened_at=event.opened_at,
            first_response_due=event.first_response_due,
            resolution_due=event.resolution_due,
            cycle_started=event.opened_at,
        )
    if not isinstance(state, Ticket):
        return state
    ticket = replace(
        state,
        priority=getattr(event, "priority", state.priority),
        status=getattr(event, "status", state.status),
        team=getattr(event, "team", state.team),
        assignee_id=getattr(event, "assignee_id", state.assignee_id),
    )
    match event:
        case TicketPriorityChanged():
            return replace(
                ticket,
                first_response_due=event.first_response_due,
                resolution_due=event.resolution_due,
            )
        case TicketReplied():
            message = Message(event.reply_id, event.body, event.author_id, event.replied_at)
            first = ticket.first_responded_at or event.replied_at
            return replace(ticket, replies=(*ticket.replies, message), first_responded_at=first)
        case TicketNoteAdded():
            note = Message(event.note_id, event.body, event.author_id, event.added_at)
            return replace(ticket, notes=(*ticket.notes, note))
        case TicketWaitingOnCustomer():
            return replace(ticket, waiting_since=event.waiting_since)
        case TicketCustomerResponded():
            waited = ticket.waited + (event.resolution_due - ticket.resolution_due)
            return replace(
                ticket, waiting_since=None, resolution_due=event.resolution_due, waited=waited
            )
        case TicketResolved():
            waited = ticket.waited + (event.resolution_due - ticket.resolution_due)
            return replace(
                ticket,
                waiting_since=None,
                waited=waited,
                resolution_due=event.resolution_due,
                resolved_at=event.resolved_at,
                resolution=event.resolution,
            )
        case TicketClosed():
            return replace(ticket, closed_at=event.closed_at)
        case TicketReopened():
            return replace(
                ticket,
                resolution_due=event.resolution_due,
                cycle_started=event.reopened_at,
                waited=timedelta(0),
                resolved_at=None,
                breached_now=ticket.breached_now - {SlaTarget.RESOLUTION},
            )
        case SlaBreached():
            breach = Breach(event.target, event.due, event.detected_at)
            return replace(
                ticket,
                breaches=(*ticket.breaches, breach),
                breached_now=ticket.breached_now | {event.target},
            )
        case TicketEscalated():
            return replace(ticket, escalations=ticket.escalations + 1)
        case SurveyAnswered():
            survey = Survey(event.csat, event.would_recommend, event.comment, event.answered_at)
            return replace(ticket, survey=survey)
    return ticket
