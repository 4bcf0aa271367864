"""End to end through `crm up`: the managers' read side agrees with a hand calculation, before
and after a full blue/green rebuild.

Two reps win three deals (one from a lead, one through a quote, an order and its payment)
and lose one; two agents resolve three tickets that customers rate; a complaint breaches
its SLA; the buying customer is a loyalty member. Then the sales leaderboard, the funnel,
the agent ranking, the points leaders, the store ranking, the KPIs and the churn watch list
are read, `crm projections rebuild` rebuilds every read model from the event stores while
the stack serves, and everything is read again.

This stack serves this module only, so the period's figures are this scenario's alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from stack_tools import client, token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, str]:
    return {
        "CRM_TICKETS_SLA_TARGETS": json.dumps({"high": {"first_response": 2, "resolution": 600}}),
        "CRM_TICKETS_SCHEDULER_INTERVAL_SECONDS": "1",
        "CRM_LOYALTY_SURVEY_BONUS_POINTS": "0",  # the points board is the payment's alone
    }


def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def eventually(check: Callable[[], Any], within: float = 30.0, shows: Any = None) -> Any:
    deadline = time.monotonic() + within
    while not (answer := check()):
        assert time.monotonic() < deadline, f"the system did not catch up in time: {shows}"
        time.sleep(0.25)
    return answer


class Scenario:
    """The ids of one run and the calls that build it."""

    def __init__(self, stack: dict[str, Any]) -> None:
        env = stack["env"]
        run = uuid.uuid4().hex[:6]
        self.run = run
        self.team = f"north-{run}"
        self.rep_a, self.rep_b = f"a-{run}", f"b-{run}"
        self.agent_x, self.agent_y = f"x-{run}", f"y-{run}"
        self.store = f"sto_{run}"
        self.rep = {
            self.rep_a: client(stack, token(env, "sales_rep", self.rep_a, self.team)),
            self.rep_b: client(stack, token(env, "sales_rep", self.rep_b, self.team)),
        }
        self.agent = {
            self.agent_x: client(stack, token(env, "service_agent", self.agent_x, "support")),
            self.agent_y: client(stack, token(env, "service_agent", self.agent_y, "support")),
        }
        self.manager = client(stack, token(env, "sales_manager", f"m-{run}", self.team))
        self.admin = client(stack, token(env, "admin", f"root-{run}", "hq"))
        self.survey = client(stack, token(env, "service", "survey-frontend", "hq"))
        self.customers: dict[str, str] = {}

    def customer(self, name: str, owner: str) -> str:
        email = f"{name.lower()}-{self.run}@example.com"
        found = ok(
            self.rep[owner].post(
                "/contacts/customers", json={"name": name, "kind": "person", "email": email}
            ),
            201,
        )["id"]
        self.customers[name] = found
        return str(found)

    def opportunity(self, owner: str, customer: str, amount: str) -> str:
        return str(
            ok(
                self.rep[owner].post(
                    "/pipeline/opportunities",
                    json={
                        "customer_id": customer,
                        "title": f"Deal of {amount}",
                        "amount": amount,
                        "currency": "EUR",
                        "expected_close_date": "2027-03-31",
                    },
                ),
                201,
            )["id"]
        )

    def ticket(self, agent: str, customer: str, kind: str, priority: str = "normal") -> str:
        return str(
            ok(
                self.agent[agent].post(
                    "/tickets",
                    json={
                        "customer_id": customer,
                        "kind": kind,
                        "channel": "phone",
                        "priority": priority,
                        "subject": f"A {kind}",
                        "description": "As told on the phone.",
                        "team": "support",
                        "assignee_id": agent,
                    },
                ),
                201,
            )["id"]
        )

    def resolved_and_rated(self, agent: str, ticket: str, csat: int) -> None:
        http = self.agent[agent]
        ok(http.post(f"/tickets/{ticket}/replies", json={"body": "On it."}))
        ok(http.post(f"/tickets/{ticket}/resolve", json={"resolution": "Done."}))
        ok(self.survey.post(f"/tickets/{ticket}/survey", json={"csat": csat, "would_recommend": 8}))


def build(stack: dict[str, Any]) -> Scenario:
    s = Scenario(stack)
    ada = s.customer("Ada", s.rep_a)
    bob = s.customer("Bob", s.rep_a)
    cy = s.customer("Cy", s.rep_b)
    dee = s.customer("Dee", s.rep_b)

    # Ada is a member of the store before she buys, so her payment earns points.
    ok(
        s.admin.post("/loyalty/stores", json={"store_id": s.store, "name": "Mitte", "city": "B"}),
        201,
    )
    ok(s.admin.post("/loyalty/members", json={"customer_id": ada, "home_store_id": s.store}), 201)

    # Rep A: a lead qualified and won (500.00); a deal quoted, ordered, paid and won (1000.00).
    lead = ok(
        s.rep[s.rep_a].post(
            "/pipeline/leads", json={"source": "web", "name": "Bob", "customer_id": bob}
        ),
        201,
    )["id"]
    from_lead = ok(
        s.rep[s.rep_a].post(
            f"/pipeline/leads/{lead}/qualification",
            json={"amount": "500.00", "currency": "EUR", "expected_close_date": "2027-03-31"},
        ),
        201,
    )["id"]
    ok(s.rep[s.rep_a].post(f"/pipeline/opportunities/{from_lead}/won"))
    quoted = s.opportunity(s.rep_a, ada, "1000.00")
    quote = ok(
        s.rep[s.rep_a].post(
            "/pipeline/quotes",
            json={
                "opportunity_id": quoted,
                "lines": [
                    {"sku": "E", "description": "E", "quantity": "1", "unit_price": "1000.00"}
                ],
            },
        ),
        201,
    )["id"]
    ok(s.rep[s.rep_a].post(f"/pipeline/quotes/{quote}/sent"))
    order = ok(s.rep[s.rep_a].post(f"/pipeline/quotes/{quote}/accepted"), 201)["id"]
    ok(s.rep[s.rep_a].post(f"/pipeline/opportunities/{quoted}/won"))
    ok(
        s.manager.post(
            f"/pipeline/orders/{order}/payments",
            json={"amount": "1000.00", "currency": "EUR", "payment_id": f"pay-{s.run}"},
        )
    )
    # Rep B: one won (800.00), one lost.
    ok(s.rep[s.rep_b].post(f"/pipeline/opportunities/{s.opportunity(s.rep_b, cy, '800.00')}/won"))
    lost = s.opportunity(s.rep_b, dee, "300.00")
    ok(s.rep[s.rep_b].post(f"/pipeline/opportunities/{lost}/lost", json={"reason": "budget"}))

    # Service: agent X resolves two tickets (rated 5 and 3), agent Y one (rated 4); a high
    # priority complaint of Cy's breaches its 2-second first-response target.
    for agent, customer, csat in ((s.agent_x, bob, 5), (s.agent_x, cy, 3), (s.agent_y, dee, 4)):
        s.resolved_and_rated(agent, s.ticket(agent, customer, "question"), csat)
    s.complaint = s.ticket(s.agent_y, cy, "complaint", priority="high")  # type: ignore[attr-defined]
    return s


def period() -> str:
    return time.strftime("%Y-%m", time.gmtime())


def read_side(s: Scenario) -> dict[str, Any]:
    """Everything the managers read, for this scenario's period."""
    month = {"period": period()}
    return {
        "sales": ok(s.manager.get("/views/boards/sales", params=month)),
        "sales_deals": ok(s.manager.get("/views/boards/sales", params={**month, "by": "deals"})),
        "funnel": ok(s.manager.get("/views/funnel", params=month)),
        "agents": ok(s.admin.get("/views/boards/agents", params=month)),
        "agents_csat": ok(
            s.admin.get("/views/boards/agents", params={**month, "by": "average_csat"})
        ),
        "points": ok(s.admin.get("/views/boards/points", params=month)),
        "stores": ok(s.admin.get("/views/boards/stores", params=month)),
        "kpis": ok(s.admin.get("/views/kpis", params=month)),
        "churn": ok(s.admin.get("/views/churn-watch", params={"days": 30})),
    }


def check_against_the_hand_calculation(s: Scenario, seen: dict[str, Any]) -> None:
    sales = [(e["owner_id"], e["rank"], e["value"]) for e in seen["sales"]["entries"]]
    assert sales == [(s.rep_a, 1, "1500.00"), (s.rep_b, 2, "800.00")]
    assert [(e["owner_id"], e["value"]) for e in seen["sales_deals"]["entries"]] == [
        (s.rep_a, 2),
        (s.rep_b, 1),
    ]
    funnel = seen["funnel"]  # the manager's team: this run's deals only
    assert (funnel["leads"], funnel["qualified"], funnel["opportunities"]) == (1, 1, 4)
    assert (funnel["won"], funnel["lost"]) == (3, 1)
    assert funnel["conversion"]["overall"] == "0.7500"

    agents = [(e["agent_id"], e["value"]) for e in seen["agents"]["entries"]]
    assert agents == [(s.agent_x, 2), (s.agent_y, 1)]
    # Both average 4.00: the tie is broken by agent id.
    assert [(e["agent_id"], e["value"]) for e in seen["agents_csat"]["entries"]] == [
        (s.agent_x, "4.00"),
        (s.agent_y, "4.00"),
    ]

    ada = s.customers["Ada"]
    assert [(e["customer_id"], e["value"]) for e in seen["points"]["entries"]] == [(ada, 1000)]
    stores = {e["store_id"]: e for e in seen["stores"]["entries"]}
    assert (stores[s.store]["members"], stores[s.store]["new_members"]) == (1, 1)
    assert stores[s.store]["value"] == "0.0000"  # one purchase: no repeat purchaser yet

    kpis = seen["kpis"]
    assert kpis["conversion_rate"] == "0.7500"  # 3 won of 4 closed
    assert kpis["average_csat"] == "4.00"  # (5 + 3 + 4) / 3
    assert kpis["complaint_rate"] == "1.0000"  # 1 complaint, 1 order placed
    # Each won deal is a purchase (the onboarding saga records it; Ada's order is the same
    # deal): Ada, Bob and Cy bought once each.
    assert kpis["repeat_purchase_rate"] == "0.0000"
    assert kpis["customer_lifetime_value"] == {"EUR": "333.33"}  # 1000.00 settled / 3 buyers
    assert kpis["churn_rate"] is None  # nobody was a customer when the month began

    listed = {e["customer_id"]: e for e in seen["churn"]["customers"]}
    cy = s.customers["Cy"]
    assert cy in listed, seen["churn"]
    assert [r["reason"] for r in listed[cy]["reasons"]] == ["complaints_past_sla"]


def caught_up(s: Scenario) -> dict[str, Any] | None:
    """The read side once every step has reached it (the consumer is asynchronous)."""
    try:
        seen = read_side(s)
        check_against_the_hand_calculation(s, seen)
    except AssertionError:
        return None
    return seen


def test_boards_funnel_kpis_and_churn_list_before_and_after_a_rebuild(
    stack: dict[str, Any],
) -> None:
    s = build(stack)
    before = eventually(lambda: caught_up(s), within=60, shows="the boards")
    check_against_the_hand_calculation(s, before)  # with its messages, if it ever failed

    crm = Path(sys.executable).with_name("crm")
    rebuilt = subprocess.run(
        [str(crm), "projections", "rebuild", "--grace", "2"],
        env=stack["env"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    after = read_side(s)
    check_against_the_hand_calculation(s, after)
    generations = ok(s.admin.get("/views/health"))["read_models"]
    assert all(model["generation"] >= 1 for model in generations.values()), generations
