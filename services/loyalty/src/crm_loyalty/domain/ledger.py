"""The points ledger's lots: one per earn or bonus, each with its own expiry.

Spending (a redemption, a coupon's cost, a refund's reversal, expiry) takes from
the oldest lots first. These functions are pure: they answer which lots give how
many points, and the lots as they are after.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from crm_contracts.loyalty import LotUse


@dataclass(frozen=True)
class Lot:
    entry_id: str
    earned_at: datetime
    expires_at: datetime
    points: int
    remaining: int


def balance(lots: Iterable[Lot]) -> int:
    return sum(lot.remaining for lot in lots)


def oldest_first(lots: Iterable[Lot]) -> tuple[Lot, ...]:
    return tuple(sorted(lots, key=lambda lot: (lot.earned_at, lot.entry_id)))


def take(lots: tuple[Lot, ...], points: int, *, first: str | None = None) -> tuple[LotUse, ...]:
    """Up to ``points`` from the lots, oldest first (the lot ``first`` before all others)."""
    order = sorted(lots, key=lambda lot: (lot.entry_id != first, lot.earned_at, lot.entry_id))
    uses: list[LotUse] = []
    wanted = points
    for lot in order:
        if wanted == 0:
            break
        taken = min(lot.remaining, wanted)
        if taken > 0:
            uses.append(LotUse(entry_id=lot.entry_id, points=taken))
            wanted -= taken
    return tuple(uses)


def expired(lots: tuple[Lot, ...], now: datetime) -> tuple[LotUse, ...]:
    """Everything left in lots whose expiry has come, oldest first."""
    return tuple(
        LotUse(entry_id=lot.entry_id, points=lot.remaining)
        for lot in oldest_first(lots)
        if lot.remaining > 0 and lot.expires_at <= now
    )


def apply(lots: tuple[Lot, ...], uses: Iterable[LotUse], sign: int = -1) -> tuple[Lot, ...]:
    """The lots after taking (sign -1) or giving back (sign +1) the points of ``uses``."""
    change: dict[str, int] = {}
    for use in uses:
        change[use.entry_id] = change.get(use.entry_id, 0) + sign * use.points
    return tuple(
        replace(lot, remaining=max(0, lot.remaining + change.get(lot.entry_id, 0))) for lot in lots
    )
