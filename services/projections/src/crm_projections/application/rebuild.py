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
from datetime import datetime
from typing import Any

import structlog

from crm_contracts import REGISTRY, EventMetadata
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
PART_POLL_SECONDS = 0.2
"""How often the owner of a split read model looks whether the other parts are written."""


@dataclass(frozen=True)
class Part:
    """A read model whose rebuild is split between jobs by context (``ReadModel.combine``,
    ``rebuild_jobs.plan``): this job folds the events of ``contexts`` in the history phase;
    ``every`` lists the contexts of each part, this one's among them.

    The ``owner`` builds the generation as a whole read model would, but its history folds
    only its own contexts. At the end of that phase it waits for the other parts, combines
    them into its documents and routes (``Projector.take_part``), and goes on from the
    positions each reached; from the catch-up on it folds every context. Any other part is
    folded into collections of its own (``Projector.part``) in the history phase, written,
    and published with the positions it reached (``Projector.publish_part``); its job has
    nothing more to do for that read model."""

    read_model: str
    contexts: tuple[str, ...]
    owner: bool
    every: tuple[tuple[str, ...], ...]

    @property
    def name(self) -> str:
        return _part_name(self.contexts)

    @property
    def others(self) -> list[str]:
        """The names of the other parts."""
        return [_part_name(contexts) for contexts in self.every if contexts != self.contexts]


def _part_name(contexts: tuple[str, ...]) -> str:
    return "-".join(contexts)


def reason_of(error: BaseException) -> str:
    """What is said of a failure: the error's kind and message."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


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
    parts: Sequence[Part] = (),
    run: str = "",
) -> dict[str, int]:
    """Build every read model of ``projectors`` anew from the full history of every
    source, beside the generation that serves, and switch to it when caught up.

    ``parts``: the read models of ``projectors`` this job folds a part of (``Part``), the
    rebuild ``run`` naming the parts of all its jobs.

    ``on_phase(phase, total)`` announces each phase (``total``: store positions to fold,
    0 for the phases that fold nothing); ``on_progress(done, total)`` follows the
    folding phases in store positions (either may answer an awaitable: it is awaited).
    ``grace`` is how long the old generation stays after the switch: longer than
    ``REFRESH_SECONDS`` when other processes serve (``crm projections rebuild`` waits
    ``SWITCH_GRACE``), 0 for a process on its own.
    Answers the events read and, per read model, the events applied.
    """
    of = {part.read_model: part for part in parts}
    if parts and not run:
        raise ValueError("a rebuild in parts needs the name of its run")
    totals = {"events": 0, **{projector.name: 0 for projector in projectors}}
    building: list[_Building] = []
    helping: list[tuple[Projector, Part]] = []
    reached = [0] * len(sources)
    try:
        for projector in projectors:
            part = of.get(projector.name)
            if part is not None and not part.owner:
                helping.append((projector.part(run, part.name), part))
                continue
            building.append(await _begin(projector, part, run))
        folding = _Folding(building, sources, reached, totals, on_progress, on_phase, run)
        folding.arrange(of, helping)
        with paused():  # the buffers only grow: full collections would walk them again
            await folding.fold(HISTORY, deferred=True)
            folding.arrange({}, [])
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
    except BaseException as error:
        for view, part in helping:
            await _abandon_part(view, part, run, error)
        for b in building:
            if not b.switched:
                await _abandon(b, run if b.live.name in of else None)
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


async def _begin(projector: Projector, part: Part | None, run: str) -> _Building:
    """A new generation to build into, the leftovers of interrupted runs dropped (and the
    parts they left, for a read model that combines parts: those of ``run`` are this run's,
    being written by other jobs)."""
    started = await projector.read_models.begin(projector.name)
    if projector.model.combine is not None:
        await projector.drop_parts(keep=run if part is not None else None)
    leftovers = set(started.leftovers) | await projector.stored_generations()
    for generation in sorted(leftovers - {started.active, started.generation}):
        log.info("dropping a leftover generation", read_model=projector.name, generation=generation)
        await projector.at(generation).drop()
        await projector.read_models.retired(projector.name, generation)
    view = projector.at(started.generation)
    await view.drop()
    await view.create_indexes()
    return _Building(projector, view, started)


async def _abandon(building: _Building, run: str | None) -> None:
    """Drop a generation that will never serve, and the parts of ``run`` it was to combine
    (best effort: the next run drops them too)."""
    name, generation = building.live.name, building.started.generation
    try:
        if run is not None:
            await building.live.abandon_parts(run)
        await building.view.drop()
        await building.live.read_models.abandon(name, generation)
        log.warning("rebuild abandoned; the active generation serves", read_model=name)
    except Exception:
        log.exception("could not drop an abandoned generation", read_model=name)


async def _abandon_part(view: Projector, part: Part, run: str, error: BaseException) -> None:
    """A part that will not be written: its owner is told why, what was written is dropped
    (best effort: the owner's job fails or is stopped too, and the next run drops it)."""
    try:
        await view.part_failed(run, part.name, reason_of(error))
        for base in view.bases():
            await view.collection(base).drop()
    except Exception:
        log.exception("could not drop an abandoned part", read_model=view.name, part=part.name)


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
        run: str = "",
    ) -> None:
        self._building = building
        self._sources = sources
        self._reached = reached
        self._times: list[datetime | None] = [None] * len(sources)
        self._totals = totals
        self._on_progress = on_progress
        self._on_phase = on_phase
        self._beat = time.monotonic()
        self._done = 0
        self._views = [b.view for b in building]
        """The views whose positions are noted: every one but other jobs' parts."""
        self._names = [source_name(source.store.source) for source in sources]
        self._owned: list[tuple[Projector, Part]] = []
        self._helping: list[tuple[Projector, Part]] = []
        self._run = run
        self.arrange({}, [])

    def arrange(self, parts: dict[str, Part], helping: list[tuple[Projector, Part]]) -> None:
        """What the next phase folds: the views of ``building`` (those of ``parts``' owned
        read models only their part's contexts) and the parts in ``helping``; with no
        parts, every view all it folds (after the history phase of a split rebuild)."""
        self._owned = [(view, parts[view.name]) for view in self._views if view.name in parts]
        self._helping = helping
        self._folding = [*self._views, *(view for view, _ in helping)]
        limits = {id(view): set(part.contexts) for view, part in [*self._owned, *helping]}
        folds = [
            (
                view,
                {
                    t
                    for t in folded_types(view.model)
                    if id(view) not in limits or t.split(".")[1] in limits[id(view)]
                },
            )
            for view in self._folding
        ]
        self._folders: dict[str, list[Projector]] = {
            event_type: [view for view, types in folds if event_type in types]
            for event_type in REGISTRY.types
        }
        """The views folding each event type the registry knows (an unknown type is parsed,
        which refuses it)."""
        contexts = {event_type.split(".")[1] for _, types in folds for event_type in types}
        known = {event_type.split(".")[1] for event_type in REGISTRY.types}
        self._read = [name in contexts or name not in known for name in self._names]
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
            for view in self._folding:
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
            # the parts first, for their owners wait; the owned read models last, once
            # what else this job built is written
            owned = {id(view) for view, _ in self._owned}
            for view, part in self._helping:
                await view.end_rebuild()
                await self._publish(view, part)
            for view in self._views:
                if id(view) not in owned:
                    await view.end_rebuild()
            for view, part in self._owned:
                await self._take_parts(view, part)
                await view.end_rebuild()
        for view in self._views:
            await view.positions.flush()

    async def _take_parts(self, view: Projector, part: Part) -> None:
        """Wait for the other parts of ``view``'s read model, combine each into its
        documents, and go on from the positions each reached: a source this job read too
        from the lower of the two (the folds of what both read again are duplicates)."""
        waiting = part.others
        while waiting:
            for name in list(waiting):
                said = await view.published_part(self._run, name)
                if said is None:
                    continue
                if "failed" in said:
                    raise RuntimeError(f"{view.name}: part {name} failed: {said['failed']}")
                await view.take_part(self._run, name)
                for source, mark in said["reached"].items():
                    index = self._names.index(source)
                    position = int(mark["position"])
                    if self._read[index]:
                        position = min(position, self._reached[index])
                    self._reached[index] = position
                    if mark.get("time") is not None:
                        view.positions.note(view.generation, source, position, mark["time"])
                waiting.remove(name)
            if waiting:
                await self._heartbeat()
                await asyncio.sleep(PART_POLL_SECONDS)

    async def _publish(self, view: Projector, part: Part) -> None:
        """The part is written: say how far it read each source of its contexts. An owner
        that gave up first (``Projector.abandon_parts``) will not take it: it is dropped."""
        reached = {
            name: (self._reached[index], self._times[index])
            for index, name in enumerate(self._names)
            if self._read[index] and name in part.contexts
        }
        await view.publish_part(self._run, part.name, reached)
        if await view.parts_abandoned(self._run):
            await view.drop_part(self._run, part.name)

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
        noted: tuple[str, int] | None = None
        for commit in commits:
            latest = await self._fold_commit(commit, opened)
            if latest is not None:
                known = self._times[index]
                self._times[index] = latest.time if known is None else max(known, latest.time)
                noted = (latest.source, commit.position)
            self._done += commit.position - self._reached[index]
            self._reached[index] = commit.position
            await _call(self._on_progress, self._done, total)
        moment = self._times[index]
        if noted is not None and moment is not None:  # the highest of each: as per commit
            for view in self._views:
                view.positions.note(view.generation, noted[0], noted[1], moment)
        await self._heartbeat()

    async def _fold_commit(
        self, commit: Commit, opened: Iterator[StoredEvent]
    ) -> EventMetadata | None:
        """Fold one commit; answers the metadata of its latest event (every event of a
        commit has its commit's position)."""
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
        return latest

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
