"""Handlers through bootstrap on the in-memory store: appends, sealing, idempotency, two streams."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pipeline_testing import NOW, Clock

from crm_contracts.pipeline import LeadSource, Stage
from crm_pipeline.application import handlers
from crm_pipeline.application.streams import execute, load
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.domain.errors import InvalidInput
from crm_pipeline.domain.lead import CaptureLead, QualifyLead, opportunity_id_for
from crm_pipeline.domain.opportunity import MoveStage, OpenOpportunity, OpportunityTerms
from crm_pipeline.domain.order import RecordPayment
from crm_pipeline.domain.quote import LineItem, SendQuote
from crm_runtime.eventstore import (
    CommandContext,
    Idempotency,
    IdempotencyKeyReused,
    WrongExpectedVersion,
)

LEAD = "lead_ada"
OPP = opportunity_id_for(LEAD)
WEB_FORM = CommandContext("cmd_1", "corr_web", "evt_form", "user:u1")
CAPTURE = CaptureLead(
    LEAD,
    LeadSource.WEB,
    "Ada Lovelace",
    "u1",
    "north",
    company="Acme AG",
    email="ada@example.com",
    phone="+4930901820",
)
TERMS = OpportunityTerms(Decimal("48000"), "EUR", date(2027, 3, 31))
LINES = (LineItem("SEAT-Y", "Seat", Decimal(40), Decimal(600), Decimal(10)),)


def context(n: int, correlation: str = "corr") -> CommandContext:
    return CommandContext(f"cmd_{n}", f"{correlation}_{n}", f"cmd_{n}", "user:u1")


async def raw_commits(service: PipelineService, stream_id: str) -> list[dict[str, Any]]:
    commits = service.client[service.settings.database]["commits"]
    return [doc async for doc in commits.find({"stream_id": stream_id}).sort("first", 1)]


async def captured(service: PipelineService) -> None:
    await execute(service.deps, service.deps.deciders.lead, LEAD, CAPTURE, WEB_FORM)


async def qualified(service: PipelineService, **options: Any) -> Any:
    return await handlers.qualify_lead(
        service.deps, QualifyLead(LEAD, OPP, "cus_acme"), TERMS, context(2), **options
    )


async def accepted_quote(service: PipelineService) -> tuple[str, Any]:
    """A qualified lead's opportunity, quoted, sent and accepted: (quote id, the outcome)."""
    await captured(service)
    await qualified(service)
    deps = service.deps
    priced = await load(deps, deps.deciders.opportunity, OPP)
    drafted = await handlers.draft_quote(deps, priced.state, "quo_1", LINES, context(3))
    await execute(deps, deps.deciders.quote, "quo_1", SendQuote("quo_1"), context(4))
    return drafted.view["id"], await handlers.accept_quote(deps, "quo_1", context(5))


async def test_capturing_appends_the_lead_with_its_metadata_and_personal_data_sealed(
    service: PipelineService,
) -> None:
    deps = service.deps
    outcome = await execute(deps, deps.deciders.lead, LEAD, CAPTURE, WEB_FORM, expected_version=0)

    assert (outcome.version, outcome.replayed, outcome.changed) == (1, False, True)
    assert outcome.view["email"] == "ada@example.com"
    (commit,) = await raw_commits(service, LEAD)
    stored = commit["events"][0]
    assert (stored["type"], stored["correlation_id"], stored["causation_id"], stored["actor"]) == (
        "crm.pipeline.LeadCaptured",
        "corr_web",
        "evt_form",
        "user:u1",
    )
    for field in ("name", "email", "phone"):
        assert stored["data"][field].startswith("pii:v1:"), field
        assert commit["result"]["view"][field].startswith("pii:v1:"), field
    assert stored["data"]["company"] == "Acme AG"
    assert stored["source"] == "/crm/pipeline"
    loaded = await load(deps, deps.deciders.lead, LEAD)
    assert deps.deciders.lead.view(loaded.state, loaded.version) == outcome.view


async def test_an_idempotency_key_answers_the_first_answer_and_appends_nothing(
    service: PipelineService,
) -> None:
    deps = service.deps
    key = Idempotency("user:u1:k1", "fingerprint-1")
    first = await execute(deps, deps.deciders.lead, LEAD, CAPTURE, WEB_FORM, idempotency=key)
    again = await execute(
        deps, deps.deciders.lead, "lead_other", CAPTURE, context(9), idempotency=key
    )

    assert again.replayed and not first.replayed
    assert again.view == first.view  # revealed again from the sealed stored answer
    assert len(await raw_commits(service, LEAD)) == 1
    assert await raw_commits(service, "lead_other") == []
    with pytest.raises(IdempotencyKeyReused):
        await execute(
            deps,
            deps.deciders.lead,
            LEAD,
            CAPTURE,
            WEB_FORM,
            idempotency=Idempotency("user:u1:k1", "another request"),
        )


async def test_concurrent_requests_with_one_key_append_once_and_answer_alike(
    service: PipelineService,
) -> None:
    deps = service.deps
    key = Idempotency("user:u1:k2", "fingerprint-2")
    answers = await asyncio.gather(
        *(
            execute(deps, deps.deciders.lead, LEAD, CAPTURE, context(n), idempotency=key)
            for n in range(3)
        ),
        return_exceptions=True,
    )
    views = [a.view for a in answers if not isinstance(a, BaseException)]
    assert views and all(view == views[0] for view in views)
    assert all(isinstance(a, WrongExpectedVersion) for a in answers if isinstance(a, BaseException))
    assert len(await raw_commits(service, LEAD)) == 1


async def test_a_stale_expected_version_is_refused(service: PipelineService) -> None:
    await captured(service)
    with pytest.raises(WrongExpectedVersion, match="is at version 1, the command expected 0"):
        await execute(
            service.deps, service.deps.deciders.lead, LEAD, CAPTURE, context(2), expected_version=0
        )


async def test_a_no_op_appends_nothing_and_says_so(service: PipelineService) -> None:
    deps = service.deps
    await execute(deps, deps.deciders.opportunity, OPP, open_command(), context(1))
    outcome = await execute(
        deps, deps.deciders.opportunity, OPP, MoveStage(OPP, Stage.QUALIFICATION), context(2)
    )
    assert (outcome.changed, outcome.version) == (False, 1)
    assert len(await raw_commits(service, OPP)) == 1


def open_command() -> OpenOpportunity:
    return OpenOpportunity(OPP, "cus_acme", "Deal", Decimal(100), "EUR", date(2027, 1, 1), "u1")


async def test_qualifying_a_lead_opens_its_opportunity_in_the_same_correlation(
    service: PipelineService,
) -> None:
    await captured(service)
    outcome = await qualified(service)

    assert outcome.view["id"] == OPP == "opp_ada"
    assert (outcome.view["lead_id"], outcome.view["owner_id"], outcome.view["team"]) == (
        LEAD,
        "u1",
        "north",
    )
    assert (outcome.view["title"], outcome.view["probability"], outcome.version) == (
        "Acme AG",
        10,
        1,
    )
    (_, lead_commit) = await raw_commits(service, LEAD)
    (opp_commit,) = await raw_commits(service, OPP)
    assert lead_commit["events"][0]["type"] == "crm.pipeline.LeadQualified"
    assert opp_commit["events"][0]["type"] == "crm.pipeline.OpportunityOpened"
    assert opp_commit["correlation_id"] == lead_commit["correlation_id"] == "corr_2"
    assert lead_commit["position"] < opp_commit["position"]
    assert lead_commit["result"]["view"]["id"] == OPP


async def test_qualifying_again_opens_nothing_more(service: PipelineService) -> None:
    await captured(service)
    await qualified(service)
    again = await qualified(service)
    assert (again.changed, again.view["id"], again.version) == (False, OPP, 1)
    assert len(await raw_commits(service, OPP)) == 1
    assert len(await raw_commits(service, LEAD)) == 2


async def test_a_qualification_cut_short_is_completed_by_its_retry(
    service: PipelineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await captured(service)
    append = service.store.append

    async def crash_on_the_opportunity(stream_id: str, *args: Any, **kwargs: Any) -> Any:
        if stream_id == OPP:
            raise ConnectionError("the process died")
        return await append(stream_id, *args, **kwargs)

    monkeypatch.setattr(service.store, "append", crash_on_the_opportunity)
    key = Idempotency("user:u1:q", "fp")
    with pytest.raises(ConnectionError):
        await qualified(service, idempotency=key)
    assert await raw_commits(service, OPP) == []
    monkeypatch.setattr(service.store, "append", append)

    retried = await qualified(service, idempotency=key)

    assert retried.replayed and retried.view["id"] == OPP
    (opened,) = await raw_commits(service, OPP)
    assert opened["events"][0]["data"]["amount"] == "48000.00"


async def test_a_qualification_needs_a_customer(service: PipelineService) -> None:
    await captured(service)
    with pytest.raises(InvalidInput, match="customer_id"):
        await handlers.qualify_lead(service.deps, QualifyLead(LEAD, OPP), TERMS, context(2))
    assert await raw_commits(service, OPP) == []


async def test_accepting_a_quote_places_its_order_and_opens_the_receivable(
    service: PipelineService,
) -> None:
    _, outcome = await accepted_quote(service)

    order = outcome.view
    assert (order["id"], order["quote_id"], order["total"], order["version"]) == (
        "ord_1",
        "quo_1",
        "21600.00",
        2,
    )
    assert order["placed_at"] == NOW.isoformat()
    assert order["receivable"]["due_date"] == (NOW.date() + timedelta(days=30)).isoformat()
    assert (order["receivable"]["balance"], order["receivable"]["overdue"]) == ("21600.00", False)
    (placed,) = await raw_commits(service, "ord_1")
    assert [e["type"] for e in placed["events"]] == [
        "crm.pipeline.OrderPlaced",
        "crm.pipeline.ReceivableOpened",
    ]


async def test_accepting_again_never_places_a_second_order(
    service: PipelineService, clock: Clock
) -> None:
    _, first = await accepted_quote(service)
    clock.advance(hours=5)
    again = await handlers.accept_quote(service.deps, "quo_1", context(6))
    assert (again.changed, again.view) == (False, first.view)
    assert len(await raw_commits(service, "ord_1")) == 1


async def test_an_acceptance_cut_short_places_the_order_when_retried_and_when_accepted(
    service: PipelineService, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    append = service.store.append

    async def crash_on_the_order(stream_id: str, *args: Any, **kwargs: Any) -> Any:
        if stream_id.startswith("ord_"):
            raise ConnectionError("the process died")
        return await append(stream_id, *args, **kwargs)

    monkeypatch.setattr(service.store, "append", crash_on_the_order)
    with pytest.raises(ConnectionError):
        await accepted_quote(service)
    monkeypatch.setattr(service.store, "append", append)
    clock.advance(days=2)

    retried = await handlers.accept_quote(service.deps, "quo_1", context(7))

    assert retried.changed
    assert retried.view["placed_at"] == NOW.isoformat()  # when the customer accepted
    assert len(await raw_commits(service, "ord_1")) == 1


@pytest.mark.parametrize(
    "settings",
    [
        {
            "payment_terms_days": 14,
            "stage_probabilities": {
                "qualification": 5,
                "needs_analysis": 15,
                "proposal": 40,
                "negotiation": 90,
            },
        }
    ],
    indirect=True,
)
async def test_payment_terms_and_stage_probabilities_come_from_settings(
    service: PipelineService,
) -> None:
    _, outcome = await accepted_quote(service)
    assert outcome.view["receivable"]["due_date"] == (NOW.date() + timedelta(days=14)).isoformat()
    deps = service.deps
    moved = await execute(
        deps, deps.deciders.opportunity, OPP, MoveStage(OPP, Stage.NEGOTIATION), context(9)
    )
    assert moved.view["probability"] == 90
    assert moved.view["weighted_amount"] == "43200.00"


async def test_payments_settle_the_receivable_and_a_repeated_payment_counts_once(
    service: PipelineService,
) -> None:
    await accepted_quote(service)
    deps = service.deps
    orders = deps.deciders.order
    for n, (payment_id, amount) in enumerate([("p1", "600"), ("p1", "600"), ("p2", "21000")]):
        outcome = await execute(
            deps, orders, "ord_1", RecordPayment("ord_1", payment_id, Decimal(amount), "EUR"),
            context(10 + n),
        )  # fmt: skip
    receivable = outcome.view["receivable"]
    assert (receivable["paid"], receivable["balance"], receivable["settled"]) == (
        "21600.00",
        "0.00",
        True,
    )
    types = [e["type"] for c in await raw_commits(service, "ord_1") for e in c["events"]]
    assert types.count("crm.pipeline.PaymentReceived") == 2
    assert types[-1] == "crm.pipeline.ReceivableSettled"


async def test_settle_decides_again_after_a_version_conflict(
    service: PipelineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await accepted_quote(service)
    deps = service.deps
    append = service.store.append
    raced = {"done": False}

    async def someone_pays_first(stream_id: str, expected: int, *args: Any, **kwargs: Any) -> Any:
        if not raced["done"]:
            raced["done"] = True
            other = RecordPayment("ord_1", "p0", Decimal(1), "EUR")
            await execute(deps, deps.deciders.order, "ord_1", other, context(30))
        return await append(stream_id, expected, *args, **kwargs)

    monkeypatch.setattr(service.store, "append", someone_pays_first)
    outcome = await handlers.settle(
        deps,
        deps.deciders.order,
        "ord_1",
        RecordPayment("ord_1", "p1", Decimal(10), "EUR"),
        context(31),
    )
    assert outcome.view["receivable"]["paid"] == "11.00"
