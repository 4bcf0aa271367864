"""Events of the tickets bounded context (customer service).

One kind of stream, keyed by the ticket id (``tkt_...``, also the Kafka key and
the event subject). A ticket is opened for a customer (question, service request,
complaint or requirement) through a channel with a priority, a service team and
perhaps an assignee; agents reply publicly and add internal notes; it may wait on
the customer, is resolved, closed, or reopened; SLA deadlines per priority are
breached and escalated; after resolution the customer may answer one survey.

Every event carries ``ticket_id`` and ``customer_id``, and ``status``: the
ticket's status *after* the event, so a consumer (customer 360, agent ranking,
churn watch, loyalty's survey bonus) never needs another lookup. Times are UTC
timestamps. Free text written by or about the customer (subject, description,
replies, notes, survey comments) is personal data: sealed at rest with the
customer's data key, so an erasure in contacts makes it unreadable; a required
personal field then replays as ``"[erased]"``, an optional one as null.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field

from crm_contracts.pipeline import CustomerId
from crm_contracts.registry import PERSONAL, REGISTRY, DomainEvent

SOURCE = "/crm/tickets"
TOPIC = "crm.tickets.events"
PERSONAL_KEY_FIELD = "customer_id"
"""Personal fields of tickets events are sealed at rest with the data key of the customer
the event names here (not the ticket's), so erasing the customer erases them too."""


class TicketKind(StrEnum):
    """What the customer came with."""

    QUESTION = "question"
    SERVICE_REQUEST = "service_request"
    COMPLAINT = "complaint"
    REQUIREMENT = "requirement"  # a B2B customer asks for a change (e.g. a feature)


class Channel(StrEnum):
    """How the ticket reached customer service."""

    EMAIL = "email"
    PHONE = "phone"
    WEB = "web"
    CHAT = "chat"
    STORE = "store"
    MESSAGING = "messaging"


class Priority(StrEnum):
    """Priority of a ticket, lowest first; each has its own SLA targets."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)


class TicketStatus(StrEnum):
    """Where a ticket is in its workflow.

    new: nobody has answered the customer yet; open: answered and being worked;
    waiting_on_customer: the resolution clock is paused until the customer answers;
    resolved: solved (the survey may be answered); closed: final;
    reopened: resolved before, and the customer came back.
    """

    NEW = "new"
    OPEN = "open"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class SlaTarget(StrEnum):
    """The two service-level targets of a ticket."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


TicketId = Annotated[
    str,
    Field(
        description="Id of the ticket (also the event subject and Kafka key).",
        examples=["tkt_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    ),
]
AgentId = Annotated[
    str | None,
    Field(description="User id of the service agent working the ticket, if any.", examples=["a7"]),
]
ServiceTeam = Annotated[
    str | None,
    Field(description="Service team the ticket belongs to, if any.", examples=["support-north"]),
]
PriorityField = Annotated[
    Priority, Field(description="Priority of the ticket after the event.", examples=["high"])
]
KindField = Annotated[
    TicketKind, Field(description="What the customer came with.", examples=["complaint"])
]
StatusField = Annotated[
    TicketStatus,
    Field(description="Status of the ticket after the event.", examples=["open"]),
]
ActorId = Annotated[
    str,
    Field(description="Who did it: user id of an agent, or a service.", examples=["a7"]),
]


class TicketEvent(DomainEvent):
    """Fields every ticket event carries (not itself an event type)."""

    ticket_id: TicketId
    customer_id: CustomerId
    kind: KindField
    priority: PriorityField
    status: StatusField
    team: ServiceTeam = None
    assignee_id: AgentId = None


@REGISTRY.event
class TicketOpened(TicketEvent):
    """A customer came to customer service; the SLA deadlines start counting."""

    event_type: ClassVar[str] = "crm.tickets.TicketOpened"
    schema_version: ClassVar[int] = 1

    channel: Channel = Field(description="How the ticket came in.", examples=["email"])
    subject: str = Field(
        description="Short summary in the customer's words. Personal data.",
        examples=["Invoice shows the wrong address"],
        json_schema_extra=PERSONAL,
    )
    description: str = Field(
        description="What the customer asks or reports. Personal data.",
        examples=["The invoice of order ord_51c2 names our old office."],
        json_schema_extra=PERSONAL,
    )
    opened_by: ActorId
    opened_at: datetime = Field(
        description="When the ticket was opened (UTC).", examples=["2026-11-24T09:30:00Z"]
    )
    first_response_due: datetime = Field(
        description="Deadline of the first public reply (UTC), from the priority's target.",
        examples=["2026-11-24T13:30:00Z"],
    )
    resolution_due: datetime = Field(
        description="Deadline of the resolution (UTC), from the priority's target.",
        examples=["2026-11-26T09:30:00Z"],
    )


@REGISTRY.event
class TicketAssigned(TicketEvent):
    """The ticket was given to an agent (and perhaps moved to another team)."""

    event_type: ClassVar[str] = "crm.tickets.TicketAssigned"
    schema_version: ClassVar[int] = 1

    previous_assignee_id: str | None = Field(
        default=None, description="Who had it before, if anyone.", examples=["a3"]
    )
    previous_team: str | None = Field(
        default=None, description="Team it belonged to before, if any.", examples=["support-south"]
    )
    assigned_by: ActorId
    assigned_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T09:45:00Z"])


@REGISTRY.event
class TicketPriorityChanged(TicketEvent):
    """The priority changed; the deadlines were computed again from the new targets."""

    event_type: ClassVar[str] = "crm.tickets.TicketPriorityChanged"
    schema_version: ClassVar[int] = 1

    previous_priority: Priority = Field(description="The priority before.", examples=["normal"])
    first_response_due: datetime = Field(
        description="New first-response deadline (UTC): opened at plus the new target.",
        examples=["2026-11-24T10:30:00Z"],
    )
    resolution_due: datetime = Field(
        description="New resolution deadline (UTC): start of the current resolution cycle "
        "plus the new target plus time spent waiting on the customer.",
        examples=["2026-11-24T17:30:00Z"],
    )
    changed_by: ActorId
    changed_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T09:50:00Z"])


@REGISTRY.event
class TicketReplied(TicketEvent):
    """An agent answered the customer publicly."""

    event_type: ClassVar[str] = "crm.tickets.TicketReplied"
    schema_version: ClassVar[int] = 1

    reply_id: str = Field(description="Id of the reply within the ticket.", examples=["rep_1"])
    body: str = Field(
        description="Text sent to the customer. Personal data.",
        examples=["We corrected the address; a new invoice is on its way."],
        json_schema_extra=PERSONAL,
    )
    author_id: ActorId
    replied_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T10:05:00Z"])
    first_response: bool = Field(
        description="True for the ticket's first public reply (the first-response SLA).",
        examples=[True],
    )
    first_response_within_sla: bool | None = Field(
        default=None,
        description="For the first response: whether it came by its deadline; else null.",
        examples=[True],
    )


@REGISTRY.event
class TicketNoteAdded(TicketEvent):
    """An internal note, never shown to the customer."""

    event_type: ClassVar[str] = "crm.tickets.TicketNoteAdded"
    schema_version: ClassVar[int] = 1

    note_id: str = Field(description="Id of the note within the ticket.", examples=["note_1"])
    body: str = Field(
        description="Text of the note. Personal data.",
        examples=["Customer called twice; prefers e-mail."],
        json_schema_extra=PERSONAL,
    )
    author_id: ActorId
    added_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T10:06:00Z"])


@REGISTRY.event
class TicketWaitingOnCustomer(TicketEvent):
    """The agent needs something from the customer; the resolution clock pauses."""

    event_type: ClassVar[str] = "crm.tickets.TicketWaitingOnCustomer"
    schema_version: ClassVar[int] = 1

    waiting_since: datetime = Field(
        description="When the pause began (UTC).", examples=["2026-11-24T10:07:00Z"]
    )
    set_by: ActorId


@REGISTRY.event
class TicketCustomerResponded(TicketEvent):
    """The customer answered; the ticket is open again and the resolution clock runs."""

    event_type: ClassVar[str] = "crm.tickets.TicketCustomerResponded"
    schema_version: ClassVar[int] = 1

    message: str | None = Field(
        default=None,
        description="What the customer said, if recorded. Personal data.",
        examples=["The new address is Hauptstr. 5."],
        json_schema_extra=PERSONAL,
    )
    responded_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T15:07:00Z"])
    resolution_due: datetime = Field(
        description="Resolution deadline (UTC), pushed back by the time spent waiting.",
        examples=["2026-11-26T14:30:00Z"],
    )
    recorded_by: ActorId


@REGISTRY.event
class TicketResolved(TicketEvent):
    """The customer's matter was solved; the survey may now be answered."""

    event_type: ClassVar[str] = "crm.tickets.TicketResolved"
    schema_version: ClassVar[int] = 1

    resolution: str = Field(
        description="How it was solved. Personal data.",
        examples=["Address corrected, invoice re-sent."],
        json_schema_extra=PERSONAL,
    )
    resolved_by: ActorId
    opened_at: datetime = Field(
        description="When the ticket was opened (UTC), for resolution times.",
        examples=["2026-11-24T09:30:00Z"],
    )
    resolved_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T16:00:00Z"])
    resolution_due: datetime = Field(
        description="The resolution deadline it was held to (UTC).",
        examples=["2026-11-26T09:30:00Z"],
    )
    within_sla: bool = Field(
        description="True when resolved by the resolution deadline.", examples=[True]
    )


@REGISTRY.event
class TicketClosed(TicketEvent):
    """The ticket is closed for good (a new ticket is opened if the customer comes back)."""

    event_type: ClassVar[str] = "crm.tickets.TicketClosed"
    schema_version: ClassVar[int] = 1

    closed_by: ActorId
    closed_at: datetime = Field(description="When (UTC).", examples=["2026-11-27T09:00:00Z"])


@REGISTRY.event
class TicketReopened(TicketEvent):
    """The customer came back about a resolved ticket: a new resolution cycle starts."""

    event_type: ClassVar[str] = "crm.tickets.TicketReopened"
    schema_version: ClassVar[int] = 1

    reason: str | None = Field(
        default=None,
        description="Why it was reopened, if said. Personal data.",
        examples=["The new invoice still shows the old address."],
        json_schema_extra=PERSONAL,
    )
    reopened_by: ActorId
    reopened_at: datetime = Field(description="When (UTC).", examples=["2026-11-25T08:00:00Z"])
    resolution_due: datetime = Field(
        description="New resolution deadline (UTC): reopened at plus the priority's target.",
        examples=["2026-11-27T08:00:00Z"],
    )


@REGISTRY.event
class SlaBreached(TicketEvent):
    """A deadline passed unmet (flagged at most once per ticket, target and deadline)."""

    event_type: ClassVar[str] = "crm.tickets.SlaBreached"
    schema_version: ClassVar[int] = 1

    target: SlaTarget = Field(description="Which target was missed.", examples=["first_response"])
    due: datetime = Field(
        description="The deadline that passed (UTC).", examples=["2026-11-24T13:30:00Z"]
    )
    detected_at: datetime = Field(
        description="When the scheduled check found it (UTC).", examples=["2026-11-24T13:30:05Z"]
    )


@REGISTRY.event
class TicketEscalated(TicketEvent):
    """After a breach: handed to the team lead and raised one priority level (urgent stays)."""

    event_type: ClassVar[str] = "crm.tickets.TicketEscalated"
    schema_version: ClassVar[int] = 1

    reason: SlaTarget = Field(
        description="The target whose breach caused the escalation.", examples=["first_response"]
    )
    from_assignee_id: str | None = Field(
        default=None, description="Who had the ticket before, if anyone.", examples=["a7"]
    )
    to_assignee_id: str | None = Field(
        default=None,
        description="Who has it now: the team lead, or unchanged when the team has none.",
        examples=["lead-north"],
    )
    from_priority: Priority = Field(description="Priority before.", examples=["normal"])
    to_priority: Priority = Field(description="Priority now.", examples=["high"])
    escalated_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T13:30:05Z"])


@REGISTRY.event
class SurveyAnswered(TicketEvent):
    """The customer rated the service after resolution (once per ticket)."""

    event_type: ClassVar[str] = "crm.tickets.SurveyAnswered"
    schema_version: ClassVar[int] = 1

    csat: int = Field(ge=1, le=5, description="Satisfaction, 1 (very bad) to 5.", examples=[5])
    would_recommend: int = Field(
        ge=0, le=10, description="Willingness to recommend, 0 to 10 (NPS scale).", examples=[9]
    )
    comment: str | None = Field(
        default=None,
        description="The customer's comment, if any. Personal data.",
        examples=["Quick and friendly."],
        json_schema_extra=PERSONAL,
    )
    answered_at: datetime = Field(description="When (UTC).", examples=["2026-11-24T18:00:00Z"])
    recorded_by: ActorId
