"""Calendar periods the boards and KPIs are kept by: ISO week, month, quarter, year.

A period is written ``2026-W48`` (ISO week), ``2026-11`` (month), ``2026-Q4``
(quarter) or ``2026`` (year); every moment belongs to exactly one period of each
granularity, in UTC. ``previous`` gives the period a board compares with.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

PERIOD = re.compile(
    r"^(?P<year>[0-9]{4})"
    r"(-(?P<month>0[1-9]|1[0-2])|-Q(?P<quarter>[1-4])|-W(?P<week>0[1-9]|[1-4][0-9]|5[0-3]))?$"
)
PERIOD_PATTERN = PERIOD.pattern


class Granularity(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


BOARD_GRANULARITIES = (Granularity.WEEK, Granularity.MONTH, Granularity.QUARTER)


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def period_of(moment: datetime, granularity: Granularity) -> str:
    """The period of ``granularity`` that ``moment`` (UTC) falls in."""
    return _period_of_day(utc(moment).astimezone(UTC).date(), granularity)


@functools.lru_cache(maxsize=16_384)
def _period_of_day(day: date, granularity: Granularity) -> str:
    """``period_of`` by the UTC day (folds ask for the same few days over and over)."""
    match granularity:
        case Granularity.WEEK:
            year, week, _ = day.isocalendar()
            return f"{year}-W{week:02d}"
        case Granularity.MONTH:
            return f"{day.year}-{day.month:02d}"
        case Granularity.QUARTER:
            return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
        case Granularity.YEAR:
            return f"{day.year}"


@functools.lru_cache(maxsize=32_768)
def board_keys_of(moment: datetime) -> tuple[str, ...]:
    """The board keys of a moment: ``week:2026-W48``, ``month:2026-11``, ``quarter:2026-Q4``.
    Cached per moment: a row's periods are recomputed from all its facts at each fold.
    (Two moments equal as instants have the same keys; a naive one never equals an aware.)"""
    return _board_keys_of_day(utc(moment).astimezone(UTC).date())


@functools.lru_cache(maxsize=16_384)
def _board_keys_of_day(day: date) -> tuple[str, ...]:
    return tuple(f"{g.value}:{_period_of_day(day, g)}" for g in BOARD_GRANULARITIES)


def periods_of(moment: datetime) -> dict[str, str]:
    """The week, month and quarter of a moment, keyed by granularity."""
    return dict(_periods_of_day(utc(moment).astimezone(UTC).date()))


@functools.lru_cache(maxsize=16_384)
def _periods_of_day(day: date) -> tuple[tuple[str, str], ...]:
    return tuple((g.value, _period_of_day(day, g)) for g in BOARD_GRANULARITIES)


def granularity_of(period: str) -> Granularity:
    found = _parse(period)
    if found["week"]:
        return Granularity.WEEK
    if found["month"]:
        return Granularity.MONTH
    if found["quarter"]:
        return Granularity.QUARTER
    return Granularity.YEAR


def bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a period in UTC."""
    found = _parse(period)
    year = int(found["year"])
    if found["week"]:
        start_day = date.fromisocalendar(year, int(found["week"]), 1)
        start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC)
        return start, start + timedelta(days=7)
    if found["month"]:
        first, months = int(found["month"]), 1
    elif found["quarter"]:
        first, months = 3 * int(found["quarter"]) - 2, 3
    else:
        first, months = 1, 12
    last = first + months
    start = datetime(year, first, 1, tzinfo=UTC)
    end = datetime(year + (last - 1) // 12, (last - 1) % 12 + 1, 1, tzinfo=UTC)
    return start, end


def previous(period: str) -> str:
    """The period just before, of the same granularity."""
    start, _ = bounds(period)
    return period_of(start - timedelta(seconds=1), granularity_of(period))


def _parse(period: str) -> re.Match[str]:
    found = PERIOD.fullmatch(period)
    if found is None:
        raise ValueError(f"{period!r} is no period: use YYYY, YYYY-MM, YYYY-Qn or YYYY-Wnn")
    if found["week"]:
        year, week = int(found["year"]), int(found["week"])
        if week > date(year, 12, 28).isocalendar()[1]:
            raise ValueError(f"{period!r}: {year} has no ISO week {week}")
    return found
