"""Unpaid order / overdue receivable -> reminder and coupon (issue #7, flow 3).

On ``crm.pipeline.OrderUnpaidAfter48Hours`` or ``crm.pipeline.ReceivableOverdue`` the saga

1. reminds the owning rep: a ``note`` on the customer's timeline in contacts, naming the
   rep, the order and the balance. Contacts has no task list; the timeline is what a rep
   reads about their customer (and ``note`` does not pretend a call happened);
2. asks loyalty whether the customer is a member (404: not a member, no coupon);
3. issues a member a ``discount`` coupon valid for ``coupon_validity`` (its id derived
   from the order, so it is issued once), referencing the order;

then waits. ``PaymentReceived`` leaving a balance of 0, or ``ReceivableSettled``, before
the coupon's end completes the saga: nothing more is sent. When the coupon's end passes
unpaid, the coupon is withdrawn (the compensation; loyalty answers 200 for one that expired
meanwhile, 409 for one already used, which is recorded and accepted) and the saga ends
``compensated``; without a coupon it ends ``completed`` with the order still unpaid.

One saga per order: an order flagged unpaid and later overdue is reminded once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from crm_sagas.domain.saga import (
    Deadline,
    DeadlinePassed,
    Decided,
    Entry,
    Observed,
    SagaCommand,
    Started,
    Status,
    StepRefused,
    StepSucceeded,
    Trigger,
)

TYPE = "payment_reminder"
UNPAID = "crm.pipeline.OrderUnpaidAfter48Hours"
OVERDUE = "crm.pipeline.ReceivableOverdue"
PAID = "crm.pipeline.PaymentReceived"
SETTLED = "crm.pipeline.ReceivableSettled"
REMIND = "remind_owner"
MEMBERSHIP = "check_membership"
ISSUE = "issue_coupon"
WITHDRAW = "withdraw_coupon"
PAYMENT_DEADLINE = "payment"


def saga_id_of(order_id: str) -> str:
    return f"sag_payment_{order_id}"


def coupon_id_of(order_id: str) -> str:
    return f"cpn_pay_{order_id}"[:128]


@dataclass(frozen=True)
class PaymentReminder:
    order_id: str
    customer_id: str
    owner_id: str
    reason: str
    """unpaid_48h or overdue: the event that started it."""
    balance: str
    currency: str
    started_at: datetime
    valid_until: datetime
    reminded: bool = False
    member: bool | None = None
    coupon_issued: bool = False
    paid: bool = False
    expired: bool = False
    coupon_end: str | None = None
    """withdrawn, or already_redeemed when the customer had used it."""


@dataclass(frozen=True)
class PaymentReminderFlow:
    """Configured by the settings: how long the coupon (and the wait for payment) lasts."""

    coupon_validity: timedelta
    type: str = TYPE

    def starting(self, trigger: Trigger) -> str | None:
        if trigger.type in (UNPAID, OVERDUE):
            return saga_id_of(str(trigger.data["order_id"]))
        return None

    def following(self, trigger: Trigger) -> str | None:
        if trigger.type in (PAID, SETTLED, UNPAID, OVERDUE):
            return saga_id_of(str(trigger.data["order_id"]))
        return None

    def initial_state(self, started: Started) -> PaymentReminder:
        trigger = started.trigger
        data = trigger.data
        return PaymentReminder(
            order_id=str(data["order_id"]),
            customer_id=str(data["customer_id"]),
            owner_id=str(data["owner_id"]),
            reason="unpaid_48h" if trigger.type == UNPAID else "overdue",
            balance=str(data["balance"]),
            currency=str(data["currency"]),
            started_at=started.at,
            valid_until=started.at + self.coupon_validity,
        )

    def evolve(self, state: PaymentReminder, entry: Entry) -> PaymentReminder:
        match entry:
            case Observed(trigger=trigger) if _pays_off(trigger) and not state.expired:
                return replace(state, paid=True)
            case StepSucceeded(step=step):
                if step == REMIND:
                    return replace(state, reminded=True)
                if step == MEMBERSHIP:
                    return replace(state, member=True)
                if step == ISSUE:
                    return replace(state, coupon_issued=True)
                if step == WITHDRAW:
                    return replace(state, coupon_end="withdrawn")
            case StepRefused(step=step) if self.expects(state, entry):
                if step == MEMBERSHIP:
                    return replace(state, member=False)
                return replace(state, coupon_end="already_redeemed")
            case DeadlinePassed() if not state.paid:
                return replace(state, expired=True)
        return state

    def expects(self, state: PaymentReminder, refused: StepRefused) -> bool:
        return (refused.step, refused.status) in {(MEMBERSHIP, 404), (WITHDRAW, 409)}

    def react(self, state: PaymentReminder) -> list[SagaCommand]:
        if state.paid:
            return []
        customer = state.customer_id
        coupon = coupon_id_of(state.order_id)
        if state.expired:
            if state.coupon_issued and state.coupon_end is None:
                return [
                    SagaCommand(
                        WITHDRAW, "loyalty", "POST",
                        f"/loyalty/members/{customer}/coupons/{coupon}/withdraw",
                        body={"reason": f"order {state.order_id} still unpaid when the offer "
                                        "ended"},
                    )
                ]  # fmt: skip
            return []
        commands: list[SagaCommand] = []
        if not state.reminded:
            # The pipeline's unpaid window is its setting (48 h by default), not always 48 h.
            why = "still unpaid since it was placed" if state.reason == "unpaid_48h" else (
                "overdue"
            )  # fmt: skip
            commands.append(
                SagaCommand(
                    REMIND, "contacts", "POST", f"/contacts/customers/{customer}/interactions",
                    body={
                        "kind": "note",
                        "summary": f"Reminder for {state.owner_id}: order {state.order_id} is "
                        f"{why}; {state.balance} {state.currency} owed. Please call the "
                        "customer.",
                        "at": state.started_at.isoformat(),
                    },
                    keep=("id",),
                )
            )  # fmt: skip
        if state.member is None:
            commands.append(
                SagaCommand(MEMBERSHIP, "loyalty", "GET", f"/loyalty/members/{customer}",
                            keep=("tier",))
            )  # fmt: skip
        elif state.member and not state.coupon_issued:
            commands.append(
                SagaCommand(
                    ISSUE, "loyalty", "POST", f"/loyalty/members/{customer}/coupons",
                    body={
                        "coupon_id": coupon,
                        "reward": "discount",
                        "description": f"Thank you for paying order {state.order_id} soon",
                        "valid_until": state.valid_until.isoformat(),
                        "reference": state.order_id,
                    },
                    keep=("tier",),
                )
            )  # fmt: skip
        return commands

    def deadline(self, state: PaymentReminder) -> Deadline | None:
        if state.paid or state.expired:
            return None
        return Deadline(PAYMENT_DEADLINE, state.valid_until)

    def outcome(self, state: PaymentReminder) -> Status:
        if state.paid:
            return Status.COMPLETED
        if state.expired:
            if state.coupon_end is not None:
                return Status.COMPENSATED
            return Status.RUNNING if state.coupon_issued else Status.COMPLETED
        return Status.RUNNING

    def awaits(self, state: PaymentReminder) -> dict[str, frozenset[str]]:
        return {}  # no step waits for a person

    def check_decision(self, decided: Decided) -> None:
        raise ValueError(f"a {self.type} saga asks no one for a decision")

    def view(self, state: PaymentReminder) -> dict[str, Any]:
        return {
            "order_id": state.order_id,
            "customer_id": state.customer_id,
            "owner_id": state.owner_id,
            "reason": state.reason,
            "balance": state.balance,
            "currency": state.currency,
            "reminded": state.reminded,
            "member": state.member,
            "coupon_id": coupon_id_of(state.order_id) if state.coupon_issued else None,
            "coupon_valid_until": state.valid_until.isoformat(),
            "paid": state.paid,
            "coupon_end": state.coupon_end,
        }


def _pays_off(trigger: Trigger) -> bool:
    if trigger.type == SETTLED:
        return True
    if trigger.type == PAID:
        return Decimal(str(trigger.data.get("balance_after", "1"))) == 0
    return False
