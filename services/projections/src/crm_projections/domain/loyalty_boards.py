"""The loyalty boards: summaries of the member rows, the store ranking and the points leaders.

Two boards, each keyed ``<granularity>:<period>`` (week, month or quarter):

- ``points``: the members who earned points in the period (purchases and
  bonuses), each with the points earned in it and its home store now; the
  points leaders rank them.
- ``stores``: per store and for all, at the period's end: the members enrolled
  by then (``members``), those of them enrolled in the period (``new_members``),
  and those who had paid a second order by then (``repeat_purchasers``). A member
  counts at the store it belonged to at the period's end. The repeat-purchase
  rate (repeat purchasers per member) is worked out when the board is read.

A stores board sums every member enrolled before the period's end (selected by
``enrolled_at``, indexed); a member's row counts in the periods where its
contribution changes: when it enrolled, moved and became a repeat purchaser.
A period in which none of that happened has no board of its own: its counts are
the latest earlier board's, with no new members (``carried_forward``).
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from crm_projections.domain.member_rows import home_store_at
from crm_projections.domain.periods import bounds, periods_of
from crm_projections.domain.ranking import Entry, ranked
from crm_projections.domain.streams import Document, utc

RATE = Decimal("0.0001")

StoreMeasure = Literal["repeat_purchase_rate", "new_members"]


# --- points: earned in the period ----------------------------------------------------------


def points_keys(row: Document) -> set[str]:
    return set(row.get("earned_periods") or [])


def points_select(key: str) -> dict[str, Any]:
    return {"earned_periods": key}


def points_summary(key: str, rows: list[Document]) -> Document:
    earners = sorted(
        (row for row in rows if int((row.get("earned_by_period") or {}).get(key, 0)) > 0),
        key=lambda row: str(row["customer_id"]),
    )
    members = [
        {
            "customer_id": row["customer_id"],
            "home_store_id": row.get("home_store_id"),
            "points": int(row["earned_by_period"][key]),
        }
        for row in earners
    ]
    return {
        "members": members,
        "all": {"members": len(members), "points": sum(m["points"] for m in members)},
    }


def points_leaders(
    current: Document, previous: Document, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The members of a ``points`` board ranked by points earned in the period, against the
    previous period's board; ties by customer id."""
    return ranked(
        current.get("members", []),
        previous.get("members", []),
        key="customer_id",
        value=lambda entry: int(entry["points"]),
        limit=limit,
    )


# --- stores: members at the period's end ---------------------------------------------------


def stores_keys(row: Document) -> set[str]:
    enrolled = row.get("enrolled_at")
    if enrolled is None:
        return set()
    moments: list[datetime] = [enrolled]
    moments += [entry["since"] for entry in (row.get("home_stores") or [])[1:]]
    if row.get("second_order_at") is not None:
        moments.append(row["second_order_at"])
    return {
        f"{granularity}:{period}"
        for moment in moments
        for granularity, period in periods_of(utc(moment)).items()
    }


def stores_select(key: str) -> dict[str, Any]:
    _, end = bounds(_period(key))
    return {"enrolled_at": {"$lt": end}}


def stores_selects(row: Document, keys: Collection[str]) -> set[str]:
    """Of ``keys``, those whose ``select`` picks the row: the periods ending after it
    enrolled."""
    enrolled = row.get("enrolled_at")
    if not isinstance(enrolled, datetime):
        return set()
    at = utc(enrolled)
    return {key for key in keys if at < _end(key)}


@functools.lru_cache(maxsize=4096)
def _end(key: str) -> datetime:
    return bounds(_period(key))[1]


def stores_summary(key: str, rows: list[Document]) -> Document:
    start, end = bounds(_period(key))
    by_store: dict[str | None, list[Document]] = defaultdict(list)
    for row in rows:
        enrolled = row.get("enrolled_at")
        if enrolled is not None and utc(enrolled) < end:
            by_store[home_store_at(row, end)].append(row)

    def counts(members: Iterable[Document]) -> Document:
        members = list(members)
        return {
            "members": len(members),
            "new_members": sum(start <= utc(r["enrolled_at"]) for r in members),
            "repeat_purchasers": sum(
                r.get("second_order_at") is not None and utc(r["second_order_at"]) < end
                for r in members
            ),
        }

    return {
        "stores": [
            {"store_id": store, **counts(members)}
            for store, members in sorted(
                by_store.items(), key=lambda item: (item[0] is not None, str(item[0]))
            )
        ],
        "all": counts(row for members in by_store.values() for row in members),
    }


def stores_summaries(keys: Collection[str], rows: list[Document]) -> dict[str, Document]:
    """``stores_summary`` of each key, each over the rows ``stores_select`` picks for it, from
    one pass over ``rows`` (a rebuild summarises every period at once): each member counts
    from the first period ending after it enrolled on, at the store it belonged to at each
    period's end, which changes only where a move's time falls between two ends; so per
    member and granularity, a few index ranges of the periods sorted by their end, summed
    up once. Answers the same as ``stores_summary`` key by key, in about the time of one."""
    by_granularity: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_granularity[key.partition(":")[0]].append(key)
    summaries: dict[str, Document] = {}
    for group in by_granularity.values():
        group.sort(key=_end)
        summaries |= _stores_of_periods(group, rows)
    return summaries


def _stores_of_periods(keys: list[str], rows: list[Document]) -> dict[str, Document]:
    """``stores_summaries`` of periods of one granularity, sorted by their end."""
    ends = [_end(key) for key in keys]
    starts = [bounds(_period(key))[0] for key in keys]
    count = len(keys)
    members: dict[str | None, list[int]] = defaultdict(lambda: [0] * (count + 1))
    repeats: dict[str | None, list[int]] = defaultdict(lambda: [0] * (count + 1))
    new: dict[str | None, list[int]] = defaultdict(lambda: [0] * count)
    for row in rows:
        enrolled = row.get("enrolled_at")
        if enrolled is None:
            continue
        enrolled = utc(enrolled)
        first = bisect.bisect_right(ends, enrolled)  # the first period ending after it
        if first == count:
            continue
        second = row.get("second_order_at")
        repeat_from = count if second is None else bisect.bisect_right(ends, utc(second))
        for low, high, store in _home_store_spans(row, ends):
            low = max(low, first)
            if low >= high:
                continue
            members[store][low] += 1
            members[store][high] -= 1
            if max(low, repeat_from) < high:
                repeats[store][max(low, repeat_from)] += 1
                repeats[store][high] -= 1
            if low == first and starts[first] <= enrolled:
                new[store][first] += 1
    counted = {store: list(itertools.accumulate(steps)) for store, steps in members.items()}
    repeated = {store: list(itertools.accumulate(repeats[store])) for store in members}
    order = sorted(counted, key=lambda store: (store is not None, str(store)))
    summaries: dict[str, Document] = {}
    for index, key in enumerate(keys):
        entries = [
            {
                "store_id": store,
                "members": counted[store][index],
                "new_members": new[store][index],
                "repeat_purchasers": repeated[store][index],
            }
            for store in order
            if counted[store][index]
        ]
        summaries[key] = {
            "stores": entries,
            "all": {
                name: sum(entry[name] for entry in entries)
                for name in ("members", "new_members", "repeat_purchasers")
            },
        }
    return summaries


def _home_store_spans(row: Document, ends: list[datetime]) -> Iterable[tuple[int, int, str | None]]:
    """``[low, high)`` ranges of indexes into ``ends`` (ascending) over which the member's
    home store at the period's end (``home_store_at``) is one store, in order: the store
    taken last before an end, the enrolment store (or the latest) before any was taken."""
    stores = row.get("home_stores") or []
    taken = sorted(
        (utc(entry["since"]), number, entry["store_id"]) for number, entry in enumerate(stores)
    )
    store = stores[0]["store_id"] if stores else row.get("home_store_id")
    low = 0
    for since, _, next_store in taken:
        cut = bisect.bisect_right(ends, since)  # the ends after ``since`` see the move
        if cut > low:
            yield low, cut, store
            low = cut
        store = next_store
    if low < len(ends):
        yield low, len(ends), store


def carried_forward(board: Document) -> Document:
    """The stores board of a period in which no member enrolled, moved or became a repeat
    purchaser (it has no document): the latest earlier board's counts, no new members."""
    return {
        "stores": [entry | {"new_members": 0} for entry in board.get("stores", [])],
        "all": (board.get("all") or {"members": 0, "repeat_purchasers": 0}) | {"new_members": 0},
    }


def repeat_purchase_rate(entry: Entry) -> Decimal | None:
    """Repeat purchasers per member, four places; None without members."""
    if not entry.get("members"):
        return None
    rate = Decimal(entry["repeat_purchasers"]) / Decimal(entry["members"])
    return rate.quantize(RATE, ROUND_HALF_EVEN)


STORE_MEASURES: dict[StoreMeasure, Callable[[Entry], Decimal | int | None]] = {
    "repeat_purchase_rate": repeat_purchase_rate,
    "new_members": lambda entry: int(entry["new_members"]),
}


def store_ranking(
    current: Document,
    previous: Document,
    *,
    by: StoreMeasure = "repeat_purchase_rate",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The stores of a ``stores`` board ranked by repeat-purchase rate or new members, against
    the previous period's board; ties by store id."""

    def shown(board: Document) -> list[Document]:
        return [
            {**entry, "repeat_purchase_rate": _text(repeat_purchase_rate(entry))}
            for entry in board.get("stores", [])
            if entry.get("store_id") is not None
        ]

    return ranked(
        shown(current), shown(previous), key="store_id", value=STORE_MEASURES[by], limit=limit
    )


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def _period(key: str) -> str:
    _, _, period = key.partition(":")
    return period


POINTS_INDEXES: tuple[list[tuple[str, int]], ...] = ([("earned_periods", 1)],)
STORES_INDEXES: tuple[list[tuple[str, int]], ...] = ([("enrolled_at", 1)],)
