"""The pipeline HTTP API end to end on the in-memory store, with real tokens."""

from __future__ import annotations

from typing import Any

import pytest
from pipeline_testing import (
    ACCESS_LOG,
    ADA_LEAD,
    DEAL,
    LEADS,
    LINES,
    MASKED_EMAIL,
    MASKED_PHONE,
    OPPORTUNITIES,
    ORDERS,
    QUOTE_TOTAL,
    QUOTES,
    TERMS,
    ClientFactory,
    capture,
    created,
    ok,
    open_deal,
    placed_order,
    problem,
    sent_quote,
)

VALIDATION = "urn:crm:problem:validation"
WRONG_STATE = "urn:crm:problem:wrong-state"


async def test_a_lead_is_captured_and_read_masked_by_its_rep(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    answer = await rep.post(LEADS, json=ADA_LEAD)
    lead = created(answer)
    assert answer.headers["Location"] == f"/pipeline/leads/{lead['id']}"
    assert answer.headers["ETag"] == '"1"'
    assert (lead["email"], lead["phone"], lead["name"]) == (
        MASKED_EMAIL,
        MASKED_PHONE,
        "Ada Lovelace",
    )
    assert (lead["owner_id"], lead["team"], lead["status"], lead["version"]) == (
        "u1", "north", "open", 1,
    )  # fmt: skip
    read = await rep.get(f"{LEADS}/{lead['id']}")
    assert ok(read) == lead
    assert read.headers["ETag"] == '"1"'


async def test_a_manager_sees_a_lead_unmasked_and_that_is_logged(signed_in: ClientFactory) -> None:
    lead = await capture(signed_in("sales_rep"))
    manager = signed_in("sales_manager", subject="m1")
    shown = ok(await manager.get(f"{LEADS}/{lead['id']}"))
    assert (shown["email"], shown["phone"]) == ("ada@example.com", "+4930901820")
    log = ok(await signed_in("auditor", subject="x1").get(ACCESS_LOG))
    (entry,) = log["entries"]
    assert (entry["actor"], entry["lead_id"], entry["fields"]) == (
        "user:m1",
        lead["id"],
        ["email", "phone"],
    )


async def test_qualifying_a_lead_opens_its_opportunity(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    lead = await capture(rep)
    answer = await rep.post(
        f"{LEADS}/{lead['id']}/qualification", json={"customer_id": "cus_acme", **TERMS}
    )
    opportunity = created(answer)
    assert answer.headers["Location"] == f"/pipeline/opportunities/{opportunity['id']}"
    assert opportunity["id"] == "opp_" + lead["id"].removeprefix("lead_")
    assert {k: opportunity[k] for k in ("title", "amount", "stage", "probability", "lead_id")} == {
        "title": "Acme AG",
        "amount": "48000.00",
        "stage": "qualification",
        "probability": 10,
        "lead_id": lead["id"],
    }
    assert opportunity["weighted_amount"] == "4800.00"
    qualified = ok(await rep.get(f"{LEADS}/{lead['id']}"))
    assert (qualified["status"], qualified["opportunity_id"], qualified["customer_id"]) == (
        "qualified",
        opportunity["id"],
        "cus_acme",
    )
    again = await rep.post(f"{LEADS}/{lead['id']}/qualification", json=TERMS)
    assert ok(again) == opportunity  # nothing new: the same opportunity


async def test_a_qualification_replayed_by_its_key_answers_as_the_first(
    signed_in: ClientFactory,
) -> None:
    rep = signed_in("sales_rep")
    lead = await capture(rep, customer_id="cus_acme")
    path = f"{LEADS}/{lead['id']}/qualification"
    first = await rep.post(path, json=TERMS, headers={"Idempotency-Key": "q-1"})
    again = await rep.post(path, json=TERMS, headers={"Idempotency-Key": "q-1"})
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Correlation-Id"] == first.headers["X-Correlation-Id"]
    other = await rep.post(path, json={**TERMS, "amount": "1"}, headers={"Idempotency-Key": "q-1"})
    problem(other, 422, "urn:crm:problem:idempotency-key-reused")


async def test_qualification_rules_answer_with_problems(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    lead = await capture(rep)
    path = f"{LEADS}/{lead['id']}/qualification"
    missing = problem(await rep.post(path, json=TERMS), 422, VALIDATION)
    assert missing["errors"] == [
        {
            "field": "customer_id",
            "message": "the lead names no customer: say which customer the opportunity is for",
        }
    ]
    dropped = ok(
        await rep.post(f"{LEADS}/{lead['id']}/disqualification", json={"reason": "no budget"})
    )
    assert (dropped["status"], dropped["disqualification_reason"]) == ("disqualified", "no budget")
    refused = problem(await rep.post(path, json={"customer_id": "c", **TERMS}), 409, WRONG_STATE)
    assert refused["title"] == "Lead was disqualified"
    problem(await rep.post(f"{LEADS}/lead_nobody/qualification", json=TERMS), 404)


@pytest.mark.parametrize(
    ("amount", "stored"),
    [("12.50", "12.50"), ("12.5", "12.50"), (12, "12.00"), (12.5, "12.50"), ("1250", "1250.00")],
)
async def test_amounts_are_taken_as_decimal_strings_integers_or_two_place_numbers(
    signed_in: ClientFactory, amount: Any, stored: str
) -> None:
    opportunity = await open_deal(signed_in("sales_rep"), amount=amount)
    assert opportunity["amount"] == stored


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12.345", "send amounts as a string"),
        (12.345, "more than 2 decimal places"),
        (0.30000000000000004, "more than 2 decimal places"),
        ("1e3", "send amounts as a string"),
        ("-5", "send amounts as a string"),
        (-5, "must be more than 0"),
        (0, "must be more than 0"),
        ("", "send amounts as a string"),
        (True, "send amounts as a string"),
        (None, "send amounts as a string"),
        ({"value": 1}, "send amounts as a string"),
    ],
)
async def test_inexact_or_impossible_amounts_are_refused_naming_the_field(
    signed_in: ClientFactory, amount: Any, message: str
) -> None:
    answer = await signed_in("sales_rep").post(OPPORTUNITIES, json={**DEAL, "amount": amount})
    body = problem(answer, 422, VALIDATION)
    assert [e["field"] for e in body["errors"]] == ["amount"]
    assert message in body["errors"][0]["message"]


async def test_an_opportunity_moves_through_stages_and_is_won_lost_and_reopened(
    signed_in: ClientFactory,
) -> None:
    rep = signed_in("sales_rep")
    opportunity = await open_deal(rep)
    url = f"{OPPORTUNITIES}/{opportunity['id']}"
    moved = ok(await rep.post(f"{url}/stage", json={"stage": "proposal"}))
    assert (moved["stage"], moved["probability"], moved["version"]) == ("proposal", 50, 2)
    back = ok(await rep.post(f"{url}/stage", json={"stage": "needs_analysis"}))
    assert back["probability"] == 20
    problem(await rep.post(f"{url}/stage", json={"stage": "won"}), 422, VALIDATION)
    won = ok(await rep.post(f"{url}/won"))
    assert (won["status"], won["stage"], won["probability"]) == ("won", "won", 100)
    assert ok(await rep.post(f"{url}/won")) == won  # winning again changes nothing
    refused = problem(await rep.post(f"{url}/lost", json={"reason": "x"}), 409, WRONG_STATE)
    assert refused["title"] == "Opportunity was won"
    reopened = ok(await rep.post(f"{url}/reopen"))
    assert (reopened["status"], reopened["stage"]) == ("open", "needs_analysis")
    problem(await rep.post(f"{url}/lost", json={}), 422, VALIDATION)
    lost = ok(await rep.post(f"{url}/lost", json={"reason": "chose a competitor"}))
    assert (lost["status"], lost["lost_reason"], lost["probability"]) == (
        "lost",
        "chose a competitor",
        0,
    )
    refused = problem(await rep.post(f"{url}/won"), 409, WRONG_STATE)
    assert refused["title"] == "Opportunity was lost"
    assert "reopen it before winning it" in refused["detail"]
    again = ok(await rep.post(f"{url}/reopen", json={"stage": "negotiation"}))
    assert (again["stage"], again["probability"]) == ("negotiation", 75)


async def test_amount_and_close_date_change_under_if_match(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    opportunity = await open_deal(rep)
    url = f"{OPPORTUNITIES}/{opportunity['id']}"
    changed = await rep.patch(
        url,
        json={"amount": "52000", "expected_close_date": "2027-04-30"},
        headers={"If-Match": '"1"'},
    )
    body = ok(changed)
    assert (body["amount"], body["expected_close_date"], body["version"]) == (
        "52000.00",
        "2027-04-30",
        3,
    )
    assert changed.headers["ETag"] == '"3"'
    stale = problem(
        await rep.patch(url, json={"amount": "1"}, headers={"If-Match": '"1"'}),
        409,
        "urn:crm:problem:version-conflict",
    )
    assert stale["current_version"] == 3
    problem(await rep.patch(url, json={"amount": None}), 422, VALIDATION)
    problem(await rep.patch(url, json={"amount": "1"}, headers={"If-Match": "v1"}), 400)
    problem(await rep.patch(url, json={"probability": 90}), 422, VALIDATION)
    problem(await rep.patch(f"{OPPORTUNITIES}/opp_nobody", json={"amount": "1"}), 404)


async def test_a_quote_is_drafted_sent_and_accepted_into_an_order(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    opportunity = await open_deal(rep)
    answer = await rep.post(QUOTES, json={"opportunity_id": opportunity["id"], "lines": LINES})
    quote = created(answer)
    assert answer.headers["Location"] == f"/pipeline/quotes/{quote['id']}"
    assert (quote["total"], quote["status"], quote["currency"], quote["owner_id"]) == (
        QUOTE_TOTAL, "drafted", "EUR", "u1",
    )  # fmt: skip
    assert quote["lines"][0] == {**LINES[0], "net_amount": "21600.00", "unit_price": "600.00"}
    url = f"{QUOTES}/{quote['id']}"
    refused = problem(await rep.post(f"{url}/accepted"), 409, WRONG_STATE)
    assert refused["title"] == "Quote not sent"
    assert ok(await rep.post(f"{url}/sent"))["status"] == "sent"
    accepted = await rep.post(f"{url}/accepted")
    order = created(accepted)
    assert accepted.headers["Location"] == f"/pipeline/orders/{order['id']}"
    assert order["id"] == "ord_" + quote["id"].removeprefix("quo_")
    assert (order["total"], order["receivable"]["balance"], order["receivable"]["paid"]) == (
        QUOTE_TOTAL, QUOTE_TOTAL, "0.00",
    )  # fmt: skip
    again = await rep.post(f"{url}/accepted")
    assert ok(again) == order
    assert ok(await rep.get(url))["order_id"] == order["id"]
    refused = problem(await rep.post(f"{url}/rejected", json={"reason": "late"}), 409)
    assert refused["title"] == "Quote was accepted"


async def test_quote_drafting_refusals(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    opportunity = await open_deal(rep)
    unknown = problem(
        await rep.post(QUOTES, json={"opportunity_id": "opp_nobody", "lines": LINES}), 422
    )
    assert unknown["errors"][0]["field"] == "opportunity_id"
    other = problem(
        await rep.post(
            QUOTES, json={"opportunity_id": opportunity["id"], "lines": LINES, "currency": "USD"}
        ),
        422,
    )
    assert other["errors"] == [
        {"field": "currency", "message": f"opportunity {opportunity['id']} is in EUR, not USD"}
    ]
    bad_line = {**LINES[0], "quantity": "0"}
    zero = problem(
        await rep.post(QUOTES, json={"opportunity_id": opportunity["id"], "lines": [bad_line]}),
        422,
    )
    assert zero["errors"][0]["field"] == "lines.0.quantity"
    discount = {**LINES[0], "discount_percent": "120"}
    too_much = problem(
        await rep.post(QUOTES, json={"opportunity_id": opportunity["id"], "lines": [discount]}),
        422,
    )
    assert too_much["errors"][0]["field"] == "lines.0.discount_percent"
    problem(await rep.post(QUOTES, json={"opportunity_id": opportunity["id"], "lines": []}), 422)
    await rep.post(f"{OPPORTUNITIES}/{opportunity['id']}/lost", json={"reason": "gone"})
    lost = problem(
        await rep.post(QUOTES, json={"opportunity_id": opportunity["id"], "lines": LINES}), 409
    )
    assert lost["title"] == "Opportunity was lost"


async def test_a_rejected_quote_stays_rejected(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    quote = await sent_quote(rep, (await open_deal(rep))["id"])
    url = f"{QUOTES}/{quote['id']}"
    rejected = ok(await rep.post(f"{url}/rejected", json={"reason": "too expensive"}))
    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", "too expensive")
    assert ok(await rep.post(f"{url}/rejected")) == rejected
    problem(await rep.post(f"{url}/accepted"), 409, WRONG_STATE)
    problem(await rep.post(f"{url}/sent"), 409, WRONG_STATE)


async def test_payments_bring_the_balance_down_until_the_receivable_is_settled(
    signed_in: ClientFactory,
) -> None:
    order = await placed_order(signed_in("sales_rep"))
    manager = signed_in("sales_manager", subject="m1")
    url = f"{ORDERS}/{order['id']}/payments"
    part = ok(await manager.post(url, json={"amount": "100.00", "currency": "EUR",
                                            "payment_id": "bank-1"}))  # fmt: skip
    assert (part["receivable"]["paid"], part["receivable"]["balance"]) == ("100.00", "23000.00")
    same = ok(await manager.post(url, json={"amount": "100", "currency": "EUR",
                                            "payment_id": "bank-1"}))  # fmt: skip
    assert same["receivable"] == part["receivable"]  # the same payment is not counted twice
    over = problem(
        await manager.post(url, json={"amount": "23000.01", "currency": "EUR", "payment_id": "b2"}),
        422,
        "urn:crm:problem:over-payment",
    )
    assert (over["title"], over["balance"], over["currency"]) == ("Over-payment", "23000.00", "EUR")
    assert "open balance of 23000.00 EUR" in over["detail"]
    currency = problem(
        await manager.post(url, json={"amount": "1", "currency": "USD", "payment_id": "b3"}), 422
    )
    assert currency["errors"][0]["field"] == "currency"
    nameless = problem(await manager.post(url, json={"amount": "1", "currency": "EUR"}), 422)
    assert nameless["errors"][0]["field"] == "payment_id"
    keyed = await manager.post(
        url, json={"amount": "23000", "currency": "EUR"}, headers={"Idempotency-Key": "bank-2"}
    )
    settled = ok(keyed)
    assert settled["receivable"]["settled"] and settled["receivable"]["balance"] == "0.00"
    assert settled["receivable"]["payments"] == [
        {"payment_id": "bank-1", "amount": "100.00"},
        {"payment_id": "bank-2", "amount": "23000.00"},
    ]
    replay = await manager.post(
        url, json={"amount": "23000", "currency": "EUR"}, headers={"Idempotency-Key": "bank-2"}
    )
    assert replay.json() == settled and replay.headers["Idempotent-Replayed"] == "true"
    read = await signed_in("sales_rep").get(f"{ORDERS}/{order['id']}")
    assert ok(read) == settled and read.headers["ETag"] == f'"{settled["version"]}"'


async def test_answers_to_bad_requests_are_problems(
    signed_in: ClientFactory, client: ClientFactory
) -> None:
    problem(await client().get(f"{LEADS}/lead_1"), 401, "urn:crm:problem:unauthenticated")
    rep = signed_in("sales_rep")
    problem(await rep.get(f"{ORDERS}/ord_nobody"), 404, "urn:crm:problem:not-found")
    problem(await rep.get("/pipeline/nowhere"), 404)
    problem(await rep.post(LEADS, json={**ADA_LEAD, "rating": 5}), 422, VALIDATION)
    problem(await rep.post(LEADS, json={**ADA_LEAD, "source": "tv"}), 422, VALIDATION)
    phone = problem(await rep.post(LEADS, json={**ADA_LEAD, "phone": "12"}), 422, VALIDATION)
    assert phone["errors"][0]["field"] == "phone"
    problem(await rep.post(LEADS, content=b"{", headers={"content-type": "application/json"}), 422)
    health = ok(await rep.get("/pipeline/health"))
    assert health["status"] == "ok"
