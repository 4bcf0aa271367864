"""End to end through the single HTTP entry: the service and retention side of the CRM.

A customer buys (an order paid in two parts) and is a loyalty member: the payments earn
points over Kafka and lift the tier; points are redeemed (and an over-redemption refused),
an answered survey earns a bonus and old points expire on the scheduler. Customer service opens a
question that is answered, resolved and rated, and a complaint that breaches its SLA and
is escalated to the team lead. The customer 360, the agent's view, the store's counts and
the Kafka topics show each step.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from stack_tools import client, read_topic, token

from crm_contracts import cloudevents

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

POINTS_EXPIRE_AFTER_SECONDS = 45
TEAM_LEAD = "lead-e2e"
SURVEY_BONUS = 50


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, str]:
    """Short SLAs and expiry, and quick schedulers, so the scenario sees them happen."""
    return {
        "CRM_TICKETS_SLA_TARGETS": json.dumps({"high": {"first_response": 3, "resolution": 600}}),
        "CRM_TICKETS_TEAM_LEADS": json.dumps({"support": TEAM_LEAD}),
        "CRM_TICKETS_SCHEDULER_INTERVAL_SECONDS": "1",
        "CRM_LOYALTY_TIERS": json.dumps(
            [{"name": "silver", "threshold": 0}, {"name": "gold", "threshold": 500}]
        ),
        "CRM_LOYALTY_POINTS_EXPIRE_AFTER": f"{POINTS_EXPIRE_AFTER_SECONDS}s",
        "CRM_LOYALTY_SCHEDULER_INTERVAL_SECONDS": "1",
        "CRM_LOYALTY_SURVEY_BONUS_POINTS": str(SURVEY_BONUS),
    }


def eventually(check: Callable[[], Any], within: float = 20.0, shows: Any = None) -> Any:
    """The first truthy answer of ``check``, polled until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while not (answer := check()):
        assert time.monotonic() < deadline, f"the system did not catch up in time: {shows}"
        time.sleep(0.2)
    return answer


def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    return body


def types_on(stack: dict[str, Any], topic: str, subject: str, expected: int) -> list[str]:
    records = asyncio.run(read_topic(stack["kafka"], subject, expected, topic=topic))
    return [cloudevents.decode(r.headers, r.value)[0].type.rsplit(".", 1)[1] for r in records]


def view_of(
    http: httpx.Client,
    customer: str,
    done: Callable[[dict[str, Any]], bool],
    within: float = 20.0,
) -> Any:
    seen: list[str] = []

    def caught_up() -> dict[str, Any] | None:
        answer = http.get(f"/views/customers/{customer}")
        seen[:] = [answer.text]
        body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return body if body and done(body) else None

    return eventually(caught_up, within=within, shows=seen)


def test_tickets_and_loyalty_from_purchase_to_expiry(stack: dict[str, Any]) -> None:
    env = stack["env"]
    run = uuid.uuid4().hex[:6]
    rep = client(stack, token(env, "sales_rep", f"r-{run}", "north"))
    manager = client(stack, token(env, "sales_manager", f"m-{run}", "north"))
    agent_id = f"a-{run}"
    agent = client(stack, token(env, "service_agent", agent_id, "support"))
    lead = client(stack, token(env, "service_agent", TEAM_LEAD, "support"))
    store_id = f"sto_{run}"
    store_manager = client(stack, token(env, "store_manager", f"s-{run}", store_id))
    admin = client(stack, token(env, "admin", f"root-{run}", "hq"))
    service = client(stack, token(env, "service", "survey-frontend", "hq"))

    # A customer, a store, and the customer enrolled there (the lowest tier).
    ada = ok(
        rep.post(
            "/contacts/customers",
            json={"name": "Ada Lovelace", "kind": "person", "email": f"ada-{run}@example.com"},
        ),
        201,
    )["id"]
    ok(
        admin.post(
            "/loyalty/stores", json={"store_id": store_id, "name": "Mitte", "city": "Berlin"}
        ),
        201,
    )
    member = ok(
        store_manager.post(
            "/loyalty/members", json={"customer_id": ada, "home_store_id": store_id}
        ),
        201,
    )
    assert member["tier"] == "silver"

    # An order of 1000.00 paid in two parts: each payment earns points over Kafka.
    opportunity = ok(
        rep.post(
            "/pipeline/opportunities",
            json={
                "customer_id": ada,
                "title": "Two engines",
                "amount": "1000.00",
                "currency": "EUR",
                "expected_close_date": "2027-03-31",
                "stage": "proposal",
            },
        ),
        201,
    )["id"]
    quote = ok(
        rep.post(
            "/pipeline/quotes",
            json={
                "opportunity_id": opportunity,
                "lines": [
                    {
                        "sku": "AE-1",
                        "description": "Engine",
                        "quantity": "2",
                        "unit_price": "500.00",
                    }
                ],
            },
        ),
        201,
    )["id"]
    ok(rep.post(f"/pipeline/quotes/{quote}/sent"))
    order = ok(rep.post(f"/pipeline/quotes/{quote}/accepted"), 201)["id"]
    for payment, amount in (("p1", "600.00"), ("p2", "400.00")):
        ok(
            manager.post(
                f"/pipeline/orders/{order}/payments",
                json={"amount": amount, "currency": "EUR", "payment_id": f"{payment}-{run}"},
            )
        )
    earned = eventually(
        lambda: (m := ok(admin.get(f"/loyalty/members/{ada}")))["balance"] == 1000 and m,
        shows="1000 points from two payments",
    )
    assert earned["tier"] == "gold"  # 600.00 spent crossed the 500 threshold

    # Redeem: 300 points go, and more than the balance is refused with the balance stated.
    redeemed = store_manager.post(
        f"/loyalty/members/{ada}/redemptions",
        json={"redemption_id": f"red-{run}", "points": 300, "description": "Espresso machine"},
    )
    assert redeemed.status_code in (200, 201), redeemed.text
    refused = problem(
        store_manager.post(
            f"/loyalty/members/{ada}/redemptions",
            json={"redemption_id": f"red2-{run}", "points": 5000, "description": "A car"},
        ),
        422,
    )
    assert "700" in json.dumps(refused)

    # Service: a question answered, resolved and rated; the survey earns a bonus over Kafka.
    question = ok(
        agent.post(
            "/tickets",
            json={
                "customer_id": ada,
                "kind": "question",
                "channel": "email",
                "subject": "How do I descale it?",
                "description": "The manual is unclear.",
                "team": "support",
                "assignee_id": agent_id,
            },
        ),
        201,
    )["id"]
    agent_view = eventually(
        lambda: (
            (a := admin.get(f"/views/tickets/{question}/agent-view")).status_code == 200
            and a.json()
        ),
        shows="the agent's view of the new ticket",
    )
    assert [o["order_id"] for o in agent_view["recent_orders"]] == [order]
    assert agent_view["customer"]["loyalty"]["tier"] == "gold"
    ok(agent.post(f"/tickets/{question}/replies", json={"body": "Use the descaling program."}))
    ok(agent.post(f"/tickets/{question}/resolve", json={"resolution": "Explained descaling."}))
    problem(
        service.post(f"/tickets/{question}/survey", json={"csat": 6, "would_recommend": 9}), 422
    )
    ok(service.post(f"/tickets/{question}/survey", json={"csat": 5, "would_recommend": 9}))
    problem(
        service.post(f"/tickets/{question}/survey", json={"csat": 4, "would_recommend": 9}), 409
    )
    # Loyalty hears the answered survey on Kafka and credits the survey bonus, once.
    bonus = eventually(
        lambda: (m := ok(admin.get(f"/loyalty/members/{ada}")))["balance"] == 750 and m,
        shows="the survey bonus",
    )
    assert bonus["balance"] == 1000 - 300 + SURVEY_BONUS

    # A complaint with a 3-second first-response target: the scheduler finds the breach and
    # hands it to the team lead at a higher priority.
    complaint = ok(
        agent.post(
            "/tickets",
            json={
                "customer_id": ada,
                "kind": "complaint",
                "channel": "phone",
                "priority": "high",
                "subject": "It leaks",
                "description": "Water under the machine.",
                "team": "support",
                "assignee_id": agent_id,
            },
        ),
        201,
    )["id"]
    escalated = eventually(
        lambda: (t := ok(lead.get(f"/tickets/{complaint}")))["assignee_id"] == TEAM_LEAD and t,
        shows="the breach escalated",
    )
    assert escalated["priority"] == "urgent"

    # The customer 360 shows the service and loyalty sides.
    view = view_of(
        admin,
        ada,
        lambda v: (
            (v["service"]["last_csat"] or {}).get("csat") == 5
            and v["service"]["sla_breaches"]["count"] >= 1
            # the breach and the escalation are folded one after the other: wait for both
            and [t["assignee_id"] for t in v["service"]["open_tickets"]] == [TEAM_LEAD]
            and (v["loyalty"] or {}).get("points_balance") == 750
        ),
    )
    assert [t["ticket_id"] for t in view["service"]["open_tickets"]] == [complaint]
    assert view["service"]["open_tickets"][0]["assignee_id"] == TEAM_LEAD
    assert {s["signal"] for s in view["churn_signals"]} == {"complaint_past_sla"}
    assert view["loyalty"]["tier"] == "gold"
    assert view["loyalty"]["home_store_id"] == store_id
    assert view["loyalty"]["purchases"] == 1
    assert ok(admin.get(f"/loyalty/members/{ada}"))["orders_paid"] == 1

    # The store counts its new member.
    period = time.strftime("%Y-%m", time.gmtime())
    counted = ok(store_manager.get(f"/views/stores/{store_id}", params={"period": period}))
    assert (counted["members"], counted["new_members"], counted["repeat_purchasers"]) == (1, 1, 0)

    # Old points expire, oldest lot first: the whole balance within the configured age.
    expired = view_of(
        admin,
        ada,
        lambda v: (v["loyalty"] or {}).get("points_balance") == 0,
        within=POINTS_EXPIRE_AFTER_SECONDS + 30,
    )
    assert expired["loyalty"]["tier"] == "gold"

    # And the topics carry each step, in order per aggregate.
    loyalty = types_on(stack, "crm.loyalty.events", ada, expected=7)
    assert loyalty[0] == "MemberEnrolled"
    assert loyalty.count("PointsEarned") == 2
    for step in ("TierUpgraded", "PointsRedeemed", "BonusAwarded", "PointsExpired"):
        assert step in loyalty, loyalty
    assert loyalty.index("PointsRedeemed") < loyalty.index("PointsExpired")
    answered = types_on(stack, "crm.tickets.events", question, expected=4)
    assert answered == ["TicketOpened", "TicketReplied", "TicketResolved", "SurveyAnswered"]
    breached = types_on(stack, "crm.tickets.events", complaint, expected=3)
    assert breached == ["TicketOpened", "SlaBreached", "TicketEscalated"]
