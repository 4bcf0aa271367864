"""The sales leaderboard and the funnel over HTTP: ranked, compared with the previous period,
narrowed to what the caller may see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from customer_events import NOW, opened, pipeline, won
from test_sales_boards import at, captured, qualified
from test_views_http import client_of

from crm_projections.bootstrap import ProjectionsService
from crm_runtime.auth import mint_token

OCTOBER = NOW - timedelta(days=30)


async def fold(service: ProjectionsService, *streams: list[Any]) -> None:
    for records in streams:
        for metadata, event in records:
            for projector in service.projectors:
                await projector.apply(metadata, event)


def deal(i: int, owner: str, team: str, amount: str, moment: Any, currency: str = "EUR") -> Any:
    return at(
        pipeline(
            f"opp_{i}",
            opened(f"opp_{i}", "cus_1", owner_id=owner, team=team),
            won(f"opp_{i}", "cus_1", amount, currency=currency, owner_id=owner, team=team),
        ),
        moment,
    )


@pytest.fixture
async def seeded(service: ProjectionsService) -> ProjectionsService:
    await fold(
        service,
        deal(1, "u1", "north", "100.00", OCTOBER),
        deal(2, "u2", "north", "500.00", OCTOBER),
        deal(3, "u1", "north", "700.00", NOW),
        deal(4, "u2", "north", "300.00", NOW),
        deal(5, "u3", "south", "300.00", NOW),
        deal(6, "u3", "south", "50.00", NOW, currency="USD"),
        at(pipeline("lead_9", captured("lead_9", owner_id="u2"), qualified("lead_9")), NOW),
    )
    return service


def headers(service: ProjectionsService, role: str, subject: str, team: str) -> dict[str, str]:
    token = mint_token(service.settings, subject=subject, roles=[role], team=team)
    return {"Authorization": f"Bearer {token}"}


async def test_the_sales_leaderboard_ranks_reps_by_revenue_with_their_change(
    seeded: ProjectionsService,
) -> None:
    async with client_of(seeded) as http:
        answer = await http.get(
            "/views/boards/sales",
            params={"period": "2026-11"},
            headers=headers(seeded, "sales_rep", "u1", "north"),
        )
    assert answer.status_code == 200
    board = answer.json()
    assert board["previous_period"] == "2026-10"
    rows = [(e["owner_id"], e["rank"], e["value"], e["previous_rank"]) for e in board["entries"]]
    # u2 and u3 tie at 300.00: broken by id; u3 was not on October's board.
    assert rows == [("u1", 1, "700.00", 2), ("u2", 2, "300.00", 1), ("u3", 3, "300.00", None)]
    assert board["entries"][0]["rank_change"] == 1
    assert board["entries"][0]["value_change"] == "600.00"
    assert board["total"]["revenue"] == {"EUR": "1300.00", "USD": "50.00"}


async def test_the_leaderboard_by_deals_per_team(seeded: ProjectionsService) -> None:
    async with client_of(seeded) as http:
        answer = await http.get(
            "/views/boards/sales", params={"period": "2026-Q4", "by": "deals", "level": "team"}
        )
    teams = [(e["team"], e["value"]) for e in answer.json()["entries"]]
    assert teams == [("north", 4), ("south", 2)]


async def test_a_bad_period_is_a_problem_and_service_agents_see_no_sales_board(
    seeded: ProjectionsService,
) -> None:
    async with client_of(seeded) as http:
        bad = await http.get("/views/boards/sales", params={"period": "2026-13"})
        agent = await http.get(
            "/views/boards/sales",
            params={"period": "2026-11"},
            headers=headers(seeded, "service_agent", "a1", "support"),
        )
    assert (bad.status_code, agent.status_code) == (422, 403)
    assert agent.headers["content-type"] == "application/problem+json"


async def test_a_rep_sees_their_own_funnel_and_a_manager_the_teams(
    seeded: ProjectionsService,
) -> None:
    async with client_of(seeded) as http:
        own = await http.get(
            "/views/funnel",
            params={"period": "2026-11"},
            headers=headers(seeded, "sales_rep", "u2", "north"),
        )
        other = await http.get(
            "/views/funnel",
            params={"period": "2026-11", "owner_id": "u1"},
            headers=headers(seeded, "sales_rep", "u2", "north"),
        )
        team = await http.get(
            "/views/funnel",
            params={"period": "2026-11"},
            headers=headers(seeded, "sales_manager", "m1", "north"),
        )
        everyone = await http.get("/views/funnel", params={"period": "2026-11"})
    assert own.status_code == 200
    mine = own.json()
    assert (mine["owner_id"], mine["leads"], mine["qualified"], mine["opportunities"]) == (
        "u2",
        1,
        1,
        1,
    )
    assert mine["conversion"]["qualified"] == "1.0000"
    assert other.status_code == 403
    assert (team.json()["team"], team.json()["opportunities"], team.json()["won"]) == (
        "north",
        2,
        2,
    )
    assert everyone.json()["opportunities"] == 4
    assert everyone.json()["conversion"]["overall"] == "1.0000"
