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

Merges are read through at query time, never folded across documents: each
document stays a pure fold of its own streams (a duplicate's pipeline streams
keep naming the duplicate). ``with_merged`` combines a survivor's public view
with the views of the documents merged into it (``merged_from``, recursively).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.domain.customer_loyalty import loyalty_changes, loyalty_view
from crm_projections.domain.customer_profile import INTERACTIONS_SHOWN, profile_changes
from crm_projections.domain.customer_sales import RECENT_ORDERS, recent_orders, sales_changes
from crm_projections.domain.customer_service import RECENT_TICKETS, service_changes
from crm_projections.domain.money import by_currency
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
    utc,
)

__all__ = [
    "MODEL",
    "Document",
    "Order",
    "check_order",
    "combined",
    "customer_id_of",
    "merged_ids",
    "project",
    "public_view",
    "stream_key",
    "target",
    "with_merged",
]

SALES_STREAMS = frozenset({StreamKind.OPPORTUNITY, StreamKind.QUOTE, StreamKind.ORDER})
OWN_STREAMS = frozenset({StreamKind.CUSTOMER, StreamKind.MEMBER})
"""Streams of the customer (contacts) and of its membership (loyalty): every event names it."""
FOLDED = OWN_STREAMS | SALES_STREAMS | {StreamKind.TICKET}


def customer_id_of(event: DomainEvent) -> str | None:
    """The customer an event of a folded stream names (None: it names none, or is not ours)."""
    if stream_kind(event) in FOLDED:
        return named(event, "customer_id")
    return None


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    """Tickets name their customer in every event, but their route is learnt all the same:
    the agent's view of a ticket finds its customer by the ticket's stream."""
    kind = stream_kind(event)
    if kind in OWN_STREAMS:
        return Target(named(event, "customer_id"))
    if kind in SALES_STREAMS or kind is StreamKind.TICKET:
        return Target(named(event, "customer_id"), learnt=True)
    return None


def project(document: Document | None, metadata: EventMetadata, event: DomainEvent) -> Document:
    """The document after ``event``; call only when check_order says NEXT."""
    kind = stream_kind(event)
    if kind not in FOLDED:
        raise ValueError(f"{metadata.type} does not belong to the customer 360")
    if document is None:
        customer_id = customer_id_of(event)
        if customer_id is None:
            raise ValueError(f"{metadata.type} names no customer: fold it into its stream's")
        document = empty(customer_id)
    current = stamped(document, metadata)
    if kind is StreamKind.CUSTOMER:
        current |= profile_changes(document, metadata, event)
    elif kind is StreamKind.MEMBER:
        current |= loyalty_changes(document, event)
    elif kind is StreamKind.TICKET:
        current |= service_changes(document, event)
    else:
        current |= sales_changes(document, event)
    return current


def empty(customer_id: str) -> Document:
    return {"_id": customer_id, "customer_id": customer_id, "streams": {}, "revision": 0}


BOOKKEEPING = frozenset(
    {"_id", "customer_id", "streams", "revision", "updated_at", "last_event_id"}
)
"""The fields ``stamped`` and ``empty`` keep, which every stream's events change; every
other field belongs to the section of one kind of stream."""


def combined(parts: Sequence[Document]) -> Document:
    """One customer's document from ``parts``, each folded from streams no other part
    folded: what folding all their events gives, in any interleaving. The streams' positions
    are joined, the revisions (one per event folded) added, the latest event is the latest of
    all (``stamped``), and each section comes from the one part holding it. Parts of two
    customers, two parts that folded one stream, or two that hold one section are refused
    (ValueError): their streams were not split by kind."""
    if not parts:
        raise ValueError("no parts to combine")
    first = parts[0]
    if any(part["_id"] != first["_id"] for part in parts):
        raise ValueError(f"parts of {sorted({str(part['_id']) for part in parts})} combined")
    whole: Document = {**empty(first["customer_id"])}
    streams: dict[str, int] = {}
    for part in parts:
        shared = streams.keys() & part.get("streams", {}).keys()
        if shared:
            raise ValueError(f"{first['_id']}: two parts folded {sorted(shared)}")
        streams.update(part.get("streams", {}))
        whole["revision"] += int(part.get("revision", 0))
        latest = part.get("updated_at"), part.get("last_event_id")
        held = whole.get("updated_at"), whole.get("last_event_id")
        if latest[0] is not None and (
            held[0] is None or (utc(latest[0]), latest[1]) > (utc(held[0]), held[1])
        ):
            whole["updated_at"], whole["last_event_id"] = latest
        for field, value in part.items():
            if field in BOOKKEEPING:
                continue
            if field in whole:
                raise ValueError(f"{first['_id']}: two parts hold {field!r}")
            whole[field] = value
    whole["streams"] = streams
    return whole


MODEL = ReadModel(
    name="customer360",
    target=target,
    project=project,
    empty=empty,
    routes_field="customer_id",
    combine=combined,
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
            "recent": recent_orders(document.get("orders") or {}),
        },
        "receivables": {
            "items": receivables.get("items", []),
            "open_balance": receivables.get("open_balance", {}),
            "overdue_balance": receivables.get("overdue_balance", {}),
        },
        "latest_interactions": document.get("interactions", []),
        "last_interaction_at": document.get("last_interaction_at"),
        "service": {
            "open_tickets": document.get("open_tickets", []),
            "recent_tickets": document.get("recent_tickets", []),
            "ticket_count": document.get("ticket_count", 0),
            "last_csat": document.get("last_csat"),
            "previous_csat": document.get("previous_csat"),
            "sla_breaches": document.get("sla_breaches", {"count": 0, "open": []}),
        },
        "loyalty": loyalty_view(document),
        "assignees": document.get("assignees", []),
        "churn_signals": [
            *document.get("churn_signals", []),
            *document.get("service_signals", []),
        ],
        "merged_into": document.get("merged_into"),
        "merged_from": document.get("merged_from", []),
        "erased": "erased_at" in document,
        "registered_at": document.get("registered_at"),
        "updated_at": document.get("updated_at"),
        "last_event_id": document.get("last_event_id"),
        "streams": document.get("streams", {}),
    }


SIGNALS = ("order_unpaid_after_48_hours", "receivable_overdue", "complaint_past_sla")


def merged_ids(view: Mapping[str, Any], views: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every customer merged into ``view``'s, directly or through another duplicate, in
    breadth-first order; ids without a view in ``views`` are skipped (their ``merged_from``
    cannot be read), cycles and the survivor itself are ignored."""
    seen = {view["customer_id"]}
    found: list[str] = []
    queue = list(view.get("merged_from") or [])
    while queue:
        customer_id = queue.pop(0)
        if customer_id in seen or customer_id not in views:
            continue
        seen.add(customer_id)
        found.append(customer_id)
        queue.extend(views[customer_id].get("merged_from") or [])
    return found


def with_merged(
    survivor: Mapping[str, Any], views: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The survivor's public view with the sales sections, interactions and churn signals
    of every view merged into it (see ``merged_ids``) combined into its own.

    Sums stay per currency (exact, as strings); orders are counted over all and the last
    placed is the latest; interactions are the newest ``INTERACTIONS_SHOWN`` of all.
    Everything else (profile, owner, stage, tags, streams...) stays the survivor's.
    Pure: ``views`` maps customer id -> public view, as fetched by the caller."""
    merged = [views[customer_id] for customer_id in merged_ids(survivor, views)]
    if not merged:
        return dict(survivor)
    every = [survivor, *merged]
    opportunities = sorted(
        (o for v in every for o in v["open_opportunities"]),
        key=lambda o: (o["expected_close_date"], o["opportunity_id"]),
    )
    items = sorted(
        (r for v in every for r in v["receivables"]["items"]),
        key=lambda r: (r["due_date"], r["order_id"]),
    )
    placed = [v["orders"]["last_placed_at"] for v in every if v["orders"]["last_placed_at"]]
    interactions = sorted(
        (i for v in every for i in v["latest_interactions"]),
        key=lambda i: (_moment(i["at"]), i["interaction_id"]),
        reverse=True,
    )
    signals = [s for v in every for s in v["churn_signals"]]
    return {
        **survivor,
        "open_opportunities": opportunities,
        "revenue_won": _summed(every, lambda v: v["revenue_won"]),
        "orders": {
            "count": sum(v["orders"]["count"] for v in every),
            "last_placed_at": max(placed, key=_moment, default=None),
            "recent": sorted(
                (o for v in every for o in v["orders"]["recent"]),
                key=lambda o: (_moment(o["placed_at"]), o["order_id"]),
                reverse=True,
            )[:RECENT_ORDERS],
        },
        "service": _service_merged(every),
        "assignees": sorted({a for v in every for a in v["assignees"]}),
        "receivables": {
            "items": items,
            "open_balance": _summed(every, lambda v: v["receivables"]["open_balance"]),
            "overdue_balance": _summed(every, lambda v: v["receivables"]["overdue_balance"]),
        },
        "latest_interactions": interactions[:INTERACTIONS_SHOWN],
        "last_interaction_at": max(
            (v["last_interaction_at"] for v in every if v["last_interaction_at"]),
            key=_moment,
            default=None,
        ),
        "churn_signals": sorted(
            signals,
            key=lambda s: SIGNALS.index(s["signal"]) if s["signal"] in SIGNALS else len(SIGNALS),
        ),
    }


def _service_merged(views: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Tickets of every merged view: open ones by opening, the newest recent ones, the
    latest survey answered, breaches counted over all."""
    service = [v["service"] for v in views]
    surveys = sorted(
        (c for s in service for c in (s["last_csat"], s["previous_csat"]) if c),
        key=lambda c: (_moment(c["answered_at"]), c["ticket_id"]),
        reverse=True,
    )
    return {
        "open_tickets": sorted(
            (t for s in service for t in s["open_tickets"]),
            key=lambda t: (_moment(t["opened_at"]), t["ticket_id"]),
        ),
        "recent_tickets": sorted(
            (t for s in service for t in s["recent_tickets"]),
            key=lambda t: (_moment(t["opened_at"]), t["ticket_id"]),
            reverse=True,
        )[:RECENT_TICKETS],
        "ticket_count": sum(s["ticket_count"] for s in service),
        "last_csat": surveys[0] if surveys else None,
        "previous_csat": surveys[1] if len(surveys) > 1 else None,
        "sla_breaches": {
            "count": sum(s["sla_breaches"]["count"] for s in service),
            "open": sorted(
                (b for s in service for b in s["sla_breaches"]["open"]),
                key=lambda b: (_moment(b["due"]), b["ticket_id"], b["target"]),
            ),
        },
    }


def _summed(
    views: list[Mapping[str, Any]], amounts: Callable[[Mapping[str, Any]], dict[str, str]]
) -> dict[str, str]:
    """Per-currency sums of one section over several views."""
    return by_currency((cur, amount) for v in views for cur, amount in amounts(v).items())


def _moment(value: datetime | str) -> datetime:
    """A stored time (a datetime, or its ISO text), comparable with any other."""
    return utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
