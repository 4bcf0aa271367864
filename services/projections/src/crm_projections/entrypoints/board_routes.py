"""Boards, the funnel and the KPIs under ``/views``: each answer reads precomputed documents
(the period's board and the previous period's), never events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query

from crm_projections.application.policy import (
    READ_CHURN_WATCH,
    READ_FUNNEL,
    READ_KPIS,
    READ_LOYALTY_BOARD,
    READ_SALES_BOARD,
    READ_SERVICE_BOARD,
    READ_STORES,
    VIEWS_POLICY,
    visible,
)
from crm_projections.domain import (
    churn_watch,
    kpi_boards,
    loyalty_boards,
    sales_boards,
    service_boards,
)
from crm_projections.domain.periods import granularity_of, previous
from crm_projections.domain.ranking import ranked
from crm_runtime.guard import Caller

if TYPE_CHECKING:
    from crm_projections.bootstrap import ProjectionsService

BOARD_PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4]|W(0[1-9]|[1-4][0-9]|5[0-3]))$"
Period = Annotated[
    str,
    Query(
        pattern=BOARD_PERIOD,
        description="A week (2026-W48), month (2026-11) or quarter (2026-Q4).",
        examples=["2026-11"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Id = Annotated[str | None, Query(max_length=200)]


class SalesMeasure(StrEnum):
    REVENUE = "revenue"
    DEALS = "deals"


class Level(StrEnum):
    REP = "rep"
    TEAM = "team"


class AgentMeasure(StrEnum):
    RESOLVED = "resolved"
    AVERAGE_CSAT = "average_csat"
    SLA_KEPT = "sla_kept"


class AgentLevel(StrEnum):
    AGENT = "agent"
    TEAM = "team"


class StoreMeasure(StrEnum):
    REPEAT_PURCHASE_RATE = "repeat_purchase_rate"
    NEW_MEMBERS = "new_members"


def board_key(period: str) -> str:
    return f"{granularity_of(period).value}:{period}"


def board_routes(service: ProjectionsService) -> APIRouter:
    router = APIRouter(prefix="/views", tags=["boards"])

    @router.get("/boards/sales")
    async def sales_leaderboard(
        caller: Caller,
        period: Period,
        by: SalesMeasure = SalesMeasure.REVENUE,
        level: Level = Level.REP,
        currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")] = "EUR",
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """Sales leaderboard of the deals won in ``period``, per rep or per team.

        ``by=revenue`` ranks by revenue won in ``currency`` (exact decimal strings; deals in
        other currencies are not converted), ``by=deals`` by deals won in any currency. Each
        entry has its rank, value, the previous period's rank and value, and the change
        (``rank_change`` > 0: moved up). Ties are broken by id, ascending. Also per entry:
        revenue per currency, deals won and the average sales cycle in days from entering
        the funnel (lead captured, else opportunity opened) to won."""
        VIEWS_POLICY.authorise(caller, READ_SALES_BOARD)
        section, key = ("reps", "owner_id") if level is Level.REP else ("teams", "team")
        current = await service.deals.board("sales", board_key(period))
        before = await service.deals.board("sales", board_key(previous(period)))

        def value(entry: Any) -> Decimal | int | None:
            if by is SalesMeasure.DEALS:
                return int(entry["deals"])
            amount = entry["revenue"].get(currency)
            return None if amount is None else Decimal(amount)

        def counted(entries: list[Any]) -> list[Any]:
            return [e for e in entries if by is SalesMeasure.DEALS or currency in e["revenue"]]

        return {
            "period": period,
            "previous_period": previous(period),
            "by": by.value,
            "level": level.value,
            "currency": currency if by is SalesMeasure.REVENUE else None,
            "entries": ranked(
                counted(current[section]),
                counted(before[section]),
                key=key,
                value=value,
                limit=limit,
            ),
            "total": current["all"],
        }

    @router.get("/funnel")
    async def funnel(
        caller: Caller, period: Period, owner_id: Id = None, team: Id = None
    ) -> dict[str, Any]:
        """The funnel of the deals that entered it in ``period`` (lead captured, else
        opportunity opened): leads captured, qualified and disqualified; opportunities and
        how many reached each stage (reaching a stage counts the stages before it as passed);
        won and lost. ``conversion``: each stage's share of the stage before it (the first
        stage of all opportunities), leads qualified of leads, and overall won of all
        opportunities; null where nothing came before. Also the average sales cycle (days
        from entering to won) of the deals won in the period. Reps see their own funnel,
        managers their team's (``owner_id``, ``team`` narrow it)."""
        query = visible(caller, READ_FUNNEL, owner_id=owner_id, team=team)
        board = await service.deals.board("funnel", board_key(period))
        won = await service.deals.board("sales", board_key(period))
        if "owner_id" in query:
            counts = board["by_owner"].get(query["owner_id"]) or sales_boards.funnel_counts([])
            cycle = next((r for r in won["reps"] if r["owner_id"] == query["owner_id"]), None)
        elif "team" in query:
            counts = board["by_team"].get(query["team"]) or sales_boards.funnel_counts([])
            cycle = next((t for t in won["teams"] if t["team"] == query["team"]), None)
        else:
            counts, cycle = board["all"], won["all"]
        return {
            "period": period,
            "owner_id": query.get("owner_id"),
            "team": query.get("team"),
            **counts,
            "conversion": sales_boards.conversions(counts),
            "average_cycle_days": None if cycle is None else cycle["average_cycle_days"],
        }

    @router.get("/boards/agents")
    async def agent_ranking(
        caller: Caller,
        period: Period,
        by: AgentMeasure = AgentMeasure.RESOLVED,
        level: AgentLevel = AgentLevel.AGENT,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """Service-agent ranking of the tickets resolved in ``period``, per agent (the
        assignee when resolved) or team: ``by=resolved`` (tickets resolved),
        ``average_csat`` (mean satisfaction 1-5 of the surveys of those tickets, two places;
        agents without a survey come last) or ``sla_kept`` (share resolved within their SLA
        and never breached, four places). Each entry: rank, value, the previous period's rank
        and value, and the change; ties by id. Also each entry's counts (resolved,
        sla_kept, csat_sum, csat_count)."""
        VIEWS_POLICY.authorise(caller, READ_SERVICE_BOARD)
        current = await service.tickets.board("agents", board_key(period))
        before = await service.tickets.board("agents", board_key(previous(period)))
        rank = (
            service_boards.agent_ranking
            if level is AgentLevel.AGENT
            else service_boards.team_ranking
        )
        return {
            "period": period,
            "previous_period": previous(period),
            "by": by.value,
            "level": level.value,
            "entries": rank(current, before, by=by.value, limit=limit),
            "total": current["all"],
        }

    @router.get("/boards/points")
    async def points_leaders(caller: Caller, period: Period, limit: Limit = 100) -> dict[str, Any]:
        """Loyalty points leaders: members ranked by the points they earned in ``period``
        (purchases and bonuses; reversals and redemptions do not lower it), with the previous
        period's rank and points; ties by customer id."""
        VIEWS_POLICY.authorise(caller, READ_LOYALTY_BOARD)
        current = await service.members.board("points", board_key(period))
        before = await service.members.board("points", board_key(previous(period)))
        return {
            "period": period,
            "previous_period": previous(period),
            "entries": loyalty_boards.points_leaders(current, before, limit=limit),
            "total": current["all"],
        }

    @router.get("/boards/stores")
    async def store_ranking(
        caller: Caller,
        period: Period,
        by: StoreMeasure = StoreMeasure.REPEAT_PURCHASE_RATE,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """Store ranking at the end of ``period``: ``by=repeat_purchase_rate`` (members with
        two or more paid orders / members, four places) or ``new_members`` (enrolled in the
        period). A member counts at the store that was their home store at the period's end.
        With the previous period's rank and value; ties by store id."""
        VIEWS_POLICY.authorise(caller, READ_STORES)
        current = await service.members.board("store_ranking", board_key(period))
        before = await service.members.board("store_ranking", board_key(previous(period)))
        return {
            "period": period,
            "previous_period": previous(period),
            "by": by.value,
            "entries": loyalty_boards.store_ranking(current, before, by=by.value, limit=limit),
            "total": current["all"],
        }

    @router.get("/kpis")
    async def kpis(caller: Caller, period: Period) -> dict[str, Any]:
        """The KPIs of ``period``, each from precomputed boards (the period's and, for figures
        "as of" a date, the flows of every earlier period of its granularity).

        - churn_rate: of the customers active (customer, repeat customer or at risk) at the
          start of the period, the share that became churned during it.
        - repeat_purchase_rate: customers who had bought at least twice by the period's end,
          of those who had bought at least once.
        - customer_lifetime_value: per currency, revenue of the orders settled by the
          period's end (less refunds) per customer who has bought.
        - complaint_rate: complaint tickets opened in the period per order placed in it.
        - average_csat: mean satisfaction (1-5) of the surveys answered in the period.
        - overdue_ratio: at the period's end, open receivables flagged overdue of all open
          receivables, by count and per currency by balance.
        - conversion_rate: deals won in the period of the deals won or lost in it.

        Ratios are decimal strings (four places), null when nothing is there to divide by;
        ``inputs`` lists the counts each was worked out from."""
        VIEWS_POLICY.authorise(caller, READ_KPIS)
        key = board_key(period)
        customers, customers_before = await service.customer_rows.board_history(
            kpi_boards.CUSTOMERS, key
        )
        orders, orders_before = await service.order_rows.board_history(kpi_boards.ORDERS, key)
        opened = await service.tickets.board("service", key)
        surveys = await service.tickets.board("surveys", key)
        won = await service.deals.board("sales", key)
        lost = await service.deals.board("lost", key)
        return kpi_boards.kpis(
            period,
            customers=customers,
            customers_before=customers_before,
            orders=orders,
            orders_before=orders_before,
            complaints_opened=int(opened["all"]["complaints"]),
            csat_sum=int(surveys["all"]["csat_sum"]),
            csat_count=int(surveys["all"]["csat_count"]),
            deals_won=int(won["all"]["deals"]),
            deals_lost=int(lost["all"]["deals"]),
        )

    @router.get("/churn-watch")
    async def churn_list(
        caller: Caller,
        days: Annotated[int, Query(ge=1, le=3650)] = 60,
        owner_id: Id = None,
        team: Id = None,
        limit: Limit = 200,
    ) -> dict[str, Any]:
        """Customers at risk of leaving, each with every reason and its evidence: no
        interaction for ``days`` days (customers, repeat customers and those at risk), unpaid
        orders (unpaid 48 hours after placing, or overdue), falling satisfaction (the last
        CSAT below 3, or below the one before), complaints past their SLA. Read from the
        customer 360 documents by index, never from events. Reps see their own customers,
        managers their team's."""
        query = visible(caller, READ_CHURN_WATCH, owner_id=owner_id, team=team)
        now = datetime.now(UTC)
        owned = {f"owner.{field}": value for field, value in query.items()}
        candidates = await service.customer360.candidates(
            {**churn_watch.candidates_filter(now=now, days=days), **owned}, limit=limit
        )
        entries = [
            entry
            for view in candidates
            if (entry := churn_watch.watch_entry(view, now=now, days=days)) is not None
        ]
        return {"days": days, "as_of": now, **query, "customers": entries}

    return router
