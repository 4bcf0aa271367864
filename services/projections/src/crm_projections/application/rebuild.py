"""Rebuild read models from the event stores, blue/green by collection (docs/adr/0016).

A rebuild never touches the generation that serves. For each read model it
allocates a new generation (``generations.ReadModels.begin``: leftovers of an
interrupted run are dropped first), then:

1. ``history``: folds every source's commits up to the head each had when the
   phase started, board refreshes deferred to the end of the phase;
2. ``catch-up``: folds again from the position reached to the new heads (what
   was appended meanwhile);
3. ``switch``: makes the new generation the active one, one compare-and-set per
   read model; processes follow within a second (``REFRESH_SECONDS``);
4. ``after switch``: catches up once more (what the live consumer folded into the
   old generation between the catch-up and the switch);
5. waits ``grace`` seconds, so every process reads and folds the new generation;
6. ``final catch-up``: what a consumer still folded into the old generation
   before it noticed the switch;
7. drops the old generation.

Folds are idempotent per stream sequence, so folding what the live consumer also
folds is harmless. A rebuild that fails before the switch drops its generation
and leaves the active one serving; one killed outright leaves a building
generation whose heartbeat goes stale, and the next rebuild drops it.

Sources are folded one store after the other, each in position order, so every
stream's events arrive in sequence (which stream routes rely on: a stream's
first event, which names its document, comes before the ones that do not).
Streams of different stores may fold in any order relative to each other: the
read models accept that (a customer's pipeline streams may come before its
registration).

Only what the read models being rebuilt fold is opened and parsed: a context's store
none of them folds an event of is not read (the forecast reads no contacts store), and
an event of a type none of them folds is only counted (``streams.folded_types``: whether
a read model folds an event depends on its type alone). Commits are read
``CHUNK_COMMITS`` at a time, and the sealed fields of a chunk's events are opened with
one read of their subjects' keys (``SealedEvents.reveal_many``). ``rebuild_jobs`` runs
groups of read models in processes side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from crm_contracts import REGISTRY
from crm_projections.application.generations import Started
from crm_projections.application.positions import source_name
from crm_projections.application.projector import Applied, Customer360Projector, Projector
from crm_projections.domain.streams import folded_types
from crm_runtime.collector import paused
from crm_runtime.eventstore import Commit, EventStore, StoredEvent
from crm_runtime.personal_data import SealedEvents

log = structlog.get_logger("crm.projections.rebuild")

HISTORY = "history"
CATCH_UP = "catch-up"
SWITCH = "switch"
AFTER_SWITCH = "after switch"
GRACE = "grace"
FINAL_CATCH_UP = "final catch-up"
DROP = "drop old generation"
HEARTBEAT_SECONDS = 5.0
CHUNK_COMMITS = 256
"""Commits read before folding them, their sealed fields opened with one key lookup."""


@dataclass(frozen=True)
class Source:
    """One context's event store, and how to open its sealed personal fields.

    ``sealed`` opens personal fields sealed at rest (erased subjects' fields come out
    as placeholders, so a rebuild never brings erased data back).
    """

    store: EventStore
    sealed: SealedEvents | None = None


@dataclass
class _Building:
    live: Projector
    view: Projector
    started: Started
    switched: bool = False


async def rebuild(
    projectors: Sequence[Projector],
    sources: Sequence[Source],
    *,
    on_progress: Callable[[int, int], Any] = lambda done, total: None,
    on_phase: Callable[[str, int], Any] = lambda phase, total: None,
    grace: float = 0.0,
) -> dict[str, int]:
    """Build every read model of ``projectors`` anew from the full history of every
    source, beside the generation that serves, and switch to it when caught up.

    ``on_phase(phase, total)`` announces each phase (``total``: store positions to fold,
    0 for the phases that fold nothing); ``on_progress(done, total)`` follows the
    folding phases in store positions (either may answer an awaitable: it is awaited).
    ``grace`` is how long the old generation stays after the switch: longer than
    ``REFRESH_SECONDS`` when other processes serve (``crm projections rebuild`` waits
    ``SWITCH_GRACE``), 0 for a process on its own.
    Answers the events read and, per read model, the events applied.
    """
    totals = {"events": 0, **{projector.name: 0 for projector in projectors}}
    building: list[_Building] = []
    reached = [0] * len(sources)
    try:
        for projector in projectors:
            building.append(await _begin(projector))
        folding = _Folding(building, sources, reached, totals, on_progress, on_phase)
        with paused():  # the buffers only grow: full collections would walk them again
            await folding.fold(HISTORY, deferred=True)
            await folding.fold(CATCH_UP, deferred=True)
        await _call(on_phase, SWITCH, 0)
        for b in building:
            await b.live.read_models.switch(b.live.name, b.started.active, b.started.generation)
            b.live.switched(b.started.generation)
            b.switched = True
            log.info(
                "read model switched",
                read_model=b.live.name,
                generation=b.started.generation,
                previous=b.started.active,
            )
        await folding.fold(AFTER_SWITCH, deferred=False)
        await _call(on_phase, GRACE, 0)
        await asyncio.sleep(grace)
        await folding.fold(FINAL_CATCH_UP, deferred=False)
    except BaseException:
        for b in building:
            if not b.switched:
                await _abandon(b)
        raise
    await _call(on_phase, DROP, 0)
    views = [b.view for b in building]
    for b in building:
        await b.live.at(b.started.active).drop()
        await b.live.read_models.retired(b.live.name, b.started.active)
    for view in views:
        await view.positions.flush()
    return totals


async def _call(callback: Callable[..., Any], *args: Any) -> None:
    """A progress callback; awaited when it answers an awaitable (tests look around then)."""
    answer = callback(*args)
    if inspect.isawaitable(answer):
        await answer


async def _begin(projector: Projector) -> _Building:
    """A new generation to build into, the leftovers of interrupted runs dropped."""
    started = await projector.read_models.begin(projector.name)
    leftovers = set(started.leftovers) | await projector.stored_generations()
    for generation in sorted(leftovers - {started.active, started.generation}):
        log.info("dropping a leftover generation", read_model=projector.name, generation=generation)
        await projector.at(generation).drop()
        await projector.read_models.retired(projector.name, generation)
    view = projector.at(started.generation)
    await view.drop()
    await view.create_indexes()
    return _Building(projector, view, started)


async def _abandon(building: _Building) -> None:
    """Drop a generation that will never serve (best effort: the next run drops it too)."""
    name, generation = building.live.name, building.started.generation
    try:
        await building.view.drop()
        await building.live.read_models.abandon(name, generation)
        log.warning("rebuild abandoned; the active generation serves", read_model=name)
    except Exception:
        log.exception("could not drop an abandoned generation", read_model=name)


class _Folding:
    """The folding phases: each from the positions reached to the heads at its start."""

    def __init__(
        self,
        building: list[_Building],
        sources: Sequence[Source],
        reached: list[int],
        totals: dict[str, int],
        on_progress: Callable[[int, int], Any],
        on_phase: Callable[[str, int], Any],
    ) -> None:
        self._building = building
        self._sources = sources
        self._reached = reached
        self._totals = totals
        self._on_progress = on_progress
        self._on_phase = on_phase
        self._beat = time.monotonic()
        self._done = 0
        self._views = [b.view for b in building]
        folds = [(view, folded_types(view.model)) for view in self._views]
        self._folders: dict[str, list[Projector]] = {
            event_type: [view for view, types in folds if event_type in types]
            for event_type in REGISTRY.types
        }
        """The views folding each event type the registry knows (an unknown type is parsed,
        which refuses it)."""
        contexts = {event_type.split(".")[1] for _, types in folds for event_type in types}
        known = {event_type.split(".")[1] for event_type in REGISTRY.types}
        self._read = [
            source_name(source.store.source) in contexts
            or source_name(source.store.source) not in known
            for source in sources
        ]
        """Whether to read each source: not the store of a context none of the views folds
        events of (a store of another name is read)."""

    async def fold(self, phase: str, *, deferred: bool) -> None:
        heads = [
            await source.store.head_position() if read else 0
            for source, read in zip(self._sources, self._read, strict=True)
        ]
        total = sum(max(0, h - r) for h, r in zip(heads, self._reached, strict=True))
        await _call(self._on_phase, phase, total)
        if deferred:
            for view in self._views:
                await view.begin_rebuild()
        self._done = 0
        for index, source in enumerate(self._sources):
            if not self._read[index]:
                continue
            chunk: list[Commit] = []
            commits = source.store.read_all(after_position=self._reached[index])
            async with contextlib.aclosing(commits):
                async for commit in commits:
                    if commit.position > heads[index]:
                        break
                    chunk.append(commit)
                    if len(chunk) >= CHUNK_COMMITS:
                        await self._fold_chunk(index, chunk, total)
                        chunk = []
            if chunk:
                await self._fold_chunk(index, chunk, total)
        if deferred:
            for view in self._views:
                await view.end_rebuild()
        for view in self._views:
            await view.positions.flush()

    async def _fold_chunk(self, index: int, commits: list[Commit], total: int) -> None:
        """Fold commits of source ``index`` in order: the events some view folds are opened
        (their sealed fields with one key lookup) and parsed, the others only counted."""
        source = self._sources[index]
        kept = [
            event
            for commit in commits
            for event in commit.events
            if self._folders.get(event.metadata.type) != []
        ]
        opened = iter(await source.sealed.reveal_many(kept) if source.sealed else kept)
        for commit in commits:
            await self._fold_commit(commit, opened)
            self._done += commit.position - self._reached[index]
            self._reached[index] = commit.position
            await _call(self._on_progress, self._done, total)
        await self._heartbeat()

    async def _fold_commit(self, commit: Commit, opened: Iterator[StoredEvent]) -> None:
        latest = None
        for stored in commit.events:
            metadata = stored.metadata
            views = self._folders.get(metadata.type)
            if views != []:
                data = next(opened).data
                event = REGISTRY.parse(metadata.type, metadata.schema_version, data)
                for view in views or ():
                    outcome = await view.fold_pinned(metadata, event)
                    self._totals[view.name] += outcome is Applied.APPLIED
            self._totals["events"] += 1
            if latest is None or metadata.time > latest.time:
                latest = metadata
        if latest is not None:  # every event of a commit has its commit's position
            for view in self._views:
                view.positions.note(view.generation, latest.source, commit.position, latest.time)

    async def _heartbeat(self) -> None:
        if time.monotonic() - self._beat < HEARTBEAT_SECONDS:
            return
        self._beat = time.monotonic()
        for b in self._building:
            if not b.switched:
                await b.live.read_models.heartbeat(b.live.name, b.started.generation)


async def rebuild_customer360(
    projector: Customer360Projector,
    sources: list[EventStore],
    *,
    on_progress: Callable[[int, int], Any] = lambda done, total: None,
    sealed: SealedEvents | None = None,
) -> dict[str, int]:
    """The customer 360 alone, every source opened with the same ``sealed``."""
    totals = await rebuild(
        [projector], [Source(store, sealed) for store in sources], on_progress=on_progress
    )
    return {"events": totals["events"], "applied": totals[projector.name]}
