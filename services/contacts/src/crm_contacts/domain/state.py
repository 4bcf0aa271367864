"""The customer's state variants and how each event changes them (``evolve``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from crm_contracts.contacts import (
    AddressType,
    Classification,
    ContactChannel,
    ContactPersonAdded,
    ContactPersonChanged,
    ContactPersonRemoved,
    CustomerAddressRemoved,
    CustomerAddressSet,
    CustomerBirthdayChanged,
    CustomerClassified,
    CustomerCompanyChanged,
    CustomerConsentGiven,
    CustomerConsentWithdrawn,
    CustomerDetailsChanged,
    CustomerErased,
    CustomerKind,
    CustomerLifecycleStageChanged,
    CustomerMergedInto,
    CustomerOwnerAssigned,
    CustomerPreferenceRemoved,
    CustomerPreferenceSet,
    CustomerPreferredChannelChanged,
    CustomerPurchaseRecorded,
    CustomerRegistered,
    CustomerSegmentsAssigned,
    CustomersMerged,
    CustomerTagged,
    CustomerUntagged,
    CustomerValueTierSet,
    LifecycleStage,
    ValueTier,
)
from crm_contracts.registry import DomainEvent


@dataclass(frozen=True)
class ContactPerson:
    person_id: str
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Address:
    street: str
    city: str
    country: str
    postal_code: str | None = None


@dataclass(frozen=True)
class Consent:
    given: bool
    at: datetime
    source: str


@dataclass(frozen=True)
class Unregistered:
    version: int = 0


@dataclass(frozen=True)
class Registered:
    customer_id: str
    name: str
    kind: CustomerKind
    email: str | None
    phone: str | None
    version: int
    owner_id: str | None = None
    team: str | None = None
    company: str | None = None
    birthday: date | None = None
    preferred_channel: ContactChannel | None = None
    contact_persons: Mapping[str, ContactPerson] = field(default_factory=dict)
    addresses: Mapping[AddressType, Address] = field(default_factory=dict)
    consents: Mapping[ContactChannel, Consent] = field(default_factory=dict)
    preferences: Mapping[str, str] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    stage: LifecycleStage = LifecycleStage.PROSPECT
    order_ids: frozenset[str] = frozenset()
    """What each counted purchase was recorded under: its order (or its deal's opportunity)."""
    opportunity_ids: frozenset[str] = frozenset()
    """The deals (opportunities) of the counted purchases, where known."""
    classification: Classification | None = None
    segments: frozenset[str] = frozenset()
    value_tier: ValueTier | None = None
    merged_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Merged:
    """A duplicate merged into ``survivor_id``; ``profile`` is what it was, for the survivor."""

    customer_id: str
    survivor_id: str
    profile: Registered
    version: int
    owner_id: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Erased:
    customer_id: str
    version: int
    owner_id: str | None = None
    team: str | None = None
    merged_ids: tuple[str, ...] = ()
    merged_into: str | None = None


CustomerState = Unregistered | Registered | Merged | Erased

initial_state: CustomerState = Unregistered()


def evolve(state: CustomerState, event: DomainEvent) -> CustomerState:
    version = state.version + 1
    match event, state:
        case CustomerRegistered(), Unregistered():
            return Registered(
                customer_id=event.customer_id,
                name=event.name,
                kind=event.kind,
                email=event.email,
                phone=event.phone,
                version=version,
            )
        case CustomerOwnerAssigned(), Registered() | Merged() | Erased():
            return replace(state, owner_id=event.owner_id, team=event.team, version=version)
        case CustomerMergedInto(), Registered():
            return Merged(
                customer_id=state.customer_id,
                survivor_id=event.survivor_id,
                profile=state,
                version=version,
                owner_id=state.owner_id,
                team=state.team,
            )
        case CustomerErased(), Registered():
            return Erased(
                customer_id=state.customer_id,
                version=version,
                owner_id=state.owner_id,
                team=state.team,
                merged_ids=state.merged_ids,
            )
        case CustomerErased(), Merged():
            return Erased(
                customer_id=state.customer_id,
                version=version,
                owner_id=state.owner_id,
                team=state.team,
                merged_ids=state.profile.merged_ids,
                merged_into=state.survivor_id,
            )
        case _, Registered():
            return replace(_profile_after(state, event), version=version)
    # An event the aggregate does not fold still counts towards the stream version.
    return replace(state, version=version)


def _profile_after(state: Registered, event: DomainEvent) -> Registered:
    match event:
        case CustomerDetailsChanged():
            cleared = set(event.cleared)
            return replace(
                state,
                name=event.name if event.name is not None else state.name,
                email=None if "email" in cleared else (event.email or state.email),
                phone=None if "phone" in cleared else (event.phone or state.phone),
            )
        case CustomerCompanyChanged():
            return replace(state, company=event.company)
        case CustomerBirthdayChanged():
            return replace(state, birthday=event.birthday)
        case ContactPersonAdded():
            person = ContactPerson(
                event.person_id, event.name, event.role, event.email, event.phone
            )
            return replace(
                state, contact_persons={**state.contact_persons, event.person_id: person}
            )
        case ContactPersonChanged():
            return _person_changed(state, event)
        case ContactPersonRemoved():
            persons = {k: v for k, v in state.contact_persons.items() if k != event.person_id}
            return replace(state, contact_persons=persons)
        case CustomerAddressSet():
            address = Address(event.street, event.city, event.country, event.postal_code)
            return replace(state, addresses={**state.addresses, event.address_type: address})
        case CustomerAddressRemoved():
            addresses = {k: v for k, v in state.addresses.items() if k != event.address_type}
            return replace(state, addresses=addresses)
        case CustomerConsentGiven() | CustomerConsentWithdrawn():
            consent = Consent(isinstance(event, CustomerConsentGiven), event.at, event.source)
            return replace(state, consents={**state.consents, event.channel: consent})
        case CustomerPreferredChannelChanged():
            return replace(state, preferred_channel=event.channel)
        case CustomerPreferenceSet():
            return replace(state, preferences={**state.preferences, event.key: event.text})
        case CustomerPreferenceRemoved():
            preferences = {k: v for k, v in state.preferences.items() if k != event.key}
            return replace(state, preferences=preferences)
        case CustomerTagged():
            return replace(state, tags=state.tags | set(event.tags))
        case CustomerUntagged():
            return replace(state, tags=state.tags - set(event.tags))
        case CustomerPurchaseRecorded():
            return replace(
                state,
                order_ids=state.order_ids | {event.order_id},
                opportunity_ids=state.opportunity_ids
                | ({event.opportunity_id} if event.opportunity_id else set()),
            )
        case CustomerLifecycleStageChanged():
            return replace(state, stage=event.to_stage)
        case CustomerClassified():
            return replace(state, classification=event.classification)
        case CustomerSegmentsAssigned():
            return replace(state, segments=frozenset(event.segments))
        case CustomerValueTierSet():
            return replace(state, value_tier=event.value_tier)
        case CustomersMerged():
            return replace(
                state,
                email=state.email or event.email,
                phone=state.phone or event.phone,
                company=state.company or event.company,
                birthday=state.birthday or event.birthday,
                tags=state.tags | set(event.tags),
                order_ids=state.order_ids | set(event.order_ids),
                opportunity_ids=state.opportunity_ids | set(event.opportunity_ids),
                merged_ids=(*state.merged_ids, event.merged_id),
            )
    return state


def _person_changed(state: Registered, event: ContactPersonChanged) -> Registered:
    person = state.contact_persons.get(event.person_id)
    if person is None:
        return state
    cleared = set(event.cleared)
    changed = replace(
        person,
        name=event.name or person.name,
        role=None if "role" in cleared else (event.role or person.role),
        email=None if "email" in cleared else (event.email or person.email),
        phone=None if "phone" in cleared else (event.phone or person.phone),
    )
    return replace(state, contact_persons={**state.contact_persons, event.person_id: changed})


def fold(events: Iterable[DomainEvent], state: CustomerState = initial_state) -> CustomerState:
    for event in events:
        state = evolve(state, event)
    return state
