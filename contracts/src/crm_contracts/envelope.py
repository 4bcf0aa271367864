"""The metadata every event carries, whatever its type."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class EventMetadata(BaseModel):
    """Who, what, when and why of one stored event; travels as CloudEvents attributes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        description="Unique id of this event; consumers deduplicate on it.",
        examples=["0192f3a4-8a7b-7c1d-9e2f-3a4b5c6d7e8f"],
    )
    type: str = Field(
        description="Event type name, e.g. crm.contacts.CustomerRegistered.",
        examples=["crm.contacts.CustomerRegistered"],
    )
    schema_version: int = Field(
        ge=1,
        description="Version of the payload schema the event was written with.",
        examples=[1],
    )
    source: str = Field(
        description="URI reference of the bounded context that emitted the event.",
        examples=["/crm/contacts"],
    )
    subject: str = Field(
        description="Id of the aggregate the event belongs to; the Kafka key.",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )
    sequence: int = Field(
        ge=1,
        description="Position of the event within its aggregate's stream, from 1, without gaps.",
        examples=[1],
    )
    time: datetime = Field(
        description="When the event was recorded (UTC).",
        examples=["2026-11-24T09:30:00Z"],
    )
    correlation_id: str = Field(
        description="Id shared by every event caused, directly or not, by one original request.",
        examples=["req_5f1c2d3e"],
    )
    causation_id: str = Field(
        description="Id of the command or event that directly caused this event.",
        examples=["req_5f1c2d3e"],
    )
    actor: str = Field(
        description="Who caused the event: a user id or a service identity.",
        examples=["user:u1"],
    )
