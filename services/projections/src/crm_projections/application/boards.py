"""Boards: precomputed documents summarising rows, refreshed once per batch of row changes.

A ``RowsProjector`` folds events into rows (one document per deal, ticket,
member... exactly once per stream sequence, like every read model here). A board
is a pure summary (``BoardSpec.summarise``) of the rows its key selects; after
each fold, every board the row belongs to, before and after the event, is
*marked pending* (unless the fold changed only fields the board never reads,
e.g. the row's bookkeeping: ``BoardSpec.ignores``), and pending boards are
refreshed later, each once for however many folds marked it:

- a fold that touched boards inserts one *mark* listing them (``boards``) in
  the projector's ``<rows>_boards_pending`` collection, *after* its row is
  written and before the record is acknowledged, so a crash loses no refresh;
- ``refresh_pending`` (run by the service every ``SETTLE_SECONDS``,
  ``keep_settled``) reads the marks, refreshes each board they list once from
  its rows (the rows of all of them read at once, each row put in every board it
  counts in), then deletes exactly the marks it read: a fold that wrote its row
  after they were read left a mark of its own, refreshed next time;
- the live consumer folds a batch of records and writes one mark per read model
  for the whole batch before acknowledging it (``hold_marks``, ``write_marks``);
- a read (``board``, ``board_history``) first refreshes the boards it reads that
  a mark lists (leaving the marks to the next settle), so an answer is never
  older than the rows of the records acknowledged (a batch being folded marks
  its boards when it ends, a fraction of a second later).

A redelivered event marks its boards again (the first delivery may have crashed
between the row and the mark). Boards are written compare-and-set on their
revision, and a refresh reads the board's revision before the rows, so of two
racing refreshes the one that read older rows loses and reads again: a board
never ends older than its rows. A fold costs one small insert, whatever the size
of the periods it touched; a refresh (an indexed read of the period's rows) is
paid once per settle, not once per event.

A rebuild defers the refreshes and summarises every board touched once, at the
end: with many boards, from one scan of the rows (``BoardSpec.selected_in`` says
which of the boards each row counts in), not one indexed read per board.

Generation 0 of every rows projector shares the ``boards`` collection (board ids
are ``<board>:<key>``, board names are unique); a rebuilt generation keeps its
boards in a collection of its own, built and dropped with its rows.

Queries read one board document (and the previous period's, for changes):
nothing is summed over events at query time, and over the rows of a period only
when a fold since the last settle (at most about ``SETTLE_SECONDS`` ago, under
load a settle round) marked its board pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry.trace import Tracer

from crm_projections.application.generations import collection_name
from crm_projections.application.projector import Projector
from crm_projections.domain.streams import Document, ReadModel
from crm_runtime.documents import is_duplicate_key
from crm_runtime.leases import Lease

_log = structlog.get_logger("crm.projections.boards")

BOARDS = "boards"
PENDING = "boards_pending"
SETTLE_SECONDS = 1.0
"""How often the service refreshes the boards marked pending (at least; see SETTLE_SHARE).
A read refreshes first the marked boards it reads, so this bounds how much a read may find
to do, not how old an answer may be."""
SETTLE_SHARE = 0.1
"""The share of the process's time refreshing may take: a round that took longer than
``SETTLE_SECONDS * SETTLE_SHARE`` waits nine times as long before the next. Under load the
consumer keeps the rest, and a read still refreshes first any board it reads that a mark
lists, so answers are never older for it; the boards are only refreshed less often."""
BULK_SUMMARY = 32
"""A rebuild phase that touched more boards summarises them from one scan of the rows."""
STAMPS = frozenset({"streams", "revision", "updated_at", "last_event_id"})
"""A row's bookkeeping (``streams.stamped``): which events it has folded, not what it says."""


@dataclass(frozen=True)
class BoardSpec:
    """One kind of board over a projector's rows (all pure)."""

    name: str
    keys: Callable[[Document], set[str]]
    """The board keys (e.g. ``month:2026-11``) a row counts in; none for a row that counts
    nowhere (an open deal on the won-deals board)."""
    select: Callable[[str], dict[str, Any]]
    """The filter of the rows of one key (an indexed query)."""
    summarise: Callable[[str, list[Document]], Document]
    """The board's content from its rows; the same rows in any order give the same."""
    indexes: tuple[Sequence[tuple[str, int]], ...] = ()
    """Indexes of the rows collection that ``select`` uses."""
    ignores: frozenset[str] = STAMPS
    """Row fields that ``keys``, ``select`` and ``summarise`` never read: a fold that changes
    only these leaves the board as it was, so it is not refreshed (a redelivery still is)."""
    selects: Callable[[Document, Collection[str]], Iterable[str]] | None = None
    """Of the given keys, those whose ``select`` picks the row (what a scan of the rows
    evaluates instead of one query per key); None: the row's ``keys`` among them, for a
    board whose ``select`` picks exactly the rows that count in the key."""
    summarise_many: Callable[[Collection[str], list[Document]], dict[str, Document]] | None = None
    """``summarise`` of each of the given keys over the rows its ``select`` picks among the
    given ones, for a board whose keys each select most rows (a stock at the period's end),
    or whose summary derives much from each row, the same in every key (a customer's
    spells): what a rebuild's one scan runs instead of one summary per key; None: key by
    key."""

    def selected_in(self, row: Document, keys: Collection[str]) -> set[str]:
        """The keys among ``keys`` whose ``select`` picks ``row``."""
        if self.selects is not None:
            return set(self.selects(row, keys))
        return {key for key in self.keys(row) if key in keys}

    def summaries(
        self, keys: Collection[str], rows: list[Document]
    ) -> Iterator[tuple[str, Document]]:
        """Each of ``keys`` with its board's content, from ``rows`` (at least every row they
        count, each once), in sorted key order: all at once with ``summarise_many``, else
        each summarised as it is asked for (a live refresh lets the loop run between two)."""
        if self.summarise_many is not None:
            many = self.summarise_many(keys, rows)
            yield from sorted(many.items())
            return
        for key, found in sorted(self.selected_rows(keys, rows).items()):
            yield key, self.summarise(key, found)

    def selected_rows(
        self, keys: Collection[str], rows: Iterable[Document]
    ) -> dict[str, list[Document]]:
        """The rows of each of ``keys``: each of ``rows`` put in every key whose ``select``
        picks it (``selected_in``)."""
        selected: dict[str, list[Document]] = {key: [] for key in keys}
        for row in rows:
            for key in self.selected_in(row, keys):
                selected[key].append(row)
        return selected


@dataclass
class HeldMarks:
    """The boards touched by folds since ``RowsProjector.hold_marks``, per generation."""

    holding: bool = False
    boards: dict[int, set[tuple[str, str]]] = field(default_factory=dict)


class RowsProjector(Projector):
    def __init__(
        self,
        model: ReadModel,
        database: Any,
        tracer: Tracer,
        *,
        collection: str,
        boards: Sequence[BoardSpec],
        routes: str | None = None,
        span_attribute: str = "crm.document_id",
    ) -> None:
        super().__init__(
            model,
            database,
            tracer,
            collection=collection,
            routes=routes,
            span_attribute=span_attribute,
        )
        self.boards = {spec.name: spec for spec in boards}
        self._tracer_for_boards = tracer
        self._deferred: set[tuple[str, str]] | None = None
        self._counted: set[Any] = set()
        """In a rebuild's deferred phase, the rows whose folded state's keys are deferred."""
        self._held = HeldMarks()  # shared by the views of every generation

    def _pinned_here(self) -> None:
        self._deferred = None
        self._counted = set()

    @property
    def boards_collection(self) -> str:
        """Generation 0 shares ``boards`` with the other rows projectors; a rebuilt
        generation has its own (``deal_rows_boards__g3``), dropped with it."""
        if self.generation == 0:
            return BOARDS
        return collection_name(f"{self._collection}_{BOARDS}", self.generation)

    @property
    def _board_documents(self) -> Any:
        return self._database[self.boards_collection]

    @property
    def _pending(self) -> Any:
        """The marks of the boards waiting for a refresh (one collection per generation)."""
        return self.collection(f"{self._collection}_{PENDING}")

    def bases(self) -> list[str]:
        return [*super().bases(), f"{self._collection}_{BOARDS}", f"{self._collection}_{PENDING}"]

    def collection_names(self) -> list[str]:
        names = super().collection_names()
        if self.generation == 0:  # the shared boards are not dropped, only this model's
            names.remove(f"{self._collection}_{BOARDS}")
        return names

    async def create_indexes(self) -> None:
        for spec in self.boards.values():
            for index in spec.indexes:
                await self.documents.create_index(list(index))

    async def folded(self, before: Document | None, after: Document | None) -> None:
        """Mark the boards the row counts in, before and after, pending. A first delivery
        that changed none of the fields a board reads skips that board; a redelivery
        (``before is after``) marks every one, since the first may have crashed before."""
        redelivery = before is after
        rows = (before, after)
        if redelivery or (
            self._deferred is not None and before is not None and before["_id"] in self._counted
        ):  # one row; or a rebuild's deferred phase folded ``before``: its keys are deferred
            rows = (after,)
        compared = None if redelivery or before is None or after is None else (before, after)
        changed: dict[frozenset[str], bool] = {}  # per set of fields ignored: whether one changed
        touched: set[tuple[str, str]] = set()
        for spec in self.boards.values():
            if compared is not None:  # None: every board is marked
                read = changed.get(spec.ignores)
                if read is None:
                    read = changed[spec.ignores] = _changes_any(*compared, spec.ignores)
                if not read:
                    continue
            touched.update(
                (spec.name, key) for row in rows if row is not None for key in spec.keys(row)
            )
        if self._deferred is not None:
            self._deferred |= touched
            if after is not None:
                self._counted.add(after["_id"])
            return
        if self._held.holding:
            self._held.boards.setdefault(self.generation, set()).update(touched)
            return
        if touched:
            await self._pending.insert_one({"boards": sorted(f"{n}:{k}" for n, k in touched)})

    def hold_marks(self) -> None:
        """Collect the marks of the folds from now on, to write them as one (``write_marks``):
        a consumer folding a batch of records does, before acknowledging the batch."""
        self._held.holding = True

    async def write_marks(self) -> None:
        """Write the marks collected since ``hold_marks`` (one per generation), and stop
        collecting. A crash before this leaves the batch unacknowledged: its records come
        again, and a redelivered event marks every board of its row."""
        held, self._held.boards = self._held.boards, {}
        self._held.holding = False
        for generation, touched in sorted(held.items()):
            if touched:
                await self.at(generation)._pending.insert_one(
                    {"boards": sorted(f"{n}:{k}" for n, k in touched)}
                )

    async def refresh_pending(self, *, limit: int = 0) -> int:
        """Refresh every board the marks list (marks read at most ``limit``; 0: all), each
        once, in the generation that serves, then delete the marks read; answers how many
        boards were refreshed."""
        here = self._here()
        marks = [mark async for mark in here._pending.find({}).sort("_id", 1).limit(limit)]
        boards = sorted({board for mark in marks for board in mark["boards"]})
        await here._refresh_together(boards)
        if marks:
            await here._pending.delete_many({"_id": {"$in": [mark["_id"] for mark in marks]}})
        return len(boards)

    async def _refresh_together(self, board_ids: Sequence[str]) -> None:
        """Refresh many boards from one read of their rows: each row is read once (a deal of
        the week is in the month's and the quarter's boards, on the sales, lost and funnel
        boards alike) and put in every board whose ``select`` picks it, or given with the
        keys to a board kind that summarises many at once (``BoardSpec.summarise_many``: the
        stores boards, each of which counts every member enrolled by then). The boards' revisions
        are read before the rows, so a board another refresh wrote meanwhile is refreshed
        again on its own (``refresh``), as two racing refreshes resolve."""
        wanted = sorted(
            (name, key)
            for name, _, key in (board_id.partition(":") for board_id in board_ids)
            if name in self.boards
        )
        if len(wanted) < 2:
            for name, key in wanted:
                await self.refresh(name, key)
            return
        with self._tracer_for_boards.start_as_current_span(
            f"{self.name}.refresh", attributes={"crm.boards": len(wanted)}
        ):
            ids = [f"{name}:{key}" for name, key in wanted]
            found = self._board_documents.find({"_id": {"$in": ids}})
            boards = {board["_id"]: board async for board in found}
            query = {"$or": [self.boards[name].select(key) for name, key in wanted]}
            rows = [row async for row in self.documents.find(query)]
            for name, among in _keys_by_board(wanted).items():
                for key, content in self.boards[name].summaries(among, rows):
                    board = boards.get(f"{name}:{key}")
                    if not await self._replace_board(board, name, key, content):
                        await self.refresh(name, key)  # another refresh won: read its rows again
                    await asyncio.sleep(0)  # a summary is CPU work: the consumer may run meanwhile

    async def _refresh_pending_of(self, query: dict[str, Any]) -> None:
        """Refresh now the boards that marks list and ``query`` (on a board id) selects; the
        marks stay for the next settle (they may list other boards)."""
        marks = self._pending.find({"boards": {"$elemMatch": query}})
        listed = {board async for mark in marks for board in mark["boards"]}
        for board in sorted(listed):
            if _matches_id(board, query):
                await self._refresh_id(board)

    async def _refresh_id(self, board_id: str) -> None:
        name, _, key = board_id.partition(":")
        if name in self.boards:
            await self.refresh(name, key)

    async def begin_rebuild(self) -> None:
        await super().begin_rebuild()
        self._here()._deferred = set()
        self._here()._counted = set()

    async def end_rebuild(self) -> None:
        here = self._here()
        rows = None if here._buffer is None else here._buffer.everything()
        await super().end_rebuild()  # the rows are written before the boards are
        touched, here._deferred = here._deferred or set(), None
        here._counted = set()
        if len(touched) > BULK_SUMMARY:
            await here._summarise_all(touched, rows)
            return
        for name, key in sorted(touched):
            await here.refresh(name, key)

    async def _summarise_all(
        self, touched: set[tuple[str, str]], rows: list[Document] | None = None
    ) -> None:
        """Summarise many boards from one scan of the rows (``rows``: all of them, as written,
        when the rebuild's buffer held them all; else read): each row is put in every touched
        board whose ``select`` picks it, or given with the keys to a kind that summarises
        many at once (``BoardSpec.summaries``). Only for a generation no other process writes
        (a rebuild's deferred phase): the rows cannot change meanwhile."""
        with self._tracer_for_boards.start_as_current_span(
            f"{self.name}.summarise", attributes={"crm.boards": len(touched)}
        ):
            if rows is None:
                rows = [row async for row in self.documents.find({})]
            for name, among in _keys_by_board(touched).items():
                for key, content in self.boards[name].summaries(among, rows):
                    await self._write_board(name, key, content)

    async def refresh(self, name: str, key: str) -> None:
        """Summarise the rows of one board key into its document (compare-and-set)."""
        spec = self.boards[name]
        board_id = f"{name}:{key}"
        with self._tracer_for_boards.start_as_current_span(
            f"{name}.refresh", attributes={"crm.board": board_id}
        ):
            boards, documents = self._board_documents, self.documents
            for _ in range(20):
                board = await boards.find_one({"_id": board_id})
                rows = [row async for row in documents.find(spec.select(key))]
                if await self._replace_board(board, name, key, spec.summarise(key, rows)):
                    return
        raise RuntimeError(f"board {board_id} kept changing under its refresh")

    async def _write_board(self, name: str, key: str, content: Document) -> None:
        """Write a board whose content nothing else is changing (a rebuild's summary)."""
        for _ in range(20):
            board = await self._board_documents.find_one({"_id": f"{name}:{key}"})
            if await self._replace_board(board, name, key, content):
                return
        raise RuntimeError(f"board {name}:{key} kept changing under the rebuild")

    async def _replace_board(
        self, board: Document | None, name: str, key: str, content: Document
    ) -> bool:
        """Insert the board, or replace the revision read; False when another writer won."""
        board_id = f"{name}:{key}"
        boards = self._board_documents
        if board is None:
            try:
                await boards.insert_one(
                    {"_id": board_id, "board": name, "key": key, "revision": 1, **content}
                )
            except Exception as error:
                if not is_duplicate_key(error):
                    raise
                return False
            return True
        revision = int(board["revision"])
        replaced = await boards.replace_one(
            {"_id": board_id, "revision": revision},
            {"_id": board_id, "board": name, "key": key, "revision": revision + 1} | content,
        )
        return bool(replaced.matched_count)

    async def board(self, name: str, key: str) -> Document:
        """A board's content, refreshed first if a fold marked it pending. A board no fold
        has written yet (no row counted in it, or the period has not been touched since the
        rows that count in it were folded) is summarised from its rows now: an indexed read
        of rows, never of events."""
        here = self._here()
        board_id = f"{name}:{key}"
        await here._refresh_pending_of({"$eq": board_id})
        found = await here._board_documents.find_one({"_id": board_id})
        if found is None:
            spec = here.boards[name]
            rows = [row async for row in here.documents.find(spec.select(key))]
            return spec.summarise(key, rows)
        return _content(found)

    async def board_history(self, name: str, key: str) -> tuple[Document, list[Document]]:
        """A board and every earlier board of its granularity, oldest first (for figures
        kept as flows per period, whose "as of" values are the sum of the flows before):
        one range read of board documents, after settling those pending in the range."""
        here = self._here()
        granularity, _, _ = key.partition(":")
        earlier = {"$gte": f"{name}:{granularity}:", "$lt": f"{name}:{key}"}
        await here._refresh_pending_of(earlier)
        current = await here.board(name, key)
        found = here._board_documents.find({"_id": earlier}).sort("_id", 1)
        return current, [_content(board) async for board in found]

    async def drop(self) -> None:
        await super().drop()
        if self.generation == 0:
            await self._board_documents.delete_many({"board": {"$in": sorted(self.boards)}})


def _changes_any(before: Document, after: Document, ignores: frozenset[str]) -> bool:
    """Whether a fold from ``before`` to ``after`` changed a field outside ``ignores`` (added,
    removed or given a new value; absent and None are alike), found at the first such."""
    for name, value in after.items():
        if name not in ignores and before.get(name) != value:
            return True
    return any(
        value is not None and name not in after and name not in ignores
        for name, value in before.items()
    )


def _keys_by_board(boards: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The keys of each board name among ``(name, key)`` pairs, names and keys sorted."""
    keys: dict[str, set[str]] = defaultdict(set)
    for name, key in boards:
        keys[name].add(key)
    return {name: sorted(keys[name]) for name in sorted(keys)}


async def keep_settled(
    projectors: Iterable[Projector],
    stop: asyncio.Event,
    *,
    every: float = SETTLE_SECONDS,
    lease: Lease | None = None,
) -> None:
    """Refresh the boards the live folds marked pending, every ``every`` seconds, until
    ``stop``; a round that took long waits so that refreshing takes ``SETTLE_SHARE`` of
    the time at most. With a ``lease``, only the replica holding it refreshes (the marks
    are shared, so one settler serves every consumer of the group; a second one would
    only repeat its work, harmlessly, if a holder paused past its lease)."""
    rows = [projector for projector in projectors if isinstance(projector, RowsProjector)]
    while not stop.is_set():
        started = time.monotonic()
        try:
            settling = lease is None or await lease.hold()
        except Exception as error:  # the store may be down: the marks wait
            _log.warning("settle lease unavailable; will retry", error=str(error))
            settling = False
        for projector in rows if settling else ():
            try:
                await projector.refresh_pending()
            except Exception as error:  # the store may be down: the marks wait
                _log.warning("board refresh failed; will retry", error=str(error))
        took = time.monotonic() - started
        pause = max(every, took * (1 - SETTLE_SHARE) / SETTLE_SHARE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)


def _matches_id(board_id: str, query: dict[str, Any]) -> bool:
    """``query`` (``$eq``, or ``$gte`` and ``$lt``) on a board id, as the store evaluates it."""
    if "$eq" in query:
        return bool(board_id == query["$eq"])
    return bool(query["$gte"] <= board_id < query["$lt"])


def _content(found: Document) -> Document:
    return {k: v for k, v in found.items() if k not in ("_id", "board", "key", "revision")}
