"""The customer 360's sales side: opportunities, revenue won, orders, receivables, churn risk.

A row per opportunity and per order is kept (``opportunities``, ``orders``),
and the summaries the view shows are recomputed from those rows after every
event, so a redelivery or a reopened deal can never count twice: revenue won
is the sum of the deals that are won now, the open balance that of the orders
not settled now.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import DomainEvent
from crm_projections.domain.deals import (
    Row,
    is_open,
    opportunity_change,
    order_change,
    unpaid,
    with_row,
)
from crm_projections.domain.money import by_currency
from crm_projections.domain.streams import Document, named

OPPORTUNITY_SHOWN = (
    "opportunity_id",
    "title",
    "amount",
    "currency",
    "stage",
    "probability",
    "expected_close_date",
    "owner_id",
    "team",
)
RECEIVABLE_SHOWN = ("order_id", "total", "balance", "currency", "due_date", "overdue")
ORDER_SHOWN = ("order_id", "placed_at", "total", "balance", "currency", "due_date", "settled")
RECENT_ORDERS = 5


def sales_changes(document: Document, event: DomainEvent) -> Document:
    """The top-level fields a pipeline event sets (quotes change nothing shown)."""
    change = opportunity_change(event)
    if change is not None:
        opportunities = with_row(
            document.get("opportunities", {}),
            str(named(event, "opportunity_id")),
            change,
            creates="opportunity_id" in change,
        )
        return {"opportunities": opportunities, **opportunity_summary(opportunities)}
    change = order_change(event)
    if change is not None:
        orders = with_row(
            document.get("orders", {}),
            str(named(event, "order_id")),
            change,
            creates="order_id" in change,
        )
        return {"orders": orders, **order_summary(orders)}
    return {}


def opportunity_summary(opportunities: dict[str, Row]) -> Document:
    rows = sorted(
        opportunities.values(), key=lambda o: (o["expected_close_date"], o["opportunity_id"])
    )
    return {
        "open_opportunities": [
            {field: row[field] for field in OPPORTUNITY_SHOWN}
            for row in rows
            if row["status"] == "open"
        ],
        "revenue_won": by_currency(
            (row["currency"], row["amount"]) for row in rows if row["status"] == "won"
        ),
    }


def order_summary(orders: dict[str, Row]) -> Document:
    rows = sorted(orders.values(), key=lambda o: (o["due_date"], o["order_id"]))
    receivables = [row for row in rows if is_open(row)]
    signals: list[dict[str, Any]] = [
        {
            "signal": "order_unpaid_after_48_hours",
            "order_id": row["order_id"],
            "placed_at": row["placed_at"],
            "balance": row["balance"],
            "currency": row["currency"],
        }
        for row in receivables
        if unpaid(row)
    ]
    signals += [
        {
            "signal": "receivable_overdue",
            "order_id": row["order_id"],
            "due_date": row["due_date"],
            "balance": row["balance"],
            "currency": row["currency"],
        }
        for row in receivables
        if row["overdue"]
    ]
    return {
        "order_count": len(rows),
        "last_order_at": max((row["placed_at"] for row in rows), default=None),
        "receivables": {
            "items": [{field: row[field] for field in RECEIVABLE_SHOWN} for row in receivables],
            "open_balance": by_currency((row["currency"], row["balance"]) for row in receivables),
            "overdue_balance": by_currency(
                (row["currency"], row["balance"]) for row in receivables if row["overdue"]
            ),
        },
        "churn_signals": signals,
    }


def recent_orders(orders: dict[str, Row]) -> list[dict[str, Any]]:
    """The newest orders, for the agent who picks up the customer's ticket."""
    rows = sorted(orders.values(), key=lambda o: (o["placed_at"], o["order_id"]), reverse=True)
    return [{field: row.get(field) for field in ORDER_SHOWN} for row in rows[:RECENT_ORDERS]]
