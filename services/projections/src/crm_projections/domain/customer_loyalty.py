"""The customer 360's loyalty side: membership, tier, points balance, home store, coupons.

Every member event of the loyalty context carries the member's home store, and
every points event the balance after it, so the view takes them as given. The
coupons are rows (``coupons``), the ones still usable are shown.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import DomainEvent
from crm_contracts import loyalty as lo
from crm_projections.domain.deals import Row, with_row
from crm_projections.domain.money import money
from crm_projections.domain.streams import Document, utc

COUPON_SHOWN = ("coupon_id", "reward", "description", "value", "currency", "valid_until")


def loyalty_changes(document: Document, event: DomainEvent) -> Document:
    """The ``loyalty`` section after a loyalty member event (store events change nothing)."""
    member: dict[str, Any] = dict(document.get("loyalty") or {})
    home_store = getattr(event, "home_store_id", None)
    if home_store is not None:
        member["home_store_id"] = home_store
    balance = getattr(event, "balance", None)
    if isinstance(balance, int):
        member["points_balance"] = balance
    match event:
        case lo.MemberEnrolled():
            member |= {
                "member": True,
                "tier": event.tier,
                "enrolled_at": utc(event.enrolled_at),
                "points_balance": member.get("points_balance", 0),
                "purchases": member.get("purchases", 0),
            }
        case lo.TierUpgraded() | lo.TierDowngraded():
            member["tier"] = event.to_tier
        case lo.PointsEarned():
            member["purchases"] = max(int(member.get("purchases", 0)), event.order_count)
            member["points_earned"] = int(member.get("points_earned", 0)) + event.points
        case lo.BonusAwarded():
            member["points_earned"] = int(member.get("points_earned", 0)) + event.points
        case lo.CouponIssued() | lo.CouponRedeemed() | lo.CouponExpired() | lo.CouponWithdrawn():
            member["coupons"] = with_row(
                member.get("coupons", {}),
                event.coupon_id,
                _coupon_change(event),
                creates=isinstance(event, lo.CouponIssued),
            )
        case _ if member == dict(document.get("loyalty") or {}):
            return {}
    return {"loyalty": member}


def _coupon_change(event: DomainEvent) -> Row:
    match event:
        case lo.CouponIssued():
            return {
                "coupon_id": event.coupon_id,
                "reward": event.reward.value,
                "description": event.description,
                "value": None if event.value is None else money(event.value),
                "currency": event.currency,
                "valid_until": utc(event.valid_until),
                "status": "active",
            }
        case lo.CouponRedeemed():
            return {"status": "redeemed"}
        case lo.CouponExpired():
            return {"status": "expired"}
        case lo.CouponWithdrawn():
            return {"status": "withdrawn"}
    return {}  # pragma: no cover - only coupon events reach here


def loyalty_view(document: Document) -> dict[str, Any] | None:
    """What the 360 shows of the membership (None: not a member)."""
    member = document.get("loyalty")
    if not member or not member.get("member"):
        return None
    coupons = sorted(
        (c for c in member.get("coupons", {}).values() if c["status"] == "active"),
        key=lambda c: (c["valid_until"], c["coupon_id"]),
    )
    return {
        "tier": member.get("tier"),
        "points_balance": member.get("points_balance", 0),
        "points_earned": member.get("points_earned", 0),
        "home_store_id": member.get("home_store_id"),
        "enrolled_at": member.get("enrolled_at"),
        "purchases": member.get("purchases", 0),
        "coupons": [{field: c[field] for field in COUPON_SHOWN} for c in coupons],
    }
