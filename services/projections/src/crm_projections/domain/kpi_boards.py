"""The KPI boards and the KPIs of a period: churn, repeat purchase, lifetime value, complaints,
satisfaction, overdue receivables and conversion.

Two boards, each keyed ``<granularity>:<period>`` (week, month or quarter), both
summaries of the rows with a dated fact in the period (``periods``, multikey):

- ``kpi_customers`` (customer rows): what *happened* to customers in the period:
  registrations, moves into and out of the active stages (customer, repeat
  customer, at risk), starts and ends of "bought at least once / twice", distinct
  customers who became customer, repeat customer, at risk, churned, and those
  who churned having been active when the period began;
- ``kpi_orders`` (order rows): orders placed (count, total per currency), orders
  settled with their revenue net of refunds, refunds, orders flagged unpaid after
  48 hours, and the receivables' flows: opened, closed, flagged overdue, overdue
  ones closed, and the changes of the open and overdue balances per currency.

A board holds *flows*, never stocks: a stock at a period's start (customers active,
receivables open) is the sum of the flows of every earlier period of the same
granularity (``opening``), at its end that plus the period's own (``closing``).
Every moment falls in exactly one period of each granularity, so the sums are
exact whatever the granularity. The query reads the period's board and the
earlier ones (``earlier_filter``: one range scan of the boards' ``_id`` index),
never rows or events; a period without any fact has no board and adds nothing.

``kpis`` works the KPIs out of those boards and of counts other boards keep
(complaints and surveys: the service boards; deals won and lost: the sales side).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from crm_projections.domain.customer_rows import (
    Spell,
    active_just_before,
    active_spells,
    stage_history,
)
from crm_projections.domain.customer_rows import purchase_spells as bought
from crm_projections.domain.money import by_currency, money
from crm_projections.domain.periods import BOARD_GRANULARITIES, bounds, granularity_of, utc
from crm_projections.domain.streams import Document

CUSTOMERS = "kpi_customers"
ORDERS = "kpi_orders"
RATE = Decimal("0.0001")
CSAT_PLACES = Decimal("0.01")
PERIODS = "periods"
INDEXES: tuple[list[tuple[str, int]], ...] = ([(PERIODS, 1)],)
"""The index of either rows collection the boards' ``select`` uses."""
BECAME = ("customer", "repeat_customer", "at_risk", "churned")


# --- keys and selection (both boards) --------------------------------------------------------


def keys(row: Document) -> set[str]:
    """The periods whose summary the row's latest event may have changed (``touched``): a
    board summarises the rows with *any* fact in its period (``select``), but only a fact
    added in the period changes it, so a long history does not refresh every old board."""
    return set(row.get("touched", []))


def select(key: str) -> dict[str, Any]:
    """The rows with any fact in the period."""
    return {PERIODS: key}


def selects(row: Document, keys: Collection[str]) -> set[str]:
    """Of ``keys``, those whose ``select`` picks the row: the periods it has a fact in."""
    return {key for key in row.get(PERIODS, []) if key in keys}


def board_key(period: str) -> str:
    """``2026-11`` -> ``month:2026-11``; only weeks, months and quarters have boards."""
    granularity = granularity_of(period)
    if granularity not in BOARD_GRANULARITIES:
        raise ValueError(f"{period!r}: KPIs are kept by week, month or quarter")
    return f"{granularity.value}:{period}"


def earlier_filter(board: str, period: str) -> dict[str, Any]:
    """The boards of every period before ``period`` of its granularity: board ids are
    ``<board>:<granularity>:<period>`` and periods of one granularity sort as text."""
    key = board_key(period)
    granularity = key.partition(":")[0]
    return {"_id": {"$gte": f"{board}:{granularity}:", "$lt": f"{board}:{key}"}}


def _within(key: str) -> tuple[datetime, datetime]:
    _, _, period = key.partition(":")
    return bounds(period)


# --- customers -------------------------------------------------------------------------------


def customer_summary(key: str, rows: list[Document]) -> Document:
    """What happened to customers in the period ``key``; the same rows in any order give the
    same. Moves are counted at the time of their event; purchases at the order's time."""
    summary, period = _no_customers(), _within(key)
    for row in rows:
        _count_customer(summary, _customer_facts(row), period)
    return summary


def customer_summaries(keys: Collection[str], rows: list[Document]) -> dict[str, Document]:
    """``customer_summary`` of each key, each over the rows ``select`` picks for it, from one
    pass over ``rows`` (a rebuild summarises every period at once): a row's spells and moves
    are derived once, not once per period it counts in."""
    summaries = {key: _no_customers() for key in keys}
    periods = {key: _within(key) for key in keys}
    for row in rows:
        chosen = selects(row, summaries)
        if chosen:
            facts = _customer_facts(row)
            for key in chosen:
                _count_customer(summaries[key], facts, periods[key])
    return summaries


def _no_customers() -> Document:
    return {
        "registered": 0,
        "active": {"entered": 0, "left": 0},
        "purchasers": {"entered": 0, "left": 0},
        "repeat_purchasers": {"entered": 0, "left": 0},
        "became": dict.fromkeys(BECAME, 0),
        "churned_of_active_at_start": 0,
    }


_Facts = tuple[Document, list[tuple[str, list[Spell]]], list[tuple[datetime, str]]]


def _customer_facts(row: Document) -> _Facts:
    """What ``customer_summary`` reads of a row in any period: the row, its spells (active,
    purchaser, repeat purchaser) and its stage history."""
    spells = [
        ("active", active_spells(row)),
        ("purchasers", bought(row, 1)),
        ("repeat_purchasers", bought(row, 2)),
    ]
    return row, spells, stage_history(row)


def _count_customer(summary: Document, facts: _Facts, period: tuple[datetime, datetime]) -> None:
    """Add one row (``_customer_facts``) to the summary of the period ``[start, end)``."""
    row, spells, history = facts
    start, end = period

    def inside(moment: datetime | None) -> bool:
        return moment is not None and start <= utc(moment) < end

    summary["registered"] += inside(row.get("registered_at"))
    for name, found in spells:
        summary[name]["entered"] += sum(inside(s) for s, _ in found)
        summary[name]["left"] += sum(inside(e) for _, e in found)
    moves = {stage for at, stage in history if inside(at)}
    for stage in BECAME:
        summary["became"][stage] += stage in moves
    if "churned" in moves and active_just_before(row, start):
        summary["churned_of_active_at_start"] += 1


# --- orders ----------------------------------------------------------------------------------


def order_summary(key: str, rows: list[Document]) -> Document:
    """What happened to orders and their receivables in the period ``key``."""
    start, end = _within(key)

    def inside(moment: datetime | None) -> bool:
        return moment is not None and start <= utc(moment) < end

    placed: list[tuple[str, str]] = []
    revenue: list[tuple[str, Decimal]] = []
    refunded: list[tuple[str, str]] = []
    balance: list[tuple[str, str]] = []
    overdue_balance: list[tuple[str, Decimal | str]] = []
    counts = dict.fromkeys(
        ("settled", "unpaid", "opened", "closed", "overdue_flagged", "overdue_closed"), 0
    )
    for row in rows:
        currency = row.get("currency", "")
        if inside(row.get("placed_at")):
            placed.append((currency, row["total"]))
        counts["opened"] += inside(row.get("opened_at"))
        counts["unpaid"] += inside(row.get("unpaid_at"))
        if inside(row.get("settled_at")):
            counts["settled"] += 1
            counts["closed"] += 1
            counts["overdue_closed"] += row.get("overdue_at") is not None
            revenue.append((currency, Decimal(row["total"])))
            revenue += [
                (r["currency"], -Decimal(r["amount"]))
                for r in row.get("refunds", [])
                if not r.get("after_settled")
            ]
        for refund in row.get("refunds", []):
            if inside(refund["at"]):
                refunded.append((refund["currency"], refund["amount"]))
                if refund.get("after_settled"):
                    revenue.append((refund["currency"], -Decimal(refund["amount"])))
        if inside(row.get("overdue_at")):
            counts["overdue_flagged"] += 1
            overdue_balance.append((currency, row.get("overdue_entry_balance", "0")))
        for at, delta, overdue in row.get("moves", []):
            if inside(at):
                balance.append((currency, delta))
                if overdue:
                    overdue_balance.append((currency, delta))
    return {
        "placed": {"count": len(placed), "total": by_currency(placed)},
        "settled": {"count": counts["settled"], "revenue": by_currency(revenue)},
        "refunded": by_currency(refunded),
        "unpaid_after_48_hours": counts["unpaid"],
        "receivables": {
            "opened": counts["opened"],
            "closed": counts["closed"],
            "balance": by_currency(balance),
            "overdue_flagged": counts["overdue_flagged"],
            "overdue_closed": counts["overdue_closed"],
            "overdue_balance": by_currency(overdue_balance),
        },
    }


# --- stocks from flows -----------------------------------------------------------------------


def customer_stocks(boards: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Customers active, having bought at least once and at least twice, after the flows
    of ``boards`` (all of one granularity, from the first one on)."""
    stocks = {"active": 0, "purchasers": 0, "repeat_purchasers": 0}
    for board in boards:
        for name in stocks:
            stocks[name] += board[name]["entered"] - board[name]["left"]
    return stocks


def order_stocks(boards: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Receivables open and overdue (count, balance per currency) and the net revenue of
    settled orders per currency, after the flows of ``boards``; zero amounts left out."""
    boards = list(boards)
    receivables = [board["receivables"] for board in boards]

    def summed(amounts: Iterable[Mapping[str, str]]) -> dict[str, str]:
        totals = by_currency((cur, value) for each in amounts for cur, value in each.items())
        return {cur: value for cur, value in totals.items() if Decimal(value) != 0}

    return {
        "open": sum(r["opened"] - r["closed"] for r in receivables),
        "open_balance": summed(r["balance"] for r in receivables),
        "overdue": sum(r["overdue_flagged"] - r["overdue_closed"] for r in receivables),
        "overdue_balance": summed(r["overdue_balance"] for r in receivables),
        "settled_revenue": summed(board["settled"]["revenue"] for board in boards),
    }


# --- the KPIs --------------------------------------------------------------------------------


def kpis(
    period: str,
    *,
    customers: Mapping[str, Any],
    customers_before: Iterable[Mapping[str, Any]],
    orders: Mapping[str, Any],
    orders_before: Iterable[Mapping[str, Any]],
    complaints_opened: int,
    csat_sum: int,
    csat_count: int,
    deals_won: int,
    deals_lost: int,
) -> dict[str, Any]:
    """The KPIs of ``period`` (a week ``2026-W48``, month ``2026-11`` or quarter ``2026-Q4``,
    in UTC), from the period's ``kpi_customers`` and ``kpi_orders`` boards, every earlier
    board of the same granularity (``*_before``), and counts kept by other boards.

    Ratios are decimal strings with four places (half-even), ``None`` when the
    denominator is 0; money per currency, two places; currencies never mix.

    - **churn rate**: of the customers *active at the start of the period* (in stage
      customer, repeat customer or at risk just before it began, and not merged into
      another customer), the share that became churned during the period.
      Customers who became active and churned within the period are not counted
      (they are in ``churned``, not in the rate), so the rate never exceeds 1.
    - **repeat-purchase rate**: customers who had bought at least twice by the end of
      the period, of those who had bought at least once by then. A purchase counts
      when its order was placed (``CustomerPurchaseRecorded``); a merged duplicate's
      purchases count for the survivor from the merge on, and the duplicate itself no
      longer counts.
    - **customer lifetime value**: per currency, the revenue of the orders settled by the
      end of the period (their totals less every refund made on them by then), divided
      by the customers who had bought at least once by then.
    - **complaint rate**: complaint tickets opened in the period, per order placed in
      the period.
    - **average CSAT**: the mean of the survey scores (1-5) answered in the period, two
      places.
    - **overdue ratio**: of the receivables open at the end of the period, the share
      flagged overdue, by count and, per currency, by open balance.
    - **conversion rate**: deals won in the period, of the deals closed (won or lost) in
      it.
    """
    key = board_key(period)
    earlier_customers = list(customers_before)
    earlier_orders = list(orders_before)
    opening = customer_stocks(earlier_customers)
    closing = customer_stocks([*earlier_customers, customers])
    receivables = order_stocks([*earlier_orders, orders])
    placed = int(orders["placed"]["count"])
    churned = int(customers["churned_of_active_at_start"])
    purchasers = closing["purchasers"]
    return {
        "period": period,
        "granularity": key.partition(":")[0],
        "churn_rate": _ratio(churned, opening["active"]),
        "repeat_purchase_rate": _ratio(closing["repeat_purchasers"], purchasers),
        "customer_lifetime_value": {
            cur: None if purchasers == 0 else money(Decimal(value) / purchasers)
            for cur, value in receivables["settled_revenue"].items()
        },
        "complaint_rate": _ratio(complaints_opened, placed),
        "average_csat": None
        if csat_count == 0
        else str((Decimal(csat_sum) / csat_count).quantize(CSAT_PLACES, ROUND_HALF_EVEN)),
        "overdue_ratio": {
            "count": _ratio(receivables["overdue"], receivables["open"]),
            "amount": {
                cur: _amount_ratio(receivables["overdue_balance"].get(cur, "0"), value)
                for cur, value in receivables["open_balance"].items()
            },
        },
        "conversion_rate": _ratio(deals_won, deals_won + deals_lost),
        "inputs": {
            "active_at_start": opening["active"],
            "churned_of_active_at_start": churned,
            "churned": int(customers["became"]["churned"]),
            "purchasers": purchasers,
            "repeat_purchasers": closing["repeat_purchasers"],
            "settled_revenue": receivables["settled_revenue"],
            "orders_placed": placed,
            "complaints_opened": complaints_opened,
            "csat_sum": csat_sum,
            "csat_count": csat_count,
            "receivables_open": receivables["open"],
            "receivables_overdue": receivables["overdue"],
            "open_balance": receivables["open_balance"],
            "overdue_balance": receivables["overdue_balance"],
            "deals_won": deals_won,
            "deals_lost": deals_lost,
        },
    }


def _ratio(part: int, whole: int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(RATE, ROUND_HALF_EVEN))


def _amount_ratio(part: str, whole: str) -> str | None:
    if Decimal(whole) == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(RATE, ROUND_HALF_EVEN))
