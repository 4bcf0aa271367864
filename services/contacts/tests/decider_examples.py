"""Histories and commands the decider tables share: Ada (a person), Engines (a company)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from crm_contacts.domain.customer import CustomerCommand, decide, fold
from crm_contracts.contacts import (
    ContactChannel,
    ContactPersonAdded,
    CustomerConsentGiven,
    CustomerErased,
    CustomerKind,
    CustomerMergedInto,
    CustomerOwnerAssigned,
    CustomerRegistered,
)
from crm_contracts.registry import DomainEvent

ADA = "cus_ada"
ENGINES = "cus_engines"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
EARLIER = NOW - timedelta(days=30)
BIRTHDAY = date(1985, 12, 10)

ADA_REGISTERED = CustomerRegistered(
    customer_id=ADA,
    name="Ada Lovelace",
    kind=CustomerKind.PERSON,
    email="ada@example.com",
    phone="+4930901820",
)
OWNED_BY_U1 = CustomerOwnerAssigned(customer_id=ADA, owner_id="u1", team="north")
ADA_ERASED = CustomerErased(customer_id=ADA)
ADA_MERGED = CustomerMergedInto(customer_id=ADA, survivor_id="cus_countess")
ADA_HISTORY: list[DomainEvent] = [ADA_REGISTERED, OWNED_BY_U1]
EMAIL_CONSENT = CustomerConsentGiven(
    customer_id=ADA, channel=ContactChannel.EMAIL, at=EARLIER, source="web-form"
)

ENGINES_REGISTERED = CustomerRegistered(
    customer_id=ENGINES, name="Analytical Engines Ltd", kind=CustomerKind.COMPANY
)
BABBAGE = ContactPersonAdded(
    customer_id=ENGINES,
    person_id="cp_1",
    name="Charles Babbage",
    role="Inventor",
    email="charles@example.com",
    phone="+442079460000",
)


def given_when(given: list[DomainEvent], when: CustomerCommand) -> list[DomainEvent]:
    """The events the decider decides for ``when`` after the history ``given``."""
    return decide(when, fold(given))
