"""End to end through the single HTTP entry: the sales side of the CRM, step by step.

Registers customers, finds and merges a duplicate, logs an interaction, takes a lead to a
won deal with a quote, an order and two partial payments, hands a leaving rep's customers
over, and checks that the customer 360 and the Kafka topics show every step.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from stack_tools import client, read_topic, token

from crm_contracts import cloudevents

pytestmark = pytest.mark.e2e


def eventually(check: Callable[[], Any], within: float = 10.0, shows: Any = None) -> Any:
    """The first truthy answer of ``check``, polled until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while not (answer := check()):
        assert time.monotonic() < deadline, f"the system did not catch up in time: {shows}"
        time.sleep(0.1)
    return answer


def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def types_on(stack: dict[str, Any], topic: str, subject: str, expected: int) -> list[str]:
    records = asyncio.run(read_topic(stack["kafka"], subject, expected, topic=topic))
    return [cloudevents.decode(r.headers, r.value)[0].type.rsplit(".", 1)[1] for r in records]


def test_from_registration_to_a_paid_order_and_a_handover(stack: dict[str, Any]) -> None:
    env = stack["env"]
    run = uuid.uuid4().hex[:6]  # people of this run only, whatever else the stack holds
    leaving, successor = f"r1-{run}", f"r2-{run}"
    rep = client(stack, token(env, "sales_rep", leaving, "north"))
    manager = client(stack, token(env, "sales_manager", f"m1-{run}", "north"))
    email = f"ada-{run}@example.com"

    # Two registrations of the same person: the duplicate check finds them, a merge folds them.
    ada = ok(
        rep.post(
            "/contacts/customers",
            json={"name": "Ada Lovelace", "kind": "person", "email": email},
        ),
        201,
    )["id"]
    twin = ok(
        rep.post(
            "/contacts/customers",
            json={"name": "Ada  Lovelace", "kind": "person", "email": email.upper()},
        ),
        201,
    )["id"]
    duplicates = ok(manager.get(f"/contacts/customers/{ada}/duplicates"))
    assert twin in str(duplicates)
    ok(manager.post(f"/contacts/customers/{ada}/merge", json={"merged_id": twin}))
    redirected = manager.get(f"/contacts/customers/{twin}")
    assert ok(redirected)["id"] == ada
    assert redirected.headers["content-location"].endswith(f"/customers/{ada}")

    ok(
        rep.post(
            f"/contacts/customers/{ada}/interactions",
            json={"kind": "visit", "summary": "Showed the analytical engine"},
        ),
        201,
    )

    # A lead becomes a won deal with a quote, an order and two partial payments.
    lead = ok(
        rep.post(
            "/pipeline/leads",
            json={"source": "web", "name": "Ada Lovelace", "email": email, "customer_id": ada},
        ),
        201,
    )["id"]
    opportunity = ok(
        rep.post(
            f"/pipeline/leads/{lead}/qualification",
            json={"amount": "1000.00", "currency": "EUR", "expected_close_date": "2027-03-31"},
        ),
        201,
    )["id"]
    ok(rep.post(f"/pipeline/opportunities/{opportunity}/stage", json={"stage": "proposal"}))
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
    order = ok(rep.post(f"/pipeline/quotes/{quote}/accepted"), 201)
    assert order["total"] == "1000.00"
    won = ok(rep.post(f"/pipeline/opportunities/{opportunity}/won"))
    assert won["status"] == "won"
    for payment, amount in (("p1", "400.00"), ("p2", "600.00")):
        ok(
            manager.post(
                f"/pipeline/orders/{order['id']}/payments",
                json={"amount": amount, "currency": "EUR", "payment_id": f"{payment}-{run}"},
            ),
        )
    receivable = ok(manager.get(f"/pipeline/orders/{order['id']}"))["receivable"]
    assert (receivable["balance"], receivable["settled"]) == ("0.00", True)

    # The placed order reaches contacts over Kafka: the prospect is now a customer.
    eventually(
        lambda: manager.get(f"/contacts/customers/{ada}").json()["lifecycle_stage"] == "customer"
    )

    # The rep leaves: their customers go to the successor, history kept.
    handover = manager.post(
        "/contacts/handovers",
        json={"leaving_rep_id": leaving, "successor_ids": [successor], "reason": "left"},
    )
    assert handover.status_code in (200, 201), handover.text
    assert ok(manager.get(f"/contacts/customers/{ada}"))["owner_id"] == successor

    # The customer 360 shows every step.
    seen: list[Any] = []

    def caught_up() -> dict[str, Any] | None:
        answer = manager.get(f"/views/customers/{ada}")
        seen[:] = [answer.text]
        if answer.status_code != 200:
            return None
        body: dict[str, Any] = answer.json()
        done = (
            (body.get("owner") or {}).get("owner_id") == successor
            and body.get("lifecycle_stage") == "customer"
            and body.get("revenue_won")
            and body.get("orders", {}).get("count")
        )
        return body if done else None

    view = eventually(caught_up, within=20, shows=seen)
    assert view["revenue_won"] == {"EUR": "1000.00"}
    assert view["open_opportunities"] == {} or view["open_opportunities"] == []
    assert [entry["kind"] for entry in view["latest_interactions"]][:1] == ["visit"]
    assert view["receivables"]["open_balance"] in ({}, {"EUR": "0.00"})

    # The won deal onboarded the new customer, step by step in /sagas: the deal is one
    # purchase however it arrived, she became a loyalty member at the default home store,
    # and an onboarding ticket opened.
    seen_saga: list[Any] = []

    def onboarded() -> dict[str, Any] | None:
        answer = manager.get(f"/sagas/sag_onboarding_{opportunity}")
        seen_saga[:] = [answer.text]
        body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return body if body.get("status") == "completed" else None

    saga = eventually(onboarded, within=30, shows=seen_saga)
    steps = [e.get("step") for e in saga["history"] if e.get("kind") == "step_succeeded"]
    for step in ("look_up_customer", "record_purchase", "enrol_member", "open_onboarding_ticket"):
        assert step in steps, saga["history"]
    assert saga["state"]["new_customer"] is True
    assert ok(manager.get(f"/contacts/customers/{ada}"))["purchases"] == 1
    admin = client(stack, token(env, "admin", f"root-{run}", "hq"))
    assert ok(admin.get(f"/loyalty/members/{ada}"))["home_store_id"] == "sto_main"
    tickets = ok(admin.get("/tickets", params={"customer_id": ada}))
    assert [t["kind"] for t in tickets["tickets"]] == ["service_request"], tickets

    # And the topics carry each step, in order per aggregate.
    contacts = types_on(stack, "crm.contacts.events", ada, expected=7)
    for step in (
        "CustomerRegistered",
        "CustomerOwnerAssigned",
        "CustomersMerged",
        "InteractionLogged",
        "CustomerPurchaseRecorded",
        "CustomerLifecycleStageChanged",
    ):
        assert step in contacts, contacts
    assert contacts.index("CustomerRegistered") < contacts.index("CustomersMerged")
    assert contacts[-1] == "CustomerOwnerAssigned"
    orders = types_on(stack, "crm.pipeline.events", order["id"], expected=5)
    assert orders == [
        "OrderPlaced",
        "ReceivableOpened",
        "PaymentReceived",
        "PaymentReceived",
        "ReceivableSettled",
    ]
    deals = types_on(stack, "crm.pipeline.events", opportunity, expected=3)
    assert deals == ["OpportunityOpened", "OpportunityStageMoved", "OpportunityWon"]
