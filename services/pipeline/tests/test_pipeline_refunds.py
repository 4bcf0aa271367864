"""Refunds of payments: the order decider (given/when/then) and POST .../orders/{id}/refunds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pipeline_testing import ORDERS, ClientFactory, ok, placed_order, problem

from crm_contracts.pipeline import OrderPlaced, PaymentReceived, PaymentRefunded, ReceivableOpened
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain.errors import InvalidInput, NotFound, WrongState
from crm_pipeline.domain.order import RefundPayment, decide, fold, initial_state

ORDER = "ord_51c2"
AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
GIVEN: list[DomainEvent] = [
    OrderPlaced(
        order_id=ORDER, quote_id="quo_51c2", opportunity_id="opp_7f3a", customer_id="cus_acme",
        owner_id="u1", team="north", total=Decimal("1000.00"), currency="EUR",
        placed_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC), payment_due_date=date(2026, 12, 24),
    ),
    ReceivableOpened(
        order_id=ORDER, customer_id="cus_acme", owner_id="u1", team="north",
        amount=Decimal("1000.00"), currency="EUR", due_date=date(2026, 12, 24),
    ),
    PaymentReceived(
        order_id=ORDER, customer_id="cus_acme", payment_id="pay_1", amount=Decimal("400.00"),
        currency="EUR", balance_after=Decimal("600.00"),
    ),
]  # fmt: skip


def refund(
    refund_id: str, amount: str, payment: str = "pay_1", currency: str = "EUR"
) -> RefundPayment:
    return RefundPayment(ORDER, payment, refund_id, Decimal(amount), currency, AT)


def test_a_refund_gives_money_of_one_payment_back() -> None:
    assert decide(refund("rfd_1", "150.00"), fold(GIVEN)) == [
        PaymentRefunded(
            order_id=ORDER, customer_id="cus_acme", payment_id="pay_1", refund_id="rfd_1",
            amount=Decimal("150.00"), currency="EUR", refunded_at=AT,
        )
    ]  # fmt: skip


def test_refunds_add_up_to_at_most_what_the_payment_paid() -> None:
    first = decide(refund("rfd_1", "300.00"), fold(GIVEN))
    state = fold([*GIVEN, *first])
    assert decide(refund("rfd_2", "100.00"), state) != []
    with pytest.raises(InvalidInput, match=r"at most 100.00 EUR"):
        decide(refund("rfd_2", "100.01"), state)


def test_the_same_refund_is_made_once() -> None:
    state = fold([*GIVEN, *decide(refund("rfd_1", "50.00"), fold(GIVEN))])
    assert decide(refund("rfd_1", "50.00"), state) == []
    with pytest.raises(WrongState):
        decide(refund("rfd_1", "60.00"), state)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (refund("rfd_1", "10.00", payment="pay_unknown"), "payment_id"),
        (refund("rfd_1", "10.00", currency="USD"), "currency"),
        (refund("rfd_1", "0"), "amount"),
        (refund("rfd_1", "400.01"), "amount"),
        (refund(" ", "10.00"), "refund_id"),
    ],
)
def test_bad_refunds_are_refused(command: RefundPayment, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decide(command, fold(GIVEN))
    assert refused.value.field == field


def test_an_unknown_order_cannot_be_refunded() -> None:
    with pytest.raises(NotFound):
        decide(refund("rfd_1", "1.00"), initial_state)


async def test_refunds_over_http_follow_the_payment_policy(signed_in: ClientFactory) -> None:
    rep, manager = signed_in("sales_rep"), signed_in("sales_manager")
    order = await placed_order(rep)
    url = f"{ORDERS}/{order['id']}"
    ok(await manager.post(f"{url}/payments", json={"amount": "1000.00", "currency": "EUR",
                                                   "payment_id": "pay_1"}))  # fmt: skip
    body = {"payment_id": "pay_1", "amount": "250.00", "currency": "EUR", "refund_id": "rfd_1"}
    problem(await rep.post(f"{url}/refunds", json=body), 403)
    answer = ok(await manager.post(f"{url}/refunds", json=body))
    assert answer["receivable"]["refunds"] == [
        {"refund_id": "rfd_1", "payment_id": "pay_1", "amount": "250.00"}
    ]
    too_much = await manager.post(f"{url}/refunds", json={**body, "refund_id": "rfd_2",
                                                          "amount": "750.01"})  # fmt: skip
    problem(too_much, 422)
    problem(await manager.post(f"{url}/refunds", json={**body, "refund_id": None}), 422)
