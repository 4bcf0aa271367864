"""One command against one ticket stream: load, decide, append (optimistic concurrency).

An Idempotency-Key is stored with the commit it produced (the event store's unique
index settles races). The stored answer is only the version it reached: a replay
folds the stream up to that version again, so no personal text is copied into the
store outside the (sealed) events, and an erasure reaches replays too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from opentelemetry.trace import Tracer

from crm_contracts import REGISTRY
from crm_contracts.registry import DomainEvent
from crm_runtime.eventstore import (
    CommandContext,
    EventStore,
    Idempotency,
    NewEvent,
    WrongExpectedVersion,
)
from crm_runtime.personal_data import SealedEvents
from crm_runtime.telemetry import current_traceparent
from crm_tickets.domain import ticket
from crm_tickets.domain.errors import NotFound
from crm_tickets.domain.sla import SlaPolicy

RETRIES = 3


@dataclass(frozen=True)
class Dependencies:
    store: EventStore
    clock: Callable[[], datetime]
    new_id: Callable[[str], str]
    tracer: Tracer
    sealed: SealedEvents
    sla: SlaPolicy


@dataclass(frozen=True)
class Loaded:
    stream_id: str
    state: ticket.TicketState
    version: int


@dataclass(frozen=True)
class Outcome:
    """The ticket after a command, at which version; ``changed`` is False for a no-op."""

    state: ticket.Ticket
    version: int
    replayed: bool = False
    changed: bool = True
    stream_id: str = ""


async def load(deps: Dependencies, stream_id: str, up_to: int | None = None) -> Loaded:
    """The ticket as its history says (up to a version); NoTicket at version 0 if unknown."""
    history = await deps.store.load(stream_id)
    state = ticket.initial_state
    version = 0
    for stored in history:
        if up_to is not None and stored.metadata.sequence > up_to:
            break
        revealed = await deps.sealed.reveal(stored)
        event = REGISTRY.parse(stored.metadata.type, stored.metadata.schema_version, revealed.data)
        state = ticket.evolve(state, event)
        version = stored.metadata.sequence
    return Loaded(stream_id, state, version)


async def existing(deps: Dependencies, stream_id: str) -> tuple[ticket.Ticket, int]:
    loaded = await load(deps, stream_id)
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
    loaded = await load(deps, previous.stream_id, up_to=version)
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
    loaded: Loaded | None = None,
) -> Outcome:
    """Run one command against its ticket and answer with the ticket as it now is."""
    with deps.tracer.start_as_current_span(
        f"tickets.{type(command).__name__}",
        attributes={"crm.stream_id": stream_id, "crm.command_id": context.command_id},
    ):
        replay = await replayed(deps, idempotency)
        if replay is not None:
            return replay
        if loaded is None or loaded.stream_id != stream_id:
            loaded = await load(deps, stream_id)
        if expected_version is not None and expected_version != loaded.version:
            raise WrongExpectedVersion(stream_id, expected_version, loaded.version)
        decided = ticket.decide(command, loaded.state, deps.sla)
        state = fold(loaded.state, decided)
        if not isinstance(state, ticket.Ticket):
            raise NotFound(stream_id)
        if not decided:
            return Outcome(state, loaded.version, changed=False, stream_id=stream_id)
        version = loaded.version + len(decided)
        ours = await _append(deps, loaded, decided, context, idempotency, version)
        if not ours:  # a concurrent request with the same Idempotency-Key appended first
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
    for attempt in range(1, RETRIES + 1):
        try:
            return await execute(
                deps,
                stream_id,
                command,
                replace(context, command_id=f"{context.command_id}.{attempt}"),
            )
        except WrongExpectedVersion:
            if attempt == RETRIES:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def fold(state: ticket.TicketState, events: list[DomainEvent]) -> ticket.TicketState:
    for event in events:
        state = ticket.evolve(state, event)
    return state


async def _append(
    deps: Dependencies,
    loaded: Loaded,
    events: list[DomainEvent],
    context: CommandContext,
    idempotency: Idempotency | None,
    version: int,
) -> bool:
    """Append; False when an earlier request with the same Idempotency-Key had appended."""
    with deps.tracer.start_as_current_span(
        "eventstore.append",
        attributes={"crm.stream_id": loaded.stream_id, "crm.events": len(events)},
    ):
        seal = partial(deps.sealed.seal, loaded.stream_id)
        sealed = [
            await seal(NewEvent(e.event_type, e.schema_version, e.model_dump(mode="json")))
            for e in events
        ]
        if context.traceparent is None:
            context = replace(context, traceparent=current_traceparent())
        event_ids = [deps.new_id("evt") for _ in events]
        commit = await deps.store.append(
            loaded.stream_id,
            loaded.version,
            sealed,
            context,
            now=deps.clock(),
            event_ids=event_ids,
            idempotency=idempotency,
            result={"version": version},
        )
        return commit.events[0].metadata.id == event_ids[0]
