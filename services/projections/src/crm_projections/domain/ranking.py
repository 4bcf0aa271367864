"""Ranks on a board: by value, highest first, ties broken by id so every reader agrees.

``ranked`` numbers entries 1, 2, 3... (no shared ranks: a tie is broken by the
entry's id, ascending) and says, for each, its rank and value in the previous
period and the change of both; an entry new to the board has no previous rank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

Entry = Mapping[str, Any]


def ranked(
    current: Iterable[Entry],
    previous: Iterable[Entry],
    *,
    key: str,
    value: Callable[[Entry], Decimal | int | None],
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The current entries ranked by ``value`` (entries without a value come last), each
    with ``rank``, ``value``, ``previous_rank``, ``previous_value``, ``rank_change`` (positive:
    moved up) and ``value_change``."""
    now = _order(current, key, value)
    before = _order(previous, key, value)
    earlier = {entry[key]: (rank, value(entry)) for rank, entry in enumerate(before, start=1)}
    shown = now if limit is None else now[:limit]
    answer: list[dict[str, Any]] = []
    for rank, entry in enumerate(shown, start=1):
        amount = value(entry)
        previous_rank, previous_value = earlier.get(entry[key], (None, None))
        answer.append(
            {
                **entry,
                "rank": rank,
                "value": _shown(amount),
                "previous_rank": previous_rank,
                "previous_value": _shown(previous_value),
                "rank_change": None if previous_rank is None else previous_rank - rank,
                "value_change": None
                if amount is None or previous_value is None
                else _shown(amount - previous_value),
            }
        )
    return answer


def _order(
    entries: Iterable[Entry], key: str, value: Callable[[Entry], Decimal | int | None]
) -> list[Entry]:
    def order(entry: Entry) -> tuple[int, Decimal, str]:
        amount = value(entry)
        if amount is None:
            return (1, Decimal(0), str(entry[key]))
        return (0, -Decimal(amount), str(entry[key]))

    return sorted(entries, key=order)


def _shown(amount: Decimal | int | None) -> str | int | None:
    """Integers stay integers; decimals travel as exact strings."""
    if amount is None or isinstance(amount, int):
        return amount
    return format(amount, "f")
