"""The customer aggregate as a decider: initial_state, decide, evolve.

``decide(command, state)`` returns the events a command causes (none for a
no-op) or raises a domain error for a broken rule; ``evolve(state, event)``
folds one event into the state. Ids and clocks come in with the command. The
rules live by topic in ``profile``, ``lifecycle`` and ``merging``; this module
says which state may take which command.
"""

from __future__ import annotations

from crm_contacts.domain import lifecycle, merging, profile
from crm_contacts.domain.commands import (
    AbsorbDuplicate,
    AddContactPerson,
    AssignOwner,
    AssignSegments,
    ChangeContactPerson,
    ChangeCustomerDetails,
    ChangeLifecycleStage,
    ChangeTags,
    ClassifyCustomer,
    CustomerCommand,
    EraseCustomer,
    LogInteraction,
    MergeInto,
    ReassignOwner,
    RecordConsent,
    RecordPurchase,
    RegisterCustomer,
    RemoveAddress,
    RemoveContactPerson,
    RemovePreference,
    SetAddress,
    SetPreference,
    SetValueTier,
)
from crm_contacts.domain.errors import (
    ContactPersonNotFound,
    CustomerAlreadyRegistered,
    CustomerError,
    CustomerNotFound,
    CustomerWasErased,
    CustomerWasMerged,
    InvalidCommand,
    RuleViolated,
)
from crm_contacts.domain.profile import CLEARABLE
from crm_contacts.domain.state import (
    Address,
    Consent,
    ContactPerson,
    CustomerState,
    Erased,
    Merged,
    Registered,
    Unregistered,
    evolve,
    fold,
    initial_state,
)
from crm_contracts.contacts import CustomerErased, CustomerOwnerAssigned, CustomerRegistered
from crm_contracts.registry import DomainEvent

__all__ = [
    "CLEARABLE",
    "AbsorbDuplicate",
    "AddContactPerson",
    "Address",
    "AssignOwner",
    "AssignSegments",
    "ChangeContactPerson",
    "ChangeCustomerDetails",
    "ChangeLifecycleStage",
    "ChangeTags",
    "ClassifyCustomer",
    "Consent",
    "ContactPerson",
    "ContactPersonNotFound",
    "CustomerAlreadyRegistered",
    "CustomerCommand",
    "CustomerError",
    "CustomerNotFound",
    "CustomerState",
    "CustomerWasErased",
    "CustomerWasMerged",
    "EraseCustomer",
    "Erased",
    "InvalidCommand",
    "LogInteraction",
    "MergeInto",
    "Merged",
    "ReassignOwner",
    "RecordConsent",
    "RecordPurchase",
    "RegisterCustomer",
    "Registered",
    "RemoveAddress",
    "RemoveContactPerson",
    "RemovePreference",
    "RuleViolated",
    "SetAddress",
    "SetPreference",
    "SetValueTier",
    "Unregistered",
    "decide",
    "evolve",
    "fold",
    "initial_state",
]


def decide(command: CustomerCommand, state: CustomerState) -> list[DomainEvent]:
    match command, state:
        case RegisterCustomer(), Unregistered():
            return _registration(command)
        case RegisterCustomer(), _:
            raise CustomerAlreadyRegistered(command.customer_id)
        case _, Unregistered():
            raise CustomerNotFound(command.customer_id)
        case EraseCustomer(), Erased():
            return []
        case EraseCustomer(), Registered() | Merged():
            # A merged duplicate is erased with its survivor: it is the same data subject.
            return [
                CustomerErased(
                    customer_id=command.customer_id, request_reference=command.request_reference
                )
            ]
        case _, Erased():
            raise CustomerWasErased(command.customer_id)
        case MergeInto(), Registered() | Merged():
            return merging.merge_into(command, state)
        case _, Merged():
            raise CustomerWasMerged(state.customer_id, state.survivor_id)
        case _, Registered():
            return _decide_registered(command, state)
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def _decide_registered(command: CustomerCommand, state: Registered) -> list[DomainEvent]:
    match command:
        case ChangeCustomerDetails():
            return profile.change_details(command, state)
        case AddContactPerson():
            return profile.add_contact_person(command, state)
        case ChangeContactPerson():
            return profile.change_contact_person(command, state)
        case RemoveContactPerson():
            return profile.remove_contact_person(command, state)
        case SetAddress():
            return profile.set_address(command, state)
        case RemoveAddress():
            return profile.remove_address(command, state)
        case RecordConsent():
            return profile.record_consent(command, state)
        case SetPreference():
            return profile.set_preference(command, state)
        case RemovePreference():
            return profile.remove_preference(command, state)
        case ChangeTags():
            return profile.change_tags(command, state)
        case ClassifyCustomer():
            return profile.classify(command, state)
        case AssignSegments():
            return profile.assign_segments(command, state)
        case SetValueTier():
            return profile.set_value_tier(command, state)
        case AssignOwner() | ReassignOwner():
            return profile.assign_owner(command, state)
        case LogInteraction():
            return profile.log_interaction(command, state)
        case RecordPurchase():
            return lifecycle.record_purchase(command, state)
        case ChangeLifecycleStage():
            return lifecycle.change_stage(command, state)
        case AbsorbDuplicate():
            return merging.absorb(command, state)
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def _registration(command: RegisterCustomer) -> list[DomainEvent]:
    registered: list[DomainEvent] = [
        CustomerRegistered(
            customer_id=command.customer_id,
            name=command.name,
            kind=command.kind,
            email=command.email,
            phone=command.phone,
        )
    ]
    if command.owner_id is not None:
        registered.append(
            CustomerOwnerAssigned(
                customer_id=command.customer_id, owner_id=command.owner_id, team=command.team
            )
        )
    return registered
