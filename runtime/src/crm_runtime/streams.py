"""One command against one stream, for any service's deciders: load, decide, append.

A ``Decider`` bundles what the generic code needs of an aggregate: its initial
state, ``decide`` and ``evolve``, and how its state answers. ``execute`` runs
a command with optimistic concurrency and an optional Idempotency-Key (the
answer is stored in the same commit as the events, with its personal fields
sealed, so "appended but answer lost" cannot happen; see docs/adr/0001 and 0008).
``load``, ``append`` and ``check_version`` serve a service whose answer is kept
otherwise, and ``retry_on_conflict`` one whose command must take effect anyway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from opentelemetry.trace import Tracer

from crm_contracts import REGISTRY
from crm_contracts.registry import DomainEvent
from crm_runtime.eventstore import (
    CommandContext,
    Commit,
    EventStore,
    Idempotency,
    NewEvent,
    WrongExpectedVersion,
)
from crm_runtime.personal_data import SealedEvents
from crm_runtime.telemetry import current_traceparent

C = TypeVar("C")
S = TypeVar("S")
T = TypeVar("T")

RETRIES = 3


@dataclass(frozen=True)
class Decider(Generic[C, S]):
    service: str
    """The bounded context the commands belong to; it names their spans."""
    kind: str
    initial: S
    decide: Callable[[C, S], list[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]
    view: Callable[[S, int], dict[str, Any]]
    """The answer for a state at a version; only called on a state that exists."""
    exists: Callable[[S], bool]
    personal: frozenset[str] = frozenset()
    """Fields of the view sealed when the answer is stored."""
    placeholders: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def aggregate(
        cls,
        *,
        service: str,
        kind: str,
        existing: type[Any],
        initial: S,
        decide: Callable[[C, S], list[DomainEvent]],
        evolve: Callable[[S, DomainEvent], S],
        view: Callable[[Any, int], dict[str, Any]],
        personal: frozenset[str] = frozenset(),
        placeholders: Mapping[str, Any] | None = None,
    ) -> Decider[C, S]:
        """The decider of an aggregate whose states of the class ``existing`` exist (and
        answer with ``view``); any other state is not there yet, or no longer."""

        def exists(state: S) -> bool:
            return isinstance(state, existing)

        def answer(state: S, version: int) -> dict[str, Any]:
            if not isinstance(state, existing):
                raise TypeError(f"only an existing {existing.__name__} has a view")
            return view(state, version)

        return cls(
            service, kind, initial, decide, evolve, answer, exists, personal, placeholders or {}
        )

    def fold(self, events: Sequence[DomainEvent], state: S) -> S:
        for event in events:
            state = self.evolve(state, event)
        return state


@dataclass(frozen=True)
class Loaded(Generic[S]):
    stream_id: str
    state: S
    version: int


@dataclass(frozen=True)
class Outcome:
    """What a command answered, at which version; ``changed`` is False for a no-op."""

    view: dict[str, Any]
    version: int
    replayed: bool = False
    changed: bool = True


@dataclass(frozen=True)
class Appended:
    commit: Commit
    ours: bool
    """False when an earlier request with the same Idempotency-Key had appended instead."""


@dataclass(frozen=True)
class Dependencies:
    store: EventStore
    clock: Callable[[], datetime]
    new_id: Callable[[str], str]
    tracer: Tracer
    sealed: SealedEvents


async def load(
    deps: Dependencies, decider: Decider[Any, S], stream_id: str, *, up_to: int | None = None
) -> Loaded[S]:
    """The aggregate as its history says (up to a version); the initial state at version 0
    for an unknown id."""
    state = decider.initial
    version = 0
    for stored in await deps.store.load(stream_id):
        if up_to is not None and stored.metadata.sequence > up_to:
            break
        revealed = await deps.sealed.reveal(stored)
        event = REGISTRY.parse(stored.metadata.type, stored.metadata.schema_version, revealed.data)
        state = decider.evolve(state, event)
        version = stored.metadata.sequence
    return Loaded(stream_id, state, version)


async def append(
    deps: Dependencies,
    loaded: Loaded[Any],
    events: Sequence[DomainEvent],
    context: CommandContext,
    *,
    idempotency: Idempotency | None = None,
    result: Mapping[str, Any] | None = None,
) -> Appended:
    """Append decided events after the loaded version, sealing personal fields on the way;
    ``result`` is what the commit keeps for a replay of its Idempotency-Key."""
    stream_id = loaded.stream_id
    with deps.tracer.start_as_current_span(
        "eventstore.append", attributes={"crm.stream_id": stream_id, "crm.events": len(events)}
    ):
        sealed = [
            await deps.sealed.seal(
                stream_id, NewEvent(e.event_type, e.schema_version, e.model_dump(mode="json"))
            )
            for e in events
        ]
        event_ids = [deps.new_id("evt") for _ in events]
        commit = await deps.store.append(
            stream_id,
            loaded.version,
            sealed,
            with_traceparent(context),
            now=deps.clock(),
            event_ids=event_ids,
            idempotency=idempotency,
            result=result,
        )
        return Appended(commit, ours=commit.events[0].metadata.id == event_ids[0])


async def kept_answer(
    deps: Dependencies, subject: str, view: dict[str, Any], personal: frozenset[str]
) -> dict[str, Any]:
    """The ``result`` of a commit that keeps its answer: the view, personal fields sealed."""
    if personal:
        view = await deps.sealed.seal_fields(subject, view, personal)
    return {"view": view}


async def replayed_answer(
    deps: Dependencies, idempotency: Idempotency | None, placeholders: Mapping[str, Any]
) -> Outcome | None:
    """The stored answer of an Idempotency-Key seen before, or None."""
    if idempotency is None:
        return None
    previous = await deps.store.find_by_idempotency_key(idempotency)
    if previous is None:
        return None
    return await answer_of(deps, previous, placeholders)


async def execute(
    deps: Dependencies,
    decider: Decider[C, S],
    stream_id: str,
    command: C,
    context: CommandContext,
    *,
    expected_version: int | None = None,
    idempotency: Idempotency | None = None,
    loaded: Loaded[S] | None = None,
) -> Outcome:
    """Run one command against its stream and answer with the aggregate as it now is.

    ``loaded`` is the stream as the caller just read it (e.g. to authorise the command),
    decided on instead of reading it again; a write in between is caught at the append.
    """
    with deps.tracer.start_as_current_span(
        f"{decider.service}.{type(command).__name__}",
        attributes={"crm.stream_id": stream_id, "crm.command_id": context.command_id},
    ):
        replay = await replayed_answer(deps, idempotency, decider.placeholders)
        if replay is not None:
            return replay
        if loaded is None or loaded.stream_id != stream_id:
            loaded = await load(deps, decider, stream_id)
        check_version(loaded, expected_version)
        decided = decider.decide(command, loaded.state)
        if not decided:
            return Outcome(
                decider.view(loaded.state, loaded.version), loaded.version, changed=False
            )
        version = loaded.version + len(decided)
        view = decider.view(decider.fold(decided, loaded.state), version)
        appended = await append(
            deps,
            loaded,
            decided,
            context,
            idempotency=idempotency,
            result=await kept_answer(deps, stream_id, view, decider.personal),
        )
        if appended.ours:
            return Outcome(view, version)
        # A concurrent request with the same Idempotency-Key won the race: answer as it did.
        return await answer_of(deps, appended.commit, decider.placeholders)


async def retry_on_conflict(attempt: Callable[[int], Awaitable[T]], retries: int = RETRIES) -> T:
    """Run a command that must take effect whoever else writes the stream meanwhile.

    ``attempt`` is called with 1, 2, ... and decides again on the state it loads, where
    the command is usually a no-op after a conflict; the last conflict is raised.
    """
    for number in range(1, retries):
        try:
            return await attempt(number)
        except WrongExpectedVersion:
            pass
    return await attempt(retries)


def check_version(loaded: Loaded[Any], expected_version: int | None) -> None:
    if expected_version is not None and expected_version != loaded.version:
        raise WrongExpectedVersion(loaded.stream_id, expected_version, loaded.version)


async def answer_of(deps: Dependencies, commit: Commit, placeholders: Mapping[str, Any]) -> Outcome:
    view = dict(commit.result.get("view") or {})
    revealed = await deps.sealed.reveal_fields(commit.stream_id, view, dict(placeholders))
    return Outcome(revealed, int(revealed.get("version", commit.version)), replayed=True)


def with_traceparent(context: CommandContext) -> CommandContext:
    if context.traceparent is not None:
        return context
    return replace(context, traceparent=current_traceparent())


def step_context(context: CommandContext, step: str) -> CommandContext:
    """The context of a further append of the same command (its own command id)."""
    return replace(context, command_id=f"{context.command_id}.{step}")
