"""Events of the contacts bounded context (customer master data)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from crm_contracts.registry import PERSONAL, REGISTRY, DomainEvent

SOURCE = "/crm/contacts"
TOPIC = "crm.contacts.events"


class CustomerKind(StrEnum):
    """A customer is a person or a company (a B2B account)."""

    PERSON = "person"
    COMPANY = "company"


@REGISTRY.event
class CustomerRegistered(DomainEvent):
    """A new customer was recorded in the master data."""

    event_type: ClassVar[str] = "crm.contacts.CustomerRegistered"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(
        description="Id of the new customer (also the event subject).",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )
    name: str = Field(
        description="Display name of the person or company. Personal data: encrypted at rest, "
        'and after an erasure replayed as "[erased]".',
        examples=["Ada Lovelace"],
        json_schema_extra=PERSONAL,
    )
    kind: CustomerKind = Field(description="Person or company.", examples=["person"])
    email: str | None = Field(
        default=None,
        description="Primary e-mail address, validated on the way in. Personal data.",
        examples=["ada@example.com"],
        json_schema_extra=PERSONAL,
    )
    phone: str | None = Field(
        default=None,
        description="Primary phone number in E.164 form. Personal data.",
        examples=["+447700900123"],
        json_schema_extra=PERSONAL,
    )


@REGISTRY.event
class CustomerDetailsChanged(DomainEvent):
    """Some contact details of a customer changed; absent fields did not change."""

    event_type: ClassVar[str] = "crm.contacts.CustomerDetailsChanged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(
        description="Id of the customer (also the event subject).",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )
    name: str | None = Field(
        default=None,
        description="New display name. Personal data.",
        examples=["Ada King"],
        json_schema_extra=PERSONAL,
    )
    email: str | None = Field(
        default=None,
        description="New primary e-mail address. Personal data.",
        examples=["ada@example.org"],
        json_schema_extra=PERSONAL,
    )
    phone: str | None = Field(
        default=None,
        description="New primary phone number (E.164). Personal data.",
        examples=["+447700900456"],
        json_schema_extra=PERSONAL,
    )
    cleared: tuple[str, ...] = Field(
        default=(),
        description="Optional fields that were removed (e-mail or phone).",
        examples=[["phone"]],
    )


@REGISTRY.event
class CustomerOwnerAssigned(DomainEvent):
    """A sales rep became the customer's owner (at registration or on reassignment)."""

    event_type: ClassVar[str] = "crm.contacts.CustomerOwnerAssigned"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(
        description="Id of the customer (also the event subject).",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )
    owner_id: str = Field(description="User id of the owning sales rep.", examples=["u1"])
    team: str | None = Field(
        default=None, description="Sales team of the owner, if any.", examples=["north"]
    )
    previous_owner_id: str | None = Field(
        default=None, description="The owner before this one, if any.", examples=["u7"]
    )


@REGISTRY.event
class CustomerErased(DomainEvent):
    """The customer's personal data was erased (GDPR/PIPL): delete every copy you hold.

    Their data key is destroyed, so earlier events of this customer replay with
    personal fields as placeholders. Subscribers must drop or anonymise what
    they stored about this customer.
    """

    event_type: ClassVar[str] = "crm.contacts.CustomerErased"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(
        description="Id of the erased customer (also the event subject); the id itself stays.",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )
    request_reference: str | None = Field(
        default=None,
        description="Reference of the erasure request (no personal data), for the audit.",
        examples=["dsr-2026-0042"],
    )


ERASED_NAME = "[erased]"
"""What an erased customer's name reads as when old events are replayed."""
