"""Events of the sagas: what the process managers coordinating the contexts announce.

The sagas keep their state in their own documents (``GET /sagas/{id}``); they publish an
event only where another party must act on it. Today that is one: a step of a requirement
(a B2B customer's change request, issue #7 flow 1) missed its deadline and was escalated.
Keyed by the requirement (the ticket id, also the event subject); correlation and causation
ids link it to the ticket that started the requirement. No personal data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from crm_contracts.pipeline import CustomerId
from crm_contracts.registry import REGISTRY, DomainEvent

SOURCE = "/crm/sagas"
TOPIC = "crm.sagas.events"


class RequirementStep(StrEnum):
    """The steps of a requirement that wait for someone, each with its own deadline."""

    SALES_REVIEW = "sales_review"
    RND_ESTIMATE = "rnd_estimate"
    FOLLOW_UP = "follow_up"


@REGISTRY.event
class RequirementStepEscalated(DomainEvent):
    """A requirement's step was not done by its deadline: it is escalated (once).

    A late sales review passes to the sales lead, a late follow-up is assigned to the
    service lead; a late R&D estimate is announced here for R&D's management to chase.
    """

    event_type: ClassVar[str] = "crm.sagas.RequirementStepEscalated"
    schema_version: ClassVar[int] = 1

    saga_id: str = Field(
        min_length=1, max_length=200,
        description="The requirement saga (GET /sagas/{saga_id}).",
        examples=["sag_requirement_tkt_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )  # fmt: skip
    requirement_id: str = Field(
        min_length=1, max_length=200,
        description="The requirement: id of the customer's requirement ticket.",
        examples=["tkt_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )  # fmt: skip
    customer_id: CustomerId
    step: RequirementStep = Field(description="The late step.", examples=["sales_review"])
    due_at: datetime = Field(
        description="When the step was due (UTC).", examples=["2026-11-26T09:00:00Z"]
    )
    escalated_at: datetime = Field(
        description="When the saga escalated it (UTC).", examples=["2026-11-26T09:00:04Z"]
    )
    escalated_to: str | None = Field(
        default=None,
        max_length=200,
        description="Who takes the step over (a lead's user id); none for R&D.",
        examples=["u_sales_lead"],
    )
