"""The sales forecast: a row per opportunity, summed per period, rep and team when asked.

Why rows and not running totals: an opportunity moves between periods (close
date), reps' sums (won, lost, reopened, handed to another rep) and weights
(stage) all the time.
Kept as totals per (period, rep), every such event would have to take an amount
out of one aggregate document and put it into another: two writes that a crash
or a redelivery can split, unless each aggregate also remembered every
opportunity's last contribution, i.e. held the rows anyway. A row per
opportunity is written by its own stream only, so the per-stream sequence makes
it exactly-once with one compare-and-set; each row carries its precomputed
weighted amount and its month, quarter and year, and ``summarise`` adds up the
open rows of one period (an indexed query of a few hundred rows per team) at
query time. Weighted amounts are exact (amount x probability / 100); sums are
rounded half-even to cents once, at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.domain.deals import opportunity_change
from crm_projections.domain.money import exact, money
from crm_projections.domain.streams import (
    Document,
    ReadModel,
    StreamKind,
    Target,
    stamped,
    stream_kind,
)

PERIOD = re.compile(r"^(?P<year>[0-9]{4})(-(?P<month>0[1-9]|1[0-2])|-Q(?P<quarter>[1-4]))?$")
PERIOD_PATTERN = PERIOD.pattern


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    if stream_kind(event) is StreamKind.OPPORTUNITY:
        return Target(metadata.subject)  # the opportunity's stream is its row
    return None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    current = stamped(document, metadata)
    change = opportunity_change(event)
    if change is None:
        return current
    current |= change
    closes = date.fromisoformat(current["expected_close_date"])
    current |= {
        "month": f"{closes.year:04d}-{closes.month:02d}",
        "quarter": f"{closes.year:04d}-Q{(closes.month - 1) // 3 + 1}",
        "year": f"{closes.year:04d}",
        "weighted": exact(Decimal(current["amount"]) * current["probability"] / 100),
    }
    return current


def empty(opportunity_id: str) -> Document:
    return {"_id": opportunity_id, "streams": {}, "revision": 0}


MODEL = ReadModel(name="forecast", target=target, project=project, empty=empty)


def period_field(period: str) -> str:
    """Which field of a row a period names: ``2027-03`` month, ``2027-Q1`` quarter, ``2027``."""
    found = PERIOD.match(period)
    if found is None:
        raise ValueError(f"a period is YYYY, YYYY-MM or YYYY-Qn, not {period!r}")
    return "month" if found["month"] else "quarter" if found["quarter"] else "year"


def summarise(rows: Iterable[Document]) -> dict[str, Any]:
    """Weighted and unweighted totals and counts of open opportunities, per currency:
    overall, per team and per rep."""
    overall: dict[str, _Sums] = {}
    teams: dict[str | None, dict[str, _Sums]] = {}
    reps: dict[tuple[str, str | None], dict[str, _Sums]] = {}
    for row in rows:
        if row.get("status") != "open":
            continue
        for bucket in (
            overall,
            teams.setdefault(row["team"], {}),
            reps.setdefault((row["owner_id"], row["team"]), {}),
        ):
            bucket.setdefault(row["currency"], _Sums()).add(row)
    return {
        "totals": _shown(overall),
        "by_team": [
            {"team": team, "totals": _shown(sums)}
            for team, sums in sorted(teams.items(), key=lambda item: item[0] or "")
        ],
        "by_rep": [
            {"owner_id": owner_id, "team": team, "totals": _shown(sums)}
            for (owner_id, team), sums in sorted(reps.items(), key=_by_rep_then_team)
        ],
    }


def _by_rep_then_team(item: tuple[tuple[str, str | None], object]) -> tuple[str, str]:
    (owner_id, team), _ = item
    return owner_id, team or ""


class _Sums:
    def __init__(self) -> None:
        self.weighted = Decimal(0)
        self.amount = Decimal(0)
        self.count = 0

    def add(self, row: Document) -> None:
        self.weighted += Decimal(row["weighted"])
        self.amount += Decimal(row["amount"])
        self.count += 1


def _shown(sums: dict[str, _Sums]) -> dict[str, dict[str, Any]]:
    return {
        currency: {
            "weighted": money(sums[currency].weighted),
            "amount": money(sums[currency].amount),
            "count": sums[currency].count,
        }
        for currency in sorted(sums)
    }
