"""The KPIs of a period and the churn watch list over HTTP, against a hand calculation."""

from __future__ import annotations

from datetime import timedelta

from customer_events import (
    NOW,
    at_times,
    interaction,
    lost,
    numbered,
    opened,
    overdue,
    paid,
    pipeline,
    placed,
    purchase_recorded,
    registered,
    settled,
    stage_changed,
    unpaid,
    won,
)
from test_views_boards_http import fold, headers
from test_views_http import client_of
from ticket_events import opened_on, resolved_on, surveyed_on, ticket_stream

from crm_contracts.contacts import CustomerOwnerAssigned, LifecycleStage
from crm_projections.bootstrap import ProjectionsService

OCTOBER = NOW - timedelta(days=30)  # 2026-10-25
CUSTOMER, CHURNED = LifecycleStage.CUSTOMER, LifecycleStage.CHURNED


def customer(customer_id: str, *later: object, owner: str = "u1") -> list[object]:
    """Registered and a customer in October; ``later`` events in November."""
    early = [
        registered(customer_id),
        CustomerOwnerAssigned(customer_id=customer_id, owner_id=owner, team="north"),
        stage_changed(customer_id, CUSTOMER),
    ]
    records = numbered(customer_id, *early, *later)  # type: ignore[arg-type]
    return at_times(records, OCTOBER, OCTOBER, OCTOBER, *([NOW] * len(later)))


async def seed(service: ProjectionsService) -> None:
    await fold(
        service,
        customer(
            "cus_a",
            purchase_recorded("cus_a", "ord_1", at=OCTOBER),
            purchase_recorded("cus_a", "ord_2", at=NOW),
        ),
        customer("cus_b", purchase_recorded("cus_b", "ord_3", at=NOW)),
        customer("cus_c", stage_changed("cus_c", CHURNED, from_=CUSTOMER), owner="u2"),
        at_times(
            pipeline(
                "ord_1",
                *placed("ord_1", "cus_a", "100.00", placed_at=OCTOBER),
                paid("ord_1", "cus_a", "100.00", "0.00"),
                settled("ord_1", "cus_a", "100.00"),
            ),
            OCTOBER,
        ),
        at_times(
            pipeline(
                "ord_2",
                *placed("ord_2", "cus_a", "200.00", placed_at=NOW),
                overdue("ord_2", "cus_a", "200.00"),
            ),
            NOW,
        ),
        at_times(
            pipeline(
                "ord_3",
                *placed("ord_3", "cus_b", "50.00", placed_at=NOW),
                unpaid("ord_3", "cus_b", "50.00"),
            ),
            NOW,
        ),
        ticket_stream(
            "t1",
            opened_on("t1", "cus_a", NOW, kind="complaint"),
            resolved_on("t1", "cus_a", NOW + timedelta(hours=1), kind="complaint"),
            surveyed_on("t1", "cus_a", NOW + timedelta(hours=2), 5, kind="complaint"),
        ),
        ticket_stream(
            "t2",
            opened_on("t2", "cus_b", NOW, kind="question"),
            resolved_on("t2", "cus_b", NOW + timedelta(hours=1), kind="question"),
            surveyed_on("t2", "cus_b", NOW + timedelta(hours=2), 4, kind="question"),
        ),
        at_times(pipeline("opp_1", opened("opp_1", "cus_a"), won("opp_1", "cus_a")), NOW),
        at_times(pipeline("opp_2", opened("opp_2", "cus_b"), lost("opp_2")), NOW),
    )


async def test_the_kpis_of_november_agree_with_the_hand_calculation(
    service: ProjectionsService,
) -> None:
    await seed(service)
    async with client_of(service) as http:
        answer = await http.get(
            "/views/kpis",
            params={"period": "2026-11"},
            headers=headers(service, "sales_manager", "m1", "north"),
        )
        refused = await http.get(
            "/views/kpis",
            params={"period": "2026-11"},
            headers=headers(service, "sales_rep", "u1", "north"),
        )
    assert answer.status_code == 200, answer.text
    kpis = answer.json()
    assert kpis["churn_rate"] == "0.3333"  # cus_c of the 3 customers active on 1 November
    assert kpis["repeat_purchase_rate"] == "0.5000"  # cus_a of cus_a and cus_b
    assert kpis["customer_lifetime_value"] == {"EUR": "50.00"}  # ord_1 settled / 2 buyers
    assert kpis["complaint_rate"] == "0.5000"  # 1 complaint, 2 orders placed in November
    assert kpis["average_csat"] == "4.50"
    assert kpis["overdue_ratio"]["count"] == "0.5000"  # ord_2 of ord_2 and ord_3 open
    assert kpis["overdue_ratio"]["amount"] == {"EUR": "0.8000"}  # 200.00 of 250.00
    assert kpis["conversion_rate"] == "0.5000"
    assert refused.status_code == 403


async def test_the_churn_watch_lists_each_customer_with_its_reasons(
    service: ProjectionsService,
) -> None:
    await seed(service)
    await fold(
        service,
        at_times(numbered("cus_a", interaction("cus_a", 1, at=NOW), first=6), NOW),
    )
    async with client_of(service) as http:
        manager = await http.get(
            "/views/churn-watch",
            params={"days": 30},
            headers=headers(service, "sales_manager", "m1", "north"),
        )
        rep = await http.get(
            "/views/churn-watch", headers=headers(service, "sales_rep", "u2", "north")
        )
    assert manager.status_code == 200, manager.text
    listed = {entry["customer_id"]: entry for entry in manager.json()["customers"]}
    reasons = {cid: [r["reason"] for r in entry["reasons"]] for cid, entry in listed.items()}
    assert "unpaid_orders" in reasons["cus_a"]  # ord_2 overdue
    assert "complaints_past_sla" not in reasons["cus_a"]
    assert "unpaid_orders" in reasons["cus_b"]  # ord_3 unpaid after 48 hours
    assert "no_interaction" in reasons["cus_b"]  # never talked to
    assert "no_interaction" not in reasons["cus_a"]  # talked to today
    assert "cus_c" not in listed  # churned already: nothing left to watch
    assert rep.json()["customers"] == []  # u2 owns only cus_c
