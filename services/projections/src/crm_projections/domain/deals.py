"""What one pipeline event says about its opportunity or its order's receivable.

Shared by the read models that keep a row per opportunity (customer 360,
forecast) or per order (customer 360, receivables by rep): each event becomes
the fields of the row it changes, so every model reads the contract the same way.
Money is kept as exact strings (see ``money``), dates as ISO strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm_contracts import DomainEvent
from crm_contracts import pipeline as p
from crm_projections.domain.money import money
from crm_projections.domain.streams import utc

Row = dict[str, Any]


def opportunity_change(event: DomainEvent) -> Row | None:
    """The fields of the opportunity's row the event sets; None for other events."""
    match event:
        case p.OpportunityOpened():
            return {
                "opportunity_id": event.opportunity_id,
                "customer_id": event.customer_id,
                "title": event.title,
                "amount": money(event.amount),
                "currency": event.currency,
                "stage": event.stage.value,
                "probability": event.probability,
                "expected_close_date": event.expected_close_date.isoformat(),
                "owner_id": event.owner_id,
                "team": event.team,
                "status": "open",
            }
        case p.OpportunityStageMoved():
            return {"stage": event.to_stage.value, "probability": event.probability}
        case p.OpportunityAmountChanged():
            return {"amount": money(event.amount), "currency": event.currency}
        case p.OpportunityCloseDateChanged():
            return {"expected_close_date": event.expected_close_date.isoformat()}
        case p.OpportunityWon():
            return {
                "status": "won",
                "stage": p.Stage.WON.value,
                "probability": event.probability,
                "amount": money(event.amount),
                "currency": event.currency,
                "owner_id": event.owner_id,
                "team": event.team,
            }
        case p.OpportunityLost():
            return {
                "status": "lost",
                "stage": p.Stage.LOST.value,
                "probability": event.probability,
                "owner_id": event.owner_id,
                "team": event.team,
            }
        case p.OpportunityReopened():
            return {"status": "open", "stage": event.stage.value, "probability": event.probability}
        case p.OpportunityReassigned():
            return {"owner_id": event.owner_id, "team": event.team}
    return None


def order_change(event: DomainEvent) -> Row | None:
    """The fields of the order's row (its receivable) the event sets; None for other events.

    The receivable is open from the order until it is settled; ``overdue`` and
    ``unpaid_after_48_hours`` are the pipeline's flags, raised once each.
    """
    match event:
        case p.OrderPlaced():
            return {
                "order_id": event.order_id,
                "customer_id": event.customer_id,
                "owner_id": event.owner_id,
                "team": event.team,
                "total": money(event.total),
                "currency": event.currency,
                "balance": money(event.total),
                "placed_at": utc(event.placed_at),
                "due_date": event.payment_due_date.isoformat(),
                "overdue": False,
                "unpaid_after_48_hours": False,
                "settled": False,
            }
        case p.ReceivableOpened():
            return {
                "balance": money(event.amount),
                "currency": event.currency,
                "due_date": event.due_date.isoformat(),
            }
        case p.PaymentReceived():
            return {"balance": money(event.balance_after)}
        case p.ReceivableSettled():
            return {"balance": money(Decimal(0)), "settled": True, "overdue": False}
        case p.ReceivableOverdue():
            return {"overdue": True, "balance": money(event.balance)}
        case p.OrderUnpaidAfter48Hours():
            return {"unpaid_after_48_hours": True, "balance": money(event.balance)}
    return None


def with_row(rows: dict[str, Row], row_id: str, change: Row, *, creates: bool) -> dict[str, Row]:
    """A copy of ``rows`` with the change merged into ``rows[row_id]``; a change to a row
    that does not exist is dropped unless the event ``creates`` it (its stream's first)."""
    if row_id not in rows and not creates:
        return rows
    return {**rows, row_id: {**rows.get(row_id, {}), **change}}


def is_open(order: Row) -> bool:
    return not order.get("settled", False)


def unpaid(order: Row) -> bool:
    """Flagged unpaid after 48 hours, and still nothing paid."""
    return (
        is_open(order)
        and bool(order.get("unpaid_after_48_hours"))
        and Decimal(order["balance"]) >= Decimal(order["total"])
    )
