"""Handing over a leaving rep's customers: one record stream, one owner change per customer.

The handover stream records the plan first (HandoverStarted), then each customer's own
stream gets its CustomerOwnerAssigned (history kept), then the record is completed with
what moved and what was skipped. Sending the same handover again resumes an unfinished
one from its plan (moves already made change nothing) and answers a finished one as is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from crm_contacts.application import handlers
from crm_contacts.application.handlers import Dependencies
from crm_contacts.domain import handover
from crm_contacts.domain.customer import (
    CustomerNotFound,
    CustomerWasErased,
    CustomerWasMerged,
    ReassignOwner,
    RuleViolated,
)
from crm_contacts.domain.handover import CompleteHandover, Handover, HandoverNotFound, StartHandover
from crm_contracts.contacts import HandoverMove, HandoverSkip
from crm_runtime.eventstore import CommandContext

Authorise = Callable[[list[str]], Awaitable[None]]


@dataclass(frozen=True)
class HandoverRequest:
    handover_id: str
    leaving_rep_id: str
    successor_ids: tuple[str, ...]
    reason: str
    team: str | None = None


@dataclass(frozen=True)
class HandoverOutcome:
    record: dict[str, Any]
    created: bool
    replayed: bool


def record_view(state: Handover) -> dict[str, Any]:
    return {
        "id": state.handover_id,
        "leaving_rep_id": state.leaving_rep_id,
        "successor_ids": list(state.successor_ids),
        "team": state.team,
        "reason": state.reason,
        "moves": [m.model_dump() for m in state.moves],
        "completed": state.completed,
        "moved": [m.model_dump() for m in state.moved or ()],
        "skipped": [s.model_dump() for s in state.skipped],
        "version": state.version,
    }


async def load_handover(deps: Dependencies, handover_id: str) -> Handover:
    state = handover.fold(await handlers.load_events(deps, handover_id))
    if not isinstance(state, Handover):
        raise HandoverNotFound(handover_id)
    return state


async def hand_over(
    deps: Dependencies, request: HandoverRequest, context: CommandContext, authorise: Authorise
) -> HandoverOutcome:
    """Start (or resume) the handover and move every planned customer.

    ``authorise(customer_ids)`` raises if the caller may not move one of them; it runs
    before anything is written.
    """
    events = await handlers.load_events(deps, request.handover_id)
    state = handover.fold(events)
    customers = (
        [m.customer_id for m in state.moves]
        if isinstance(state, Handover)
        else await deps.directory.customers_of(request.leaving_rep_id)
    )
    await authorise(customers)
    start = StartHandover(
        handover_id=request.handover_id,
        leaving_rep_id=request.leaving_rep_id,
        successor_ids=request.successor_ids,
        reason=request.reason,
        team=request.team,
        customer_ids=tuple(customers),
    )
    decided = handover.decide(start, state)
    if decided:
        await handlers.append(
            deps, request.handover_id, state.version, decided, _next(deps, context)
        )
        state = handover.fold(decided, state)
    if not isinstance(state, Handover):  # pragma: no cover - started just above
        raise HandoverNotFound(request.handover_id)
    if state.completed:
        return HandoverOutcome(record_view(state), created=False, replayed=True)
    moved, skipped = await _move_all(deps, state, context)
    done = handover.decide(CompleteHandover(state.handover_id, moved, skipped), state)
    await handlers.append(deps, state.handover_id, state.version, done, _next(deps, context))
    finished = handover.fold(done, state)
    if not isinstance(finished, Handover):  # pragma: no cover - evolve keeps the variant
        raise HandoverNotFound(request.handover_id)
    return HandoverOutcome(record_view(finished), created=bool(decided), replayed=False)


async def _move_all(
    deps: Dependencies, state: Handover, context: CommandContext
) -> tuple[tuple[HandoverMove, ...], tuple[HandoverSkip, ...]]:
    moved: list[HandoverMove] = []
    skipped: list[HandoverSkip] = []
    because = replace(context, causation_id=state.handover_id)
    for move in state.moves:
        command = ReassignOwner(
            customer_id=move.customer_id,
            owner_id=move.owner_id,
            from_owner_id=state.leaving_rep_id,
            team=state.team,
        )
        try:
            await handlers.execute(deps, command, _next(deps, because))
        except CustomerWasErased:
            skipped.append(HandoverSkip(customer_id=move.customer_id, reason="customer was erased"))
        except CustomerWasMerged as merged:
            reason = f"merged into {merged.survivor_id}"
            skipped.append(HandoverSkip(customer_id=move.customer_id, reason=reason))
        except (RuleViolated, CustomerNotFound) as refused:
            skipped.append(HandoverSkip(customer_id=move.customer_id, reason=str(refused)))
        else:
            moved.append(move)
    return tuple(moved), tuple(skipped)


def _next(deps: Dependencies, context: CommandContext) -> CommandContext:
    """Each append of the handover is a command of its own (its own auto idempotency key)."""
    return replace(context, command_id=deps.new_id("cmd"))
