"""Receivables by rep: one document per owning sales rep, so finance can remind them.

An order's stream names its owner when the order is placed (and the owner of
an order never changes in the pipeline); payments and settlements name nobody,
so the stream's owner is learnt from its first event. The document keeps a row
per open receivable; a settled one disappears. Its totals per currency and
counts are recomputed from the rows after every event. The rep's team is the
one named by the newest event (by time, then id), so any interleaving of the
rep's order streams agrees.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.domain.deals import Row, order_change, with_row
from crm_projections.domain.money import by_currency
from crm_projections.domain.streams import (
    Document,
    ReadModel,
    StreamKind,
    Target,
    named,
    stamped,
    stream_kind,
    utc,
)

SHOWN = ("order_id", "customer_id", "total", "balance", "currency", "due_date", "overdue")


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    if stream_kind(event) is StreamKind.ORDER:
        return Target(named(event, "owner_id"), learnt=True)
    return None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    current = stamped(document, metadata)
    change = order_change(event)
    if change is None:
        return current
    order_id = str(named(event, "order_id"))
    rows: dict[str, Row] = with_row(
        document.get("receivables", {}), order_id, change, creates="order_id" in change
    )
    if rows.get(order_id, {}).get("settled"):
        rows = {key: row for key, row in rows.items() if key != order_id}
    current["receivables"] = rows
    current |= _team(document, metadata, event)
    current |= summary(rows)
    return current


def _team(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    if "team" not in type(event).model_fields:
        return {}
    seen = document.get("team_as_of")
    if seen is not None and (utc(seen[0]), seen[1]) > (utc(metadata.time), metadata.id):
        return {}
    return {"team": getattr(event, "team", None), "team_as_of": [metadata.time, metadata.id]}


def summary(rows: dict[str, Row]) -> Document:
    overdue = [row for row in rows.values() if row["overdue"]]
    return {
        "open_total": by_currency((row["currency"], row["balance"]) for row in rows.values()),
        "overdue_total": by_currency((row["currency"], row["balance"]) for row in overdue),
        "open_count": len(rows),
        "overdue_count": len(overdue),
    }


def empty(owner_id: str) -> Document:
    return {
        "_id": owner_id,
        "owner_id": owner_id,
        "team": None,
        "streams": {},
        "revision": 0,
    }


MODEL = ReadModel(
    name="receivables_by_rep",
    target=target,
    project=project,
    empty=empty,
    routes_field="owner_id",
)


def public_view(document: Document) -> dict[str, Any]:
    """One rep's open receivables, oldest due first, and their totals."""
    rows = sorted(
        document.get("receivables", {}).values(), key=lambda r: (r["due_date"], r["order_id"])
    )
    return {
        "owner_id": document["owner_id"],
        "team": document.get("team"),
        "receivables": [{field: row[field] for field in SHOWN} for row in rows],
        "open_total": document.get("open_total", {}),
        "overdue_total": document.get("overdue_total", {}),
        "open_count": document.get("open_count", 0),
        "overdue_count": document.get("overdue_count", 0),
        "updated_at": document.get("updated_at"),
    }


def combined(views: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over several reps' views (per currency, never across currencies)."""
    return {
        "open_total": by_currency(
            (cur, amount) for view in views for cur, amount in view["open_total"].items()
        ),
        "overdue_total": by_currency(
            (cur, amount) for view in views for cur, amount in view["overdue_total"].items()
        ),
        "open_count": sum(view["open_count"] for view in views),
        "overdue_count": sum(view["overdue_count"] for view in views),
    }
