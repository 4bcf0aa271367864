"""The sagas HTTP API: list, filter, get, retry, cancel; problems; who may do what."""

from __future__ import annotations

import pytest
from sagas_testing import FakeServices, unpaid, won

from crm_runtime.testing import ClientFactory, ok, problem
from crm_sagas.bootstrap import SagasService
from crm_sagas.entrypoints.runner import deadline_loop

ONBOARDING = "/sagas/sag_onboarding_opp_1"


@pytest.fixture
async def sagas(service: SagasService, services: FakeServices) -> SagasService:
    services.script("POST", "/loyalty/stores", 403)  # loyalty refuses to open the home store
    await service.runner.observe(won(), None)
    await service.runner.observe(unpaid(), None)
    return service


async def test_health(client: ClientFactory) -> None:
    assert ok(await client().get("/sagas/health"))["status"] == "ok"


async def test_a_saga_shows_its_state_history_and_pending_deadline(
    sagas: SagasService, signed_in: ClientFactory
) -> None:
    shown = ok(await signed_in("auditor").get("/sagas/sag_payment_ord_1"))
    assert (shown["type"], shown["status"]) == ("payment_reminder", "running")
    assert shown["state"]["coupon_id"] == "cpn_pay_ord_1"
    assert shown["pending_deadline"]["name"] == "payment"
    assert shown["pending_deadline"]["at"].startswith("2026-12-01T09:30:00")
    assert [e["kind"] for e in shown["history"]][:2] == ["started", "step_succeeded"]
    assert shown["history"][1]["at"].startswith("2026-11-24")
    assert shown["correlation_id"] == "corr_evt_unpaid"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"sag_onboarding_opp_1", "sag_payment_ord_1"}),
        ("?type=onboarding", {"sag_onboarding_opp_1"}),
        ("?status=running", {"sag_payment_ord_1"}),
        ("?status=failed&type=onboarding", {"sag_onboarding_opp_1"}),
        ("?status=completed", set()),
        ("?limit=1", None),
    ],
)
async def test_sagas_are_listed_by_type_and_status(
    sagas: SagasService, signed_in: ClientFactory, query: str, expected: set[str] | None
) -> None:
    listed = ok(await signed_in("sales_manager").get(f"/sagas{query}"))["sagas"]
    if expected is None:
        assert len(listed) == 1
    else:
        assert {s["id"] for s in listed} == expected
    assert all("history" not in s for s in listed)


async def test_an_operator_retries_a_failed_saga(
    sagas: SagasService, signed_in: ClientFactory, services: FakeServices
) -> None:
    admin = signed_in("admin")
    failed = ok(await admin.get(ONBOARDING))
    assert failed["status"] == "failed"
    assert failed["stuck"].startswith("open_home_store refused (403)")
    answer = await admin.post(f"{ONBOARDING}/retry")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "running"
    await deadline_loop(sagas).check_due()
    assert ok(await admin.get(ONBOARDING))["status"] == "completed"
    again = problem(await admin.post(f"{ONBOARDING}/retry"), 409, "urn:crm:problem:wrong-state")
    assert "only a failed saga" in again["detail"]


async def test_an_operator_cancels_a_running_saga_and_it_stays_cancelled(
    sagas: SagasService, signed_in: ClientFactory
) -> None:
    admin = signed_in("service", subject="ops-bot")
    cancelled = ok(
        await admin.post("/sagas/sag_payment_ord_1/cancel", json={"reason": "paid in cash"})
    )
    assert (cancelled["status"], cancelled["pending_deadline"]) == ("cancelled", None)
    assert cancelled["history"][-1]["by"] == "service:ops-bot"
    refused = await admin.post("/sagas/sag_payment_ord_1/cancel", json={"reason": "again"})
    problem(refused, 409, "urn:crm:problem:wrong-state")
    problem(await admin.post(f"{ONBOARDING}/cancel", json={}), 422)


async def test_unknown_sagas_are_not_found(sagas: SagasService, signed_in: ClientFactory) -> None:
    admin = signed_in("admin")
    problem(await admin.get("/sagas/sag_nope"), 404, "urn:crm:problem:not-found")
    problem(await admin.post("/sagas/sag_nope/retry"), 404)
    problem(await admin.get("/sagas?status=sleeping"), 422)


@pytest.mark.parametrize(
    ("role", "read", "operate"),
    [
        ("admin", 200, 409),
        ("service", 200, 409),
        ("sales_manager", 200, 403),
        ("auditor", 200, 403),
        ("sales_rep", 403, 403),
        ("service_agent", 403, 403),
        ("marketing", 403, 403),
    ],
)
async def test_who_may_read_and_operate(
    sagas: SagasService, signed_in: ClientFactory, role: str, read: int, operate: int
) -> None:
    caller = signed_in(role)
    assert (await caller.get("/sagas/sag_payment_ord_1")).status_code == read
    assert (await caller.get("/sagas")).status_code == read
    assert (await caller.post("/sagas/sag_payment_ord_1/retry")).status_code == operate


async def test_no_token_is_refused(sagas: SagasService, client: ClientFactory) -> None:
    problem(await client().get("/sagas"), 401, "urn:crm:problem:unauthenticated")
