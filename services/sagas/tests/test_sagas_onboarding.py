"""Deal won -> onboarding, as pure given/when/then over the flow (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sagas_testing import MAX_ATTEMPTS, NOW, ONBOARDING, given, steps, when, won

from crm_sagas.domain import onboarding as flow
from crm_sagas.domain import saga as core
from crm_sagas.domain.saga import (
    Cancelled,
    DeadlinePassed,
    Retried,
    Status,
    StepFailed,
    StepRefused,
    StepSucceeded,
)

T1 = NOW + timedelta(seconds=1)
PERSON = {"kind": "person", "lifecycle_stage": "prospect", "purchases": 0}
COMPANY = {"kind": "company", "lifecycle_stage": "prospect", "purchases": 0}
REPEAT = {"kind": "person", "lifecycle_stage": "customer", "purchases": 1}
ORDERED = {"kind": "person", "lifecycle_stage": "customer"}
STORE_OPENED = StepSucceeded(T1, flow.OPEN_STORE, 201, {})


def looked_up(answer: dict[str, object]) -> StepSucceeded:
    return StepSucceeded(T1, flow.LOOK_UP, 200, answer)


def test_a_won_deal_starts_by_looking_the_customer_up() -> None:
    saga = given(ONBOARDING, won())
    commands = core.resume(ONBOARDING, saga)
    assert [(c.step, c.method, c.path) for c in commands] == [
        (flow.LOOK_UP, "GET", "/contacts/customers/cus_ada")
    ]
    assert ONBOARDING.starting(won()) == "sag_onboarding_opp_1"
    assert core.status(ONBOARDING, saga) is Status.RUNNING


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (PERSON, [flow.PURCHASE, flow.OPEN_STORE, flow.TICKET]),  # the store before enrolling
        (COMPANY, [flow.PURCHASE, flow.TICKET]),  # B2B: no store, no loyalty membership
        (REPEAT, [flow.PURCHASE, flow.OPEN_STORE]),  # bought before: no onboarding ticket
    ],
    ids=["new-person", "new-company", "returning-person"],
)
def test_what_the_customer_is_decides_the_steps(
    customer: dict[str, object], expected: list[str]
) -> None:
    _, sent = when(ONBOARDING, given(ONBOARDING, won()), looked_up(customer))
    assert sent == expected


def test_the_purchase_is_the_won_deal_and_the_enrolment_names_the_home_store() -> None:
    saga = given(ONBOARDING, won(), looked_up(PERSON))
    by_step = {c.step: c for c in core.resume(ONBOARDING, saga)}
    purchase = by_step[flow.PURCHASE]
    assert purchase.path == "/contacts/customers/cus_ada/purchases"
    assert purchase.body == {"opportunity_id": "opp_1", "at": NOW.isoformat()}
    store = by_step[flow.OPEN_STORE]
    assert (store.service, store.method, store.path) == ("loyalty", "POST", "/loyalty/stores")
    assert store.body == {"store_id": "sto_main", "name": "Online shop", "city": "Online"}
    assert flow.ENROL not in by_step  # not before the store is there
    ticket = by_step[flow.TICKET].body
    assert ticket is not None and ticket["kind"] == "service_request"
    assert "operator training" in ticket["subject"]
    after = core.evolve(ONBOARDING, saga, STORE_OPENED, max_attempts=MAX_ATTEMPTS)
    opened = {c.step: c for c in core.resume(ONBOARDING, after)}
    assert flow.OPEN_STORE not in opened
    enrol = opened[flow.ENROL]
    assert (enrol.service, enrol.method, enrol.path) == ("loyalty", "POST", "/loyalty/members")
    assert enrol.body == {"customer_id": "cus_ada", "home_store_id": "sto_main"}


def test_the_home_stores_name_and_city_are_the_flows() -> None:
    configured = replace(ONBOARDING, home_store_name="Berlin Mitte", home_store_city="Berlin")
    saga = given(configured, won(), looked_up(PERSON))
    (store,) = [c for c in core.resume(configured, saga) if c.step == flow.OPEN_STORE]
    assert store.body == {"store_id": "sto_main", "name": "Berlin Mitte", "city": "Berlin"}


def test_a_store_opened_already_goes_on_to_the_enrolment() -> None:
    saga = given(ONBOARDING, won(), looked_up(REPEAT), StepSucceeded(T1, flow.PURCHASE, 200))
    refused = StepRefused(T1, flow.OPEN_STORE, 409, "store sto_main exists")
    after, sent = when(ONBOARDING, saga, refused)
    assert sent == [flow.ENROL]
    assert after.stuck is None and core.status(ONBOARDING, after) is Status.RUNNING
    done, sent = when(ONBOARDING, after, StepSucceeded(T1, flow.ENROL, 201, {"tier": "silver"}))
    assert sent == [] and core.status(ONBOARDING, done) is Status.COMPLETED
    assert ONBOARDING.view(done.state)["membership"] == "enrolled"


def test_a_company_neither_opens_the_store_nor_enrols() -> None:
    saga = given(ONBOARDING, won(), looked_up(COMPANY))
    assert ONBOARDING.view(saga.state)["membership"] == "not_applicable"
    after, sent = when(
        ONBOARDING, saga, StepSucceeded(T1, flow.PURCHASE, 200, {"lifecycle_stage": "customer"})
    )
    assert sent == [flow.TICKET]
    done, sent = when(ONBOARDING, after, StepSucceeded(T1, flow.TICKET, 201, {"id": "tkt_9"}))
    assert sent == [] and core.status(ONBOARDING, done) is Status.COMPLETED
    assert all(c.service != "loyalty" for c in ONBOARDING.react(saga.state))


@pytest.mark.parametrize(
    ("customer", "new", "expected"),
    [
        (  # the order of this deal came first (OrderPlaced before the saga looked)
            {**ORDERED, "purchases": 1, "purchased_opportunity_ids": ["opp_1"]},
            True,
            [flow.PURCHASE, flow.OPEN_STORE, flow.TICKET],
        ),
        (  # bought another deal before: not new
            {**ORDERED, "purchases": 1, "purchased_opportunity_ids": ["opp_0"]},
            False,
            [flow.PURCHASE, flow.OPEN_STORE],
        ),
        (  # another deal and this one
            {**ORDERED, "purchases": 2, "purchased_opportunity_ids": ["opp_0", "opp_1"]},
            False,
            [flow.PURCHASE, flow.OPEN_STORE],
        ),
        (  # a purchase of no known deal (an order without opportunity)
            {**ORDERED, "purchases": 1, "purchased_opportunity_ids": []},
            False,
            [flow.PURCHASE, flow.OPEN_STORE],
        ),
    ],
    ids=["this-deal-only", "another-deal", "another-and-this-deal", "no-deal-known"],
)
def test_a_new_customer_is_one_who_bought_nothing_but_this_deal(
    customer: dict[str, object], new: bool, expected: list[str]
) -> None:
    after, sent = when(ONBOARDING, given(ONBOARDING, won()), looked_up(customer))
    assert sent == expected
    view = ONBOARDING.view(after.state)
    assert view["new_customer"] is new
    assert view["onboarding_ticket"] == (None if new else "not_needed")


def test_completed_when_every_step_is_confirmed() -> None:
    saga = given(
        ONBOARDING, won(), looked_up(PERSON),
        StepSucceeded(T1, flow.PURCHASE, 200, {"lifecycle_stage": "customer", "purchases": 1}),
        STORE_OPENED, StepSucceeded(T1, flow.ENROL, 201, {"tier": "silver"}),
    )  # fmt: skip
    assert steps(core.resume(ONBOARDING, saga)) == [flow.TICKET]
    after, sent = when(ONBOARDING, saga, StepSucceeded(T1, flow.TICKET, 201, {"id": "tkt_9"}))
    assert sent == []
    assert core.status(ONBOARDING, after) is Status.COMPLETED
    assert core.is_terminal(ONBOARDING, after)
    view = ONBOARDING.view(after.state)
    assert view["lifecycle_stage"] == "customer"
    assert (view["membership"], view["onboarding_ticket"]) == ("enrolled", "tkt_9")
    assert core.deadline(ONBOARDING, after) is None


def test_a_member_at_another_store_is_a_member_already() -> None:
    saga = given(
        ONBOARDING, won(), looked_up(REPEAT), StepSucceeded(T1, flow.PURCHASE, 200), STORE_OPENED
    )
    refused = StepRefused(T1, flow.ENROL, 409, "member cus_ada exists (home store sto_x)")
    after, sent = when(ONBOARDING, saga, refused)
    assert sent == []
    assert core.status(ONBOARDING, after) is Status.COMPLETED
    assert ONBOARDING.view(after.state)["membership"] == "already_member"


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "not allowed to open stores"), (422, "store_id: not an identifier")],
)
def test_a_refused_store_opening_fails_with_loyaltys_reason_and_a_retry_tries_again(
    status: int, reason: str
) -> None:
    saga = given(ONBOARDING, won(), looked_up(REPEAT), StepSucceeded(T1, flow.PURCHASE, 200))
    after, sent = when(ONBOARDING, saga, StepRefused(T1, flow.OPEN_STORE, status, reason))
    assert sent == []
    assert core.status(ONBOARDING, after) is Status.FAILED
    assert after.stuck == f"open_home_store refused ({status}): {reason}"
    assert ONBOARDING.view(after.state)["membership"] is None  # nobody enrolled
    retried, sent = when(ONBOARDING, after, Retried(T1, "user:root"))
    assert sent == [flow.OPEN_STORE]
    assert core.status(ONBOARDING, retried) is Status.RUNNING
    _, sent = when(ONBOARDING, retried, STORE_OPENED)
    assert sent == [flow.ENROL]


def test_a_refused_enrolment_other_than_409_still_fails_the_saga() -> None:
    saga = given(
        ONBOARDING, won(), looked_up(REPEAT), StepSucceeded(T1, flow.PURCHASE, 200), STORE_OPENED
    )
    after, sent = when(ONBOARDING, saga, StepRefused(T1, flow.ENROL, 404, "no store sto_main"))
    assert sent == [] and core.status(ONBOARDING, after) is Status.FAILED
    assert after.stuck is not None and "no store sto_main" in after.stuck


def test_failures_are_counted_and_the_saga_is_stuck_after_the_last_attempt() -> None:
    saga = given(ONBOARDING, won())
    for attempt in (1, 2):
        saga, sent = when(ONBOARDING, saga, StepFailed(T1, flow.LOOK_UP, "503"))
        assert sent == [flow.LOOK_UP] and saga.attempts[flow.LOOK_UP] == attempt
    stuck, sent = when(ONBOARDING, saga, StepFailed(T1, flow.LOOK_UP, "503"))
    assert sent == [] and core.status(ONBOARDING, stuck) is Status.FAILED
    assert stuck.stuck is not None and "3 times" in stuck.stuck
    again, sent = when(ONBOARDING, stuck, Retried(T1, "user:root"))
    assert sent == [flow.LOOK_UP] and again.attempts == {}


def test_a_step_unanswered_past_its_deadline_fails_the_saga() -> None:
    saga = given(ONBOARDING, won(), looked_up(PERSON))
    pending = core.deadline(ONBOARDING, saga)
    assert pending is not None and pending.at == T1 + timedelta(hours=1)
    assert core.on_deadline(ONBOARDING, saga, pending.at - timedelta(seconds=1)) == []
    (passed,) = core.on_deadline(ONBOARDING, saga, pending.at)
    after, sent = when(ONBOARDING, saga, passed)
    assert sent == [] and core.status(ONBOARDING, after) is Status.FAILED
    assert "record_purchase" in str(ONBOARDING.view(after.state)["timed_out"])
    assert core.on_deadline(ONBOARDING, after, pending.at + timedelta(days=1)) == []
    resumed, sent = when(ONBOARDING, after, Retried(pending.at, "user:root"))
    assert core.status(ONBOARDING, resumed) is Status.RUNNING
    assert sent == [flow.PURCHASE, flow.OPEN_STORE, flow.TICKET]


def test_a_cancelled_saga_sends_nothing_more() -> None:
    saga = given(ONBOARDING, won(), looked_up(PERSON))
    after, sent = when(ONBOARDING, saga, Cancelled(T1, "user:root", "duplicate deal"))
    assert sent == [] and core.status(ONBOARDING, after) is Status.CANCELLED


def test_an_unexpected_refusal_fails_the_saga() -> None:
    saga = given(ONBOARDING, won())
    after, _ = when(ONBOARDING, saga, StepRefused(T1, flow.LOOK_UP, 404, "no customer cus_ada"))
    assert core.status(ONBOARDING, after) is Status.FAILED


def test_the_history_round_trips_through_its_documents() -> None:
    history = [
        core.Started(NOW, won()),
        looked_up(PERSON),
        StepFailed(T1, flow.PURCHASE, "boom"),
        DeadlinePassed(T1, "step"),
    ]
    back = [core.entry_from_document(core.entry_to_document(e)) for e in history]
    assert back == history
