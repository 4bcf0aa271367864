"""One command against one ticket stream: load, decide, append (optimistic concurrency).

An Idempotency-Key is stored with the commit it produced (the event store's unique
index settles races). The stored answer is only the version it reached: a replay
folds the stream up to that version again, so no personal text is copied into the
store outside the (sealed) events, and an erasure reaches replays too. Loading,
appending and retrying are the runtime's (``crm_runtime.streams``); the answer is
the ticket's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from crm_runtime import streams
from crm_runtime.eventstore import CommandContext, Idempotency
from crm_runtime.streams import (
    Decider,
    Loaded,
    append,
    check_version,
    load,
    retry_on_conflict,
    step_context,
)
from crm_tickets.application.views import ticket_view
from crm_tickets.domain import ticket
from crm_tickets.domain.errors import NotFound
from crm_tickets.domain.sla import SlaPolicy

SERVICE = "tickets"

__all__ = ["Dependencies", "Loaded", "Outcome", "execute", "existing", "settle"]


@dataclass(frozen=True)
class Dependencies(streams.Dependencies):
    sla: SlaPolicy


@dataclass(frozen=True)
class Outcome:
    """The ticket after a command, at which version; ``changed`` is False for a no-op."""

    state: ticket.Ticket
    version: int
    replayed: bool = False
    changed: bool = True
    stream_id: str = ""


def ticket_decider(sla: SlaPolicy) -> Decider[ticket.TicketCommand, ticket.TicketState]:
    """The ticket's decider, its SLA deadlines by the policy of the settings."""
    return Decider.aggregate(
        service=SERVICE,
        kind=ticket.KIND,
        existing=ticket.Ticket,
        initial=ticket.initial_state,
        decide=partial(ticket.decide, policy=sla),
        evolve=ticket.evolve,
        view=ticket_view,
    )


async def existing(deps: Dependencies, stream_id: str) -> tuple[ticket.Ticket, int]:
    loaded = await load(deps, ticket_decider(deps.sla), stream_id)
    if not isinstance(loaded.state, ticket.Ticket):
        raise NotFound(stream_id)
    return loaded.state, loaded.version


async def replayed(deps: Dependencies, idempotency: Idempotency | None) -> Outcome | None:
    """The answer of an Idempotency-Key seen before (the ticket at the version it reached)."""
    if idempotency is None:
        return None
    previous = await deps.store.find_by_idempotency_key(idempotency)
    if previous is None:
        return None
    version = int(previous.result.get("version", previous.version))
    loaded = await load(deps, ticket_decider(deps.sla), previous.stream_id, up_to=version)
    assert isinstance(loaded.state, ticket.Ticket)
    return Outcome(loaded.state, version, replayed=True, stream_id=previous.stream_id)


async def execute(
    deps: Dependencies,
    stream_id: str,
    command: ticket.TicketCommand,
    context: CommandContext,
    *,
    expected_version: int | None = None,
    idempotency: Idempotency | None = None,
    loaded: Loaded[ticket.TicketState] | None = None,
) -> Outcome:
    """Run one command against its ticket and answer with the ticket as it now is."""
    decider = ticket_decider(deps.sla)
    with deps.tracer.start_as_current_span(
        f"{decider.service}.{type(command).__name__}",
        attributes={"crm.stream_id": stream_id, "crm.command_id": context.command_id},
    ):
        replay = await replayed(deps, idempotency)
        if replay is not None:
            return replay
        if loaded is None or loaded.stream_id != stream_id:
            loaded = await load(deps, decider, stream_id)
        check_version(loaded, expected_version)
        decided = decider.decide(command, loaded.state)
        state = decider.fold(decided, loaded.state)
        if not isinstance(state, ticket.Ticket):
            raise NotFound(stream_id)
        if not decided:
            return Outcome(state, loaded.version, changed=False, stream_id=stream_id)
        version = loaded.version + len(decided)
        appended = await append(
            deps, loaded, decided, context, idempotency=idempotency, result={"version": version}
        )
        if not appended.ours:  # a concurrent request with the same Idempotency-Key appended first
            replay = await replayed(deps, idempotency)
            if replay is not None:
                return replay
        return Outcome(state, version, stream_id=stream_id)


async def settle(
    deps: Dependencies, stream_id: str, command: ticket.TicketCommand, context: CommandContext
) -> Outcome:
    """Run a command that must take effect whoever else writes the stream meanwhile.

    For scheduled checks: on a version conflict it is decided again on the new state,
    where it is usually a no-op (e.g. the other replica flagged the breach first).
    """
    return await retry_on_conflict(
        lambda attempt: execute(deps, stream_id, command, step_context(context, str(attempt)))
    )
