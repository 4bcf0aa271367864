"""Commands of the customer decider: imperative, one intent each, clock readings included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from crm_contracts.contacts import (
    AddressType,
    Classification,
    ContactChannel,
    CustomerKind,
    InteractionKind,
    LifecycleStage,
    ValueTier,
)

if TYPE_CHECKING:
    from crm_contacts.domain.state import Registered


@dataclass(frozen=True)
class RegisterCustomer:
    customer_id: str
    name: str
    kind: CustomerKind
    email: str | None = None
    phone: str | None = None
    owner_id: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class ChangeCustomerDetails:
    """Change the given details; ``None`` leaves a detail as it is, ``clear`` removes it.

    ``today`` is the calendar date the command runs on; a birthday is checked against it.
    """

    customer_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    clear: frozenset[str] = frozenset()
    company: str | None = None
    birthday: date | None = None
    preferred_channel: ContactChannel | None = None
    today: date | None = None


@dataclass(frozen=True)
class EraseCustomer:
    """Honour an erasure request: the personal data goes, the id and the history stay."""

    customer_id: str
    request_reference: str | None = None


@dataclass(frozen=True)
class AddContactPerson:
    customer_id: str
    person_id: str
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ChangeContactPerson:
    """Like ChangeCustomerDetails, for one contact person of a company."""

    customer_id: str
    person_id: str
    name: str | None = None
    role: str | None = None
    email: str | None = None
    phone: str | None = None
    clear: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RemoveContactPerson:
    customer_id: str
    person_id: str


@dataclass(frozen=True)
class SetAddress:
    customer_id: str
    address_type: AddressType
    street: str
    city: str
    country: str
    postal_code: str | None = None


@dataclass(frozen=True)
class RemoveAddress:
    customer_id: str
    address_type: AddressType


@dataclass(frozen=True)
class RecordConsent:
    """The customer gave (``given``) or withdrew consent to a channel at ``at``, seen at ``now``."""

    customer_id: str
    channel: ContactChannel
    given: bool
    at: datetime
    source: str
    now: datetime


@dataclass(frozen=True)
class SetPreference:
    customer_id: str
    key: str
    text: str


@dataclass(frozen=True)
class RemovePreference:
    customer_id: str
    key: str


@dataclass(frozen=True)
class ChangeTags:
    customer_id: str
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecordPurchase:
    """An order was placed or a deal won for the customer: a purchase, counted once per deal.

    ``order_id`` names the order, ``opportunity_id`` the deal (opportunity) it belongs to;
    at least one is needed. A purchase whose order or opportunity was counted before
    changes nothing (a redelivery, or the same deal reported once won and once ordered).
    """

    customer_id: str
    order_id: str | None
    at: datetime
    opportunity_id: str | None = None


@dataclass(frozen=True)
class ChangeLifecycleStage:
    """A manual move: interested, at risk, churned, or back from at risk."""

    customer_id: str
    stage: LifecycleStage
    reason: str | None = None


@dataclass(frozen=True)
class ClassifyCustomer:
    customer_id: str
    classification: Classification


@dataclass(frozen=True)
class AssignSegments:
    """Replace the customer's segments with this set of "dimension:value" labels."""

    customer_id: str
    segments: frozenset[str]


@dataclass(frozen=True)
class SetValueTier:
    customer_id: str
    value_tier: ValueTier


@dataclass(frozen=True)
class AssignOwner:
    """Make ``owner_id`` the owner; ``team`` None keeps the customer's team."""

    customer_id: str
    owner_id: str
    team: str | None = None


@dataclass(frozen=True)
class ReassignOwner:
    """Move the customer from ``from_owner_id`` to ``owner_id`` (refused if owned by another)."""

    customer_id: str
    owner_id: str
    from_owner_id: str
    team: str | None = None


@dataclass(frozen=True)
class LogInteraction:
    customer_id: str
    interaction_id: str
    kind: InteractionKind
    at: datetime
    summary: str
    logged_by: str
    now: datetime
    notes: str | None = None


@dataclass(frozen=True)
class MergeInto:
    """This customer (a duplicate) goes into ``survivor_id``; sent to the duplicate's stream."""

    customer_id: str
    survivor_id: str


@dataclass(frozen=True)
class AbsorbDuplicate:
    """The survivor takes what it lacks from ``duplicate``; sent to the survivor's stream."""

    customer_id: str
    duplicate: Registered


CustomerCommand = (
    RegisterCustomer
    | ChangeCustomerDetails
    | EraseCustomer
    | AddContactPerson
    | ChangeContactPerson
    | RemoveContactPerson
    | SetAddress
    | RemoveAddress
    | RecordConsent
    | SetPreference
    | RemovePreference
    | ChangeTags
    | RecordPurchase
    | ChangeLifecycleStage
    | ClassifyCustomer
    | AssignSegments
    | SetValueTier
    | AssignOwner
    | ReassignOwner
    | LogInteraction
    | MergeInto
    | AbsorbDuplicate
)
