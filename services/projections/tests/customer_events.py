"""Builders of contacts events and their envelopes for the projections tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts.contacts import SOURCE, CustomerDetailsChanged, CustomerKind, CustomerRegistered

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class LeadScored(DomainEvent):
    """An event of another model: registered nowhere, belongs to no customer 360."""

    event_type: ClassVar[str] = "crm.sales.LeadScored"
    schema_version: ClassVar[int] = 1

    lead_id: str
    score: int


def metadata(
    event: DomainEvent | type[DomainEvent],
    subject: str,
    sequence: int,
    *,
    source: str = SOURCE,
    event_id: str | None = None,
    time: datetime | None = None,
) -> EventMetadata:
    return EventMetadata(
        id=event_id or f"evt-{subject}-{sequence}",
        type=event.event_type,
        schema_version=event.schema_version,
        source=source,
        subject=subject,
        sequence=sequence,
        time=time or NOW + timedelta(minutes=sequence),
        correlation_id=f"corr-{subject}",
        causation_id=f"cmd-{subject}-{sequence}",
        actor="user:u1",
    )


def registered(
    customer_id: str,
    name: str = "Ada Lovelace",
    *,
    email: str | None = "ada@example.com",
    phone: str | None = "+447700900123",
    kind: CustomerKind = CustomerKind.PERSON,
) -> CustomerRegistered:
    return CustomerRegistered(
        customer_id=customer_id, name=name, kind=kind, email=email, phone=phone
    )


def changed(
    customer_id: str, *, cleared: tuple[str, ...] = (), **fields: Any
) -> CustomerDetailsChanged:
    return CustomerDetailsChanged(customer_id=customer_id, cleared=cleared, **fields)


def payload(event: DomainEvent) -> dict[str, Any]:
    """The JSON body the contacts service publishes for ``event``."""
    return event.model_dump(mode="json")
