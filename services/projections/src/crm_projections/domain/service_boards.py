"""The service boards: summaries of the ticket rows, and the agent ranking read from them.

Three boards, each keyed ``<granularity>:<period>`` (week, month or quarter):

- ``agents``, by the period a ticket was resolved in: per agent (the resolver)
  and per team (the resolver's team), and for all, the tickets resolved, how many
  of them kept their SLA (``within_sla``), and the CSAT of their surveys (sum and
  count, whenever answered: a survey refreshes its ticket's resolution period);
- ``service``, by the period a ticket was opened in: tickets opened, complaints
  opened, per kind, per team (the ticket's team now) and for all. The complaint
  rate divides the complaints by the orders placed in the period (another board);
- ``surveys``, by the period a survey was answered in: CSAT sum, count and
  distribution, promoters (would recommend 9-10) and detractors (0-6), per team
  and for all: the average CSAT and NPS of a period.

Averages and shares are worked out when a board is read (``average_csat``,
``sla_kept_share``, ``nps``), from the exact counts the board keeps. Teams and
agents are lists of entries (``team`` / ``agent_id``), sorted by id, so no id
ever becomes a field name. A missing team or agent is ``None``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from crm_contracts import tickets as t
from crm_projections.domain.periods import BOARD_GRANULARITIES
from crm_projections.domain.ranking import Entry, ranked
from crm_projections.domain.streams import Document

CSAT_PLACES = Decimal("0.01")
RATE = Decimal("0.0001")
KINDS = tuple(kind.value for kind in t.TicketKind)
COMPLAINT = t.TicketKind.COMPLAINT.value
CSAT_SCORES = ("1", "2", "3", "4", "5")
PROMOTER = 9
DETRACTOR = 6

AgentMeasure = Literal["resolved", "average_csat", "sla_kept"]


def period_keys(row: Document, prefix: str) -> set[str]:
    """``week:2026-W48``, ``month:2026-11``... of the row's ``<prefix>_<granularity>``."""
    return {
        f"{g.value}:{row[f'{prefix}_{g.value}']}"
        for g in BOARD_GRANULARITIES
        if row.get(f"{prefix}_{g.value}")
    }


def period_select(prefix: str, key: str) -> dict[str, Any]:
    granularity, _, period = key.partition(":")
    return {f"{prefix}_{granularity}": period}


def _indexes(prefix: str) -> tuple[list[tuple[str, int]], ...]:
    return tuple([(f"{prefix}_{g.value}", 1)] for g in BOARD_GRANULARITIES)


def _by(rows: Iterable[Document], field: str) -> list[tuple[Any, list[Document]]]:
    groups: dict[Any, list[Document]] = defaultdict(list)
    for row in rows:
        groups[row.get(field)].append(row)
    return sorted(groups.items(), key=lambda item: (item[0] is not None, str(item[0])))


def _in(key: str, prefix: str) -> Callable[[Document], bool]:
    granularity, _, period = key.partition(":")
    return lambda row: row.get(f"{prefix}_{granularity}") == period


# --- agents: resolved in the period --------------------------------------------------------


def agents_keys(row: Document) -> set[str]:
    return period_keys(row, "resolved") if row.get("resolved_at") is not None else set()


def agents_select(key: str) -> dict[str, Any]:
    return period_select("resolved", key)


def agents_summary(key: str, rows: list[Document]) -> Document:
    inside = _in(key, "resolved")
    resolved = [row for row in rows if row.get("resolved_at") is not None and inside(row)]
    return {
        "agents": [
            {"agent_id": agent, "team": _latest_team(mine), **_resolution_counts(mine)}
            for agent, mine in _by(resolved, "resolver")
        ],
        "teams": [
            {"team": team, **_resolution_counts(mine)}
            for team, mine in _by(resolved, "resolver_team")
        ],
        "all": _resolution_counts(resolved),
    }


def _latest_team(rows: list[Document]) -> str | None:
    """The team of the agent's latest resolution in the period (by time, then ticket)."""
    latest = max(rows, key=lambda r: (r["resolved_at"], r["ticket_id"]))
    team: str | None = latest.get("resolver_team")
    return team


def _resolution_counts(rows: list[Document]) -> Document:
    surveyed = [row for row in rows if row.get("csat") is not None]
    return {
        "resolved": len(rows),
        "sla_kept": sum(bool(row.get("within_sla")) for row in rows),
        "csat_sum": sum(int(row["csat"]) for row in surveyed),
        "csat_count": len(surveyed),
    }


# --- service: opened in the period ---------------------------------------------------------


def service_keys(row: Document) -> set[str]:
    return period_keys(row, "opened")


def service_select(key: str) -> dict[str, Any]:
    return period_select("opened", key)


def service_summary(key: str, rows: list[Document]) -> Document:
    opened = [row for row in rows if _in(key, "opened")(row)]
    return {
        "teams": [{"team": team, **_opened_counts(mine)} for team, mine in _by(opened, "team")],
        "all": _opened_counts(opened),
    }


def _opened_counts(rows: list[Document]) -> Document:
    by_kind = dict.fromkeys(KINDS, 0)
    for row in rows:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
    return {"opened": len(rows), "complaints": by_kind[COMPLAINT], "by_kind": by_kind}


# --- surveys: answered in the period -------------------------------------------------------


def surveys_keys(row: Document) -> set[str]:
    return period_keys(row, "answered") if row.get("csat") is not None else set()


def surveys_select(key: str) -> dict[str, Any]:
    return period_select("answered", key)


def surveys_summary(key: str, rows: list[Document]) -> Document:
    inside = _in(key, "answered")
    answered = [row for row in rows if row.get("csat") is not None and inside(row)]
    return {
        "teams": [{"team": team, **_survey_counts(mine)} for team, mine in _by(answered, "team")],
        "all": _survey_counts(answered),
    }


def _survey_counts(rows: list[Document]) -> Document:
    by_csat = dict.fromkeys(CSAT_SCORES, 0)
    for row in rows:
        by_csat[str(row["csat"])] += 1
    recommend = [int(row["would_recommend"]) for row in rows]
    return {
        "csat_sum": sum(int(row["csat"]) for row in rows),
        "csat_count": len(rows),
        "by_csat": by_csat,
        "promoters": sum(score >= PROMOTER for score in recommend),
        "detractors": sum(score <= DETRACTOR for score in recommend),
    }


# --- read-time measures and the agent ranking ----------------------------------------------


def average_csat(entry: Entry) -> Decimal | None:
    """CSAT sum over count, two places; None without a survey."""
    if not entry.get("csat_count"):
        return None
    return (Decimal(entry["csat_sum"]) / Decimal(entry["csat_count"])).quantize(
        CSAT_PLACES, ROUND_HALF_EVEN
    )


def sla_kept_share(entry: Entry) -> Decimal | None:
    """Share of the resolved tickets that kept their SLA, four places; None for none."""
    if not entry.get("resolved"):
        return None
    return (Decimal(entry["sla_kept"]) / Decimal(entry["resolved"])).quantize(RATE, ROUND_HALF_EVEN)


def nps(entry: Entry) -> Decimal | None:
    """Net promoter score: promoters minus detractors per survey, times 100, one place."""
    if not entry.get("csat_count"):
        return None
    net = int(entry["promoters"]) - int(entry["detractors"])
    score = Decimal(100 * net) / Decimal(int(entry["csat_count"]))
    return score.quantize(Decimal("0.1"), ROUND_HALF_EVEN)


MEASURES: dict[AgentMeasure, Callable[[Entry], Decimal | int | None]] = {
    "resolved": lambda entry: int(entry["resolved"]),
    "average_csat": average_csat,
    "sla_kept": sla_kept_share,
}


def _shown(entries: Iterable[Document]) -> list[Document]:
    return [
        {
            **entry,
            "average_csat": _text(average_csat(entry)),
            "sla_kept_share": _text(sla_kept_share(entry)),
        }
        for entry in entries
    ]


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def agent_ranking(
    current: Document,
    previous: Document,
    *,
    by: AgentMeasure = "resolved",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The agents of an ``agents`` board ranked by tickets resolved, average CSAT (agents
    without a survey last) or SLA-kept share, against the previous period's board; ties by
    agent id. Unassigned resolutions (agent None) are not ranked."""
    return _ranking(current, previous, "agents", "agent_id", by, limit)


def team_ranking(
    current: Document,
    previous: Document,
    *,
    by: AgentMeasure = "resolved",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The teams of an ``agents`` board, ranked as ``agent_ranking`` ranks agents."""
    return _ranking(current, previous, "teams", "team", by, limit)


def _ranking(
    current: Document,
    previous: Document,
    section: str,
    key: str,
    by: AgentMeasure,
    limit: int | None,
) -> list[dict[str, Any]]:
    def named(board: Document) -> list[Document]:
        return _shown(e for e in board.get(section, []) if e.get(key) is not None)

    return ranked(named(current), named(previous), key=key, value=MEASURES[by], limit=limit)


AGENTS_INDEXES = _indexes("resolved")
SERVICE_INDEXES = _indexes("opened")
SURVEYS_INDEXES = _indexes("answered")
