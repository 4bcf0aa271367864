"""The customer 360 read model: one document per customer, folded from events.

``project`` is pure: given the current document (or None) and one event, it
returns the next document. Idempotency lives in the document itself: it
records, per source stream, the last sequence it folded, and ``check_order``
says whether an event is new, already seen, or arrived before its predecessor.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts.contacts import (
    ERASED_NAME,
    CustomerDetailsChanged,
    CustomerErased,
    CustomerOwnerAssigned,
    CustomerRegistered,
)

Document = dict[str, Any]


class Order(Enum):
    NEXT = "next"
    DUPLICATE = "duplicate"
    GAP = "gap"


def stream_key(metadata: EventMetadata) -> str:
    """Key of the event's source stream inside ``document['streams']``."""
    context = metadata.source.rstrip("/").rsplit("/", 1)[-1]
    return f"{context}:{metadata.subject}"


def customer_id_of(event: DomainEvent) -> str | None:
    """Which customer document an event belongs to (None: not for this read model)."""
    if isinstance(
        event, CustomerRegistered | CustomerDetailsChanged | CustomerOwnerAssigned | CustomerErased
    ):
        return event.customer_id
    return None


def check_order(document: Document | None, metadata: EventMetadata) -> Order:
    seen = 0 if document is None else int(document.get("streams", {}).get(stream_key(metadata), 0))
    if metadata.sequence <= seen:
        return Order.DUPLICATE
    if metadata.sequence == seen + 1:
        return Order.NEXT
    return Order.GAP


def project(document: Document | None, metadata: EventMetadata, event: DomainEvent) -> Document:
    """The document after ``event``; call only when check_order says NEXT."""
    customer_id = customer_id_of(event)
    if customer_id is None:
        raise ValueError(f"{metadata.type} does not belong to the customer 360")
    current: Document = dict(document) if document else _empty(customer_id)
    current["streams"] = {**current.get("streams", {}), stream_key(metadata): metadata.sequence}
    current["revision"] = int(current.get("revision", 0)) + 1
    current["updated_at"] = metadata.time
    current["last_event_id"] = metadata.id
    match event:
        case CustomerRegistered():
            current["profile"] = {
                "name": event.name,
                "kind": event.kind.value,
                "email": event.email,
                "phone": event.phone,
            }
            current["registered_at"] = metadata.time
        case CustomerDetailsChanged():
            profile = dict(current.get("profile", {}))
            for field in ("name", "email", "phone"):
                value = getattr(event, field)
                if value is not None:
                    profile[field] = value
            for field in event.cleared:
                profile[field] = None
            current["profile"] = profile
        case CustomerOwnerAssigned():
            current["owner"] = {"owner_id": event.owner_id, "team": event.team}
        case CustomerErased():
            # Drop every personal detail; the id, owner and history positions stay.
            kind = current.get("profile", {}).get("kind")
            current["profile"] = {"name": ERASED_NAME, "kind": kind, "email": None, "phone": None}
            current["erased_at"] = metadata.time
    return current


def _empty(customer_id: str) -> Document:
    return {"_id": customer_id, "customer_id": customer_id, "streams": {}, "revision": 0}


def public_view(document: Document) -> dict[str, Any]:
    """What ``GET /views/customers/{id}`` answers."""
    return {
        "customer_id": document["customer_id"],
        "profile": document.get("profile"),
        "owner": document.get("owner"),
        "erased": "erased_at" in document,
        "registered_at": document.get("registered_at"),
        "updated_at": document.get("updated_at"),
        "last_event_id": document.get("last_event_id"),
        "streams": document.get("streams", {}),
    }
