"""Customer histories to seed, decided by the contacts aggregate itself.

Each customer is registered (by the bench's sales manager, who becomes the
owner), then changed a few times; the commits of different customers
interleave at random, as concurrent users would leave them. Events and the
stored answer come from the real ``decide``/``fold`` and ``customer_view``, so
a seed is exactly what the same commands would have appended.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from typing import Any

from crm_contacts.application.handlers import customer_view
from crm_contacts.domain import customer
from crm_contacts.domain.customer import ChangeCustomerDetails, CustomerState, RegisterCustomer
from crm_contracts import DomainEvent
from crm_contracts.contacts import CustomerKind

OWNER, TEAM = "bench-writer", "bench"


@dataclass(frozen=True)
class PlannedCommit:
    """The events one command appends to one stream, and the answer stored with them."""

    stream_id: str
    first: int
    events: tuple[DomainEvent, ...]
    view: dict[str, Any]


def register_request(number: int) -> dict[str, str]:
    """The body of POST /contacts/customers the load generators send."""
    return {
        "name": f"Bench Customer {number}",
        "kind": "person",
        "email": f"bench.customer.{number}@example.com",
        "phone": "+49 30 901820",
    }


def customer_histories(
    commits: int, per_customer: int, *, seed: int = 7, tag: str = ""
) -> list[PlannedCommit]:
    """``commits`` commits: per customer a registration, then up to per_customer-1 changes."""
    rng = random.Random(f"{seed}{tag}")
    customers = [
        f"cus_bench{tag}{uuid.UUID(int=rng.getrandbits(128)).hex}"
        for _ in range(math.ceil(commits / per_customer))
    ]
    turns = [customer_id for customer_id in customers for _ in range(per_customer)]
    rng.shuffle(turns)
    states: dict[str, CustomerState] = {}
    planned: list[PlannedCommit] = []
    for customer_id in turns:
        if len(planned) == commits:
            break
        state = states.get(customer_id, customer.initial_state)
        events = customer.decide(_command(customer_id, state, rng), state)
        if not events:
            continue  # a change to what the customer already had: no commit
        states[customer_id] = customer.fold(events, state)
        view = customer_view(states[customer_id])
        planned.append(PlannedCommit(customer_id, state.version + 1, tuple(events), view))
    return planned


def history_of_events(events: int, per_customer: int, *, tag: str = "") -> list[PlannedCommit]:
    """Commits holding ``events`` events in all (the last commit may overshoot by one)."""
    history = customer_histories(events, per_customer, tag=tag)
    total = 0
    for index, commit in enumerate(history):
        total += len(commit.events)
        if total >= events:
            return history[: index + 1]
    return history


def _command(
    customer_id: str, state: CustomerState, rng: random.Random
) -> RegisterCustomer | ChangeCustomerDetails:
    number = rng.randrange(1_000_000)
    if isinstance(state, customer.Unregistered):
        return RegisterCustomer(
            customer_id=customer_id,
            name=f"Bench Customer {number}",
            kind=rng.choice(list(CustomerKind)),
            email=f"bench.customer.{number}@example.com",
            phone="+4930901820",
            owner_id=OWNER,
            team=TEAM,
        )
    change = rng.choice(("name", "email", "phone", "clear"))
    if change == "name":
        return ChangeCustomerDetails(customer_id, name=f"Renamed Customer {number}")
    if change == "email":
        return ChangeCustomerDetails(customer_id, email=f"moved.{number}@example.org")
    if change == "phone":
        return ChangeCustomerDetails(customer_id, phone=f"+4930{number:06d}")
    return ChangeCustomerDetails(customer_id, clear=frozenset({"phone"}))
