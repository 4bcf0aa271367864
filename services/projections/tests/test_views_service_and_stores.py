"""The agent's view of a ticket and the stores' member counts, over ASGI in process."""

from __future__ import annotations

from datetime import timedelta

import httpx
from customer_events import NOW, Record, numbered, placed, registered
from customer_events import pipeline as pipeline_stream
from test_views_http import client_of
from ticket_events import (
    breached,
    earned,
    enrolled,
    member_stream,
    resolved,
    surveyed,
    ticket_opened,
    ticket_stream,
)

from crm_contracts import loyalty as lo
from crm_projections.bootstrap import ProjectionsService
from crm_runtime.auth import mint_token


async def fold(service: ProjectionsService, *streams: list[Record]) -> None:
    for records in streams:
        for metadata, event in records:
            for projector in service.projectors:
                await projector.apply(metadata, event)


def as_agent(service: ProjectionsService, subject: str) -> httpx.AsyncClient:
    client = client_of(service, "service_agent")
    token = mint_token(service.settings, subject=subject, roles=["service_agent"], team="support")
    client.headers["Authorization"] = f"Bearer {token}"
    return client


async def test_the_agent_sees_the_customers_recent_orders_and_tickets(
    service: ProjectionsService,
) -> None:
    await fold(
        service,
        numbered("cus_1", registered("cus_1", "Ada Lovelace")),
        pipeline_stream("ord_1", *placed("ord_1", "cus_1", "250.00", placed_at=NOW)),
        ticket_stream(
            "tkt_old",
            ticket_opened("tkt_old", "cus_1", kind="question", assignee_id="a9"),
            resolved("tkt_old", "cus_1", kind="question", assignee_id="a9"),
            surveyed("tkt_old", "cus_1", 4, kind="question", assignee_id="a9"),
        ),
        ticket_stream(
            "tkt_new",
            ticket_opened("tkt_new", "cus_1", at=NOW + timedelta(days=1), assignee_id="a1"),
        ),
        member_stream("cus_1", enrolled("cus_1"), earned("cus_1", "pay_1", 250, 250)),
    )

    async with as_agent(service, "a1") as agent:
        answer = await agent.get("/views/tickets/tkt_new/agent-view")

    assert answer.status_code == 200
    view = answer.json()
    assert view["ticket"]["ticket_id"] == "tkt_new"
    assert view["customer"]["customer_id"] == "cus_1"
    assert view["customer"]["profile"]["name"] == "Ada Lovelace"  # agents see it unmasked
    assert view["customer"]["loyalty"]["points_balance"] == 250
    assert [o["order_id"] for o in view["recent_orders"]] == ["ord_1"]
    assert [t["ticket_id"] for t in view["recent_tickets"]] == ["tkt_new", "tkt_old"]
    assert [t["ticket_id"] for t in view["open_tickets"]] == ["tkt_new"]
    assert view["last_csat"]["csat"] == 4


async def test_an_agent_without_a_ticket_of_the_customer_is_refused(
    service: ProjectionsService,
) -> None:
    await fold(service, ticket_stream("tkt_1", ticket_opened("tkt_1", "cus_1", assignee_id="a1")))

    def agent(subject: str) -> dict[str, str]:
        token = mint_token(service.settings, subject=subject, roles=["service_agent"])
        return {"Authorization": f"Bearer {token}"}

    async with client_of(service) as http:
        refused = await http.get("/views/tickets/tkt_1/agent-view", headers=agent("a2"))
        customer = await http.get("/views/customers/cus_1", headers=agent("a2"))
        allowed = await http.get("/views/customers/cus_1", headers=agent("a1"))
    assert (refused.status_code, customer.status_code, allowed.status_code) == (403, 403, 200)
    assert refused.headers["content-type"] == "application/problem+json"


async def test_an_unknown_ticket_is_a_not_found_problem(service: ProjectionsService) -> None:
    async with client_of(service) as admin:
        answer = await admin.get("/views/tickets/tkt_nope/agent-view")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_breaches_are_in_the_agents_view(service: ProjectionsService) -> None:
    await fold(
        service,
        ticket_stream(
            "tkt_1", ticket_opened("tkt_1", "cus_1"), breached("tkt_1", "cus_1", "first_response")
        ),
    )
    async with client_of(service) as admin:
        view = (await admin.get("/views/tickets/tkt_1/agent-view")).json()
    assert view["sla_breaches"]["count"] == 1
    assert [s["signal"] for s in view["churn_signals"]] == ["complaint_past_sla"]


def store(store_id: str) -> list[Record]:
    opened = lo.StoreOpened(
        store_id=store_id, name=f"Store {store_id}", city="Berlin", opened_at=NOW
    )
    return numbered(store_id, opened, source=lo.SOURCE)


async def test_stores_count_members_new_members_and_repeat_purchasers(
    service: ProjectionsService,
) -> None:
    october = NOW - timedelta(days=40)  # NOW is in November 2026
    await fold(
        service,
        store("sto_1"),
        store("sto_2"),
        member_stream("cus_1", enrolled("cus_1", "sto_1", at=october)),
        member_stream(
            "cus_2",
            enrolled("cus_2", "sto_1"),
            earned("cus_2", "pay_1", 10, 10, orders=1),
            earned("cus_2", "pay_2", 10, 20, orders=2, order_id="ord_2"),
        ),
        member_stream(
            "cus_3",
            enrolled("cus_3", "sto_1"),
            earned("cus_3", "pay_3", 10, 10, orders=2, order_id="ord_3"),
            lo.HomeStoreChanged(
                customer_id="cus_3",
                home_store_id="sto_2",
                previous_home_store_id="sto_1",
                changed_at=NOW,
            ),
        ),
    )
    token = mint_token(service.settings, subject="s1", roles=["store_manager"], team=None)
    async with client_of(service) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        one = await http.get("/views/stores/sto_1", params={"period": "2026-11"})
        every = await http.get("/views/stores", params={"period": "2026"})
        bad = await http.get("/views/stores", params={"period": "November"})
        missing = await http.get("/views/stores/sto_9", params={"period": "2026"})

    assert one.status_code == 200
    assert {k: one.json()[k] for k in ("members", "new_members", "repeat_purchasers")} == {
        "members": 2,
        "new_members": 1,
        "repeat_purchasers": 1,
    }
    assert one.json()["repeat_purchase_rate"] == "0.5000"
    rows = {s["store_id"]: s for s in every.json()["stores"]}
    assert (rows["sto_1"]["new_members"], rows["sto_2"]["members"]) == (2, 1)
    assert rows["sto_2"]["repeat_purchase_rate"] == "1.0000"
    assert (bad.status_code, missing.status_code) == (422, 404)
    assert missing.headers["content-type"] == "application/problem+json"


async def test_a_sales_rep_may_not_read_the_stores(service: ProjectionsService) -> None:
    async with client_of(service, "sales_rep") as rep:
        answer = await rep.get("/views/stores", params={"period": "2026"})
    assert answer.status_code == 403
