"""The rules of the programme that come from configuration: tiers, earn rate, expiry.

Tiers are a table, lowest first; the lowest has threshold 0 (every member is in
it). Thresholds measure the member's rolling spend (money paid in the
programme currency) or rolling points (earned by purchases and bonuses), over a
rolling window (12 months by default). ``tier_table`` checks a table and says
exactly what is wrong with it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from crm_contracts.loyalty import TierBasis

TIER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: Decimal


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("silver", Decimal(0)),
    Tier("gold", Decimal(1000)),
    Tier("platinum", Decimal(5000)),
)


def tier_table(raw: Sequence[Mapping[str, Any]]) -> tuple[Tier, ...]:
    """A checked tier table from ``[{"name": "silver", "threshold": 0}, ...]``, lowest first."""
    if not raw:
        raise ValueError("the tier table needs at least one tier")
    tiers: list[Tier] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) != {"name", "threshold"}:
            raise ValueError(f"tier {index + 1} must be an object with a name and a threshold")
        name, threshold = item["name"], item["threshold"]
        if not isinstance(name, str) or not TIER_NAME.fullmatch(name):
            raise ValueError(f"tier {index + 1}: name {name!r} must be lowercase a-z, 0-9, _")
        if isinstance(threshold, bool) or not isinstance(threshold, int | str | float):
            raise ValueError(f"tier {name}: threshold must be a number")
        try:
            value = Decimal(str(threshold))
        except InvalidOperation:
            raise ValueError(f"tier {name}: threshold {threshold!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise ValueError(f"tier {name}: threshold must be 0 or more")
        tiers.append(Tier(name, value))
    if tiers[0].threshold != 0:
        raise ValueError(f"the lowest tier ({tiers[0].name}) must have threshold 0")
    names = [tier.name for tier in tiers]
    if len(set(names)) != len(names):
        raise ValueError(f"tier names must be unique: {names}")
    for lower, higher in itertools.pairwise(tiers):
        if higher.threshold <= lower.threshold:
            raise ValueError(
                f"thresholds must rise: {higher.name} ({higher.threshold}) is not above "
                f"{lower.name} ({lower.threshold})"
            )
    return tuple(tiers)


@dataclass(frozen=True)
class Programme:
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    basis: TierBasis = TierBasis.SPEND
    currency: str = "EUR"
    points_per_unit: Decimal = Decimal(1)
    points_expire_after: timedelta = timedelta(days=365)
    tier_window: timedelta = timedelta(days=365)

    @property
    def lowest(self) -> str:
        return self.tiers[0].name

    def rank(self, tier: str) -> int:
        """Position of a tier, lowest 0; a tier no longer configured counts as the lowest."""
        return next((i for i, t in enumerate(self.tiers) if t.name == tier), 0)

    def tier_for(self, spend: Decimal, points: int) -> str:
        value = spend if self.basis is TierBasis.SPEND else Decimal(points)
        reached = [tier for tier in self.tiers if value >= tier.threshold]
        return reached[-1].name if reached else self.lowest

    def points_for(self, amount: Decimal) -> int:
        """Whole points for an amount paid: amount x rate, rounded down."""
        return int((amount * self.points_per_unit).to_integral_value(rounding=ROUND_FLOOR))
