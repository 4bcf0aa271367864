"""Customer histories to seed: registrations and detail changes, interleaved across streams."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass

from crm_contracts import DomainEvent
from crm_contracts.contacts import CustomerDetailsChanged, CustomerKind, CustomerRegistered


@dataclass(frozen=True)
class PlannedEvent:
    """One event of one customer stream, in the global order it will be appended."""

    stream_id: str
    sequence: int
    event: DomainEvent


def register_request(number: int) -> dict[str, str]:
    """The body of POST /contacts/customers the load generators send."""
    return {
        "name": f"Bench Customer {number}",
        "kind": "person",
        "email": f"bench.customer.{number}@example.com",
        "phone": "+49 30 901820",
    }


def customer_histories(
    events: int, per_customer: int, *, seed: int = 7, tag: str = ""
) -> list[PlannedEvent]:
    """``events`` events: each customer is registered, then changed; streams interleave."""
    rng = random.Random(seed)
    customers = [
        f"cus_bench{tag}{uuid.UUID(int=rng.getrandbits(128)).hex}"
        for _ in range(math.ceil(events / per_customer))
    ]
    turns = [customer for customer in customers for _ in range(per_customer)]
    rng.shuffle(turns)
    next_sequence = dict.fromkeys(customers, 1)
    planned: list[PlannedEvent] = []
    for customer_id in turns[:events]:
        sequence = next_sequence[customer_id]
        next_sequence[customer_id] = sequence + 1
        planned.append(PlannedEvent(customer_id, sequence, _event(customer_id, sequence, rng)))
    return planned


def _event(customer_id: str, sequence: int, rng: random.Random) -> DomainEvent:
    number = rng.randrange(1_000_000)
    if sequence == 1:
        return CustomerRegistered(
            customer_id=customer_id,
            name=f"Bench Customer {number}",
            kind=rng.choice(list(CustomerKind)),
            email=f"bench.customer.{number}@example.com",
            phone="+4930901820",
        )
    change = rng.choice(("name", "email", "phone", "clear"))
    if change == "name":
        return CustomerDetailsChanged(customer_id=customer_id, name=f"Renamed Customer {number}")
    if change == "email":
        return CustomerDetailsChanged(customer_id=customer_id, email=f"moved.{number}@example.org")
    if change == "phone":
        return CustomerDetailsChanged(customer_id=customer_id, phone=f"+4930{number:06d}")
    return CustomerDetailsChanged(customer_id=customer_id, cleared=("phone",))
