"""The tickets HTTP API through bootstrap: workflow, ETags, idempotency, problems, erasure."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tickets_testing import (
    COMPLAINT,
    CUSTOMER,
    NOW,
    TEAM,
    TICKETS,
    ClientFactory,
    Clock,
    created,
    ok,
    open_ticket,
    problem,
)

from crm_tickets.bootstrap import TicketsService


async def test_a_ticket_goes_through_its_whole_workflow(
    signed_in: ClientFactory, clock: Clock
) -> None:
    agent = signed_in("service_agent", subject="a1")
    survey_app = signed_in("service", subject="surveys", team=None)

    answer = await agent.post(TICKETS, json={**COMPLAINT, "assignee_id": "a1"})
    opened = created(answer)
    tid = opened["id"]
    assert answer.headers["Location"] == f"/tickets/{tid}"
    assert answer.headers["ETag"] == '"1"'
    assert (opened["status"], opened["priority"], opened["assignee_id"]) == ("new", "normal", "a1")
    assert datetime.fromisoformat(opened["first_response_due"]) == NOW + timedelta(hours=8)
    assert datetime.fromisoformat(opened["resolution_due"]) == NOW + timedelta(days=3)

    clock.advance(minutes=10)
    replied = ok(await agent.post(f"{TICKETS}/{tid}/replies", json={"body": "On it."}))
    assert replied["status"] == "open"
    assert replied["first_responded_at"] == clock.now.isoformat()
    ok(await agent.post(f"{TICKETS}/{tid}/notes", json={"body": "Old office: Marktstr."}))
    assert ok(await agent.post(f"{TICKETS}/{tid}/wait"))["status"] == "waiting_on_customer"
    clock.advance(hours=2)
    back = ok(
        await agent.post(f"{TICKETS}/{tid}/customer-response", json={"message": "Hauptstr. 5"})
    )
    assert back["status"] == "open"
    assert datetime.fromisoformat(back["resolution_due"]) == NOW + timedelta(days=3, hours=2)
    resolved = ok(await agent.post(f"{TICKETS}/{tid}/resolve", json={"resolution": "Fixed."}))
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "Fixed.")
    surveyed = ok(
        await survey_app.post(
            f"{TICKETS}/{tid}/survey", json={"csat": 4, "would_recommend": 9, "comment": "ok"}
        )
    )
    assert surveyed["survey"]["csat"] == 4
    closed = ok(await agent.post(f"{TICKETS}/{tid}/close"))
    assert closed["status"] == "closed"

    read = await agent.get(f"{TICKETS}/{tid}")
    ticket = ok(read)
    assert read.headers["ETag"] == f'"{ticket["version"]}"' == '"8"'
    assert [r["body"] for r in ticket["replies"]] == ["On it."]
    assert [n["body"] for n in ticket["notes"]] == ["Old office: Marktstr."]
    assert ticket["subject"] == COMPLAINT["subject"]


async def test_reopening_and_priority_changes(signed_in: ClientFactory) -> None:
    agent = signed_in("service_agent", subject="a1")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]

    urgent = ok(await agent.post(f"{TICKETS}/{tid}/priority", json={"priority": "urgent"}))
    assert datetime.fromisoformat(urgent["first_response_due"]) == NOW + timedelta(hours=1)
    ok(await agent.post(f"{TICKETS}/{tid}/resolve", json={"resolution": "done"}))
    reopened = ok(await agent.post(f"{TICKETS}/{tid}/reopen", json={"reason": "not done"}))
    assert reopened["status"] == "reopened"
    problem(await agent.post(f"{TICKETS}/{tid}/close"), 409, "urn:crm:problem:wrong-state")


async def test_if_match_guards_against_lost_updates(signed_in: ClientFactory) -> None:
    agent = signed_in("service_agent", subject="a1")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]

    ok(await agent.post(f"{TICKETS}/{tid}/notes", json={"body": "x"}, headers={"If-Match": '"1"'}))
    stale = await agent.post(
        f"{TICKETS}/{tid}/notes", json={"body": "y"}, headers={"If-Match": '"1"'}
    )

    body = problem(stale, 409, "urn:crm:problem:version-conflict")
    assert body["current_version"] == 2
    problem(
        await agent.post(f"{TICKETS}/{tid}/notes", json={"body": "y"}, headers={"If-Match": "v"}),
        400,
    )


async def test_an_idempotency_key_replays_the_first_answer(signed_in: ClientFactory) -> None:
    agent = signed_in("service_agent", subject="a1")
    key = {"Idempotency-Key": "open-1"}

    first = await agent.post(TICKETS, json={**COMPLAINT, "assignee_id": "a1"}, headers=key)
    again = await agent.post(TICKETS, json={**COMPLAINT, "assignee_id": "a1"}, headers=key)

    assert created(first) == created(again)
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = ok(await agent.get(TICKETS, params={"customer_id": CUSTOMER}))
    assert len(listed["tickets"]) == 1
    tid = created(first)["id"]
    note = {"Idempotency-Key": "note-1"}
    one = ok(await agent.post(f"{TICKETS}/{tid}/notes", json={"body": "once"}, headers=note))
    two = ok(await agent.post(f"{TICKETS}/{tid}/notes", json={"body": "once"}, headers=note))
    assert one == two and len(two["notes"]) == 1
    reused = await agent.post(f"{TICKETS}/{tid}/notes", json={"body": "other"}, headers=note)
    problem(reused, 422, "urn:crm:problem:idempotency-key-reused")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"csat": 0, "would_recommend": 5}, "csat"),
        ({"csat": 6, "would_recommend": 5}, "csat"),
        ({"csat": 3, "would_recommend": 11}, "would_recommend"),
        ({"csat": 3, "would_recommend": -1}, "would_recommend"),
        ({"csat": "5", "would_recommend": 5}, "csat"),
        ({"csat": 3}, "would_recommend"),
    ],
)
async def test_survey_answers_out_of_range_are_422(
    signed_in: ClientFactory, body: dict[str, object], field: str
) -> None:
    agent = signed_in("service_agent", subject="a1")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]
    ok(await agent.post(f"{TICKETS}/{tid}/resolve", json={"resolution": "done"}))

    refused = problem(await signed_in("service").post(f"{TICKETS}/{tid}/survey", json=body), 422)
    assert field in refused["detail"] or any(field in str(e) for e in refused.get("errors", []))


async def test_a_survey_is_answered_once_and_only_after_resolution(
    signed_in: ClientFactory,
) -> None:
    agent = signed_in("service_agent", subject="a1")
    surveys = signed_in("service", subject="surveys")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]
    answer = {"csat": 5, "would_recommend": 10}

    problem(
        await surveys.post(f"{TICKETS}/{tid}/survey", json=answer),
        409,
        "urn:crm:problem:wrong-state",
    )
    ok(await agent.post(f"{TICKETS}/{tid}/resolve", json={"resolution": "done"}))
    ok(await surveys.post(f"{TICKETS}/{tid}/survey", json=answer))
    problem(
        await surveys.post(f"{TICKETS}/{tid}/survey", json=answer),
        409,
        "urn:crm:problem:survey-answered",
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {**COMPLAINT, "kind": "praise"},
        {**COMPLAINT, "channel": "fax"},
        {**COMPLAINT, "priority": "critical"},
        {**COMPLAINT, "subject": ""},
        {**COMPLAINT, "subject": "x" * 201},
        {**COMPLAINT, "unknown": 1},
        {**COMPLAINT, "customer_id": "bad id"},
    ],
)
async def test_bad_tickets_are_refused_with_a_problem(
    signed_in: ClientFactory, body: dict[str, object]
) -> None:
    problem(await signed_in("service_agent").post(TICKETS, json=body), 422)


async def test_unknown_tickets_are_404(signed_in: ClientFactory) -> None:
    agent = signed_in("admin")
    problem(await agent.get(f"{TICKETS}/tkt_nope"), 404, "urn:crm:problem:not-found")
    problem(await agent.post(f"{TICKETS}/tkt_nope/close"), 404, "urn:crm:problem:not-found")


async def test_the_list_filters_by_customer_assignee_and_status(signed_in: ClientFactory) -> None:
    admin = signed_in("admin", subject="root", team=None)
    first = await open_ticket(admin, assignee_id="a1")
    second = await open_ticket(admin, customer_id="cus_other", assignee_id="a2")
    ok(await admin.post(f"{TICKETS}/{second['id']}/resolve", json={"resolution": "done"}))

    def ids(answer: dict[str, object]) -> set[str]:
        return {t["id"] for t in answer["tickets"]}  # type: ignore[attr-defined]

    assert ids(ok(await admin.get(TICKETS))) == {first["id"], second["id"]}
    assert ids(ok(await admin.get(TICKETS, params={"customer_id": CUSTOMER}))) == {first["id"]}
    assert ids(ok(await admin.get(TICKETS, params={"assignee_id": "a2"}))) == {second["id"]}
    assert ids(ok(await admin.get(TICKETS, params={"status": "resolved"}))) == {second["id"]}
    listed = ok(await admin.get(TICKETS, params={"status": "resolved"}))["tickets"][0]
    assert (listed["customer_id"], listed["status"], listed["team"]) == (
        "cus_other",
        "resolved",
        TEAM,
    )
    problem(await admin.get(TICKETS, params={"status": "lost"}), 422)
    either = [("status", "new"), ("status", "resolved")]  # repeated: any of them
    assert ids(ok(await admin.get(TICKETS, params=either))) == {first["id"], second["id"]}
    still_open = [("status", "open"), ("status", "new")]
    assert ids(ok(await admin.get(TICKETS, params=still_open))) == {first["id"]}


async def test_an_erased_customer_reads_as_erased_and_takes_nothing_new(
    signed_in: ClientFactory, service: TicketsService, clock: Clock
) -> None:
    agent = signed_in("service_agent", subject="a1")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]
    ok(await agent.post(f"{TICKETS}/{tid}/replies", json={"body": "Dear Ada"}))

    await service.vault.destroy(CUSTOMER, at=clock())  # what contacts does on erasure

    ticket = ok(await agent.get(f"{TICKETS}/{tid}"))
    assert (ticket["subject"], ticket["description"]) == ("[erased]", "[erased]")
    assert ticket["replies"][0]["body"] == "[erased]"
    refused = await agent.post(f"{TICKETS}/{tid}/replies", json={"body": "more"})
    problem(refused, 410, "urn:crm:problem:customer-erased")
    problem(await agent.post(TICKETS, json=COMPLAINT), 410)
    assert ok(await agent.post(f"{TICKETS}/{tid}/wait"))["status"] == "waiting_on_customer"


async def test_personal_text_is_sealed_at_rest_with_the_customers_key(
    signed_in: ClientFactory, service: TicketsService
) -> None:
    agent = signed_in("service_agent", subject="a1")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]

    [stored] = await service.store.load(tid)

    assert str(stored.data["subject"]).startswith("pii:v1:")
    assert stored.data["customer_id"] == CUSTOMER
    revealed = await service.deps.sealed.reveal(stored)
    assert revealed.data["subject"] == COMPLAINT["subject"]
    assert await service.vault.key_for(CUSTOMER) is not None
    assert await service.vault.key_for(tid) is None


async def test_health_answers(client: ClientFactory) -> None:
    assert ok(await client().get(f"{TICKETS}/health"))["status"] == "ok"
