"""Merging a duplicate into a survivor: two streams, two decisions.

The duplicate's stream records that it went into the survivor (and takes no commands
from then on); the survivor's stream records the merge with the details it lacked.
Contact persons, addresses and preferences the survivor lacked come over as their own
events in the same commit; consents do not (they were given for the duplicate's details).
"""

from __future__ import annotations

from crm_contacts.domain import lifecycle
from crm_contacts.domain.commands import AbsorbDuplicate, MergeInto
from crm_contacts.domain.errors import CustomerWasMerged, InvalidCommand, RuleViolated
from crm_contacts.domain.profile import MAX_PREFERENCES, MAX_TAGS
from crm_contacts.domain.state import Merged, Registered
from crm_contracts.contacts import (
    ContactPersonAdded,
    CustomerAddressSet,
    CustomerKind,
    CustomerMergedInto,
    CustomerPreferenceSet,
    CustomersMerged,
)
from crm_contracts.registry import DomainEvent


def merge_into(command: MergeInto, state: Registered | Merged) -> list[DomainEvent]:
    if command.survivor_id == command.customer_id:
        raise InvalidCommand("a customer cannot be merged into itself")
    if isinstance(state, Merged):
        if state.survivor_id == command.survivor_id:
            return []  # merged already: a retried merge goes on with the survivor's side
        raise CustomerWasMerged(state.customer_id, state.survivor_id)
    return [CustomerMergedInto(customer_id=state.customer_id, survivor_id=command.survivor_id)]


def absorb(command: AbsorbDuplicate, state: Registered) -> list[DomainEvent]:
    duplicate = command.duplicate
    if duplicate.customer_id == state.customer_id:
        raise InvalidCommand("a customer cannot be merged into itself")
    if duplicate.customer_id in state.merged_ids:
        return []
    if duplicate.kind is not state.kind:
        raise RuleViolated(f"a {duplicate.kind.value} cannot be merged into a {state.kind.value}")
    orders = duplicate.order_ids - state.order_ids
    survivor = state.customer_id
    events: list[DomainEvent] = [
        CustomersMerged(
            customer_id=survivor,
            merged_id=duplicate.customer_id,
            email=duplicate.email if state.email is None else None,
            phone=duplicate.phone if state.phone is None else None,
            company=duplicate.company if state.company is None else None,
            birthday=duplicate.birthday if state.birthday is None else None,
            tags=tuple(sorted(duplicate.tags - state.tags))[: MAX_TAGS - len(state.tags)],
            order_ids=tuple(sorted(orders)),
            opportunity_ids=tuple(sorted(duplicate.opportunity_ids - state.opportunity_ids)),
        )
    ]
    for address_type, address in duplicate.addresses.items():
        if address_type not in state.addresses:
            events.append(
                CustomerAddressSet(
                    customer_id=survivor,
                    address_type=address_type,
                    street=address.street,
                    city=address.city,
                    postal_code=address.postal_code,
                    country=address.country,
                )
            )
    room = MAX_PREFERENCES - len(state.preferences)
    for key, text in list(duplicate.preferences.items()):
        if key not in state.preferences and room > 0:
            events.append(CustomerPreferenceSet(customer_id=survivor, key=key, text=text))
            room -= 1
    if state.kind is CustomerKind.COMPANY:
        for person in duplicate.contact_persons.values():
            if person.person_id not in state.contact_persons:
                events.append(
                    ContactPersonAdded(
                        customer_id=survivor,
                        person_id=person.person_id,
                        name=person.name,
                        role=person.role,
                        email=person.email,
                        phone=person.phone,
                    )
                )
    purchases = len(state.order_ids | orders)
    if orders:
        events += lifecycle.stage_after_merge(state, purchases, duplicate.customer_id)
    return events
