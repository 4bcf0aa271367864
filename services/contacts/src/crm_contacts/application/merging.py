"""Merging a duplicate into a survivor: the duplicate's stream first, then the survivor's.

The duplicate stops taking commands the moment its stream says it was merged; the
survivor then takes what it lacked. A crash in between is healed by sending the same
merge again: the duplicate's side is already done (no events), the survivor's follows.
"""

from __future__ import annotations

from dataclasses import replace

from crm_contacts.application import handlers
from crm_contacts.application.handlers import Dependencies, Outcome
from crm_contacts.domain import customer
from crm_contacts.domain.customer import (
    AbsorbDuplicate,
    CustomerNotFound,
    CustomerWasErased,
    CustomerWasMerged,
    InvalidCommand,
    MergeInto,
)
from crm_runtime.eventstore import CommandContext, Idempotency, WrongExpectedVersion


async def duplicate_profile(
    deps: Dependencies, merged_id: str, survivor_id: str
) -> customer.Registered:
    """The duplicate as it was before the merge (also when it was already merged into here)."""
    state = await handlers.load_state(deps, merged_id)
    match state:
        case customer.Registered():
            return state
        case customer.Merged() if state.survivor_id == survivor_id:
            return state.profile
        case customer.Merged():
            raise CustomerWasMerged(merged_id, state.survivor_id)
        case customer.Erased():
            raise CustomerWasErased(merged_id)
    raise CustomerNotFound(merged_id)


async def merge(
    deps: Dependencies,
    survivor_id: str,
    merged_id: str,
    context: CommandContext,
    *,
    expected_version: int | None = None,
    idempotency: Idempotency | None = None,
) -> Outcome:
    if idempotency is not None:
        previous = await deps.store.find_by_idempotency_key(idempotency)
        if previous is not None:
            return await handlers.replayed(deps, previous)
    if survivor_id == merged_id:
        raise InvalidCommand("a customer cannot be merged into itself")
    survivor = await handlers.load_customer(deps, survivor_id)
    if expected_version is not None and expected_version != survivor.version:
        raise WrongExpectedVersion(survivor_id, expected_version, survivor.version)
    duplicate = await duplicate_profile(deps, merged_id, survivor_id)
    absorb = AbsorbDuplicate(customer_id=survivor_id, duplicate=duplicate)
    customer.decide(absorb, survivor)  # refused here, nothing is written on either side
    await handlers.execute(
        deps,
        MergeInto(customer_id=merged_id, survivor_id=survivor_id),
        replace(context, command_id=deps.new_id("cmd")),
    )
    return await handlers.execute(deps, absorb, context, idempotency=idempotency)
