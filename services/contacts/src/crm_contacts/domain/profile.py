"""Rules of the customer's profile: details, contact persons, addresses, consent, preferences,
tags, classification and owner. Each function decides for a registered customer."""

from __future__ import annotations

from datetime import date

from crm_contacts.domain.commands import (
    AddContactPerson,
    AssignOwner,
    AssignSegments,
    ChangeContactPerson,
    ChangeCustomerDetails,
    ChangeTags,
    ClassifyCustomer,
    LogInteraction,
    ReassignOwner,
    RecordConsent,
    RemoveAddress,
    RemoveContactPerson,
    RemovePreference,
    SetAddress,
    SetPreference,
    SetValueTier,
)
from crm_contacts.domain.errors import ContactPersonNotFound, InvalidCommand, RuleViolated
from crm_contacts.domain.state import Address, ContactPerson, Registered
from crm_contracts.contacts import (
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
    CustomerKind,
    CustomerOwnerAssigned,
    CustomerPreferenceRemoved,
    CustomerPreferenceSet,
    CustomerPreferredChannelChanged,
    CustomerSegmentsAssigned,
    CustomerTagged,
    CustomerUntagged,
    CustomerValueTierSet,
    InteractionLogged,
)
from crm_contracts.registry import DomainEvent

CLEARABLE = frozenset({"email", "phone", "company", "birthday", "preferred_channel"})
PERSON_CLEARABLE = frozenset({"role", "email", "phone"})
MAX_TAGS = 50
MAX_SEGMENTS = 20
MAX_PREFERENCES = 50
MAX_CONTACT_PERSONS = 200
OLDEST_BIRTHDAY_YEARS = 150


def change_details(command: ChangeCustomerDetails, state: Registered) -> list[DomainEvent]:
    unknown = command.clear - CLEARABLE
    if unknown:
        raise InvalidCommand(f"cannot clear {', '.join(sorted(unknown))}")
    events: list[DomainEvent] = []
    changed: dict[str, str] = {}
    for name in ("name", "email", "phone"):
        value = getattr(command, name)
        if value is not None and value != getattr(state, name):
            changed[name] = value
    cleared = tuple(
        sorted(f for f in command.clear & {"email", "phone"} if _clears(command, state, f))
    )
    if changed or cleared:
        events.append(
            CustomerDetailsChanged(customer_id=state.customer_id, cleared=cleared, **changed)
        )
    if command.company is not None or _clears(command, state, "company"):
        if command.company is not None and state.kind is CustomerKind.COMPANY:
            raise RuleViolated(
                "a company customer has no company of its own: its name is the company"
            )
        if command.company != state.company:
            events.append(
                CustomerCompanyChanged(customer_id=state.customer_id, company=command.company)
            )
    if command.birthday is not None:
        _check_birthday(command.birthday, command.today)
    if (command.birthday is not None or _clears(command, state, "birthday")) and (
        command.birthday != state.birthday
    ):
        events.append(
            CustomerBirthdayChanged(customer_id=state.customer_id, birthday=command.birthday)
        )
    channel = command.preferred_channel
    if channel is not None and channel != state.preferred_channel:
        consent = state.consents.get(channel)
        if consent is None or not consent.given:
            raise RuleViolated(f"the customer has not consented to be contacted by {channel.value}")
        events.append(
            CustomerPreferredChannelChanged(customer_id=state.customer_id, channel=channel)
        )
    elif channel is None and _clears(command, state, "preferred_channel"):
        events.append(CustomerPreferredChannelChanged(customer_id=state.customer_id, channel=None))
    return events


def _clears(command: ChangeCustomerDetails, state: Registered, name: str) -> bool:
    """True when ``command`` removes a detail the customer has (and gives no new value)."""
    return (
        name in command.clear
        and getattr(command, name) is None
        and getattr(state, name) is not None
    )


def _check_birthday(birthday: date, today: date | None) -> None:
    if today is None:
        raise InvalidCommand("a birthday is checked against today's date, which is missing")
    if birthday > today:
        raise InvalidCommand(f"birthday {birthday} is in the future")
    if today.year - birthday.year > OLDEST_BIRTHDAY_YEARS:
        raise InvalidCommand(f"birthday {birthday} is more than {OLDEST_BIRTHDAY_YEARS} years ago")


# --- contact persons -------------------------------------------------------------------------


def add_contact_person(command: AddContactPerson, state: Registered) -> list[DomainEvent]:
    if state.kind is not CustomerKind.COMPANY:
        raise RuleViolated("contact persons belong to company customers; this is a person")
    wanted = ContactPerson(
        command.person_id, command.name, command.role, command.email, command.phone
    )
    existing = state.contact_persons.get(command.person_id)
    if existing is not None:
        if existing == wanted:
            return []
        raise RuleViolated(f"contact person {command.person_id} exists with other details")
    if len(state.contact_persons) >= MAX_CONTACT_PERSONS:
        raise RuleViolated(f"a company has at most {MAX_CONTACT_PERSONS} contact persons")
    return [
        ContactPersonAdded(
            customer_id=state.customer_id,
            person_id=command.person_id,
            name=command.name,
            role=command.role,
            email=command.email,
            phone=command.phone,
        )
    ]


def change_contact_person(command: ChangeContactPerson, state: Registered) -> list[DomainEvent]:
    person = state.contact_persons.get(command.person_id)
    if person is None:
        raise ContactPersonNotFound(state.customer_id, command.person_id)
    unknown = command.clear - PERSON_CLEARABLE
    if unknown:
        raise InvalidCommand(f"cannot clear {', '.join(sorted(unknown))} of a contact person")
    changed = {
        name: getattr(command, name)
        for name in ("name", "role", "email", "phone")
        if getattr(command, name) is not None and getattr(command, name) != getattr(person, name)
    }
    cleared = tuple(
        sorted(
            name
            for name in command.clear
            if getattr(command, name) is None and getattr(person, name) is not None
        )
    )
    if not changed and not cleared:
        return []
    return [
        ContactPersonChanged(
            customer_id=state.customer_id, person_id=command.person_id, cleared=cleared, **changed
        )
    ]


def remove_contact_person(command: RemoveContactPerson, state: Registered) -> list[DomainEvent]:
    if command.person_id not in state.contact_persons:
        raise ContactPersonNotFound(state.customer_id, command.person_id)
    return [ContactPersonRemoved(customer_id=state.customer_id, person_id=command.person_id)]


# --- addresses, consent, preferences, tags ---------------------------------------------------


def set_address(command: SetAddress, state: Registered) -> list[DomainEvent]:
    wanted = Address(command.street, command.city, command.country, command.postal_code)
    if state.addresses.get(command.address_type) == wanted:
        return []
    return [
        CustomerAddressSet(
            customer_id=state.customer_id,
            address_type=command.address_type,
            street=command.street,
            city=command.city,
            postal_code=command.postal_code,
            country=command.country,
        )
    ]


def remove_address(command: RemoveAddress, state: Registered) -> list[DomainEvent]:
    if command.address_type not in state.addresses:
        return []
    return [
        CustomerAddressRemoved(customer_id=state.customer_id, address_type=command.address_type)
    ]


def record_consent(command: RecordConsent, state: Registered) -> list[DomainEvent]:
    if command.at > command.now:
        raise InvalidCommand(f"consent dated {command.at.isoformat()} is in the future")
    if not command.source.strip():
        raise InvalidCommand("the source of a consent must be named")
    current = state.consents.get(command.channel)
    if current is not None and current.given == command.given:
        return []  # the first proof stands
    if current is not None and command.at < current.at:
        raise RuleViolated(
            f"the {command.channel.value} consent last changed at {current.at.isoformat()}, "
            f"after {command.at.isoformat()}: only a later change can reverse it"
        )
    fields = {
        "customer_id": state.customer_id,
        "channel": command.channel,
        "at": command.at,
        "source": command.source,
    }
    if command.given:
        return [CustomerConsentGiven(**fields)]
    events: list[DomainEvent] = [CustomerConsentWithdrawn(**fields)]
    if state.preferred_channel is command.channel:
        events.append(CustomerPreferredChannelChanged(customer_id=state.customer_id, channel=None))
    return events


def set_preference(command: SetPreference, state: Registered) -> list[DomainEvent]:
    if state.preferences.get(command.key) == command.text:
        return []
    if command.key not in state.preferences and len(state.preferences) >= MAX_PREFERENCES:
        raise RuleViolated(f"a customer has at most {MAX_PREFERENCES} preferences")
    return [
        CustomerPreferenceSet(customer_id=state.customer_id, key=command.key, text=command.text)
    ]


def remove_preference(command: RemovePreference, state: Registered) -> list[DomainEvent]:
    if command.key not in state.preferences:
        return []
    return [CustomerPreferenceRemoved(customer_id=state.customer_id, key=command.key)]


def change_tags(command: ChangeTags, state: Registered) -> list[DomainEvent]:
    both = command.add & command.remove
    if both:
        raise InvalidCommand(f"tags both added and removed: {', '.join(sorted(both))}")
    added = tuple(sorted(command.add - state.tags))
    removed = tuple(sorted(command.remove & state.tags))
    if len(state.tags) + len(added) - len(removed) > MAX_TAGS:
        raise RuleViolated(f"a customer has at most {MAX_TAGS} tags")
    events: list[DomainEvent] = []
    if removed:
        events.append(CustomerUntagged(customer_id=state.customer_id, tags=removed))
    if added:
        events.append(CustomerTagged(customer_id=state.customer_id, tags=added))
    return events


# --- classification and owner ----------------------------------------------------------------


def classify(command: ClassifyCustomer, state: Registered) -> list[DomainEvent]:
    if command.classification is state.classification:
        return []
    return [
        CustomerClassified(customer_id=state.customer_id, classification=command.classification)
    ]


def assign_segments(command: AssignSegments, state: Registered) -> list[DomainEvent]:
    if len(command.segments) > MAX_SEGMENTS:
        raise InvalidCommand(f"a customer is in at most {MAX_SEGMENTS} segments")
    if command.segments == state.segments:
        return []
    return [
        CustomerSegmentsAssigned(
            customer_id=state.customer_id, segments=tuple(sorted(command.segments))
        )
    ]


def set_value_tier(command: SetValueTier, state: Registered) -> list[DomainEvent]:
    if command.value_tier is state.value_tier:
        return []
    return [CustomerValueTierSet(customer_id=state.customer_id, value_tier=command.value_tier)]


def assign_owner(command: AssignOwner | ReassignOwner, state: Registered) -> list[DomainEvent]:
    team = command.team if command.team is not None else state.team
    if (command.owner_id, team) == (state.owner_id, state.team):
        return []  # already theirs: a repeated or resumed move changes nothing
    if isinstance(command, ReassignOwner) and state.owner_id != command.from_owner_id:
        raise RuleViolated(
            f"customer {state.customer_id} is owned by {state.owner_id}, "
            f"no longer by {command.from_owner_id}"
        )
    return [
        CustomerOwnerAssigned(
            customer_id=state.customer_id,
            owner_id=command.owner_id,
            team=team,
            previous_owner_id=state.owner_id,
        )
    ]


def log_interaction(command: LogInteraction, state: Registered) -> list[DomainEvent]:
    if command.at > command.now:
        raise InvalidCommand(
            f"an interaction cannot be dated in the future ({command.at.isoformat()})"
        )
    if not command.summary.strip():
        raise InvalidCommand("an interaction needs a summary")
    return [
        InteractionLogged(
            customer_id=state.customer_id,
            interaction_id=command.interaction_id,
            kind=command.kind,
            at=command.at,
            summary=command.summary,
            notes=command.notes,
            logged_by=command.logged_by,
        )
    ]
