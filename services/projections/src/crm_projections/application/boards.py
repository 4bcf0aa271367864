"""Boards: precomputed documents summarising rows, refreshed whenever a row changes.

A ``RowsProjector`` folds events into rows (one document per deal, ticket,
member... exactly once per stream sequence, like every read model here) and,
after each fold, refreshes every board document the row belongs to, before and
after the event (unless the fold changed only fields the board never reads,
e.g. the row's bookkeeping: ``BoardSpec.ignores``): a board is a pure summary
(``BoardSpec.summarise``) of the rows its key selects. Boards are written
compare-and-set on their revision, and a refresh reads the board's revision
before the rows, so of two racing refreshes the one that read older rows loses
and reads again: a board never ends older than its rows. A redelivered event
refreshes again (the first delivery may have crashed between the row and the
board). A rebuild defers the refreshes and summarises every board touched
once, at the end.

Generation 0 of every rows projector shares the ``boards`` collection (board ids
are ``<board>:<key>``, board names are unique); a rebuilt generation keeps its
boards in a collection of its own, built and dropped with its rows.

Queries read one board document (and the previous period's, for changes):
nothing is summed over events or rows at query time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from crm_projections.application.generations import collection_name
from crm_projections.application.projector import Projector
from crm_projections.domain.streams import Document, ReadModel
from crm_runtime.documents import is_duplicate_key

BOARDS = "boards"
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

    def reads_changed(self, before: Document, after: Document) -> bool:
        """Whether a fold from ``before`` to ``after`` changed a field this board reads."""
        return any(
            before.get(name) != after.get(name)
            for name in before.keys() | after.keys()
            if name not in self.ignores
        )


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

    def _pinned_here(self) -> None:
        self._deferred = None

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

    def bases(self) -> list[str]:
        return [*super().bases(), f"{self._collection}_{BOARDS}"]

    def collection_names(self) -> list[str]:
        names = super().collection_names()
        return names[:-1] if self.generation == 0 else names

    async def create_indexes(self) -> None:
        for spec in self.boards.values():
            for index in spec.indexes:
                await self.documents.create_index(list(index))

    async def folded(self, before: Document | None, after: Document | None) -> None:
        """Refresh the boards the row counts in, before and after. A first delivery that
        changed none of the fields a board reads skips that board; a redelivery (``before is
        after``) refreshes every one, since the first may have crashed before its refresh."""
        redelivery = before is after
        touched = {
            (spec.name, key)
            for spec in self.boards.values()
            if redelivery or before is None or after is None or spec.reads_changed(before, after)
            for row in (before, after)
            if row is not None
            for key in spec.keys(row)
        }
        if self._deferred is not None:
            self._deferred |= touched
            return
        for name, key in sorted(touched):
            await self.refresh(name, key)

    async def begin_rebuild(self) -> None:
        await super().begin_rebuild()
        self._here()._deferred = set()

    async def end_rebuild(self) -> None:
        await super().end_rebuild()  # the rows are written before the boards read them
        here = self._here()
        touched, here._deferred = here._deferred or set(), None
        for name, key in sorted(touched):
            await here.refresh(name, key)

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
                content = spec.summarise(key, rows)
                if board is None:
                    try:
                        await boards.insert_one(
                            {"_id": board_id, "board": name, "key": key, "revision": 1, **content}
                        )
                        return
                    except Exception as error:
                        if not is_duplicate_key(error):
                            raise
                        continue
                revision = int(board["revision"])
                replaced = await boards.replace_one(
                    {"_id": board_id, "revision": revision},
                    {"_id": board_id, "board": name, "key": key, "revision": revision + 1}
                    | content,
                )
                if replaced.matched_count:
                    return
        raise RuntimeError(f"board {board_id} kept changing under its refresh")

    async def board(self, name: str, key: str) -> Document:
        """A board's content. A board no fold has written yet (no row counted in it, or the
        period has not been touched since the rows that count in it were folded) is
        summarised from its rows now: an indexed read of rows, never of events."""
        found = await self._board_documents.find_one({"_id": f"{name}:{key}"})
        if found is None:
            spec = self.boards[name]
            rows = [row async for row in self.documents.find(spec.select(key))]
            return spec.summarise(key, rows)
        return _content(found)

    async def board_history(self, name: str, key: str) -> tuple[Document, list[Document]]:
        """A board and every earlier board of its granularity, oldest first (for figures
        kept as flows per period, whose "as of" values are the sum of the flows before):
        one range read of board documents."""
        granularity, _, _ = key.partition(":")
        earlier = self._board_documents.find(
            {"_id": {"$gte": f"{name}:{granularity}:", "$lt": f"{name}:{key}"}}
        ).sort("_id", 1)
        return await self.board(name, key), [_content(found) async for found in earlier]

    async def drop(self) -> None:
        await super().drop()
        if self.generation == 0:
            await self._board_documents.delete_many({"board": {"$in": sorted(self.boards)}})


def _content(found: Document) -> Document:
    return {k: v for k, v in found.items() if k not in ("_id", "board", "key", "revision")}
