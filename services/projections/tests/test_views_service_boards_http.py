"""The service-agent ranking, the points leaders and the store ranking over HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from customer_events import NOW
from test_views_boards_http import fold, headers
from test_views_http import client_of
from ticket_events import (
    earned_on,
    enrolled,
    member_stream,
    opened_on,
    resolved_on,
    surveyed_on,
    ticket_stream,
)

from crm_projections.bootstrap import ProjectionsService

OCTOBER = NOW - timedelta(days=30)


def ticket(ticket_id: str, agent: str, at: Any, *, csat: int, on_time: bool = True) -> Any:
    return ticket_stream(
        ticket_id,
        opened_on(ticket_id, "cus_1", at, assignee_id=agent),
        resolved_on(ticket_id, "cus_1", at + timedelta(hours=1), within_sla=on_time,
                    assignee_id=agent),
        surveyed_on(ticket_id, "cus_1", at + timedelta(hours=2), csat, assignee_id=agent),
    )  # fmt: skip


async def test_agents_are_ranked_by_tickets_resolved_csat_and_sla_kept(
    service: ProjectionsService,
) -> None:
    await fold(
        service,
        ticket("t1", "a1", NOW, csat=3),
        ticket("t2", "a1", NOW, csat=5, on_time=False),
        ticket("t3", "a2", NOW, csat=5),
        ticket("t4", "a2", OCTOBER, csat=1),
        ticket("t5", "a2", OCTOBER, csat=1),
    )
    agent = headers(service, "service_agent", "a1", "support")
    async with client_of(service) as http:
        resolved = (
            await http.get("/views/boards/agents", params={"period": "2026-11"}, headers=agent)
        ).json()
        csat = (
            await http.get(
                "/views/boards/agents",
                params={"period": "2026-11", "by": "average_csat"},
                headers=agent,
            )
        ).json()
        sla = (
            await http.get(
                "/views/boards/agents",
                params={"period": "2026-11", "by": "sla_kept"},
                headers=agent,
            )
        ).json()
        rep = await http.get(
            "/views/boards/agents",
            params={"period": "2026-11"},
            headers=headers(service, "sales_rep", "u1", "north"),
        )
    by_resolved = [(e["agent_id"], e["value"], e["previous_rank"]) for e in resolved["entries"]]
    assert by_resolved == [("a1", 2, None), ("a2", 1, 1)]
    assert [(e["agent_id"], e["value"]) for e in csat["entries"]] == [
        ("a2", "5.00"),
        ("a1", "4.00"),
    ]
    assert [(e["agent_id"], e["value"]) for e in sla["entries"]] == [
        ("a2", "1.0000"),
        ("a1", "0.5000"),
    ]
    assert rep.status_code == 403


async def test_points_leaders_and_the_store_ranking(service: ProjectionsService) -> None:
    await fold(
        service,
        member_stream(
            "cus_1",
            enrolled("cus_1", "sto_1", at=OCTOBER),
            earned_on("cus_1", "p1", 100, 100, OCTOBER),
            earned_on("cus_1", "p2", 40, 140, NOW, orders=2),
        ),
        member_stream(
            "cus_2",
            enrolled("cus_2", "sto_2", at=NOW),
            earned_on("cus_2", "p3", 90, 90, NOW, store="sto_2"),
        ),
    )
    manager = headers(service, "store_manager", "s1", "sto_1")
    async with client_of(service) as http:
        points = (
            await http.get("/views/boards/points", params={"period": "2026-11"}, headers=manager)
        ).json()
        stores = (
            await http.get("/views/boards/stores", params={"period": "2026-11"}, headers=manager)
        ).json()
        newest = (
            await http.get(
                "/views/boards/stores",
                params={"period": "2026-11", "by": "new_members"},
                headers=manager,
            )
        ).json()
    assert [(e["customer_id"], e["value"]) for e in points["entries"]] == [
        ("cus_2", 90),
        ("cus_1", 40),
    ]
    assert points["entries"][1]["previous_value"] == 100
    assert [(e["store_id"], e["value"]) for e in stores["entries"]] == [
        ("sto_1", "1.0000"),
        ("sto_2", "0.0000"),
    ]
    assert [(e["store_id"], e["value"]) for e in newest["entries"]] == [("sto_2", 1), ("sto_1", 0)]
