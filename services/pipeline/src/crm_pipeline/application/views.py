"""How each aggregate answers: JSON-ready views (money as strings, dates as ISO 8601)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm_contracts.pipeline import CENT, Stage
from crm_pipeline.domain.lead import Lead
from crm_pipeline.domain.opportunity import Opportunity
from crm_pipeline.domain.order import Order
from crm_pipeline.domain.quote import Quote

LEAD_PERSONAL = frozenset({"name", "email", "phone"})
LEAD_PLACEHOLDERS: dict[str, Any] = {"name": "[erased]", "email": None, "phone": None}


def money(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def lead_view(lead: Lead, version: int) -> dict[str, Any]:
    return {
        "id": lead.lead_id,
        "source": lead.source.value,
        "name": lead.name,
        "company": lead.company,
        "email": lead.email,
        "phone": lead.phone,
        "owner_id": lead.owner_id,
        "team": lead.team,
        "customer_id": lead.customer_id,
        "status": lead.status.value,
        "opportunity_id": lead.opportunity_id,
        "disqualification_reason": lead.disqualification_reason,
        "version": version,
    }


def opportunity_view(opportunity: Opportunity, version: int) -> dict[str, Any]:
    status = opportunity.stage.value if not opportunity.is_open else "open"
    weighted = opportunity.amount * opportunity.probability / 100
    return {
        "id": opportunity.opportunity_id,
        "customer_id": opportunity.customer_id,
        "lead_id": opportunity.lead_id,
        "title": opportunity.title,
        "amount": money(opportunity.amount),
        "currency": opportunity.currency,
        "stage": opportunity.stage.value,
        "probability": opportunity.probability,
        "weighted_amount": money(weighted),
        "expected_close_date": opportunity.expected_close_date.isoformat(),
        "owner_id": opportunity.owner_id,
        "team": opportunity.team,
        "status": status,
        "lost_reason": opportunity.lost_reason if opportunity.stage is Stage.LOST else None,
        "version": version,
    }


def quote_view(quote: Quote, version: int) -> dict[str, Any]:
    return {
        "id": quote.quote_id,
        "opportunity_id": quote.opportunity_id,
        "customer_id": quote.customer_id,
        "owner_id": quote.owner_id,
        "team": quote.team,
        "currency": quote.currency,
        "lines": [
            {
                "sku": line.sku,
                "description": line.description,
                "quantity": number(line.quantity),
                "unit_price": money(line.unit_price),
                "discount_percent": number(line.discount_percent),
                "net_amount": money(line.net_amount),
            }
            for line in quote.lines
        ],
        "total": money(quote.total),
        "status": quote.status.value,
        "order_id": quote.order_id,
        "rejection_reason": quote.rejection_reason,
        "version": version,
    }


def order_view(order: Order, version: int) -> dict[str, Any]:
    return {
        "id": order.order_id,
        "quote_id": order.quote_id,
        "opportunity_id": order.opportunity_id,
        "customer_id": order.customer_id,
        "owner_id": order.owner_id,
        "team": order.team,
        "currency": order.currency,
        "total": money(order.total),
        "placed_at": order.placed_at.isoformat(),
        "receivable": {
            "amount": money(order.total),
            "paid": money(order.paid),
            "balance": money(order.balance),
            "due_date": order.due_date.isoformat(),
            "settled": order.settled,
            "overdue": order.overdue,
            "unpaid_after_48_hours": order.unpaid_flagged,
            "payments": [
                {"payment_id": payment_id, "amount": money(amount)}
                for payment_id, amount in order.payments
            ],
            "refunds": [
                {"refund_id": refund_id, "payment_id": payment_id, "amount": money(amount)}
                for refund_id, payment_id, amount in order.refunds
            ],
        },
        "version": version,
    }
