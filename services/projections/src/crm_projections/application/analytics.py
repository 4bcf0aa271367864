"""The analytical read models: rows folded from the events, and the boards summarised from them.

Each ``*_projector`` builds one rows collection with its boards (see ``boards``);
the entry points read the boards only.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Tracer

from crm_projections.application.boards import BoardSpec, RowsProjector
from crm_projections.domain import deal_rows, sales_boards
from crm_projections.domain.periods import BOARD_GRANULARITIES


def _by_period(prefix: str, *first: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    """One index per granularity: the ``first`` fields, then ``<prefix>_<granularity>``."""
    return tuple(
        (*((field, 1) for field in first), (f"{prefix}_{g.value}", 1)) for g in BOARD_GRANULARITIES
    )


SALES = BoardSpec(
    "sales",
    sales_boards.sales_keys,
    sales_boards.sales_select,
    sales_boards.sales_summary,
    indexes=_by_period("won", "status"),
)
FUNNEL = BoardSpec(
    "funnel",
    sales_boards.funnel_keys,
    sales_boards.funnel_select,
    sales_boards.funnel_summary,
    indexes=_by_period("entered"),
)


def deals_projector(database: Any, tracer: Tracer) -> RowsProjector:
    """Deals from lead to outcome: the sales leaderboard and the funnel."""
    return RowsProjector(
        deal_rows.MODEL,
        database,
        tracer,
        collection="deal_rows",
        boards=[SALES, FUNNEL],
        span_attribute="crm.deal_id",
    )
