"""The projector's discipline without a store, for the pure tests: route, check order, project."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.domain.streams import Document, Order, ReadModel, check_order, stream_key

Record = tuple[EventMetadata, DomainEvent]


class Unroutable(Exception):
    """The projector would answer OutOfOrder."""


@dataclass
class Folded:
    """One read model's documents and learnt stream routes, folded in memory."""

    model: ReadModel
    documents: dict[str, Document] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)

    def apply(self, metadata: EventMetadata, event: DomainEvent) -> str:
        target = self.model.target(metadata, event)
        if target is None:
            return "ignored"
        document_id = target.document_id
        if target.learnt:
            key = stream_key(metadata)
            if key not in self.routes and document_id is not None:
                self.routes[key] = document_id
            document_id = self.routes.get(key)
        if document_id is None:
            raise Unroutable(f"{metadata.type} of {stream_key(metadata)} names no document")
        document = self.documents.get(document_id)
        order = check_order(document, metadata)
        if order is Order.GAP:
            raise Unroutable(f"{metadata.type} {metadata.sequence} is ahead of its predecessor")
        if order is Order.DUPLICATE:
            return "duplicate"
        current = document if document is not None else self.model.empty(document_id)
        before = copy.deepcopy(current)
        self.documents[document_id] = self.model.project(current, metadata, event)
        assert current == before, "project changed the document it was given"
        return "applied"

    def fold(self, records: Iterable[Record]) -> Folded:
        for metadata, event in records:
            self.apply(metadata, event)
        return self


def folded(model: ReadModel, *streams: Iterable[Record]) -> dict[str, Document]:
    """The documents after each stream in turn (a plain, duplicate-free history)."""
    state = Folded(model)
    for records in streams:
        state.fold(records)
    return state.documents
