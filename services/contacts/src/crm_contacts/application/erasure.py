"""Erasure of a data subject: the customer and every duplicate merged into it, or the other
way round (erasing a merged duplicate erases its survivor too: they are one person)."""

from __future__ import annotations

from dataclasses import replace

from crm_contacts.application import handlers
from crm_contacts.application.handlers import Dependencies, Outcome
from crm_contacts.domain import customer
from crm_contacts.domain.customer import CustomerNotFound, EraseCustomer
from crm_runtime.eventstore import CommandContext

MAX_DEPTH = 20


async def _survivor_of(deps: Dependencies, customer_id: str) -> str:
    current = customer_id
    for _ in range(MAX_DEPTH):
        state = await handlers.load_state(deps, current)
        nxt = state.survivor_id if isinstance(state, customer.Merged) else None
        if isinstance(state, customer.Erased):
            nxt = state.merged_into
        if nxt is None:
            return current
        current = nxt
    return current


async def _family(deps: Dependencies, root: str) -> list[str]:
    """The root and every customer merged into it, directly or not; merged ones first."""
    members: list[str] = []
    todo = [root]
    while todo and len(members) < 1000:
        current = todo.pop()
        if current in members:
            continue
        members.append(current)
        state = await handlers.load_state(deps, current)
        if isinstance(state, customer.Registered | customer.Erased):
            todo.extend(state.merged_ids)
        elif isinstance(state, customer.Merged):
            todo.extend(state.profile.merged_ids)
    return [*reversed(members[1:]), root]


async def erase(
    deps: Dependencies, customer_id: str, request_reference: str | None, context: CommandContext
) -> Outcome:
    if isinstance(await handlers.load_state(deps, customer_id), customer.Unregistered):
        raise CustomerNotFound(customer_id)
    family = await _family(deps, await _survivor_of(deps, customer_id))
    for member in family:  # every key first: a crash after this leaves nothing readable
        await deps.vault.destroy(member, at=deps.clock())
    asked: Outcome | None = None
    for member in family:
        outcome = await handlers.execute(
            deps,
            EraseCustomer(customer_id=member, request_reference=request_reference),
            replace(context, command_id=deps.new_id("cmd")) if member != customer_id else context,
        )
        if member == customer_id:
            asked = outcome
    if asked is None:  # pragma: no cover - the asked customer is always in its family
        raise CustomerNotFound(customer_id)
    return asked
