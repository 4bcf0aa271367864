"""The runner on the embedded memory store with fake services: commands with their ids and
keys, a restart between steps, redelivery, retries, two deadline loops, the trace."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sagas_testing import CRASH_AFTER_EFFECT, Clock, Crash, FakeServices, paid, unpaid, won

from crm_runtime.testing import started, tracer_provider
from crm_sagas.bootstrap import SagasService, bootstrap
from crm_sagas.config import SagasSettings
from crm_sagas.entrypoints.runner import deadline_loop

ONBOARDED = [
    "POST /contacts/customers/cus_ada/purchases",
    "POST /loyalty/stores",
    "POST /loyalty/members",
    "POST /tickets",
]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def saga_of(service: SagasService, saga_id: str) -> dict[str, Any]:
    document = await service.documents.load(saga_id)
    assert document is not None
    return document


async def test_a_won_deal_is_onboarded_with_keys_ids_and_the_trace(
    service: SagasService, services: FakeServices, span_exporter: Any
) -> None:
    assert await service.runner.observe(won(), TRACEPARENT) == ["sag_onboarding_opp_1"]
    document = await saga_of(service, "sag_onboarding_opp_1")
    assert document["status"] == "completed"
    assert services.effect_paths() == ONBOARDED
    for sent in services.effects:
        assert sent.headers["idempotency-key"].startswith("sag_onboarding_opp_1:")
        assert sent.headers["x-correlation-id"] == "corr_evt_won"
        assert sent.headers["x-causation-id"] == "evt_won"
        assert sent.headers["authorization"].startswith("Bearer ")
        assert sent.headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
    kinds = [entry["kind"] for entry in document["history"]]
    assert kinds == ["started"] + ["step_succeeded"] * 5
    spans = [s for s in span_exporter.get_finished_spans() if s.name.startswith("saga ")]
    assert [s.name for s in spans] == [
        "saga onboarding look_up_customer",
        "saga onboarding record_purchase",
        "saga onboarding open_home_store",
        "saga onboarding enrol_member",
        "saga onboarding open_onboarding_ticket",
    ]
    assert {format(s.context.trace_id, "032x") for s in spans} == {TRACEPARENT.split("-")[1]}


async def test_a_redelivered_trigger_does_not_double_anything(
    service: SagasService, services: FakeServices
) -> None:
    await service.runner.observe(won(), None)
    revision = (await saga_of(service, "sag_onboarding_opp_1"))["revision"]
    await service.runner.observe(won(), None)
    assert services.effect_paths() == ONBOARDED
    assert (await saga_of(service, "sag_onboarding_opp_1"))["revision"] == revision


async def test_a_restart_between_steps_continues_where_it_was(
    settings: SagasSettings, store_client: Any, clock: Clock, services: FakeServices
) -> None:
    services.script("POST", "/loyalty/members", CRASH_AFTER_EFFECT)

    def process(name: str) -> SagasService:
        return bootstrap(
            settings, document_client=store_client, clock=clock,
            tracer_provider=tracer_provider(name), service_clients=services.clients(),
        )  # fmt: skip

    first = process("a")
    await first.start()
    with contextlib.suppress(Crash):  # died after loyalty enrolled, before it was recorded
        await first.runner.observe(won(), None)
    document = await saga_of(first, "sag_onboarding_opp_1")
    assert document["status"] == "running"
    assert document["outstanding"] == ["enrol_member", "open_onboarding_ticket"]

    clock.advance(seconds=31)  # past the grace for commands in flight
    second = process("b")
    async with started(second):
        assert await deadline_loop(second, "b").tick()
        document = await saga_of(second, "sag_onboarding_opp_1")
    assert document["status"] == "completed"
    assert services.effect_paths() == ONBOARDED  # the enrolment was sent again, acted once
    enrolments = [r for r in services.requests if r.path == "/loyalty/members"]
    assert len(enrolments) == 2
    assert len({r.headers["idempotency-key"] for r in enrolments}) == 1


async def test_a_failing_command_is_retried_after_a_pause_then_the_saga_is_stuck(
    service: SagasService, services: FakeServices, clock: Clock
) -> None:
    services.script("GET", "/contacts/customers/cus_ada", 503, httpx.ConnectError("down"), 502)
    await service.runner.observe(won(), None)
    document = await saga_of(service, "sag_onboarding_opp_1")
    assert (document["status"], document["attempts"]) == ("running", {"look_up_customer": 1})
    assert document["due_at"] == clock.now + timedelta(seconds=1)
    loop = deadline_loop(service)
    assert await loop.check_due() == 0  # still pausing
    clock.advance(seconds=1)
    assert await loop.check_due() == 1
    clock.advance(seconds=2)
    await loop.check_due()
    document = await saga_of(service, "sag_onboarding_opp_1")
    assert document["status"] == "failed"
    assert "look_up_customer failed 3 times" in document["stuck"]
    assert document["due_at"] is None
    errors = [e["error"] for e in document["history"] if e["kind"] == "step_failed"]
    assert errors[0].startswith("contacts answered 503") and "unreachable" in errors[1]

    assert states(service) == {("onboarding", "failed"): 1.0}

    await service.runner.retry("sag_onboarding_opp_1", "user:root")
    assert await loop.check_due() == 1
    assert (await saga_of(service, "sag_onboarding_opp_1"))["status"] == "completed"
    assert states(service) == {("onboarding", "completed"): 1.0}


def states(service: SagasService) -> dict[tuple[str, str], float]:
    """The non-zero values of the saga-states gauge."""
    return {
        (sample.labels["type"], sample.labels["status"]): sample.value
        for metric in service.metrics.collect()
        if metric.name == "crm_saga_states"
        for sample in metric.samples
        if sample.value
    }


async def test_a_refused_store_opening_records_a_clear_failure(
    service: SagasService, services: FakeServices
) -> None:
    services.script("POST", "/loyalty/stores", 403)
    await service.runner.observe(won(), None)
    document = await saga_of(service, "sag_onboarding_opp_1")
    assert document["status"] == "failed"
    assert document["stuck"] == "open_home_store refused (403): scripted 403"
    assert document["outstanding"] == []
    assert "POST /loyalty/members" not in services.effect_paths()  # nobody enrolled


async def test_a_home_store_that_exists_already_goes_on_to_the_enrolment(
    service: SagasService, services: FakeServices
) -> None:
    services.script("POST", "/loyalty/stores", 409)  # the chain opened it before
    await service.runner.observe(won(), None)
    document = await saga_of(service, "sag_onboarding_opp_1")
    assert document["status"] == "completed", document["stuck"]
    assert document["state"]["membership"] == "enrolled"
    assert services.effect_paths() == [p for p in ONBOARDED if p != "POST /loyalty/stores"]
    (opening,) = [r for r in services.requests if r.path == "/loyalty/stores"]
    assert opening.body == {"store_id": "sto_main", "name": "Online shop", "city": "Online"}
    assert opening.headers["idempotency-key"] == "sag_onboarding_opp_1:open_home_store"


@pytest.mark.parametrize(
    ("customer", "ticket"),
    [
        ({"purchases": 1, "purchased_opportunity_ids": ["opp_1"]}, True),  # this deal's order
        ({"purchases": 1, "purchased_opportunity_ids": ["opp_0"]}, False),  # another deal
    ],
    ids=["order-of-this-deal-first", "bought-another-deal"],
)
async def test_only_a_customer_new_but_for_this_deal_gets_the_onboarding_ticket(
    service: SagasService, services: FakeServices, customer: dict[str, Any], ticket: bool
) -> None:
    services.customer = {"kind": "person", "lifecycle_stage": "customer", **customer}
    await service.runner.observe(won(), None)
    document = await saga_of(service, "sag_onboarding_opp_1")
    assert document["status"] == "completed", document["stuck"]
    assert document["state"]["new_customer"] is ticket
    assert ("POST /tickets" in services.effect_paths()) is ticket


async def test_paid_in_time_completes_and_nothing_is_withdrawn(
    service: SagasService, services: FakeServices, clock: Clock
) -> None:
    await service.runner.observe(unpaid(), None)
    assert services.effect_paths() == [
        "POST /contacts/customers/cus_ada/interactions",
        "POST /loyalty/members/cus_ada/coupons",
    ]
    clock.advance(days=2)
    assert await service.runner.observe(paid(), None) == ["sag_payment_ord_1"]
    document = await saga_of(service, "sag_payment_ord_1")
    assert (document["status"], document["deadline"]) == ("completed", None)
    clock.advance(days=6)
    assert await deadline_loop(service).check_due() == 0
    assert len(services.effects) == 2


async def test_two_deadline_loops_withdraw_the_coupon_once(
    service: SagasService, services: FakeServices, clock: Clock
) -> None:
    await service.runner.observe(unpaid(), None)
    clock.advance(days=7)
    first = deadline_loop(service, "a")
    second = deadline_loop(service, "b", CollectorRegistry())
    assert [await first.tick(), await second.tick()] == [True, False]  # the lease: one leader
    await service.runner.observe(unpaid(order="ord_2", event="evt_unpaid_2"), None)
    clock.advance(days=7)
    await asyncio.gather(first.check_due(), second.check_due())  # both at once, no lease
    for order in ("ord_1", "ord_2"):
        document = await saga_of(service, f"sag_payment_{order}")
        assert document["status"] == "compensated"
        kinds = [e["kind"] for e in document["history"]]
        assert kinds.count("deadline_passed") == 1
        assert kinds.count("step_succeeded") == 4
    withdrawals = [p for p in services.effect_paths() if p.endswith("/withdraw")]
    assert withdrawals == [
        "POST /loyalty/members/cus_ada/coupons/cpn_pay_ord_1/withdraw",
        "POST /loyalty/members/cus_ada/coupons/cpn_pay_ord_2/withdraw",
    ]


async def test_a_payment_for_an_order_without_a_saga_starts_nothing(
    service: SagasService, services: FakeServices
) -> None:
    assert await service.runner.observe(paid(order="ord_9"), None) == []
    assert services.requests == []
