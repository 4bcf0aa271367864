"""The customer aggregate as a decider: initial_state, decide, evolve.

``decide(command, state)`` returns the events a command causes (none for a
no-op) or raises a domain error for a broken rule; ``evolve(state, event)``
folds one event into the state. Ids and clocks come in with the command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from crm_contracts.contacts import (
    CustomerDetailsChanged,
    CustomerErased,
    CustomerKind,
    CustomerOwnerAssigned,
    CustomerRegistered,
)
from crm_contracts.registry import DomainEvent


class CustomerError(Exception):
    """A command that the customer's current state does not allow."""


class CustomerAlreadyRegistered(CustomerError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} is already registered")


class CustomerNotFound(CustomerError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer with id {customer_id}")
        self.customer_id = customer_id


class CustomerWasErased(CustomerError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} was erased; their personal data is gone")
        self.customer_id = customer_id


# --- commands -------------------------------------------------------------------------------


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
    """Change the given details; ``None`` leaves a detail as it is, ``clear`` removes it."""

    customer_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    clear: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EraseCustomer:
    """Honour an erasure request: the personal data goes, the id and the history stay."""

    customer_id: str
    request_reference: str | None = None


CustomerCommand = RegisterCustomer | ChangeCustomerDetails | EraseCustomer

CLEARABLE = frozenset({"email", "phone"})

# --- state ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Erased:
    customer_id: str
    version: int
    owner_id: str | None = None
    team: str | None = None


CustomerState = Unregistered | Registered | Erased

initial_state: CustomerState = Unregistered()


def decide(command: CustomerCommand, state: CustomerState) -> list[DomainEvent]:
    match command, state:
        case RegisterCustomer(), Registered() | Erased():
            raise CustomerAlreadyRegistered(command.customer_id)
        case RegisterCustomer(), Unregistered():
            return _registration(command)
        case ChangeCustomerDetails() | EraseCustomer(), Unregistered():
            raise CustomerNotFound(command.customer_id)
        case ChangeCustomerDetails(), Erased():
            raise CustomerWasErased(command.customer_id)
        case ChangeCustomerDetails(), Registered():
            return _changes(command, state)
        case EraseCustomer(), Erased():
            return []
        case EraseCustomer(), Registered():
            return [
                CustomerErased(
                    customer_id=command.customer_id, request_reference=command.request_reference
                )
            ]
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


def _changes(command: ChangeCustomerDetails, state: Registered) -> list[DomainEvent]:
    unknown = command.clear - CLEARABLE
    if unknown:
        raise ValueError(f"cannot clear {', '.join(sorted(unknown))}")
    changed: dict[str, str] = {}
    for field in ("name", "email", "phone"):
        value = getattr(command, field)
        if value is not None and value != getattr(state, field):
            changed[field] = value
    cleared = tuple(
        sorted(
            f
            for f in command.clear
            if getattr(state, f) is not None and getattr(command, f) is None
        )
    )
    if not changed and not cleared:
        return []
    return [CustomerDetailsChanged(customer_id=state.customer_id, cleared=cleared, **changed)]


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
        case CustomerDetailsChanged(), Registered():
            cleared = set(event.cleared)
            return replace(
                state,
                name=event.name if event.name is not None else state.name,
                email=None if "email" in cleared else (event.email or state.email),
                phone=None if "phone" in cleared else (event.phone or state.phone),
                version=version,
            )
        case CustomerOwnerAssigned(), Registered() | Erased():
            return replace(state, owner_id=event.owner_id, team=event.team, version=version)
        case CustomerErased(), Registered():
            return Erased(
                customer_id=state.customer_id,
                version=version,
                owner_id=state.owner_id,
                team=state.team,
            )
    # An event the aggregate does not fold still counts towards the stream version.
    return replace(state, version=version)


def fold(events: Iterable[DomainEvent], state: CustomerState = initial_state) -> CustomerState:
    for event in events:
        state = evolve(state, event)
    return state
