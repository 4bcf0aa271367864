"""Source streams as the read models see them: their kind, their order, where they fold to.

Every read-model document records, per source stream, the last sequence it
folded (``document['streams']``); ``check_order`` says whether an event is new,
already seen, or ahead of its predecessor. A read model says where an event goes
with a ``Target``: the document the event names, or, for a stream whose later
events name nobody (a quote is sent, a payment arrives), the document the stream
named first: the projector remembers that per stream (``learnt``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, TypeVar

from crm_contracts import REGISTRY, DomainEvent, EventMetadata
from crm_contracts import loyalty as lo
from crm_contracts import pipeline as p
from crm_contracts import tickets as t

Document = dict[str, Any]


class Order(Enum):
    NEXT = "next"
    DUPLICATE = "duplicate"
    GAP = "gap"


class StreamKind(StrEnum):
    CUSTOMER = "customer"
    LEAD = "lead"
    OPPORTUNITY = "opportunity"
    QUOTE = "quote"
    ORDER = "order"
    TICKET = "ticket"
    MEMBER = "member"
    STORE = "store"


PIPELINE_KINDS: dict[type[DomainEvent], StreamKind] = {
    **dict.fromkeys((p.LeadCaptured, p.LeadQualified, p.LeadDisqualified), StreamKind.LEAD),
    **dict.fromkeys(
        (
            p.OpportunityOpened,
            p.OpportunityStageMoved,
            p.OpportunityAmountChanged,
            p.OpportunityCloseDateChanged,
            p.OpportunityWon,
            p.OpportunityLost,
            p.OpportunityReopened,
            p.OpportunityReassigned,
        ),
        StreamKind.OPPORTUNITY,
    ),
    **dict.fromkeys(
        (p.QuoteDrafted, p.QuoteSent, p.QuoteAccepted, p.QuoteRejected), StreamKind.QUOTE
    ),
    **dict.fromkeys(
        (
            p.OrderPlaced,
            p.ReceivableOpened,
            p.PaymentReceived,
            p.ReceivableSettled,
            p.ReceivableOverdue,
            p.OrderUnpaidAfter48Hours,
            p.PaymentRefunded,
        ),
        StreamKind.ORDER,
    ),
}


def stream_kind(event: DomainEvent) -> StreamKind | None:
    """The kind of stream an event belongs to; None for streams no read model folds
    (a contacts handover, another context's events)."""
    return _kind_of(type(event))


@functools.cache
def _kind_of(kind: type[DomainEvent]) -> StreamKind | None:
    """``stream_kind`` by the event's class (it depends on nothing else)."""
    known = PIPELINE_KINDS.get(kind)
    if known is not None:
        return known
    if issubclass(kind, t.TicketEvent):
        return StreamKind.TICKET
    if issubclass(kind, lo.StoreOpened):
        return StreamKind.STORE
    event_type = kind.event_type
    if event_type.startswith("crm.loyalty.") and "customer_id" in kind.model_fields:
        return StreamKind.MEMBER  # every event of a member's stream names the customer
    if event_type.startswith("crm.contacts.") and "customer_id" in kind.model_fields:
        return StreamKind.CUSTOMER  # every event of a customer's stream names the customer
    return None


def named(event: DomainEvent, field: str) -> str | None:
    """The id the event names in ``field`` (customer_id, owner_id...), if it has one (read
    from the event's fields: ``getattr`` of a field an event lacks costs pydantic an
    exception)."""
    value = event.__dict__.get(field)
    return value if isinstance(value, str) else None


def recounted(old: Mapping[K, int], new: Mapping[K, int]) -> list[K]:
    """The keys counted a different number of times in ``old`` and ``new`` (what one side
    has more of than the other: ``(new - old) + (old - new)`` of two Counters, each key
    once), cheaper than the Counters' own arithmetic."""
    changed = [key for key, count in new.items() if old.get(key, 0) != count]
    changed.extend(key for key, count in old.items() if key not in new and count)
    return changed


def tally(items: Iterable[K]) -> dict[K, int]:
    """How many times each of ``items`` occurs: a Counter's counts, at a third of the cost of
    building one (folds count a row's facts twice per event)."""
    counts: dict[K, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


K = TypeVar("K")


def stream_key(metadata: EventMetadata) -> str:
    """Key of the event's source stream inside ``document['streams']``. Each fold of an event
    asks for it several times (its order, its stamp, its route, in every read model folding
    it), so the last event's key is kept: the metadata is immutable."""
    last, key = _LAST_KEY[0]
    if last is metadata:
        return key
    key = f"{_context_of(metadata.source)}:{metadata.subject}"
    _LAST_KEY[0] = (metadata, key)
    return key


_LAST_KEY: list[tuple[object, str]] = [(None, "")]


@functools.lru_cache(maxsize=64)
def _context_of(source: str) -> str:
    """``contacts`` of ``/crm/contacts``: the last segment of the source."""
    return source.rstrip("/").rsplit("/", 1)[-1]


def check_order(document: Document | None, metadata: EventMetadata) -> Order:
    seen = 0 if document is None else int(document.get("streams", {}).get(stream_key(metadata), 0))
    if metadata.sequence <= seen:
        return Order.DUPLICATE
    if metadata.sequence == seen + 1:
        return Order.NEXT
    return Order.GAP


def stamped(document: Document, metadata: EventMetadata) -> Document:
    """A copy of ``document`` with the event's bookkeeping: stream position, revision, and
    the latest event folded (by time, then id, so any interleaving of streams agrees)."""
    current = dict(document)
    current["streams"] = {**current.get("streams", {}), stream_key(metadata): metadata.sequence}
    current["revision"] = int(current.get("revision", 0)) + 1
    latest = current.get("updated_at"), current.get("last_event_id")
    if latest[0] is None or (utc(metadata.time), metadata.id) > (utc(latest[0]), latest[1]):
        current["updated_at"] = metadata.time
        current["last_event_id"] = metadata.id
    return current


def utc(moment: datetime) -> datetime:
    """The contract's times are UTC; some senders omit the offset."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Target:
    """Where an event folds: ``document_id`` named by the event (None: it names none), and
    whether the stream's document is ``learnt`` from its first event that names one."""

    document_id: str | None
    learnt: bool = False


@dataclass(frozen=True)
class ReadModel:
    """What the projector needs of a read model: all pure."""

    name: str
    target: Callable[[EventMetadata, DomainEvent], Target | None]
    """Where the event folds; None: not for this read model. Whether it is None depends on
    the event's type alone (``folded_types``), where it folds on its fields."""
    project: Callable[[Document, EventMetadata, DomainEvent], Document]
    """The next document; given the current one (``empty`` when new), never changing it."""
    empty: Callable[[str], Document]
    routes_field: str = "document_id"
    """Name of the learnt document id in the stream routes collection."""
    combine: Callable[[Sequence[Document]], Document] | None = None
    """One document from parts folded from disjoint sets of its streams (each stream's
    events in one part), equal to folding all of them; None: no such split. A rebuild in
    several jobs may fold such a read model's contexts in different processes."""


def folded_types(model: ReadModel) -> frozenset[str]:
    """The event types ``model`` folds, from the registry: its ``target`` asked about an
    event of each type whose every field is a placeholder (whether an event folds depends
    on its type alone; a property test checks that against real events)."""
    metadata = _placeholder(EventMetadata)
    return frozenset(
        event_type
        for event_type, kind in REGISTRY.types.items()
        if model.target(metadata, _placeholder(kind)) is not None
    )


def folded_contexts(model: ReadModel) -> frozenset[str]:
    """The contexts (``contacts``, ``pipeline``...) whose events ``model`` folds."""
    return frozenset(event_type.split(".")[1] for event_type in folded_types(model))


def _placeholder(kind: type[Any]) -> Any:
    """An instance of the pydantic model ``kind`` whose every field is ``"x"``, unvalidated."""
    construct: Any = kind.model_construct
    return construct(**dict.fromkeys(kind.model_fields, "x"))
