"""Unpaid order / overdue receivable -> reminder and coupon, as pure given/when/then."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sagas_testing import (
    NOW,
    REMINDER,
    given,
    overdue,
    paid,
    settled,
    steps,
    unpaid,
    when,
)

from crm_sagas.domain import payment_reminder as flow
from crm_sagas.domain import saga as core
from crm_sagas.domain.saga import Observed, Status, StepRefused, StepSucceeded, Trigger

T1 = NOW + timedelta(minutes=1)
END = NOW + timedelta(days=7)
REMINDED = StepSucceeded(T1, flow.REMIND, 201, {"id": "int_1"})
MEMBER = StepSucceeded(T1, flow.MEMBERSHIP, 200, {"tier": "silver"})
NOT_MEMBER = StepRefused(T1, flow.MEMBERSHIP, 404, "no member cus_ada")
ISSUED = StepSucceeded(T1, flow.ISSUE, 201)


@pytest.mark.parametrize("start", [unpaid(), overdue()], ids=["unpaid-48h", "overdue"])
def test_either_signal_starts_a_reminder_and_a_membership_check(start: Trigger) -> None:
    saga = given(REMINDER, start)
    commands = core.resume(REMINDER, saga)
    assert steps(commands) == [flow.REMIND, flow.MEMBERSHIP]
    note = commands[0]
    assert (note.service, note.path) == ("contacts", "/contacts/customers/cus_ada/interactions")
    assert note.body is not None and note.body["kind"] == "note"
    assert "u1" in note.body["summary"] and "ord_1" in note.body["summary"]
    assert REMINDER.starting(start) == "sag_payment_ord_1"


def test_a_member_gets_a_coupon_valid_until_the_payment_deadline() -> None:
    saga, sent = when(REMINDER, given(REMINDER, unpaid(), REMINDED), MEMBER)
    assert sent == [flow.ISSUE]
    (issue,) = core.resume(REMINDER, saga)
    assert issue.body is not None
    assert issue.body["coupon_id"] == "cpn_pay_ord_1"
    assert issue.body["valid_until"] == END.isoformat()
    assert issue.body["reference"] == "ord_1"
    pending = core.deadline(REMINDER, saga)
    assert pending is not None and (pending.name, pending.at) == ("payment", END)


def test_a_customer_who_is_no_member_gets_no_coupon_and_the_saga_waits() -> None:
    saga, sent = when(REMINDER, given(REMINDER, unpaid(), REMINDED), NOT_MEMBER)
    assert sent == []
    assert core.status(REMINDER, saga) is Status.RUNNING
    assert REMINDER.view(saga.state)["member"] is False


@pytest.mark.parametrize(
    "payment",
    [Observed(T1, paid()), Observed(T1, settled())],
    ids=["paid-to-zero", "settled"],
)
def test_paid_in_time_completes_with_nothing_more(payment: Observed) -> None:
    saga = given(REMINDER, unpaid(), REMINDED, MEMBER, ISSUED)
    after, sent = when(REMINDER, saga, payment)
    assert sent == []
    assert core.status(REMINDER, after) is Status.COMPLETED
    assert core.deadline(REMINDER, after) is None


def test_a_part_payment_keeps_the_saga_waiting() -> None:
    saga = given(REMINDER, unpaid(), REMINDED, MEMBER, ISSUED)
    after, sent = when(REMINDER, saga, Observed(T1, paid(balance_after="20.00")))
    assert sent == [] and core.status(REMINDER, after) is Status.RUNNING


def test_paid_before_the_reminder_went_out_sends_nothing_more() -> None:
    after, sent = when(REMINDER, given(REMINDER, unpaid()), Observed(T1, paid()))
    assert sent == [] and core.status(REMINDER, after) is Status.COMPLETED


def test_unpaid_at_the_deadline_withdraws_the_coupon_and_ends_compensated() -> None:
    saga = given(REMINDER, unpaid(), REMINDED, MEMBER, ISSUED)
    assert core.on_deadline(REMINDER, saga, END - timedelta(seconds=1)) == []
    (passed,) = core.on_deadline(REMINDER, saga, END)
    expired, sent = when(REMINDER, saga, passed)
    assert sent == [flow.WITHDRAW]
    (withdraw,) = core.resume(REMINDER, expired)
    assert withdraw.path == "/loyalty/members/cus_ada/coupons/cpn_pay_ord_1/withdraw"
    assert core.status(REMINDER, expired) is Status.RUNNING
    assert core.on_deadline(REMINDER, expired, END + timedelta(days=1)) == []
    done, sent = when(REMINDER, expired, StepSucceeded(END, flow.WITHDRAW, 200))
    assert sent == [] and core.status(REMINDER, done) is Status.COMPENSATED
    assert REMINDER.view(done.state)["coupon_end"] == "withdrawn"


def test_a_coupon_already_used_cannot_be_withdrawn_and_that_is_recorded() -> None:
    saga = given(REMINDER, unpaid(), REMINDED, MEMBER, ISSUED)
    (passed,) = core.on_deadline(REMINDER, saga, END)
    expired = core.evolve(REMINDER, saga, passed, max_attempts=3)
    refused = StepRefused(END, flow.WITHDRAW, 409, "coupon cpn_pay_ord_1 was already used")
    done, sent = when(REMINDER, expired, refused)
    assert sent == [] and core.status(REMINDER, done) is Status.COMPENSATED
    assert REMINDER.view(done.state)["coupon_end"] == "already_redeemed"


def test_without_a_coupon_the_deadline_ends_the_saga_with_nothing_to_take_back() -> None:
    saga = given(REMINDER, unpaid(), REMINDED, NOT_MEMBER)
    (passed,) = core.on_deadline(REMINDER, saga, END)
    after, sent = when(REMINDER, saga, passed)
    assert sent == [] and core.status(REMINDER, after) is Status.COMPLETED
    assert REMINDER.view(after.state)["paid"] is False


def test_a_payment_after_the_deadline_changes_nothing() -> None:
    saga = given(REMINDER, unpaid(), REMINDED, MEMBER, ISSUED)
    (passed,) = core.on_deadline(REMINDER, saga, END)
    expired = core.evolve(REMINDER, saga, passed, max_attempts=3)
    after, sent = when(REMINDER, expired, Observed(END, paid()))
    assert sent == [flow.WITHDRAW]
    assert REMINDER.view(after.state)["paid"] is False


def test_an_overdue_flag_during_the_wait_starts_nothing_new() -> None:
    saga = given(REMINDER, unpaid(), REMINDED, MEMBER, ISSUED)
    after, sent = when(REMINDER, saga, Observed(T1, overdue()))
    assert sent == [] and after.state == saga.state
    assert REMINDER.following(overdue()) == "sag_payment_ord_1"
    assert REMINDER.following(paid(order="ord_2")) == "sag_payment_ord_2"
