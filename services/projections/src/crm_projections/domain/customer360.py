"""The customer 360 read model: one document per customer, folded from events.

``project`` is pure: given the current document (or None) and one event, it
returns the next document. Idempotency lives in the document itself: it
records, per source stream, the last sequence it folded, and ``check_order``
says whether an event is new, already seen, or arrived before its predecessor.

What folds in: every event of the customer's contacts stream (those the view
does not show still move the stream's position, so it stays gap-free), and
every event of the pipeline's opportunity, quote and order streams of the
customer: they name the customer in their first event only, so ``target``
asks the projector to learn the stream's customer from it. Leads are not
folded (a lead may have no customer yet). Whichever stream comes first
creates the document: pipeline events may overtake the registration.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.domain.customer_profile import profile_changes
from crm_projections.domain.customer_sales import sales_changes
from crm_projections.domain.streams import (
    Document,
    Order,
    ReadModel,
    StreamKind,
    Target,
    check_order,
    named,
    stamped,
    stream_key,
    stream_kind,
)

__all__ = [
    "MODEL",
    "Document",
    "Order",
    "check_order",
    "customer_id_of",
    "project",
    "public_view",
    "stream_key",
    "target",
]

SALES_STREAMS = frozenset({StreamKind.OPPORTUNITY, StreamKind.QUOTE, StreamKind.ORDER})


def customer_id_of(event: DomainEvent) -> str | None:
    """The customer an event of a folded stream names (None: it names none, or is not ours)."""
    kind = stream_kind(event)
    if kind is StreamKind.CUSTOMER or kind in SALES_STREAMS:
        return named(event, "customer_id")
    return None


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    kind = stream_kind(event)
    if kind is StreamKind.CUSTOMER:
        return Target(named(event, "customer_id"))
    if kind in SALES_STREAMS:
        return Target(named(event, "customer_id"), learnt=True)
    return None


def project(document: Document | None, metadata: EventMetadata, event: DomainEvent) -> Document:
    """The document after ``event``; call only when check_order says NEXT."""
    kind = stream_kind(event)
    if kind is not StreamKind.CUSTOMER and kind not in SALES_STREAMS:
        raise ValueError(f"{metadata.type} does not belong to the customer 360")
    if document is None:
        customer_id = customer_id_of(event)
        if customer_id is None:
            raise ValueError(f"{metadata.type} names no customer: fold it into its stream's")
        document = empty(customer_id)
    current = stamped(document, metadata)
    if kind is StreamKind.CUSTOMER:
        current |= profile_changes(document, metadata, event)
    else:
        current |= sales_changes(document, event)
    return current


def empty(customer_id: str) -> Document:
    return {"_id": customer_id, "customer_id": customer_id, "streams": {}, "revision": 0}


MODEL = ReadModel(
    name="customer360", target=target, project=project, empty=empty, routes_field="customer_id"
)


def public_view(document: Document) -> dict[str, Any]:
    """What ``GET /views/customers/{id}`` answers (before masking)."""
    receivables = document.get("receivables") or {}
    return {
        "customer_id": document["customer_id"],
        "profile": document.get("profile"),
        "owner": document.get("owner"),
        "lifecycle_stage": document.get("lifecycle_stage"),
        "classification": document.get("classification"),
        "segments": document.get("segments", []),
        "value_tier": document.get("value_tier"),
        "tags": document.get("tags", []),
        "open_opportunities": document.get("open_opportunities", []),
        "revenue_won": document.get("revenue_won", {}),
        "orders": {
            "count": document.get("order_count", 0),
            "last_placed_at": document.get("last_order_at"),
        },
        "receivables": {
            "items": receivables.get("items", []),
            "open_balance": receivables.get("open_balance", {}),
            "overdue_balance": receivables.get("overdue_balance", {}),
        },
        "latest_interactions": document.get("interactions", []),
        "churn_signals": document.get("churn_signals", []),
        "merged_into": document.get("merged_into"),
        "merged_from": document.get("merged_from", []),
        "erased": "erased_at" in document,
        "registered_at": document.get("registered_at"),
        "updated_at": document.get("updated_at"),
        "last_event_id": document.get("last_event_id"),
        "streams": document.get("streams", {}),
    }
