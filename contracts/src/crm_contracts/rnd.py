"""The exchange with R&D: the CRM asks for a requirement's estimate, R&D answers once.

R&D is a system outside the CRM. When a customer's requirement ticket has had its
business value confirmed by the customer's owner in sales, the CRM's sagas service sends
one ``crm.rnd.RequirementEstimateRequested`` to ``crm.rnd.requests``; R&D answers on
``crm.rnd.replies`` with either ``crm.rnd.RequirementScheduled`` (estimated and planned)
or ``crm.rnd.RequirementDeclined`` (not done), and service follows up with the customer.

Both directions travel like every CRM event: CloudEvents 1.0 in Kafka binary mode
(``ce_*`` headers, ``content-type: application/json``, the payload as JSON body; see
``crm_contracts.cloudevents`` and ``contracts/asyncapi.json``), with a W3C ``traceparent``
header. ``ce_subject`` and the Kafka key are the requirement's ticket id, so a requirement's
messages stay in order on one partition. ``ce_sequence`` orders nothing here (a request and
its reply are not events of a stream): send ``1``.

What R&D must do with a request:

- Answer each ``request_id`` exactly once. Kafka delivers at least once and the CRM sends a
  request again when it had no acknowledgement, so a request whose ``request_id`` was seen
  before is the *same* request: answer it with the same reply again (same decision, same
  ``ce_id``), never with a second decision.
- Give the reply ``ce_correlationid`` = the request's ``ce_correlationid``,
  ``ce_causationid`` = the request's ``ce_id``, and a ``ce_id`` that is a function of the
  ``request_id`` and the outcome (:func:`reply_event_id`: the UUIDv5 of
  ``urn:crm:rnd:reply:<request_id>:<ce_type>`` in the URL namespace), so a reply sent twice
  carries one id and the CRM applies it once. :func:`reply_metadata` builds all of it.
- Answer before ``reply_by``. The CRM does not wait longer: it escalates the requirement to
  people and still applies a reply that comes later.

No field carries personal data: the request names the customer and the ticket by id only,
and the rep's ``value_note`` must stay about the business (it is not encrypted at rest and
an erasure in contacts does not reach R&D's copy).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import Field, model_validator

from crm_contracts.envelope import EventMetadata
from crm_contracts.pipeline import CustomerId
from crm_contracts.registry import REGISTRY, DomainEvent
from crm_contracts.tickets import Priority

REQUESTS_TOPIC = "crm.rnd.requests"
"""CRM -> R&D: ``crm.rnd.RequirementEstimateRequested``."""
REPLIES_TOPIC = "crm.rnd.replies"
"""R&D -> CRM: ``crm.rnd.RequirementScheduled`` or ``crm.rnd.RequirementDeclined``."""
REQUEST_SOURCE = "/crm/sagas"
"""``ce_source`` of the requests: the CRM's sagas service."""
REPLY_SOURCE = "/rnd"
"""``ce_source`` of replies from R&D (informative: a reply is known by its type and
``request_id``, not by its source)."""
REPLY_NAMESPACE = uuid.NAMESPACE_URL
"""Namespace of the UUIDv5 that :func:`reply_event_id` derives a reply's ``ce_id`` from."""


class BusinessValue(StrEnum):
    """What the requirement is worth to the business, as the customer's owner in sales judged."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


RequestId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="Id of this request, unique per request; R&D answers each one once and "
        "treats a request with a request_id it has seen as the same request, redelivered.",
        examples=["rrq_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    ),
]
AnsweredRequestId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="The request_id of the request this answers.",
        examples=["rrq_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    ),
]
RequirementId = Annotated[
    str,
    Field(
        min_length=1,
        description="Id of the requirement ticket in the CRM (also ce_subject and the Kafka key).",
        examples=["tkt_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    ),
]


@REGISTRY.event
class RequirementEstimateRequested(DomainEvent):
    """The CRM asks R&D to estimate and schedule a requirement whose value sales confirmed."""

    event_type: ClassVar[str] = "crm.rnd.RequirementEstimateRequested"
    schema_version: ClassVar[int] = 1

    request_id: RequestId
    requirement_id: RequirementId
    customer_id: CustomerId
    priority: Priority = Field(
        description="Priority of the requirement ticket in customer service.", examples=["high"]
    )
    business_value: BusinessValue = Field(
        description="What the requirement is worth to the business, as sales judged it.",
        examples=["high"],
    )
    value_note: str = Field(
        min_length=1,
        max_length=1000,
        description="Why it is worth doing, in the words of the rep who confirmed it. "
        "About the business only: no personal data.",
        examples=["Blocks the customer's roll-out to 40 stores; renewal of 120,000 EUR in Q1."],
    )
    confirmed_by: str = Field(
        min_length=1,
        description="User id of who in sales confirmed the business value.",
        examples=["u1"],
    )
    reply_by: datetime = Field(
        description="When the CRM escalates the requirement if R&D has not answered (UTC).",
        examples=["2026-12-01T09:30:00Z"],
    )


class RndAnswer(DomainEvent):
    """Fields of both replies (not itself a message type)."""

    request_id: AnsweredRequestId
    requirement_id: RequirementId


@REGISTRY.event
class RequirementScheduled(RndAnswer):
    """R&D estimated the requirement and planned when its team works on it."""

    event_type: ClassVar[str] = "crm.rnd.RequirementScheduled"
    schema_version: ClassVar[int] = 1

    estimate_days: int = Field(
        ge=1, description="How many days the work takes, as R&D estimates it.", examples=[8]
    )
    scheduled_for: date = Field(description="Day the work starts.", examples=["2026-12-07"])
    delivery_by: date = Field(
        description="Day R&D commits to deliver by; never before scheduled_for.",
        examples=["2026-12-18"],
    )
    rnd_team: str = Field(
        min_length=1,
        max_length=200,
        description="The R&D team that does the work.",
        examples=["platform"],
    )
    note: str | None = Field(
        default=None,
        max_length=1000,
        description="What R&D wants the customer's service agent to know, if anything.",
        examples=["Ships behind a feature flag first."],
    )

    @model_validator(mode="after")
    def _delivered_after_start(self) -> Self:
        if self.delivery_by < self.scheduled_for:
            raise ValueError(
                f"delivery_by ({self.delivery_by}) is before scheduled_for ({self.scheduled_for})"
            )
        return self


@REGISTRY.event
class RequirementDeclined(RndAnswer):
    """R&D will not do the requirement; service tells the customer why."""

    event_type: ClassVar[str] = "crm.rnd.RequirementDeclined"
    schema_version: ClassVar[int] = 1

    reason: str = Field(
        min_length=1,
        max_length=1000,
        description="Why not, in words service can pass on to the customer.",
        examples=["R&D capacity goes to medium and high value requirements this quarter"],
    )


RndReply = RequirementScheduled | RequirementDeclined
"""What R&D answers a request with."""
REPLY_TYPES = frozenset({RequirementScheduled.event_type, RequirementDeclined.event_type})


def reply_event_id(request_id: str, reply_type: str) -> str:
    """The ``ce_id`` of the reply of type ``reply_type`` to request ``request_id``: the same
    for a reply sent again, different for the other outcome."""
    if reply_type not in REPLY_TYPES:
        raise ValueError(f"{reply_type!r} is no reply type; replies are {sorted(REPLY_TYPES)}")
    return str(uuid.uuid5(REPLY_NAMESPACE, f"urn:crm:rnd:reply:{request_id}:{reply_type}"))


def reply_metadata(
    request: EventMetadata,
    reply: RndReply,
    *,
    at: datetime,
    actor: str,
    source: str = REPLY_SOURCE,
) -> EventMetadata:
    """The CloudEvents attributes of ``reply`` to the request whose attributes are
    ``request``: its id derived from the request, the request's correlation id, and the
    request as its cause; ``at`` is when R&D decided, ``actor`` who (``service:rnd``)."""
    if request.type != RequirementEstimateRequested.event_type:
        raise ValueError(f"{request.type} is no request of the R&D exchange")
    return EventMetadata(
        id=reply_event_id(reply.request_id, reply.event_type),
        type=reply.event_type,
        schema_version=reply.schema_version,
        source=source,
        subject=reply.requirement_id,
        sequence=1,
        time=at,
        correlation_id=request.correlation_id,
        causation_id=request.id,
        actor=actor,
    )
