"""Use cases of loyalty: each is one command on one stream.

Members are streams keyed by the customer id; stores by ``store/<store id>`` (so a
store id can never collide with a customer id). Enrolling and moving a member check
that the store is open first. After a command appends, the member roster catches up
(best effort: the scheduler and the store counts catch it up again anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from crm_loyalty.application.deciders import Deciders
from crm_loyalty.application.roster import STORE_PREFIX, MemberRoster
from crm_loyalty.domain import member, store
from crm_loyalty.domain.errors import NotFound
from crm_loyalty.domain.programme import Programme
from crm_runtime.eventstore import CommandContext, Idempotency
from crm_runtime.streams import (
    Decider,
    Dependencies,
    Loaded,
    Outcome,
    execute,
    load,
    retry_on_conflict,
)

C = TypeVar("C")
S = TypeVar("S")
log = structlog.get_logger("crm.loyalty")


@dataclass(frozen=True)
class LoyaltyDependencies(Dependencies):
    deciders: Deciders
    programme: Programme
    roster: MemberRoster


def store_stream(store_id: str) -> str:
    return f"{STORE_PREFIX}{store_id}"


async def existing(deps: Dependencies, decider: Decider[C, S], stream_id: str) -> Loaded[S]:
    loaded = await load(deps, decider, stream_id)
    if not decider.exists(loaded.state):
        raise NotFound(decider.kind, stream_id.removeprefix(STORE_PREFIX))
    return loaded


async def open_store(
    deps: LoyaltyDependencies,
    command: store.OpenStore,
    context: CommandContext,
    *,
    idempotency: Idempotency | None = None,
) -> Outcome:
    return await execute(
        deps,
        deps.deciders.store,
        store_stream(command.store_id),
        command,
        context,
        idempotency=idempotency,
    )


async def on_member(
    deps: LoyaltyDependencies,
    command: member.MemberCommand,
    context: CommandContext,
    *,
    expected_version: int | None = None,
    idempotency: Idempotency | None = None,
    loaded: Loaded[Any] | None = None,
) -> Outcome:
    """Run a member command (checking the store of an enrolment or a move is open)."""
    if isinstance(command, member.Enrol | member.ChangeHomeStore):
        await existing(deps, deps.deciders.store, store_stream(command.home_store_id))
    outcome = await execute(
        deps,
        deps.deciders.member,
        command.customer_id,
        command,
        context,
        expected_version=expected_version,
        idempotency=idempotency,
        loaded=loaded,
    )
    if outcome.changed:
        await follow(deps)
    return outcome


async def settle(
    deps: LoyaltyDependencies, command: member.MemberCommand, context: CommandContext
) -> Outcome:
    """A member command that must take effect whoever else writes meanwhile (consumer,
    scheduler): on a version conflict it is decided again on the new state."""
    return await retry_on_conflict(lambda _: on_member(deps, command, context))


async def follow(deps: LoyaltyDependencies) -> None:
    try:
        await deps.roster.catch_up()
    except Exception:  # the roster is caught up again by the next command or the scheduler
        log.exception("member roster could not catch up")
