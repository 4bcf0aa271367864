"""The store aggregate as a decider: a branch of the chain, opened once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from crm_contracts.loyalty import StoreOpened
from crm_contracts.registry import DomainEvent
from crm_loyalty.domain import values
from crm_loyalty.domain.errors import AlreadyExists

KIND = "store"


@dataclass(frozen=True)
class OpenStore:
    store_id: str
    name: str
    city: str
    at: datetime


StoreCommand = OpenStore


@dataclass(frozen=True)
class NoStore:
    """No store under this id."""


@dataclass(frozen=True)
class Store:
    store_id: str
    name: str
    city: str
    opened_at: datetime


StoreState = NoStore | Store

initial_state: StoreState = NoStore()


def decide(command: StoreCommand, state: StoreState) -> list[DomainEvent]:
    name = values.text(command.name, "name")
    city = values.text(command.city, "city")
    if isinstance(state, Store):
        if (state.name, state.city) == (name, city):
            return []  # the same opening, retried
        raise AlreadyExists(KIND, state.store_id)
    return [
        StoreOpened(
            store_id=values.identifier(command.store_id, "store_id"),
            name=name,
            city=city,
            opened_at=values.aware(command.at, "at"),
        )
    ]


def evolve(state: StoreState, event: DomainEvent) -> StoreState:
    if isinstance(event, StoreOpened) and isinstance(state, NoStore):
        return Store(event.store_id, event.name, event.city, event.opened_at)
    return state


def fold(events: Iterable[DomainEvent], state: StoreState = initial_state) -> StoreState:
    for event in events:
        state = evolve(state, event)
    return state
