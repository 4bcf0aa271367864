"""Rows and their boards folded in memory, the way ``RowsProjector`` keeps them, for the pure
tests of the service and loyalty boards.

After every event folded (and again after a redelivery, as the projector does), every board
key of the row before and after it is summarised again from the rows the key's ``select``
picks; the select is evaluated by the in-memory store's own matcher (Mongo semantics: ranges
on datetimes, a scalar matching inside an array). In rebuild mode the keys are collected and
summarised once at the end. ``from_scratch`` summarises every key any final row counts in.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from projection_folding import Folded, Record

from crm_projections.application.boards import BoardSpec
from crm_projections.domain.streams import Document, ReadModel, stream_key
from crm_runtime.embedded_query import matches

BoardKey = tuple[str, str]


@dataclass
class FoldedBoards:
    model: ReadModel
    specs: Sequence[BoardSpec]
    rebuilding: bool = False
    rows: Folded = field(init=False)
    boards: dict[BoardKey, Document] = field(default_factory=dict)
    deferred: set[BoardKey] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rows = Folded(self.model)

    def apply(self, metadata: Any, event: Any) -> str:
        target = self.model.target(metadata, event)
        document_id = None if target is None else target.document_id
        before = copy.deepcopy(self.rows.documents.get(document_id)) if document_id else None
        outcome = self.rows.apply(metadata, event)
        if outcome == "ignored":
            return outcome
        after = self.rows.documents.get(document_id) if document_id else None
        touched = {
            (spec.name, key)
            for spec in self.specs
            for row in (before, after)
            if row is not None
            for key in spec.keys(row)
        }
        if self.rebuilding:
            self.deferred |= touched
        else:
            for name, key in sorted(touched):
                self.refresh(name, key)
        return outcome

    def fold(self, records: Iterable[Record]) -> FoldedBoards:
        for metadata, event in records:
            self.apply(metadata, event)
        return self

    def end_rebuild(self) -> FoldedBoards:
        touched, self.deferred, self.rebuilding = self.deferred, set(), False
        for name, key in sorted(touched):
            self.refresh(name, key)
        return self

    def spec(self, name: str) -> BoardSpec:
        return next(spec for spec in self.specs if spec.name == name)

    def selected(self, name: str, key: str) -> list[Document]:
        query = self.spec(name).select(key)
        return [row for row in self.rows.documents.values() if matches(row, query)]

    def refresh(self, name: str, key: str) -> None:
        self.boards[(name, key)] = self.spec(name).summarise(key, self.selected(name, key))

    def summary(self, name: str, key: str) -> Document:
        """What the board of ``key`` should say now: its rows summarised (in reverse order,
        as a summary may not depend on the order of its rows)."""
        return self.spec(name).summarise(key, list(reversed(self.selected(name, key))))

    def keys(self, name: str) -> set[str]:
        spec = self.spec(name)
        return {key for row in self.rows.documents.values() for key in spec.keys(row)}

    def from_scratch(self, name: str) -> dict[str, Document]:
        return {key: self.summary(name, key) for key in sorted(self.keys(name))}


def at_least_once(data: st.DataObject, streams: dict[str, list[Record]]) -> list[Record]:
    """Interleave the streams, redeliver suffixes of what a stream already delivered (a
    consumer restarting from an older offset), then replay everything."""
    pending = {key: list(records) for key, records in streams.items()}
    delivered: dict[str, list[Record]] = {key: [] for key in streams}
    deliveries: list[Record] = []
    while any(pending.values()):
        key = data.draw(st.sampled_from(sorted(k for k, left in pending.items() if left)))
        record = pending[key].pop(0)
        delivered[key].append(record)
        deliveries.append(record)
        if data.draw(st.booleans()):
            start = data.draw(st.integers(0, len(delivered[key]) - 1))
            deliveries += delivered[key][start:]
    for records in streams.values():
        deliveries += records
    return deliveries


def in_time_order(
    data: st.DataObject, streams: dict[str, list[Record]], moment: Any
) -> list[Record]:
    """Every stream merged by the moment its events happened (``moment(event)``), with
    redeliveries of what a stream already delivered, then everything replayed."""
    merged = sorted(
        (record for records in streams.values() for record in records),
        key=lambda record: (moment(record[1]), stream_key(record[0]), record[0].sequence),
    )
    delivered: dict[str, list[Record]] = defaultdict(list)
    deliveries: list[Record] = []
    for record in merged:
        key = stream_key(record[0])
        delivered[key].append(record)
        deliveries.append(record)
        if data.draw(st.booleans()):
            start = data.draw(st.integers(0, len(delivered[key]) - 1))
            deliveries += delivered[key][start:]
    for records in streams.values():
        deliveries += records
    return deliveries
