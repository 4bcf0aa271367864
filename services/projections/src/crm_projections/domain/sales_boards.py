"""The sales leaderboard and the funnel: boards summarised from the deal rows.

Sales leaderboard (``sales``, keyed ``<granularity>:<period>`` of the week, month
or quarter a deal was won in): per rep and per team, revenue won per currency,
deals won, and the average sales cycle in days from entering the funnel (lead
captured, else opportunity opened) to won.

Funnel (``funnel``, keyed by the period a deal entered the funnel): for all
deals and per rep and team, the leads captured, qualified and disqualified,
opportunities, how many reached each stage, won and lost. Conversions are ratios
of these counts, worked out when the board is read.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from crm_projections.domain.deal_rows import OPEN_STAGES
from crm_projections.domain.money import by_currency
from crm_projections.domain.periods import BOARD_GRANULARITIES, utc
from crm_projections.domain.streams import Document

DAY = Decimal(86400)
TENTH = Decimal("0.1")
RATE = Decimal("0.0001")


def _keys(row: Document, prefix: str) -> set[str]:
    return {
        f"{g.value}:{row[f'{prefix}_{g.value}']}"
        for g in BOARD_GRANULARITIES
        if row.get(f"{prefix}_{g.value}")
    }


def _select(prefix: str, key: str) -> dict[str, Any]:
    granularity, _, period = key.partition(":")
    return {f"{prefix}_{granularity}": period}


# --- sales leaderboard ---------------------------------------------------------------------


def sales_keys(row: Document) -> set[str]:
    return _keys(row, "won") if row.get("status") == "won" else set()


def sales_select(key: str) -> dict[str, Any]:
    return {"status": "won", **_select("won", key)}


def sales_summary(key: str, rows: list[Document]) -> Document:
    won = sorted((r for r in rows if r.get("status") == "won"), key=lambda r: r["deal_id"])
    return {
        "reps": _sales_groups(won, lambda r: (r.get("owner_id"), r.get("team")), "owner_id"),
        "teams": _sales_groups(won, lambda r: (r.get("team") or "", None), "team"),
        "all": _sales_totals(won),
    }


def _sales_groups(rows: list[Document], group: Any, field: str) -> list[Document]:
    groups: dict[Any, list[Document]] = defaultdict(list)
    for row in rows:
        groups[group(row)].append(row)
    answer = []
    for (name, team), members in sorted(groups.items(), key=lambda item: str(item[0][0])):
        entry = {field: name, **_sales_totals(members)}
        if field == "owner_id":
            entry["team"] = team
        answer.append(entry)
    return answer


def _sales_totals(rows: list[Document]) -> Document:
    cycles = [_days(row["entered_at"], row["won_at"]) for row in rows if row.get("entered_at")]
    return {
        "revenue": by_currency((row["currency"], row["amount"]) for row in rows),
        "deals": len(rows),
        "average_cycle_days": None
        if not cycles
        else str((sum(cycles, Decimal(0)) / len(cycles)).quantize(TENTH, ROUND_HALF_EVEN)),
    }


def _days(start: datetime, end: datetime) -> Decimal:
    return Decimal((utc(end) - utc(start)).total_seconds()) / DAY


# --- deals lost ----------------------------------------------------------------------------


def lost_keys(row: Document) -> set[str]:
    return _keys(row, "lost") if row.get("status") == "lost" else set()


def lost_select(key: str) -> dict[str, Any]:
    return {"status": "lost", **_select("lost", key)}


def lost_summary(key: str, rows: list[Document]) -> Document:
    """Deals lost in the period (the conversion rate's other half, with the won deals of
    the sales board of the same period)."""
    lost = [r for r in rows if r.get("status") == "lost"]
    by_owner: dict[str, int] = defaultdict(int)
    for row in lost:
        by_owner[str(row.get("owner_id"))] += 1
    return {"all": {"deals": len(lost)}, "by_owner": dict(sorted(by_owner.items()))}


# --- funnel ------------------------------------------------------------------------------


def funnel_keys(row: Document) -> set[str]:
    return _keys(row, "entered")


def funnel_select(key: str) -> dict[str, Any]:
    return _select("entered", key)


def funnel_summary(key: str, rows: list[Document]) -> Document:
    by_owner: dict[str, list[Document]] = defaultdict(list)
    by_team: dict[str, list[Document]] = defaultdict(list)
    for row in rows:
        by_owner[str(row.get("owner_id"))].append(row)
        by_team[str(row.get("team") or "")].append(row)
    return {
        "all": funnel_counts(rows),
        "by_owner": {owner: funnel_counts(r) for owner, r in sorted(by_owner.items())},
        "by_team": {team: funnel_counts(r) for team, r in sorted(by_team.items())},
    }


def funnel_counts(rows: Iterable[Document]) -> Document:
    rows = list(rows)
    leads = [r for r in rows if r.get("lead_id")]
    opportunities = [r for r in rows if r.get("opportunity_id")]
    return {
        "leads": len(leads),
        "qualified": sum(r.get("lead_status") == "qualified" for r in leads),
        "disqualified": sum(r.get("lead_status") == "disqualified" for r in leads),
        "opportunities": len(opportunities),
        "reached": {
            stage: sum(stage in r.get("stages_reached", []) for r in opportunities)
            for stage in OPEN_STAGES
        },
        "won": sum(r.get("status") == "won" for r in opportunities),
        "lost": sum(r.get("status") == "lost" for r in opportunities),
    }


def conversions(counts: Document) -> Document:
    """Each stage's conversion: the share of the opportunities that reached the stage before
    it (the first: of all opportunities) that reached it; leads qualified of leads captured;
    overall, won of all opportunities. Four places; None where nothing came before."""
    steps = [
        ("opportunities", counts["opportunities"]),
        *((stage, counts["reached"][stage]) for stage in OPEN_STAGES),
        ("won", counts["won"]),
    ]
    answer: dict[str, str | None] = {
        "qualified": _ratio(counts["qualified"], counts["leads"]),
    }
    for (_, before), (name, after) in itertools.pairwise(steps):
        answer[name] = _ratio(after, before)
    answer["overall"] = _ratio(counts["won"], counts["opportunities"])
    return answer


def _ratio(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(RATE, ROUND_HALF_EVEN))
