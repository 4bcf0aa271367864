"""The analytical read models: rows folded from the events, and the boards summarised from them.

Each ``*_projector`` builds one rows collection with its boards (see ``boards``);
the entry points read the boards only.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from opentelemetry.trace import Tracer

from crm_projections.application.boards import STAMPS, BoardSpec, RowsProjector
from crm_projections.domain import (
    customer_rows,
    deal_rows,
    kpi_boards,
    loyalty_boards,
    member_rows,
    order_rows,
    sales_boards,
    service_boards,
    ticket_rows,
)
from crm_projections.domain.periods import BOARD_GRANULARITIES


def _by_period(prefix: str, *first: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    """One index per granularity: the ``first`` fields, then ``<prefix>_<granularity>``."""
    return tuple(
        (*((field, 1) for field in first), (f"{prefix}_{g.value}", 1)) for g in BOARD_GRANULARITIES
    )


def _board(
    name: str,
    module: ModuleType,
    *,
    stem: str | None = None,
    indexes: Sequence[Sequence[tuple[str, int]]] = (),
) -> BoardSpec:
    """The board ``name`` of a domain module that names its parts ``<stem>_keys``,
    ``<stem>_select`` and ``<stem>_summary`` (and ``<stem>_selects`` when its ``select``
    picks other rows than those its ``keys`` name, ``<stem>_summaries`` when it summarises
    many keys at once)."""
    stem = stem or name
    return BoardSpec(
        name,
        getattr(module, f"{stem}_keys"),
        getattr(module, f"{stem}_select"),
        getattr(module, f"{stem}_summary"),
        indexes=tuple(tuple(index) for index in indexes),
        selects=getattr(module, f"{stem}_selects", None),
        summarise_many=getattr(module, f"{stem}_summaries", None),
    )


SALES = _board("sales", sales_boards, indexes=_by_period("won", "status"))
FUNNEL = _board("funnel", sales_boards, indexes=_by_period("entered"))


LOST = _board("lost", sales_boards, indexes=_by_period("lost", "status"))


def deals_projector(database: Any, tracer: Tracer) -> RowsProjector:
    """Deals from lead to outcome: the sales leaderboard, deals lost, and the funnel."""
    return RowsProjector(
        deal_rows.MODEL,
        database,
        tracer,
        collection="deal_rows",
        boards=[SALES, LOST, FUNNEL],
        span_attribute="crm.deal_id",
    )


AGENTS = _board("agents", service_boards, indexes=service_boards.AGENTS_INDEXES)
SERVICE = _board("service", service_boards, indexes=service_boards.SERVICE_INDEXES)
SURVEYS = _board("surveys", service_boards, indexes=service_boards.SURVEYS_INDEXES)
POINTS = _board("points", loyalty_boards, indexes=loyalty_boards.POINTS_INDEXES)
STORE_RANKING = _board(
    "store_ranking", loyalty_boards, stem="stores", indexes=loyalty_boards.STORES_INDEXES
)


def tickets_projector(database: Any, tracer: Tracer) -> RowsProjector:
    """Tickets from opening to survey: the agent ranking, tickets opened, surveys answered."""
    return RowsProjector(
        ticket_rows.MODEL,
        database,
        tracer,
        collection="ticket_rows",
        boards=[AGENTS, SERVICE, SURVEYS],
        span_attribute="crm.ticket_id",
    )


def members_projector(database: Any, tracer: Tracer) -> RowsProjector:
    """Loyalty members: the points leaders and the store ranking."""
    return RowsProjector(
        member_rows.MODEL,
        database,
        tracer,
        collection="member_rows",
        boards=[POINTS, STORE_RANKING],
        span_attribute="crm.customer_id",
    )


# The KPI boards' keys are the periods the row's latest fold changed (``touched``), read by
# ``keys`` only: a fold that changes nothing else (a detail change of the customer) changes
# no KPI board.
KPI_IGNORES = STAMPS | {"touched"}
KPI_CUSTOMERS = BoardSpec(
    kpi_boards.CUSTOMERS,
    kpi_boards.keys,
    kpi_boards.select,
    kpi_boards.customer_summary,
    indexes=tuple(tuple(index) for index in kpi_boards.INDEXES),
    ignores=KPI_IGNORES,
    selects=kpi_boards.selects,
    summarise_many=kpi_boards.customer_summaries,
)
KPI_ORDERS = BoardSpec(
    kpi_boards.ORDERS,
    kpi_boards.keys,
    kpi_boards.select,
    kpi_boards.order_summary,
    indexes=tuple(tuple(index) for index in kpi_boards.INDEXES),
    ignores=KPI_IGNORES,
    selects=kpi_boards.selects,
)


def customers_projector(database: Any, tracer: Tracer) -> RowsProjector:
    """Customers' lifecycle and purchases: churn and repeat-purchase inputs of the KPIs."""
    return RowsProjector(
        customer_rows.MODEL,
        database,
        tracer,
        collection="customer_rows",
        boards=[KPI_CUSTOMERS],
        span_attribute="crm.customer_id",
    )


def orders_projector(database: Any, tracer: Tracer) -> RowsProjector:
    """Orders and their receivables: lifetime value, overdue and complaint-rate inputs."""
    return RowsProjector(
        order_rows.MODEL,
        database,
        tracer,
        collection="order_rows",
        boards=[KPI_ORDERS],
        span_attribute="crm.order_id",
    )
