"""What the HTTP API accepts: request bodies, validated at the edge (unknown fields refused)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from crm_contracts.tickets import Channel, Priority, TicketKind

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.@:-]+$")]
Subject = Annotated[str, Field(min_length=1, max_length=200, examples=["Wrong invoice address"])]
Text = Annotated[str, Field(min_length=1, max_length=10_000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenTicketRequest(Body):
    customer_id: Id = Field(examples=["cus_acme"])
    kind: TicketKind
    channel: Channel
    priority: Priority = Priority.NORMAL
    subject: Subject
    description: Text
    team: Id | None = Field(default=None, examples=["support-north"])
    assignee_id: Id | None = Field(default=None, examples=["a7"])


class AssignRequest(Body):
    assignee_id: Id
    team: Id | None = Field(default=None, description="Move it to this team too.")


class PriorityRequest(Body):
    priority: Priority


class MessageRequest(Body):
    body: Text


class CustomerResponseRequest(Body):
    message: Text | None = None


class ResolveRequest(Body):
    resolution: Text


class ReopenRequest(Body):
    reason: Text | None = None


class SurveyRequest(Body):
    csat: int = Field(ge=1, le=5, strict=True, description="Satisfaction, 1 to 5.")
    would_recommend: int = Field(
        ge=0, le=10, strict=True, description="Willingness to recommend, 0 to 10."
    )
    comment: Text | None = None
