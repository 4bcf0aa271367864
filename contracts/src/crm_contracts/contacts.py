"""Events of the contacts bounded context (customer master data)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from crm_contracts.registry import REGISTRY, DomainEvent

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
        description="Display name of the person or company.", examples=["Ada Lovelace"]
    )
    kind: CustomerKind = Field(description="Person or company.", examples=["person"])
    email: str | None = Field(
        default=None,
        description="Primary e-mail address, validated on the way in.",
        examples=["ada@example.com"],
    )
    phone: str | None = Field(
        default=None,
        description="Primary phone number in E.164 form.",
        examples=["+447700900123"],
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
    name: str | None = Field(default=None, description="New display name.", examples=["Ada King"])
    email: str | None = Field(
        default=None, description="New primary e-mail address.", examples=["ada@example.org"]
    )
    phone: str | None = Field(
        default=None, description="New primary phone number (E.164).", examples=["+447700900456"]
    )
    cleared: tuple[str, ...] = Field(
        default=(),
        description="Optional fields that were removed (e-mail or phone).",
        examples=[["phone"]],
    )
