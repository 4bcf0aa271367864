"""Exact money in the read models: ``decimal.Decimal`` in memory, strings in the documents.

The pipeline's contract writes amounts as decimal strings with two places
(``"1250.00"``) beside a currency; documents keep them that way (a document
store would turn a binary float into a rounding error, and Decimal is no BSON
type). Amounts of different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def money(amount: Decimal | str) -> str:
    """Two decimal places, half-even (the pipeline's own rounding)."""
    return str(Decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN))


def exact(amount: Decimal | str) -> str:
    """Every digit kept, e.g. a weighted amount ``48000.00 x 15 %`` = ``"7200.0000"``."""
    return format(Decimal(amount), "f")


def by_currency(amounts: Iterable[tuple[str, Decimal | str]]) -> dict[str, str]:
    """Sums per currency, rounded once at the end, keys sorted."""
    sums: dict[str, Decimal] = {}
    for currency, amount in amounts:
        sums[currency] = sums.get(currency, Decimal(0)) + Decimal(amount)
    return {currency: money(sums[currency]) for currency in sorted(sums)}
