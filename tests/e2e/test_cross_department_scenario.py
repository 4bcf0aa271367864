"""End to end through the single HTTP entry: requirement handling and a rep leaving
(issue #7, flows 1 and 4).

Requirements: a B2B customer's rep opens two requirement tickets. The sagas service asks the
rep (a note on the customer's timeline) for the sales review. The first is confirmed with
its business value: the saga sends R&D an estimate request on ``crm.rnd.requests``, the
embedded simulated R&D answers on ``crm.rnd.replies``, the customer is told the schedule
on the ticket, and when nobody follows up within the (short) follow-up deadline the step is
escalated: ``RequirementStepEscalated`` on ``crm.sagas.events`` and the ticket assigned to
the service lead, who resolves it; the saga closes the ticket. The second is rejected by
the rep: the customer is told why and the ticket resolved. The cycle times are read back.

A rep leaves: a manager asks for the handover of their book. The saga hands the customers
over in contacts, reassigns the open opportunity in the pipeline (not the won one) and the
open ticket assigned to the rep, and completes once every service confirmed.

Each is visible step by step in ``/sagas``, in the events on the topics, and as one
correlation in ``crm trace``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from saga_tools import ok, saga_when, succeeded, trace, types_until
from stack_tools import client, token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

FOLLOW_UP_SECONDS = 4
SERVICE_LEAD = "u_service_lead"


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, str]:
    """A quick deadline loop and R&D, and a follow-up deadline short enough to pass."""
    return {
        "CRM_SAGAS_DEADLINE_INTERVAL_SECONDS": "0.5",
        "CRM_RND_SIMULATOR_DELAY": "0s",
        "CRM_SAGAS_REQUIREMENT_REVIEW_DEADLINE": "10m",
        "CRM_SAGAS_REQUIREMENT_RND_DEADLINE": "10m",
        "CRM_SAGAS_REQUIREMENT_FOLLOW_UP_DEADLINE": f"{FOLLOW_UP_SECONDS}s",
        "CRM_SAGAS_REQUIREMENT_SERVICE_LEAD": SERVICE_LEAD,
    }


def open_requirement(rep: httpx.Client, customer: str, subject: str) -> str:
    ticket: str = ok(
        rep.post(
            "/tickets",
            json={
                "customer_id": customer,
                "kind": "requirement",
                "channel": "email",
                "priority": "normal",
                "subject": subject,
                "description": "Our ERP needs the invoices in its own format.",
                "team": "support",
            },
        ),
        201,
    )["id"]
    return ticket


def phase_is(phase: str) -> Any:
    return lambda saga: saga["state"]["phase"] == phase and not saga["outstanding"]


def test_a_requirement_goes_through_sales_rnd_and_service_and_another_is_rejected(
    stack: dict[str, Any],
) -> None:
    env = stack["env"]
    run = uuid.uuid4().hex[:6]
    rep_id = f"r-{run}"
    rep = client(stack, token(env, "sales_rep", rep_id, "north"))
    other_rep = client(stack, token(env, "sales_rep", f"o-{run}", "north"))
    manager = client(stack)
    lead = client(stack, token(env, "service_agent", SERVICE_LEAD, "support"))

    acme = ok(rep.post("/contacts/customers", json={"name": "Acme GmbH", "kind": "company"}), 201)[
        "id"
    ]
    wanted = open_requirement(rep, acme, "Invoice export in our ERP format")
    unwanted = open_requirement(rep, acme, "A pink theme")
    sagas = {t: f"sag_requirement_{t}" for t in (wanted, unwanted)}

    # The saga found the owner and asked them on the customer's timeline.
    for saga_id in sagas.values():
        asked = saga_when(manager, saga_id, phase_is("sales_review"), within=20)
        assert asked["status"] == "running"
        assert (asked["state"]["owner_id"], asked["state"]["reviewer"]) == (rep_id, rep_id)
        assert succeeded(asked) == ["look_up_owner", "ask_sales_review"], asked["history"]
        assert asked["pending_deadline"]["name"] == "sales_review"
    timeline = ok(rep.get(f"/contacts/customers/{acme}/interactions"))["interactions"]
    asks = [i["summary"] for i in timeline if "Sales review for" in i["summary"]]
    assert (
        sorted(a for a in asks if wanted in a or unwanted in a) == sorted(asks) and len(asks) == 2
    )
    assert any(f"/sagas/{sagas[wanted]}/decisions/sales_review" in a for a in asks), asks

    # Only the owner (or a manager) decides; a confirmation needs its business value.
    decision = f"/sagas/{sagas[wanted]}/decisions/sales_review"
    refused = other_rep.post(decision, json={"accepted": True, "reason": "x"})
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    invalid = rep.post(decision, json={"accepted": True, "reason": "worth it"})
    assert invalid.status_code == 422, invalid.text
    ok(
        rep.post(
            decision,
            json={
                "accepted": True,
                "reason": "Three accounts asked for it",
                "business_value": "high",
                "value_note": "Unblocks the ERP integration of our B2B accounts.",
            },
        ),
        202,
    )
    again = rep.post(decision, json={"accepted": False, "reason": "changed my mind"})
    assert again.status_code == 409, again.text
    ok(
        rep.post(
            f"/sagas/{sagas[unwanted]}/decisions/sales_review",
            json={"accepted": False, "reason": "not something our customers pay for"},
        ),
        202,
    )

    # Rejected: the customer is told on the ticket and it is resolved; the saga ends.
    rejected = saga_when(manager, sagas[unwanted], lambda s: s["status"] == "completed", 20)
    assert rejected["state"]["result"] == "rejected_by_sales"
    assert succeeded(rejected)[-2:] == ["tell_customer_rejection", "resolve_rejected"]
    ticket = ok(lead.get(f"/tickets/{unwanted}"))
    assert ticket["status"] == "resolved"
    assert "not something our customers pay for" in ticket["replies"][-1]["body"]

    # Confirmed: R&D (simulated) schedules it, the customer is told, the follow-up waits.
    told = saga_when(manager, sagas[wanted], phase_is("follow_up"), within=30)
    rnd = told["state"]["rnd"]
    assert rnd["scheduled"] is True and rnd["estimate_days"] >= 1, told["state"]
    assert "request_estimate" in succeeded(told) and "tell_customer_schedule" in succeeded(told)
    observed = [e["trigger"]["type"] for e in told["history"] if e["kind"] == "observed"]
    assert "crm.rnd.RequirementScheduled" in observed
    ticket = ok(lead.get(f"/tickets/{wanted}"))
    assert rnd["delivery_by"] in ticket["replies"][-1]["body"]

    # Nobody follows up in time: escalated to the service lead, announced on the topic.
    escalated = saga_when(
        manager,
        sagas[wanted],
        lambda s: "reassign_follow_up" in succeeded(s) and "escalate_follow_up" in succeeded(s),
        within=FOLLOW_UP_SECONDS + 20,
    )
    follow_up = escalated["state"]["steps"]["follow_up"]
    assert follow_up["escalated_to"] == SERVICE_LEAD and follow_up["ended_at"] is None
    assert ok(lead.get(f"/tickets/{wanted}"))["assignee_id"] == SERVICE_LEAD
    escalations = types_until(
        stack, "crm.sagas.events", wanted, lambda found: "RequirementStepEscalated" in found
    )
    assert escalations == ["RequirementStepEscalated"]
    requests = types_until(
        stack, "crm.rnd.requests", wanted, lambda f: "RequirementEstimateRequested" in f
    )
    assert requests == ["RequirementEstimateRequested"]

    # The lead follows up and resolves it: the saga closes the ticket and completes.
    ok(lead.post(f"/tickets/{wanted}/resolve", json={"resolution": "Customer informed"}))
    done = saga_when(manager, sagas[wanted], lambda s: s["status"] == "completed", within=20)
    assert done["state"]["result"] == "scheduled_and_closed"
    assert ok(lead.get(f"/tickets/{wanted}"))["status"] == "closed"
    steps = done["state"]["steps"]
    assert all(steps[name]["seconds"] is not None for name in steps), steps
    assert done["state"]["cycle_seconds"] >= sum(s["seconds"] for s in steps.values()) - 1

    # The cycle times, per requirement and per step, as a read model.
    times = ok(manager.get("/sagas/requirements/cycle-times"))
    rows = {row["ticket_id"]: row for row in times["requirements"]}
    assert rows[wanted]["cycle_seconds"] == done["state"]["cycle_seconds"]
    assert rows[unwanted]["result"] == "rejected_by_sales"
    assert times["finished"] >= 2 and times["average_seconds"]["rnd_estimate"] is not None

    # One correlation: the ticket's opening, the ask on the timeline, the replies, the
    # escalation's assignment and the closing (the lead's resolution is their own request).
    found = json.loads(trace(stack, done["correlation_id"], "--json"))
    types = [e["type"] for e in found["events"]]
    for expected in (
        "crm.tickets.TicketOpened",
        "crm.contacts.InteractionLogged",
        "crm.tickets.TicketReplied",
        "crm.tickets.TicketAssigned",
        "crm.tickets.TicketClosed",
    ):
        assert expected in types, types


def test_a_leaving_reps_book_moves_and_every_service_confirms(stack: dict[str, Any]) -> None:
    env = stack["env"]
    run = uuid.uuid4().hex[:6]
    leaving, first, second = f"l-{run}", f"s1-{run}", f"s2-{run}"
    rep = client(stack, token(env, "sales_rep", leaving, "north"))
    manager = client(stack, token(env, "sales_manager", f"m-{run}", "north"))
    admin = client(stack, token(env, "admin", f"root-{run}", "hq"))

    customers = [
        ok(rep.post("/contacts/customers", json={"name": name, "kind": "company"}), 201)["id"]
        for name in ("Acme GmbH", "Globex AG")
    ]

    def opportunity(customer: str, title: str) -> str:
        body = {
            "customer_id": customer,
            "title": title,
            "amount": "5000.00",
            "currency": "EUR",
            "expected_close_date": "2027-03-31",
            "stage": "proposal",
        }
        created: str = ok(rep.post("/pipeline/opportunities", json=body), 201)["id"]
        return created

    open_deals = [opportunity(c, f"Deal {i}") for i, c in enumerate(customers)]
    won = opportunity(customers[0], "Won deal")
    ok(rep.post(f"/pipeline/opportunities/{won}/won"))
    ticket = ok(
        rep.post(
            "/tickets",
            json={
                "customer_id": customers[1],
                "kind": "question",
                "channel": "phone",
                "subject": "Delivery date?",
                "description": "When does the machine arrive?",
            },
        ),
        201,
    )["id"]
    ok(admin.post(f"/tickets/{ticket}/assign", json={"assignee_id": leaving}))

    departure = {"rep_id": leaving, "successor_ids": [first, second], "reason": "left us"}
    refused = manager.post("/sagas/rep-departures", json=departure)
    assert refused.status_code == 403, refused.text  # a whole book: an admin's act
    answer = admin.post("/sagas/rep-departures", json=departure)
    started = ok(answer, 201)
    saga_id = started["id"]
    assert saga_id == f"sag_departure_{leaving}" and answer.headers["location"].endswith(saga_id)
    bad = admin.post(
        "/sagas/rep-departures",
        json={"rep_id": leaving, "successor_ids": [leaving], "reason": "x"},
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )

    done = saga_when(manager, saga_id, lambda s: s["status"] == "completed", within=40)
    state = done["state"]
    assert set(state["customers"]["moved"]) == set(customers), state
    assert state["customers"]["confirmed"] is True
    assert set(state["opportunities"]["moved"]) == set(open_deals), state
    assert state["opportunities"]["confirmed"] and state["tickets"]["confirmed"]
    assert list(state["tickets"]["moved"]) == [ticket], state
    history = succeeded(done)
    assert history[0] == "hand_over_customers"
    assert {f"reassign_opportunity:{d}" for d in open_deals} <= set(history)
    assert f"reassign_ticket:{ticket}" in history

    # Every part of the book names its successor: the customer's new owner.
    owners = {c: ok(admin.get(f"/contacts/customers/{c}"))["owner_id"] for c in customers}
    assert set(owners.values()) <= {first, second} and owners == state["customers"]["moved"]
    for deal in open_deals:
        shown = ok(admin.get(f"/pipeline/opportunities/{deal}"))
        assert shown["owner_id"] == owners[shown["customer_id"]], shown
    assert ok(admin.get(f"/pipeline/opportunities/{won}"))["owner_id"] == leaving
    assert ok(admin.get(f"/tickets/{ticket}"))["assignee_id"] == owners[customers[1]]
    left = ok(admin.get(f"/pipeline/opportunities?owner_id={leaving}&status=open"))
    assert left["opportunities"] == []

    # On the topics, and as one correlation in the stores.
    pipeline = types_until(
        stack, "crm.pipeline.events", open_deals[0], lambda f: "OpportunityReassigned" in f
    )
    assert pipeline[-1] == "OpportunityReassigned"
    found = json.loads(trace(stack, done["correlation_id"], "--json"))
    types = [e["type"] for e in found["events"]]
    assert types.count("crm.pipeline.OpportunityReassigned") == 2, types
    assert types.count("crm.contacts.CustomerOwnerAssigned") == 2, types
    assert "crm.tickets.TicketAssigned" in types, types
