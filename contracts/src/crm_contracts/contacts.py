"""Events of the contacts bounded context (customer master data)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

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


# --- profile ---------------------------------------------------------------------------------

_CUSTOMER_ID: dict[str, Any] = {
    "description": "Id of the customer (also the event subject).",
    "examples": ["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
}
_PERSON_ID: dict[str, Any] = {
    "description": "Id of the contact person within the company's account.",
    "examples": ["cp_7d1e0c5b2a9f4e3d8c7b6a5f4e3d2c1b"],
}


class ContactChannel(StrEnum):
    """A way to reach a customer, each with its own consent."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    MESSAGING = "messaging"


class AddressType(StrEnum):
    """What an address is for; a customer has at most one of each."""

    BILLING = "billing"
    SHIPPING = "shipping"
    VISIT = "visit"


@REGISTRY.event
class CustomerCompanyChanged(DomainEvent):
    """The company a person customer works for was set, changed or removed."""

    event_type: ClassVar[str] = "crm.contacts.CustomerCompanyChanged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    company: str | None = Field(
        default=None,
        description="Name of the company; null when it was removed. Personal data.",
        examples=["Analytical Engines Ltd"],
        json_schema_extra=PERSONAL,
    )


@REGISTRY.event
class CustomerBirthdayChanged(DomainEvent):
    """The customer's birthday was recorded, corrected or removed."""

    event_type: ClassVar[str] = "crm.contacts.CustomerBirthdayChanged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    birthday: date | None = Field(
        default=None,
        description="Date of birth, never in the future; null when it was removed (and after "
        "an erasure). Personal data.",
        examples=["1985-12-10"],
        json_schema_extra=PERSONAL,
    )


@REGISTRY.event
class ContactPersonAdded(DomainEvent):
    """A person to talk to at a company customer was added to its account."""

    event_type: ClassVar[str] = "crm.contacts.ContactPersonAdded"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    person_id: str = Field(**_PERSON_ID)
    name: str = Field(
        description='Name of the person. Personal data ("[erased]" after an erasure).',
        examples=["Charles Babbage"],
        json_schema_extra=PERSONAL,
    )
    role: str | None = Field(
        default=None,
        description="Role or title at the company. Personal data.",
        examples=["Head of purchasing"],
        json_schema_extra=PERSONAL,
    )
    email: str | None = Field(
        default=None,
        description="E-mail address, validated on the way in. Personal data.",
        examples=["charles@example.com"],
        json_schema_extra=PERSONAL,
    )
    phone: str | None = Field(
        default=None,
        description="Phone number in E.164 form. Personal data.",
        examples=["+442079460000"],
        json_schema_extra=PERSONAL,
    )


@REGISTRY.event
class ContactPersonChanged(DomainEvent):
    """Details of a contact person changed; absent fields did not change."""

    event_type: ClassVar[str] = "crm.contacts.ContactPersonChanged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    person_id: str = Field(**_PERSON_ID)
    name: str | None = Field(
        default=None,
        description="New name. Personal data.",
        examples=["Charles Babbage"],
        json_schema_extra=PERSONAL,
    )
    role: str | None = Field(
        default=None,
        description="New role or title. Personal data.",
        examples=["Chief executive"],
        json_schema_extra=PERSONAL,
    )
    email: str | None = Field(
        default=None,
        description="New e-mail address. Personal data.",
        examples=["babbage@example.com"],
        json_schema_extra=PERSONAL,
    )
    phone: str | None = Field(
        default=None,
        description="New phone number (E.164). Personal data.",
        examples=["+442079460001"],
        json_schema_extra=PERSONAL,
    )
    cleared: tuple[str, ...] = Field(
        default=(),
        description="Optional details that were removed (role, email, phone).",
        examples=[["phone"]],
    )


@REGISTRY.event
class ContactPersonRemoved(DomainEvent):
    """A contact person is no longer part of the company's account."""

    event_type: ClassVar[str] = "crm.contacts.ContactPersonRemoved"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    person_id: str = Field(**_PERSON_ID)


@REGISTRY.event
class CustomerAddressSet(DomainEvent):
    """The customer's billing, shipping or visit address was set (replacing any before)."""

    event_type: ClassVar[str] = "crm.contacts.CustomerAddressSet"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    address_type: AddressType = Field(description="What the address is for.", examples=["billing"])
    street: str = Field(
        description="Street and number. Personal data.",
        examples=["12 Marylebone Road"],
        json_schema_extra=PERSONAL,
    )
    city: str = Field(
        description="City or town. Personal data.", examples=["London"], json_schema_extra=PERSONAL
    )
    postal_code: str | None = Field(
        default=None,
        description="Postal code, where the country has them. Personal data.",
        examples=["NW1 5LR"],
        json_schema_extra=PERSONAL,
    )
    country: str = Field(
        description='ISO 3166-1 alpha-2 country code, upper case ("[erased]" after an erasure). '
        "Personal data.",
        examples=["GB"],
        json_schema_extra=PERSONAL,
    )


@REGISTRY.event
class CustomerAddressRemoved(DomainEvent):
    """The customer no longer has an address of this type."""

    event_type: ClassVar[str] = "crm.contacts.CustomerAddressRemoved"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    address_type: AddressType = Field(description="Which address went.", examples=["shipping"])


@REGISTRY.event
class CustomerConsentGiven(DomainEvent):
    """The customer agreed to be contacted on a channel (proof: when and where)."""

    event_type: ClassVar[str] = "crm.contacts.CustomerConsentGiven"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    channel: ContactChannel = Field(description="The channel consented to.", examples=["email"])
    at: datetime = Field(
        description="When the customer gave consent (UTC).", examples=["2026-11-24T09:30:00Z"]
    )
    source: str = Field(
        description="Where the consent was collected (no personal data).",
        examples=["web-signup-form"],
    )


@REGISTRY.event
class CustomerConsentWithdrawn(DomainEvent):
    """The customer refused or withdrew consent to be contacted on a channel."""

    event_type: ClassVar[str] = "crm.contacts.CustomerConsentWithdrawn"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    channel: ContactChannel = Field(description="The channel concerned.", examples=["sms"])
    at: datetime = Field(
        description="When the customer withdrew (UTC).", examples=["2026-12-01T14:00:00Z"]
    )
    source: str = Field(
        description="Where the withdrawal came in (no personal data).",
        examples=["unsubscribe-link"],
    )


@REGISTRY.event
class CustomerPreferredChannelChanged(DomainEvent):
    """The channel the customer prefers to be contacted on was set or removed."""

    event_type: ClassVar[str] = "crm.contacts.CustomerPreferredChannelChanged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    channel: ContactChannel | None = Field(
        default=None,
        description="The preferred channel (always one with consent given); null when removed, "
        "e.g. because its consent was withdrawn.",
        examples=["email"],
    )


@REGISTRY.event
class CustomerPreferenceSet(DomainEvent):
    """A personal preference was recorded, e.g. "spice": "mild, no coriander"."""

    event_type: ClassVar[str] = "crm.contacts.CustomerPreferenceSet"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    key: str = Field(
        description="What the preference is about: lower case, no personal data.",
        examples=["spice"],
    )
    text: str = Field(
        description='The preference in the customer\'s words. Personal data ("[erased]" after '
        "an erasure).",
        examples=["mild, no coriander"],
        json_schema_extra=PERSONAL,
    )


@REGISTRY.event
class CustomerPreferenceRemoved(DomainEvent):
    """A personal preference no longer applies."""

    event_type: ClassVar[str] = "crm.contacts.CustomerPreferenceRemoved"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    key: str = Field(description="The preference removed.", examples=["spice"])


@REGISTRY.event
class CustomerTagged(DomainEvent):
    """Tags were added to the customer."""

    event_type: ClassVar[str] = "crm.contacts.CustomerTagged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    tags: tuple[str, ...] = Field(
        description="The tags added, lower case, sorted.", examples=[["trade-fair-2026", "vip"]]
    )


@REGISTRY.event
class CustomerUntagged(DomainEvent):
    """Tags were removed from the customer."""

    event_type: ClassVar[str] = "crm.contacts.CustomerUntagged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    tags: tuple[str, ...] = Field(description="The tags removed, sorted.", examples=[["vip"]])


# --- lifecycle -------------------------------------------------------------------------------


class LifecycleStage(StrEnum):
    """Where the customer stands: prospect -> interested -> customer -> repeat customer,
    or at risk / churned."""

    PROSPECT = "prospect"
    INTERESTED = "interested"
    CUSTOMER = "customer"
    REPEAT_CUSTOMER = "repeat_customer"
    AT_RISK = "at_risk"
    CHURNED = "churned"


@REGISTRY.event
class CustomerPurchaseRecorded(DomainEvent):
    """The customer bought: an order was placed or a deal won for them.

    Recorded once per deal: a purchase whose order or opportunity was counted before
    (the won deal reported by the onboarding saga, then its order, or the other way
    round) is not recorded again. Version 2 added ``opportunity_id``.
    """

    event_type: ClassVar[str] = "crm.contacts.CustomerPurchaseRecorded"
    schema_version: ClassVar[int] = 2

    customer_id: str = Field(**_CUSTOMER_ID)
    order_id: str = Field(
        description="The purchase's reference: the order in the pipeline context, or the won "
        "opportunity's id when the deal was recorded before it became an order (then equal "
        "to opportunity_id).",
        examples=["ord_51c2"],
    )
    at: datetime = Field(
        description="When the order was placed or the deal won (UTC).",
        examples=["2026-11-24T09:30:00Z"],
    )
    opportunity_id: str | None = Field(
        default=None,
        description="The pipeline opportunity (deal) the purchase belongs to, when known; "
        "null in version 1 events and for orders without one.",
        examples=["opp_7f3a"],
    )


@REGISTRY.upcaster(CustomerPurchaseRecorded.event_type, from_version=1)
def _purchase_recorded_v1_to_v2(data: Mapping[str, Any]) -> dict[str, Any]:
    """Version 1 knew no opportunity: its purchases name none."""
    return {**data, "opportunity_id": None}


@REGISTRY.event
class CustomerLifecycleStageChanged(DomainEvent):
    """The customer moved from one lifecycle stage to another."""

    event_type: ClassVar[str] = "crm.contacts.CustomerLifecycleStageChanged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    from_stage: LifecycleStage = Field(description="The stage before.", examples=["prospect"])
    to_stage: LifecycleStage = Field(description="The stage now.", examples=["customer"])
    reason: str = Field(
        description="Why: the rule that applied, or the reason given for a manual move.",
        examples=["first purchase"],
    )
    caused_by: str = Field(
        description='What caused the move: "order:<id>", "opportunity:<id>" (a won deal '
        'recorded before its order), "merge:<customer id>" or "manual".',
        examples=["order:ord_51c2"],
    )


# --- classification --------------------------------------------------------------------------


class Classification(StrEnum):
    """How sales rates the customer."""

    POTENTIAL = "potential"
    TARGET = "target"
    KEY = "key"


class ValueTier(StrEnum):
    """RFM-style value tier."""

    BEST = "best"
    FREQUENT_SMALL = "frequent_small"
    AFFLUENT_RARE = "affluent_rare"
    UNCERTAIN = "uncertain"


@REGISTRY.event
class CustomerClassified(DomainEvent):
    """Sales rated the customer potential, target or key."""

    event_type: ClassVar[str] = "crm.contacts.CustomerClassified"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    classification: Classification = Field(description="The rating.", examples=["target"])


@REGISTRY.event
class CustomerSegmentsAssigned(DomainEvent):
    """The customer's segments were replaced by this set."""

    event_type: ClassVar[str] = "crm.contacts.CustomerSegmentsAssigned"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    segments: tuple[str, ...] = Field(
        description='Every segment the customer is now in, as sorted "dimension:value" labels '
        "(e.g. need, purchase frequency, service sensitivity); empty: none.",
        examples=[["frequency:monthly", "need:training", "service:high-touch"]],
    )


@REGISTRY.event
class CustomerValueTierSet(DomainEvent):
    """The customer's value tier changed."""

    event_type: ClassVar[str] = "crm.contacts.CustomerValueTierSet"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    value_tier: ValueTier = Field(description="The tier.", examples=["frequent_small"])


# --- handover of a leaving rep's accounts ----------------------------------------------------


class HandoverMove(BaseModel):
    """One customer of a handover and the successor who takes it over."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str = Field(**_CUSTOMER_ID)
    owner_id: str = Field(description="The successor who becomes the owner.", examples=["u2"])


class HandoverSkip(BaseModel):
    """A planned move that was not made, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str = Field(**_CUSTOMER_ID)
    reason: str = Field(
        description="Why the customer was not moved.",
        examples=["owned by u5 now, no longer by the leaving rep"],
    )


_HANDOVER_ID: dict[str, Any] = {
    "description": "Id of the handover (also the event subject).",
    "examples": ["hov_3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c"],
}


@REGISTRY.event
class HandoverStarted(DomainEvent):
    """A leaving rep's customers are being handed over, round-robin, to successors."""

    event_type: ClassVar[str] = "crm.contacts.HandoverStarted"
    schema_version: ClassVar[int] = 1

    handover_id: str = Field(**_HANDOVER_ID)
    leaving_rep_id: str = Field(description="User id of the rep who leaves.", examples=["u1"])
    successor_ids: tuple[str, ...] = Field(
        description="User ids of the successors, in the order they take customers.",
        examples=[["u2", "u3"]],
    )
    team: str | None = Field(
        default=None,
        description="Team the successors' customers belong to; null keeps each one's team.",
        examples=["north"],
    )
    reason: str = Field(
        description="Why the accounts are handed over (no personal data).",
        examples=["rep left the company"],
    )
    moves: tuple[HandoverMove, ...] = Field(
        description="The planned moves, by customer id.",
        examples=[[{"customer_id": "cus_01", "owner_id": "u2"}]],
    )


@REGISTRY.event
class HandoverCompleted(DomainEvent):
    """Every planned move of the handover was made or skipped."""

    event_type: ClassVar[str] = "crm.contacts.HandoverCompleted"
    schema_version: ClassVar[int] = 1

    handover_id: str = Field(**_HANDOVER_ID)
    moved: tuple[HandoverMove, ...] = Field(
        description="The customers whose owner changed (CustomerOwnerAssigned in their stream).",
        examples=[[{"customer_id": "cus_01", "owner_id": "u2"}]],
    )
    skipped: tuple[HandoverSkip, ...] = Field(
        description="Planned moves not made.",
        examples=[[{"customer_id": "cus_02", "reason": "customer was erased"}]],
    )


# --- interactions ----------------------------------------------------------------------------


class InteractionKind(StrEnum):
    """What kind of contact with the customer an interaction was."""

    VISIT = "visit"
    CALL = "call"
    EMAIL = "email"
    NOTE = "note"
    QUOTE_SENT = "quote_sent"
    CONTRACT = "contract"
    COMPLAINT = "complaint"


@REGISTRY.event
class InteractionLogged(DomainEvent):
    """A contact with the customer was logged on their timeline."""

    event_type: ClassVar[str] = "crm.contacts.InteractionLogged"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(**_CUSTOMER_ID)
    interaction_id: str = Field(
        description="Id of the interaction.", examples=["int_5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"]
    )
    kind: InteractionKind = Field(description="What kind of contact.", examples=["visit"])
    at: datetime = Field(
        description="When it happened (UTC), never in the future.",
        examples=["2026-11-24T09:30:00Z"],
    )
    summary: str = Field(
        description='What it was about. Personal data ("[erased]" after an erasure).',
        examples=["Showed the new espresso machines; wants a quote for two"],
        json_schema_extra=PERSONAL,
    )
    notes: str | None = Field(
        default=None,
        description="Longer notes. Personal data.",
        examples=["Prefers visits on Tuesday mornings."],
        json_schema_extra=PERSONAL,
    )
    logged_by: str = Field(
        description="Who logged it: the actor of the command.", examples=["user:u1"]
    )


# --- duplicates ------------------------------------------------------------------------------


@REGISTRY.event
class CustomerMergedInto(DomainEvent):
    """This customer was a duplicate and was merged into the survivor; it takes no commands."""

    event_type: ClassVar[str] = "crm.contacts.CustomerMergedInto"
    schema_version: ClassVar[int] = 1

    customer_id: str = Field(
        description="Id of the merged (duplicate) customer (also the event subject).",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )
    survivor_id: str = Field(
        description="The customer it lives on as.",
        examples=["cus_7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"],
    )


@REGISTRY.event
class CustomersMerged(DomainEvent):
    """A duplicate was merged into this customer, which took the details it lacked.

    Addresses, preferences and contact persons taken over follow in the same commit as
    their own events (CustomerAddressSet, CustomerPreferenceSet, ContactPersonAdded).
    Version 2 added ``opportunity_ids``.
    """

    event_type: ClassVar[str] = "crm.contacts.CustomersMerged"
    schema_version: ClassVar[int] = 2

    customer_id: str = Field(
        description="Id of the surviving customer (also the event subject).",
        examples=["cus_7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"],
    )
    merged_id: str = Field(
        description="Id of the duplicate merged into it.",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )
    email: str | None = Field(
        default=None,
        description="The duplicate's e-mail, taken because the survivor had none. Personal data.",
        examples=["ada@example.com"],
        json_schema_extra=PERSONAL,
    )
    phone: str | None = Field(
        default=None,
        description="The duplicate's phone, taken because the survivor had none. Personal data.",
        examples=["+4930901820"],
        json_schema_extra=PERSONAL,
    )
    company: str | None = Field(
        default=None,
        description="The duplicate's company, taken because the survivor had none. Personal data.",
        examples=["Analytical Engines Ltd"],
        json_schema_extra=PERSONAL,
    )
    birthday: date | None = Field(
        default=None,
        description="The duplicate's birthday, taken because the survivor had none. Personal data.",
        examples=["1985-12-10"],
        json_schema_extra=PERSONAL,
    )
    tags: tuple[str, ...] = Field(
        default=(), description="Tags of the duplicate the survivor lacked.", examples=[["vip"]]
    )
    order_ids: tuple[str, ...] = Field(
        default=(),
        description="Purchases of the duplicate, now counted for the survivor.",
        examples=[["ord_51c2"]],
    )
    opportunity_ids: tuple[str, ...] = Field(
        default=(),
        description="Deals the duplicate's purchases came from that the survivor's did not: "
        "a later purchase of one of them is the same purchase, not counted again.",
        examples=[["opp_7f3a"]],
    )


@REGISTRY.upcaster(CustomersMerged.event_type, from_version=1)
def _customers_merged_v1_to_v2(data: Mapping[str, Any]) -> dict[str, Any]:
    """Version 1 carried the duplicate's orders only, not the deals they came from."""
    return {**data, "opportunity_ids": []}
