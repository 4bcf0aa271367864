"""How each aggregate answers: JSON-ready views (times as ISO 8601, money as strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from crm_contracts.pipeline import CENT
from crm_loyalty.domain.member import Member
from crm_loyalty.domain.store import Store

HISTORY = 50


def money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(CENT))


def when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def store_view(store: Store, version: int) -> dict[str, Any]:
    return {
        "id": store.store_id,
        "name": store.name,
        "city": store.city,
        "opened_at": when(store.opened_at),
        "version": version,
    }


def member_view(member: Member, version: int) -> dict[str, Any]:
    return {
        "customer_id": member.customer_id,
        "home_store_id": member.home_store_id,
        "tier": member.tier,
        "enrolled_at": when(member.enrolled_at),
        "balance": member.balance,
        "orders_paid": len(member.orders),
        "lots": [
            {
                "entry_id": lot.entry_id,
                "points": lot.points,
                "remaining": lot.remaining,
                "earned_at": when(lot.earned_at),
                "expires_at": when(lot.expires_at),
            }
            for lot in member.lots
            if lot.remaining > 0
        ],
        "coupons": [
            {
                "coupon_id": c.coupon_id,
                "reward": c.reward.value,
                "description": c.description,
                "value": money(c.value),
                "currency": c.currency,
                "valid_until": when(c.valid_until),
                "points_cost": c.points_cost,
                "reference": c.reference,
                "status": c.status.value,
                "issued_at": when(c.issued_at),
                "closed_at": when(c.closed_at),
            }
            for c in member.coupons
        ],
        "history": [
            {
                "kind": e.kind,
                "points": e.points,
                "at": when(e.at),
                "reference": e.reference,
                "balance": e.balance,
            }
            for e in member.history[-HISTORY:]
        ],
        "version": version,
    }
