"""Folds events into a read model's collection, exactly once per stream sequence.

Writes are compare-and-set on the document's ``revision`` (insert when new,
replace guarded by the revision otherwise), so two writers, e.g. a rebuild and
the live consumer, never lose each other's work; a duplicate changes nothing.

Streams whose later events do not name their document (a quote is sent, a
payment arrives) are routed by ``StreamRoutes``: stream key -> document id,
learnt from the stream's first event that names one and kept in a collection
of its own (``stream_customers`` for the customer 360), so every replica and
every restart routes alike. An event of such a stream that names nobody while
the stream is still unknown is ``OutOfOrder``: retried, then dead-lettered.

During a rebuild's deferred phases (``begin_rebuild`` .. ``end_rebuild``) the pinned
generation being built has no other writer (the live consumer folds into the active
one until the switch), so its documents and routes are kept in a ``WriteBack`` buffer:
read once, folded in memory, written in batches (``insert_many``; documents already
stored are deleted and inserted again), flushed before the phase ends and whenever
the buffer fills. The fold discipline (order check, duplicates, ``folded``) is the same.

The live consumer folds a batch of records at once (``prepare_batch``, then
``FoldBatch.fold`` per event, then ``FoldBatch.write``): the batch's routes and documents
are read with one query each, its events folded in memory in order, and every changed
document written once with one ``bulk_write`` (inserts, and replaces guarded by the
revision read). Anything the one pass cannot decide alone (an event ahead of its
predecessor, a stream not routed yet, a document another writer changed, a route another
writer learnt) is ``BatchUnfit``: the caller folds the batch event by event instead, where
each of those cases has its answer, and whatever the batch wrote is a duplicate there.

Every collection is the read model's active generation's (``generations``: the plain
names for generation 0, ``<name>__g<n>`` after rebuilds), and each fold notes the
event's source position (``positions``), so the read model's lag is measurable.
"""

from __future__ import annotations

import copy
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Self

from opentelemetry.trace import Tracer
from pymongo import InsertOne, ReplaceOne
from pymongo.errors import OperationFailure

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.application.generations import (
    READ_MODELS,
    ActiveGeneration,
    ReadModels,
    collection_name,
)
from crm_projections.application.positions import POSITIONS, PositionLog
from crm_projections.domain import churn_watch, customer360, forecast, receivables, stores
from crm_projections.domain.streams import Order, ReadModel, check_order, stream_key
from crm_runtime.documents import is_duplicate_key

COLLECTION = "customer360"
MERGE_HOPS = 5  # merged_into links followed at most (a chain of merges; cycles stop earlier)
MERGED_READ = 200  # documents merged into one survivor read at most
BUFFERED = 250_000
"""Documents a rebuild keeps in memory per read model before flushing and forgetting them:
enough for every document of a 1,000,000-event history (about 2.6 GB for all nine read
models), since a smaller buffer writes and re-reads a long-lived document once per flush."""
WRITE_BATCH = 500
PARTS = "rebuild_parts"
"""Per part of a read model a rebuild folds in another job (``Projector.part``): how far it
read each source once written, or why it failed."""
ABANDONED = "~abandoned"
"""The name under which the owner of a rebuild's parts says it gave up."""
RECENT = 4096
"""Documents a live projector keeps as it last wrote them, per read model (``Recent``): a
replaced document was nearly always written within the last ten batches."""
DISTRUST_SECONDS = 30.0
"""How long a projector that lost a write to another writer reads every document afresh."""
INDEX_NOT_FOUND = 27
"""MongoDB's code for dropping an index that is not there."""


class Applied(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class OutOfOrder(Exception):
    """An event arrived before its predecessor in the same stream."""


class BatchUnfit(Exception):
    """A batch the one-pass fold cannot decide alone: fold its events one by one instead."""


class Recent:
    """The documents (and stream routes) of one generation as this process last wrote them,
    so the next batch reads only the others.

    A copy may be stale when another process wrote the document since (another replica
    folding another topic's partition, a rebuild's last catch-up). That is safe: the
    batch's write is guarded by the copy's revision, so it fails and the batch is folded
    record by record from the store; and a stale copy never calls an event new that the
    store has seen, since a document only moves forward. After such a loss the copies are
    dropped and none is used for ``DISTRUST_SECONDS``: where another writer is active, the
    store is read every batch, as without copies. Routes never change once learnt, so they
    are kept regardless. The copies are shared, never changed: ``ReadModel.project`` makes a
    new document.
    """

    def __init__(self, size: int = RECENT) -> None:
        self._size = size
        self._documents: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.routes: dict[str, str] = {}
        self._distrusted_until = 0.0

    def documents(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The copies held of ``ids`` (none while distrusted)."""
        if not self._documents:
            return {}
        kept = self._documents
        return {i: kept[i] for i in ids if i in kept}

    def wrote(self, documents: dict[str, dict[str, Any]]) -> None:
        """``documents`` (id -> document) are stored as given now."""
        if time.monotonic() < self._distrusted_until:
            return
        kept = self._documents
        for document_id, document in documents.items():
            kept[document_id] = document
            kept.move_to_end(document_id)
        while len(kept) > self._size:
            kept.popitem(last=False)

    def learnt(self, routes: dict[str, str]) -> None:
        """Stream routes (key -> document id) known stored."""
        if len(self.routes) + len(routes) > self._size * 4:
            self.routes.clear()
        self.routes.update(routes)

    def compare(self, document_id: str, stored: dict[str, Any] | None) -> None:
        """``stored`` was just read from the store: a copy held of another revision means
        another writer is active (``distrust``)."""
        held = self._documents.get(document_id)
        if held is not None and (stored is None or stored["revision"] != held["revision"]):
            self.distrust()

    def distrust(self) -> None:
        """Another writer changed a document: drop the copies, and keep none for a while."""
        self._documents.clear()
        self._distrusted_until = time.monotonic() + DISTRUST_SECONDS

    def clear(self) -> None:
        self._documents.clear()


class FoldBatch:
    """One read model's part of a batch of events: targets routed and documents read up
    front (``Projector.prepare_batch``), events folded in memory in order (``fold``), the
    changed documents written once (``write``)."""

    def __init__(
        self,
        projector: Projector,
        items: Sequence[tuple[EventMetadata, DomainEvent]],
        targets: list[str | None],
        stored: dict[str, dict[str, Any]],
        new_routes: list[dict[str, Any]],
        recent: Recent,
    ) -> None:
        self.projector = projector
        self._recent = recent
        self.items = items
        self.targets = targets
        """Per event: the document it folds into, None when it is not for this read model."""
        self._stored = stored
        self._working: dict[str, dict[str, Any]] = dict(stored)
        self._changed: set[str] = set()
        self._steps: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
        """Per event folded (or redelivered), the document before and after, in order."""
        self._new_routes = new_routes

    def fold(self, index: int) -> Applied:
        """Fold event ``index`` into its document in memory (in the batch's order)."""
        document_id = self.targets[index]
        if document_id is None:
            return Applied.IGNORED
        metadata, event = self.items[index]
        document = self._working.get(document_id)
        order = check_order(document, metadata)
        if order is Order.DUPLICATE and document is not None:  # it saw the event
            self._steps.append((document, document))
            return Applied.DUPLICATE
        if order is Order.GAP:
            raise BatchUnfit(f"{metadata.id} is ahead of its predecessor in {document_id}")
        current = document if document is not None else self.projector.model.empty(document_id)
        after = self._working[document_id] = self.projector.model.project(current, metadata, event)
        self._changed.add(document_id)
        self._steps.append((document, after))
        return Applied.APPLIED

    async def write(self) -> None:
        """Write the routes learnt and every changed document (one ``bulk_write``), then run
        the read model's ``folded`` for each event's step, as the fold one by one does."""
        projector = self.projector
        try:
            if self._new_routes:
                routes = projector.collection(projector.routes_collection or "")
                await routes.insert_many(self._new_routes, ordered=False)
            requests: list[Any] = []
            for document_id in sorted(self._changed):
                after, before = self._working[document_id], self._stored.get(document_id)
                if before is None:
                    requests.append(InsertOne(after))
                else:
                    guard = {"_id": document_id, "revision": before["revision"]}
                    requests.append(ReplaceOne(guard, after))
            if requests:
                result = await projector.documents.bulk_write(requests, ordered=False)
                replaced = sum(1 for d in self._changed if d in self._stored)
                if result.matched_count != replaced:
                    self._recent.distrust()
                    raise BatchUnfit(f"{projector.name}: a document changed under the batch")
        except BatchUnfit:
            raise
        except Exception as error:
            if is_duplicate_key(error):
                self._recent.distrust()
                raise BatchUnfit(f"{projector.name}: another writer got there first") from error
            self._recent.clear()  # what was written is unknown
            raise
        self._recent.learnt({r["_id"]: r[projector.model.routes_field] for r in self._new_routes})
        self._recent.wrote({d: self._working[d] for d in self._changed})
        for before, after in self._steps:  # what a board derives may depend on each step
            await projector.folded(before, after)


class StreamRoutes:
    """Stream key -> the document its events fold into, learnt once per stream."""

    def __init__(self, collection: Any, field: str, buffer: WriteBack | None = None) -> None:
        self._routes = collection
        self._field = field
        self._buffer = buffer

    async def resolve(self, key: str, named: str | None) -> str | None:
        """The stream's document: as learnt before, else the one this event names (learnt
        now), else None (the stream has not named one yet)."""
        if self._buffer is not None:
            return await self._resolve_buffered(self._buffer, key, named)
        found = await self._routes.find_one({"_id": key})
        if found is None and named is not None:
            try:
                await self._routes.insert_one({"_id": key, self._field: named})
                return named
            except Exception as error:
                if not is_duplicate_key(error):
                    raise
            found = await self._routes.find_one({"_id": key})  # another writer learnt it first
        return None if found is None else str(found[self._field])

    async def _resolve_buffered(self, buffer: WriteBack, key: str, named: str | None) -> str | None:
        """The same, for a generation only this rebuild writes: learnt routes are kept in
        memory and written with the buffer's documents."""
        known = buffer.routes.get(key)
        if known is not None:
            return known
        found = None if buffer.all_routes_here else await self._routes.find_one({"_id": key})
        if found is not None:
            buffer.routes[key] = str(found[self._field])
            return buffer.routes[key]
        if named is None:
            return None
        buffer.routes[key] = named
        buffer.new_routes.append({"_id": key, self._field: named})
        return named

    async def drop(self) -> None:
        await self._routes.drop()


class WriteBack:
    """A rebuild's documents of one generation: read once, folded in memory, flushed in
    batches. Only for a generation no other process writes (a rebuild's deferred phases)."""

    def __init__(self, *, documents_empty: bool = False, routes_empty: bool = False) -> None:
        self.documents: dict[str, dict[str, Any] | None] = {}  # None: not stored, not folded
        self.stored: set[str] = set()  # ids the collection holds (as of the last flush)
        self.dirty: set[str] = set()
        self.routes: dict[str, str] = {}
        self.new_routes: list[dict[str, Any]] = []
        # The collection was empty when the phase began and nothing was forgotten since:
        # a document (a route) not in memory is in no collection either.
        self.all_documents_here = documents_empty
        self.all_routes_here = routes_empty

    async def get(self, documents: Callable[[], Any], document_id: str) -> dict[str, Any] | None:
        """The document as folded so far (None: there is none); ``documents()``: the
        collection to read it from when it is not in memory (looked up only then)."""
        if document_id in self.documents:
            return self.documents[document_id]
        if self.all_documents_here:
            return None
        found = await documents().find_one({"_id": document_id})
        self.documents[document_id] = found
        if found is not None:
            self.stored.add(document_id)
        return found

    def put(self, document_id: str, document: dict[str, Any]) -> None:
        self.documents[document_id] = document
        self.dirty.add(document_id)

    @property
    def full(self) -> bool:
        return len(self.documents) >= BUFFERED

    def everything(self) -> list[dict[str, Any]] | None:
        """Every document of the collection, as the next flush leaves it, when the buffer
        holds them all (the collection was empty when the phase began and none was forgotten
        since); None otherwise."""
        if not self.all_documents_here:
            return None
        return [document for document in self.documents.values() if document is not None]

    async def flush(self, documents: Any, routes: Any, *, keep: bool) -> None:
        """Write the routes learnt and the documents changed since the last flush; forget
        the documents unless ``keep`` (the routes stay: they never change)."""
        if self.new_routes:
            for start in range(0, len(self.new_routes), WRITE_BATCH):
                await routes.insert_many(self.new_routes[start : start + WRITE_BATCH])
            self.new_routes = []
        dirty = sorted(self.dirty)
        replaced = [i for i in dirty if i in self.stored]
        for start in range(0, len(replaced), WRITE_BATCH):
            await documents.delete_many({"_id": {"$in": replaced[start : start + WRITE_BATCH]}})
        for start in range(0, len(dirty), WRITE_BATCH):
            batch = [self.documents[i] for i in dirty[start : start + WRITE_BATCH]]
            await documents.insert_many([d for d in batch if d is not None])
        self.stored.update(dirty)
        self.dirty = set()
        if not keep:
            self.documents = {}
            self.stored = set()
            self.all_documents_here = False


class Projector:
    """One read model in one collection (plus its stream routes, when it needs them).

    The collections are those of the read model's active generation (see
    ``generations``), re-read at most once a second: a rebuild builds a new
    generation beside it and switches. ``at(generation)`` is the same projector pinned
    to one generation (what a rebuild folds into); an unpinned projector folds each
    event into the generation active when the fold starts.
    """

    def __init__(
        self,
        model: ReadModel,
        database: Any,
        tracer: Tracer,
        *,
        collection: str,
        routes: str | None = None,
        span_attribute: str = "crm.document_id",
    ) -> None:
        self.model = model
        self._database = database
        self._collection = collection
        self._routes_collection = routes
        self._tracer = tracer
        self._span_attribute = span_attribute
        self._active = ActiveGeneration(database[READ_MODELS], model.name)
        self.positions = PositionLog(database[POSITIONS], model.name)
        self._pinned: int | None = None
        self._buffer: WriteBack | None = None
        self._views: dict[int, Self] = {}
        self._collections: dict[str, Any] = {}
        self._recent = Recent()
        self._part: str | None = None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def generation(self) -> int:
        """The generation this projector reads and writes now."""
        return self._active.generation if self._pinned is None else self._pinned

    @property
    def read_models(self) -> ReadModels:
        return ReadModels(self._database[READ_MODELS])

    async def refresh_generation(self) -> int:
        """Re-read the active generation if the last read is older than a second."""
        return await self._active.current()

    def switched(self, generation: int) -> None:
        """This process made ``generation`` the active one."""
        self._active.switched(generation)
        for old in [g for g in self._views if g != generation]:
            self._views.pop(old)

    def at(self, generation: int) -> Self:
        """This projector pinned to ``generation``'s collections (cached per generation)."""
        if self._pinned == generation:
            return self
        view = self._views.get(generation)
        if view is None:
            view = copy.copy(self)
            view._pinned = generation
            view._views = {}
            view._buffer = None
            view._recent = Recent()
            view._pinned_here()
            self._views[generation] = view
        return view

    def _pinned_here(self) -> None:
        """Reset what a pinned copy must not share with the projector it was copied from."""

    def part(self, run: str, name: str) -> Self:
        """This read model's part ``name`` of the rebuild ``run``: the documents folded from
        some contexts' streams only, in collections of their own (``{base}__part_{run}_{name}``),
        for the job that owns the rebuild to combine (``take_part``). It notes no positions."""
        if self.model.combine is None:
            raise ValueError(f"{self.name} cannot be rebuilt in parts: its model has no combine")
        view = copy.copy(self)
        view._pinned = 0
        view._views = {}
        view._buffer = None
        view._recent = Recent()
        view._collections = {}
        view._part = f"{run}_{name}"
        view._pinned_here()
        return view

    async def publish_part(
        self, run: str, name: str, reached: dict[str, tuple[int, datetime | None]]
    ) -> None:
        """Part ``name`` of ``run`` is written: how far it read each source."""
        await self._database[PARTS].replace_one(
            {"_id": _part_id(self.name, run, name)},
            {
                "_id": _part_id(self.name, run, name),
                "reached": {s: {"position": p, "time": t} for s, (p, t) in reached.items()},
            },
            upsert=True,
        )

    async def part_failed(self, run: str, name: str, reason: str) -> None:
        """Part ``name`` of ``run`` will not be written: the owner stops waiting for it."""
        await self._database[PARTS].replace_one(
            {"_id": _part_id(self.name, run, name)},
            {"_id": _part_id(self.name, run, name), "failed": reason},
            upsert=True,
        )

    async def published_part(self, run: str, name: str) -> dict[str, Any] | None:
        """What ``publish_part`` (or ``part_failed``) said of part ``name``, if anything yet."""
        found: dict[str, Any] | None = await self._database[PARTS].find_one(
            {"_id": _part_id(self.name, run, name)}
        )
        return found

    async def take_part(self, run: str, name: str) -> None:
        """Combine part ``name`` of ``run`` into this generation's documents and routes,
        during a rebuild's deferred phase (``ReadModel.combine``), then drop the part."""
        buffer, combine = self._buffer, self.model.combine
        if buffer is None or combine is None:
            raise RuntimeError(f"{self.name}: a part is taken into a rebuild's buffer")
        part = self.part(run, name)
        async for document in part.documents.find({}):
            document_id = document["_id"]
            mine = await buffer.get(lambda: self._documents, document_id)
            buffer.put(document_id, document if mine is None else combine([mine, document]))
            if buffer.full:
                await self.flush_buffer(keep=False)
        if self._routes_collection is not None:
            field = self.model.routes_field
            async for route in part.collection(self._routes_collection).find({}):
                buffer.routes[route["_id"]] = str(route[field])
                buffer.new_routes.append({"_id": route["_id"], field: route[field]})
        await part.drop_part(run, name)

    async def abandon_parts(self, run: str) -> None:
        """The owner of ``run``'s parts gives up: said first, so that a part written after
        the drop sees it and drops itself (``parts_abandoned``), then every part dropped."""
        said = {"_id": _part_id(self.name, run, ABANDONED), "abandoned": True}
        await self._database[PARTS].replace_one({"_id": said["_id"]}, said, upsert=True)
        await self.drop_parts(notes_of=run)

    async def parts_abandoned(self, run: str) -> bool:
        """Whether the owner of ``run``'s parts gave up (``abandon_parts``)."""
        found = await self._database[PARTS].find_one({"_id": _part_id(self.name, run, ABANDONED)})
        return found is not None

    async def drop_part(self, run: str, name: str) -> None:
        """Drop part ``name`` of ``run``: its collections and what was said of it."""
        suffix = f"__part_{run}_{name}"
        for base in self.bases():
            await self._database[f"{base}{suffix}"].drop()
        await self._database[PARTS].delete_one({"_id": _part_id(self.name, run, name)})

    async def drop_parts(self, *, keep: str | None = None, notes_of: str | None = None) -> None:
        """Drop the parts rebuilds of this read model left (one killed, or the run that
        failed): the collections of every run but ``keep``, and what was said of every run
        but ``keep`` and ``notes_of``."""
        kept = {run for run in (keep, notes_of) if run is not None}
        prefixes = [f"{base}__part_" for base in self.bases()]
        for collection in await self._database.list_collection_names():
            name = str(collection)
            if any(name.startswith(p) for p in prefixes) and (
                keep is None or f"__part_{keep}_" not in name
            ):
                await self._database[name].drop()
        mine = {"_id": {"$regex": f"^{re.escape(self.name)}:"}}
        async for note in self._database[PARTS].find(mine):
            if str(note["_id"]).split(":")[1] not in kept:
                await self._database[PARTS].delete_one({"_id": note["_id"]})

    def collection(self, base: str) -> Any:
        """The collection ``base`` of this projector's generation (of its part, for a part)."""
        if self._part is not None:
            name = f"{base}__part_{self._part}"
        else:
            name = collection_name(base, self.generation)
        found = self._collections.get(name)
        if found is None:
            found = self._collections[name] = self._database[name]
        return found

    def bases(self) -> list[str]:
        """The plain names of this read model's collections (every generation has its own)."""
        names = [self._collection]
        if self._routes_collection is not None:
            names.append(self._routes_collection)
        return names

    def collection_names(self) -> list[str]:
        """Every collection of this projector's generation (to drop it)."""
        return [collection_name(base, self.generation) for base in self.bases()]

    async def stored_generations(self) -> set[int]:
        """The generations some collection of this read model exists in."""
        found: set[int] = set()
        bases = self.bases()
        for name in await self._database.list_collection_names():
            base, _, suffix = str(name).rpartition("__g")
            if base in bases and suffix.isdigit():
                found.add(int(suffix))
            elif name in bases:
                found.add(0)
        return found

    @property
    def documents(self) -> Any:
        return self.collection(self._collection)

    @property
    def _documents(self) -> Any:
        return self.documents

    @property
    def _routes(self) -> StreamRoutes | None:
        if self._routes_collection is None:
            return None
        return StreamRoutes(
            self.collection(self._routes_collection), self.model.routes_field, self._buffer
        )

    async def apply(
        self, metadata: EventMetadata, event: DomainEvent, *, position: int | None = None
    ) -> Applied:
        """Fold one event; ``position`` (its commit's in its source store) is recorded in
        the read model's positions (flushed by ``positions.flush``)."""
        pinned = self if self._pinned is not None else self.at(await self._active.current())
        return await pinned._apply_pinned(metadata, event, position)

    async def fold_pinned(self, metadata: EventMetadata, event: DomainEvent) -> Applied:
        """Fold one event into this pinned generation without noting its position (a rebuild
        notes one per commit, ``positions.note``)."""
        if self._pinned is None:
            raise RuntimeError(f"{self.name}: fold_pinned needs a projector pinned by at()")
        return await self._apply(metadata, event)

    @property
    def span_attribute(self) -> str:
        """The attribute naming the document on this read model's spans."""
        return self._span_attribute

    @property
    def routes_collection(self) -> str | None:
        """The base name of the stream routes' collection, if this read model learns any."""
        return self._routes_collection

    async def prepare_batch(self, items: Sequence[tuple[EventMetadata, DomainEvent]]) -> FoldBatch:
        """The batch's targets, routed, and their documents, read with one query each, in
        the generation active now (see ``FoldBatch``). ``BatchUnfit`` during a rebuild's
        buffered phase and when an event names no document its stream has not learnt."""
        pinned = self if self._pinned is not None else self.at(await self._active.current())
        if pinned._buffer is not None:
            raise BatchUnfit(f"{self.name} is being rebuilt in this process")
        return await pinned._prepare_pinned(items)

    async def _prepare_pinned(
        self, items: Sequence[tuple[EventMetadata, DomainEvent]]
    ) -> FoldBatch:
        aimed = [self.model.target(metadata, event) for metadata, event in items]
        keys = sorted(
            {stream_key(m) for (m, _), t in zip(items, aimed, strict=True) if t and t.learnt}
        )
        known_routes = self._recent.routes
        learnt = {k: known_routes[k] for k in keys if k in known_routes}
        unknown = [k for k in keys if k not in learnt]
        if unknown:
            field = self.model.routes_field
            routes = self.collection(self._routes_collection or "")
            found = {}
            async for route in routes.find({"_id": {"$in": unknown}}):
                found[route["_id"]] = str(route[field])
            self._recent.learnt(found)
            learnt |= found
        new_routes: list[dict[str, Any]] = []
        targets: list[str | None] = []
        for (metadata, _), target in zip(items, aimed, strict=True):
            if target is None:
                targets.append(None)
                continue
            document_id = target.document_id
            if target.learnt:
                key = stream_key(metadata)
                known = learnt.get(key)
                if known is not None:
                    document_id = known
                elif document_id is not None:
                    learnt[key] = document_id
                    new_routes.append({"_id": key, self.model.routes_field: document_id})
            if document_id is None:
                raise BatchUnfit(f"{metadata.id}: stream {stream_key(metadata)} is not routed")
            targets.append(document_id)
        wanted = sorted({t for t in targets if t is not None})
        stored = self._recent.documents(wanted)
        unread = [i for i in wanted if i not in stored]
        if unread:
            async for document in self._documents.find({"_id": {"$in": unread}}):
                stored[document["_id"]] = document
        return FoldBatch(self, items, targets, stored, new_routes, self._recent)

    def record_position(self, metadata: EventMetadata, position: int) -> None:
        """The event ``apply`` just folded came from ``position`` of its source store (the
        consumer reads it from the record after folding)."""
        self.positions.note(self.generation, metadata.source, position, metadata.time)

    async def _apply_pinned(
        self, metadata: EventMetadata, event: DomainEvent, position: int | None
    ) -> Applied:
        outcome = await self._apply(metadata, event)
        self.positions.note(self.generation, metadata.source, position, metadata.time)
        return outcome

    async def _apply(self, metadata: EventMetadata, event: DomainEvent) -> Applied:
        target = self.model.target(metadata, event)
        if target is None:
            return Applied.IGNORED
        document_id = target.document_id
        buffer = self._buffer
        if target.learnt and buffer is not None and (key := stream_key(metadata)) in buffer.routes:
            document_id = buffer.routes[key]  # learnt earlier in the rebuild: most of its events
        elif target.learnt:
            routes = self._routes
            if routes is None:  # pragma: no cover - a wiring mistake
                raise RuntimeError(f"{self.name} learns stream routes but has no collection")
            document_id = await routes.resolve(stream_key(metadata), document_id)
        if document_id is None:
            raise OutOfOrder(
                f"{metadata.type} {metadata.id} names no {self.model.routes_field} and "
                f"{self.name} has not seen the first event of stream {stream_key(metadata)}"
            )
        if buffer is not None:  # a rebuild's deferred phase: no span per event
            return await self._fold_buffered(buffer, document_id, metadata, event)
        with self._tracer.start_as_current_span(
            f"{self.name}.upsert",
            attributes={self._span_attribute: document_id, "crm.event_id": metadata.id},
        ):
            return await self._fold(document_id, metadata, event)

    async def _fold_buffered(
        self, buffer: WriteBack, document_id: str, metadata: EventMetadata, event: DomainEvent
    ) -> Applied:
        """``_fold`` on the rebuild's buffer: the same checks, no store round trip."""
        if document_id in buffer.documents:  # held already: most folds
            document = buffer.documents[document_id]
        else:
            document = await buffer.get(lambda: self._documents, document_id)
        order = check_order(document, metadata)
        if order is Order.DUPLICATE:
            await self.folded(document, document)
            return Applied.DUPLICATE
        if order is Order.GAP:
            raise OutOfOrder(
                f"{metadata.type} {metadata.id} has sequence {metadata.sequence} but "
                f"the {self.name} of {document_id} has not seen its predecessor"
            )
        current = document if document is not None else self.model.empty(document_id)
        after = self.model.project(current, metadata, event)
        buffer.put(document_id, after)
        await self.folded(document, after)
        if buffer.full:
            await self.flush_buffer(keep=False)
        return Applied.APPLIED

    async def flush_buffer(self, *, keep: bool = True) -> None:
        """Write what the rebuild's buffer holds (nothing outside a rebuild)."""
        if self._buffer is None:
            return
        routes = (
            self.collection(self._routes_collection)
            if self._routes_collection is not None
            else None
        )
        await self._buffer.flush(self._documents, routes, keep=keep)

    async def _fold(self, document_id: str, metadata: EventMetadata, event: DomainEvent) -> Applied:
        documents = self._documents
        for _ in range(20):
            document = await documents.find_one({"_id": document_id})
            self._recent.compare(document_id, document)
            order = check_order(document, metadata)
            if order is Order.DUPLICATE:
                # A redelivery: what the first delivery derived may not have been written
                # (a crash in between), so it is derived again; doing so is idempotent.
                if document is not None:
                    self._recent.wrote({document_id: document})
                await self.folded(document, document)
                return Applied.DUPLICATE
            if order is Order.GAP:
                raise OutOfOrder(
                    f"{metadata.type} {metadata.id} has sequence {metadata.sequence} but "
                    f"the {self.name} of {document_id} has not seen its predecessor"
                )
            current = document if document is not None else self.model.empty(document_id)
            after = self.model.project(current, metadata, event)
            if await self._write(documents, document, after):
                self._recent.wrote({document_id: after})
                await self.folded(document, after)
                return Applied.APPLIED
            self._recent.distrust()  # another writer changed it since the read
        raise RuntimeError(f"{self.name} of {document_id} kept changing under the projector")

    @staticmethod
    async def _write(documents: Any, before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
        if before is None:
            try:
                await documents.insert_one(after)
            except Exception as error:
                if is_duplicate_key(error):
                    return False
                raise
            return True
        result = await documents.replace_one(
            {"_id": before["_id"], "revision": before["revision"]}, after
        )
        return bool(result.matched_count)

    async def folded(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """Called after an event was folded into a document (and again on its redelivery):
        a read model derived from these documents refreshes here. Nothing by default."""

    def _here(self) -> Self:
        """The pinned projector of the generation in use (where a rebuild's state is kept)."""
        return self if self._pinned is not None else self.at(self.generation)

    async def begin_rebuild(self) -> None:
        """A rebuild's deferred phase starts on this generation, which only the rebuild
        writes until it switches: folds go to a write-back buffer, derived work may be
        deferred until ``end_rebuild``."""
        here = self._here()
        routes = (
            here.collection(here._routes_collection)
            if here._routes_collection is not None
            else None
        )
        here._recent.clear()
        here._buffer = WriteBack(
            documents_empty=await _empty(here._documents),
            routes_empty=routes is None or await _empty(routes),
        )

    async def end_rebuild(self) -> None:
        """The phase folded its part of the history: everything buffered is written."""
        here = self._here()
        await here.flush_buffer()
        here._buffer = None

    async def create_indexes(self) -> None:
        """Indexes of the queries the views run (none by default: reads by id)."""

    async def drop(self) -> None:
        """Drop this generation's collections (and its recorded positions)."""
        for name in self.collection_names():
            await self._database[name].drop()
        await self.positions.drop(self.generation)


async def _ensure_index(
    collection: Any, existing: dict[str, Any], keys: list[tuple[str, int]], *, sparse: bool
) -> None:
    """Create the index on ``keys``; one on the same keys with the other ``sparse`` option
    (``existing``: the collection's ``index_information``), made by an earlier version, is
    dropped first, since MongoDB refuses two indexes on the same keys."""
    for name, index in existing.items():
        same_keys = [(field, int(order)) for field, order in index["key"]] == keys
        if same_keys and bool(index.get("sparse", False)) != sparse:
            try:
                await collection.drop_index(name)
            except OperationFailure as error:
                if error.code != INDEX_NOT_FOUND:
                    raise  # else another process starting at once dropped it first
    await collection.create_index(keys, sparse=sparse)


def _part_id(read_model: str, run: str, name: str) -> str:
    return f"{read_model}:{run}:{name}"


async def _empty(collection: Any) -> bool:
    return await collection.find_one({}, projection={"_id": 1}) is None


class Customer360Projector(Projector):
    def __init__(self, database: Any, tracer: Tracer, *, collection: str = COLLECTION) -> None:
        super().__init__(
            customer360.MODEL,
            database,
            tracer,
            collection=collection,
            routes="stream_customers",
            span_attribute="crm.customer_id",
        )

    async def candidates(self, query: dict[str, Any], *, limit: int) -> list[dict[str, Any]]:
        """Public views of the documents a query selects (the churn watch's indexed
        candidates), in customer id order."""
        cursor = self._documents.find(query).sort("_id", 1).limit(limit)
        return [customer360.public_view(document) async for document in cursor]

    async def create_indexes(self) -> None:
        """The stores' member counts read the members' documents by home store (a sparse
        index: only members have one); the churn watch reads its candidates by the indexes
        it names (most of them sparse)."""
        indexes = [(list(keys), sparse) for keys, sparse in churn_watch.INDEXES] + [
            ([("loyalty.home_store_id", 1), (f"loyalty.{field}", 1)], True)
            for field in ("enrolled_at", "purchases")
        ]
        existing = await self._documents.index_information()
        for keys, sparse in indexes:
            await _ensure_index(self._documents, existing, keys, sparse=sparse)

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        document = await self._documents.find_one({"_id": customer_id})
        return None if document is None else customer360.public_view(document)

    async def customer_of_ticket(self, ticket_id: str) -> str | None:
        """The customer a ticket's stream folds into (learnt from its first event)."""
        if self._routes is None:  # pragma: no cover - always set for the 360
            return None
        return await self._routes.resolve(f"tickets:{ticket_id}", None)

    async def store_counts(self, store_id: str, period: str) -> stores.StoreCounts:
        start, end = stores.period_bounds(period)
        members = {"loyalty.home_store_id": store_id, "loyalty.member": True}
        count = self._documents.count_documents
        return stores.StoreCounts(
            members=await count(members),
            new_members=await count(
                {**members, "loyalty.enrolled_at": {"$gte": start, "$lt": end}}
            ),
            repeat_purchasers=await count({**members, "loyalty.purchases": {"$gte": 2}}),
        )

    async def survivor(self, customer_id: str) -> dict[str, Any] | None:
        """The view ``customer_id`` lives on as: its own, or, for a merged duplicate, its
        survivor's (``merged_into`` followed at most MERGE_HOPS times, never in a cycle; a
        survivor not folded yet stops there), combined with every view merged into it."""
        view = await self.get(customer_id)
        if view is None:
            return None
        seen = {customer_id}
        for _ in range(MERGE_HOPS):
            next_id = view["merged_into"]
            if next_id is None or next_id in seen:
                break
            survivor = await self.get(next_id)
            if survivor is None:
                break
            seen.add(next_id)
            view = survivor
        return customer360.with_merged(view, await self._merged_into(view))

    async def _merged_into(self, view: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The views merged into ``view``'s customer, recursively (cycle-safe, bounded)."""
        views: dict[str, dict[str, Any]] = {}
        seen = {view["customer_id"]}
        queue = list(view["merged_from"])
        while queue and len(views) < MERGED_READ:
            customer_id = queue.pop(0)
            if customer_id in seen:
                continue
            seen.add(customer_id)
            found = await self.get(customer_id)
            if found is not None:
                views[customer_id] = found
                queue.extend(found["merged_from"])
        return views


class ReceivablesProjector(Projector):
    def __init__(self, database: Any, tracer: Tracer) -> None:
        super().__init__(
            receivables.MODEL,
            database,
            tracer,
            collection="receivables_by_rep",
            routes="stream_owners",
            span_attribute="crm.owner_id",
        )

    async def create_indexes(self) -> None:
        await self._documents.create_index("team")

    async def get(self, owner_id: str) -> dict[str, Any] | None:
        document = await self._documents.find_one({"_id": owner_id})
        return None if document is None else receivables.public_view(document)

    async def find(self, query: dict[str, str], *, limit: int) -> list[dict[str, Any]]:
        cursor = self._documents.find(query).sort("_id", 1).limit(limit)
        return [receivables.public_view(document) async for document in cursor]


class ForecastProjector(Projector):
    def __init__(self, database: Any, tracer: Tracer) -> None:
        super().__init__(
            forecast.MODEL,
            database,
            tracer,
            collection="forecast",
            span_attribute="crm.opportunity_id",
        )

    async def create_indexes(self) -> None:
        for period in ("month", "quarter", "year"):
            await self._documents.create_index([("status", 1), (period, 1), ("team", 1)])

    async def summary(self, period: str, query: dict[str, str]) -> dict[str, Any]:
        """The forecast of one period over the open rows the query selects."""
        selected = {"status": "open", forecast.period_field(period): period, **query}
        fields = dict.fromkeys(("status", "owner_id", "team", "currency", "amount", "weighted"), 1)
        rows = [row async for row in self._documents.find(selected, projection=fields)]
        return forecast.summarise(rows)


class StoresProjector(Projector):
    """The stores, with member counts read from the customer 360 (see domain.stores)."""

    def __init__(self, database: Any, tracer: Tracer, customer360: Customer360Projector) -> None:
        super().__init__(
            stores.MODEL, database, tracer, collection="stores", span_attribute="crm.store_id"
        )
        self._customer360 = customer360

    async def get(self, store_id: str, period: str) -> dict[str, Any] | None:
        document = await self._documents.find_one({"_id": store_id})
        if document is None:
            return None
        counts = await self._customer360.store_counts(store_id, period)
        return stores.store_view(document, counts, period)

    async def all(self, period: str, *, limit: int) -> list[dict[str, Any]]:
        cursor = self._documents.find({}).sort("_id", 1).limit(limit)
        return [
            stores.store_view(
                document, await self._customer360.store_counts(document["_id"], period), period
            )
            async for document in cursor
        ]
