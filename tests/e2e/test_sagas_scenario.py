"""End to end through the single HTTP entry: the unpaid-order saga (issue #7, flow 3).

A loyalty member places two orders through the pipeline (opportunity, quote sent and
accepted) and pays neither. With the unpaid window set to a few seconds the pipeline's
scheduler flags both (``OrderUnpaidAfter48Hours``: the name is historical, the window is
``CRM_PIPELINE_UNPAID_AFTER``), and for each the payment-reminder saga leaves a reminder
for the owning rep on the customer's timeline and issues a coupon valid for
``COUPON_SECONDS``. Order A is then paid in full: its saga completes and the coupon stays.
Order B stays unpaid until the coupon's end: the coupon is withdrawn and the saga ends
compensated. ``/sagas``, loyalty, contacts, the Kafka topics and ``crm trace`` show each step.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from saga_tools import ok, saga_when, succeeded, trace, types_on, types_until
from stack_tools import client, token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

UNPAID_AFTER_SECONDS = 3
COUPON_SECONDS = 20
UNPAID = "crm.pipeline.OrderUnpaidAfter48Hours"


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, str]:
    """A short unpaid window and coupon, and quick schedulers, so the scenario sees them.

    Loyalty's own scheduler (which expires coupons past their end) is slowed right down:
    it would otherwise race the saga to order B's coupon, which then ends ``expired``
    rather than withdrawn (the saga accepts either; this test wants to see the withdrawal).
    """
    return {
        "CRM_PIPELINE_UNPAID_AFTER": f"{UNPAID_AFTER_SECONDS}s",
        "CRM_PIPELINE_SCHEDULER_INTERVAL_SECONDS": "1",
        "CRM_SAGAS_UNPAID_COUPON_DAYS": repr(COUPON_SECONDS / 86400),
        "CRM_SAGAS_DEADLINE_INTERVAL_SECONDS": "1",
        "CRM_LOYALTY_SCHEDULER_INTERVAL_SECONDS": "3600",
    }


def same_moment(first: str, second: str) -> bool:
    """Two ISO 8601 times naming the same moment (to the millisecond a store keeps)."""
    apart = datetime.fromisoformat(first) - datetime.fromisoformat(second)
    return abs(apart.total_seconds()) < 0.001


def place_order(rep: httpx.Client, customer: str, title: str) -> str:
    opportunity = ok(
        rep.post(
            "/pipeline/opportunities",
            json={
                "customer_id": customer,
                "title": title,
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
                    {"sku": "AE-1", "description": title, "quantity": "2", "unit_price": "500.00"}
                ],
            },
        ),
        201,
    )["id"]
    ok(rep.post(f"/pipeline/quotes/{quote}/sent"))
    order: str = ok(rep.post(f"/pipeline/quotes/{quote}/accepted"), 201)["id"]
    return order


def test_unpaid_orders_get_a_reminder_and_a_coupon_withdrawn_unless_paid(
    stack: dict[str, Any],
) -> None:
    env = stack["env"]
    run = uuid.uuid4().hex[:6]
    rep_id = f"r-{run}"
    rep = client(stack, token(env, "sales_rep", rep_id, "north"))
    manager = client(stack)  # the stack's sales manager (reads /sagas, records payments)
    store_id = f"sto_{run}"
    store_manager = client(stack, token(env, "store_manager", f"s-{run}", store_id))
    admin = client(stack, token(env, "admin", f"root-{run}", "hq"))

    # A customer who is a loyalty member at a store of her own.
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
    ok(
        store_manager.post(
            "/loyalty/members", json={"customer_id": ada, "home_store_id": store_id}
        ),
        201,
    )

    # Two orders, neither paid: the scheduler flags both once the short window has passed.
    order_a = place_order(rep, ada, "Engine A")
    order_b = place_order(rep, ada, "Engine B")
    sagas = {order: f"sag_payment_{order}" for order in (order_a, order_b)}

    def coupon_issued(saga: dict[str, Any]) -> bool:
        return "issue_coupon" in succeeded(saga)

    issued = {
        order: saga_when(manager, saga_id, coupon_issued, within=UNPAID_AFTER_SECONDS + 25)
        for order, saga_id in sagas.items()
    }
    for order, saga in issued.items():
        assert (saga["type"], saga["status"]) == ("payment_reminder", "running"), saga
        started = saga["history"][0]
        assert (started["kind"], started["trigger"]["type"]) == ("started", UNPAID)
        assert started["trigger"]["subject"] == order
        assert started["trigger"]["correlation_id"] == saga["correlation_id"]
        assert succeeded(saga)[:3] == ["remind_owner", "check_membership", "issue_coupon"]
        state = saga["state"]
        assert (state["order_id"], state["customer_id"], state["owner_id"]) == (order, ada, rep_id)
        assert (state["reason"], state["balance"], state["reminded"], state["member"]) == (
            "unpaid_48h",
            "1000.00",
            True,
            True,
        )
        assert state["coupon_id"] == f"cpn_pay_{order}"
        deadline = saga["pending_deadline"]
        assert deadline["name"] == "payment", saga
        assert same_moment(deadline["at"], state["coupon_valid_until"]), saga

    # Loyalty holds a coupon per order, valid for the short wait, referencing the order.
    member = ok(admin.get(f"/loyalty/members/{ada}"))
    coupons = {c["reference"]: c for c in member["coupons"]}
    assert set(coupons) == {order_a, order_b}, member["coupons"]
    for order, coupon in coupons.items():
        assert (coupon["coupon_id"], coupon["reward"], coupon["status"]) == (
            f"cpn_pay_{order}",
            "discount",
            "active",
        )
        assert same_moment(coupon["valid_until"], issued[order]["state"]["coupon_valid_until"])

    # The owning rep finds a reminder per order on the customer's timeline.
    timeline = ok(rep.get(f"/contacts/customers/{ada}/interactions"))["interactions"]
    reminders = [i for i in timeline if i["kind"] == "note" and "Reminder for" in i["summary"]]
    for order in (order_a, order_b):
        (note,) = [i for i in reminders if order in i["summary"]]
        assert f"Reminder for {rep_id}" in note["summary"]
        assert "1000.00 EUR owed" in note["summary"]

    # Order A is paid in full before its coupon ends: the saga completes, the coupon stays.
    ok(
        manager.post(
            f"/pipeline/orders/{order_a}/payments",
            json={"amount": "1000.00", "currency": "EUR", "payment_id": f"pay-{run}"},
        )
    )
    paid = saga_when(manager, sagas[order_a], lambda s: s["status"] == "completed", within=20)
    observed = [e["trigger"]["type"] for e in paid["history"] if e["kind"] == "observed"]
    assert "crm.pipeline.PaymentReceived" in observed, paid["history"]
    assert (paid["state"]["paid"], paid["pending_deadline"]) == (True, None)
    assert "withdraw_coupon" not in succeeded(paid)

    # Order B stays unpaid until its coupon's end: the coupon is withdrawn (compensated).
    compensated = saga_when(
        manager, sagas[order_b], lambda s: s["status"] == "compensated", within=COUPON_SECONDS + 20
    )
    assert compensated["state"]["coupon_end"] == "withdrawn"
    assert compensated["state"]["paid"] is False
    assert compensated["pending_deadline"] is None
    last = compensated["history"][-2:]
    assert [e["kind"] for e in last] == ["deadline_passed", "step_succeeded"], last
    assert (last[0]["name"], last[1]["step"]) == ("payment", "withdraw_coupon")
    member = ok(admin.get(f"/loyalty/members/{ada}"))
    statuses = {c["reference"]: c["status"] for c in member["coupons"]}
    assert statuses == {order_a: "active", order_b: "withdrawn"}, member["coupons"]
    assert ok(manager.get(f"/sagas/{sagas[order_a]}"))["status"] == "completed"  # still

    # The topics carry the steps: the flags on the pipeline's, the coupons on loyalty's.
    assert types_on(stack, "crm.pipeline.events", order_b, expected=3) == [
        "OrderPlaced",
        "ReceivableOpened",
        "OrderUnpaidAfter48Hours",
    ]
    assert types_on(stack, "crm.pipeline.events", order_a, expected=5) == [
        "OrderPlaced",
        "ReceivableOpened",
        "OrderUnpaidAfter48Hours",
        "PaymentReceived",
        "ReceivableSettled",
    ]
    loyalty = types_until(
        stack, "crm.loyalty.events", ada, lambda found: "CouponWithdrawn" in found
    )
    assert loyalty[0] == "MemberEnrolled", loyalty
    assert loyalty.count("CouponIssued") == 2 and loyalty.count("CouponWithdrawn") == 1, loyalty
    assert loyalty.index("CouponIssued") < loyalty.index("CouponWithdrawn")

    # And `crm trace` shows, per saga, the flag and every event the saga caused beneath it
    # (the three runs side by side: each is a process that starts in about 2 s).
    correlations = {o: ok(manager.get(f"/sagas/{s}"))["correlation_id"] for o, s in sagas.items()}
    with ThreadPoolExecutor(3) as runs:
        as_json = {o: runs.submit(trace, stack, c, "--json") for o, c in correlations.items()}
        as_text = runs.submit(trace, stack, correlations[order_b])
    for order, saga_id in sagas.items():
        saga = ok(manager.get(f"/sagas/{saga_id}"))
        found = json.loads(as_json[order].result())
        assert found["correlation_ids"] == [saga["correlation_id"]]
        events = {e["type"]: e for e in found["events"]}
        flag = events[UNPAID]
        assert flag["id"] == saga["history"][0]["trigger"]["event_id"]
        caused = sorted(t for t, e in events.items() if e["causation_id"] == flag["id"])
        expected = ["crm.contacts.InteractionLogged", "crm.loyalty.CouponIssued"]
        if order == order_b:
            expected.append("crm.loyalty.CouponWithdrawn")
        assert caused == sorted(expected), found["events"]
        assert len(found["events"]) == 1 + len(expected), found["events"]
        (root,) = found["causes"]
        (under_root,) = root["caused"]
        assert under_root["id"] == flag["id"]
        assert sorted(e["type"] for e in under_root["caused"]) == sorted(expected)
    printed = as_text.result()
    for line in ("pipeline  OrderUnpaidAfter48Hours", "contacts  InteractionLogged",
                 "loyalty  CouponIssued", "loyalty  CouponWithdrawn"):  # fmt: skip
        assert line in printed, printed
