"""The order decider: the receivable an order opens, payments, overdue and unpaid checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from crm_contracts.pipeline import (
    OrderPlaced,
    OrderUnpaidAfter48Hours,
    PaymentReceived,
    QuoteAccepted,
    QuoteDrafted,
    QuoteLine,
    QuoteSent,
    ReceivableOpened,
    ReceivableOverdue,
    ReceivableSettled,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain import quote
from crm_pipeline.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    Overpayment,
    WrongState,
)
from crm_pipeline.domain.order import (
    FlagUnpaid,
    MarkOverdue,
    Order,
    OrderCommand,
    PlaceOrder,
    RecordPayment,
    decide,
    fold,
    payment_due_date,
    placing_for,
)

ORDER = "ord_51c2"
PLACED_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
DUE = date(2026, 12, 24)
PLACE = PlaceOrder(
    order_id=ORDER,
    quote_id="quo_51c2",
    opportunity_id="opp_7f3a",
    customer_id="cus_acme",
    owner_id="u1",
    total=Decimal("1000.00"),
    currency="EUR",
    placed_at=PLACED_AT,
    payment_terms_days=30,
    team="north",
)
PLACED = OrderPlaced(
    order_id=ORDER,
    quote_id="quo_51c2",
    opportunity_id="opp_7f3a",
    customer_id="cus_acme",
    owner_id="u1",
    team="north",
    total=Decimal("1000.00"),
    currency="EUR",
    placed_at=PLACED_AT,
    payment_due_date=DUE,
)
OPENED = ReceivableOpened(
    order_id=ORDER,
    customer_id="cus_acme",
    owner_id="u1",
    team="north",
    amount=Decimal("1000.00"),
    currency="EUR",
    due_date=DUE,
)
ORDERED = [PLACED, OPENED]
BRASILIA = timezone(-timedelta(hours=3))


def paid(payment_id: str, amount: str, balance: str) -> PaymentReceived:
    return PaymentReceived(
        order_id=ORDER,
        customer_id="cus_acme",
        payment_id=payment_id,
        amount=Decimal(amount),
        currency="EUR",
        balance_after=Decimal(balance),
    )


SETTLED = ReceivableSettled(
    order_id=ORDER, customer_id="cus_acme", amount=Decimal("1000.00"), currency="EUR"
)
PAID_IN_FULL = [*ORDERED, paid("p1", "1000", "0"), SETTLED]
PAID_400 = [*ORDERED, paid("p1", "400", "600")]


def overdue(days: int, balance: str = "1000.00") -> ReceivableOverdue:
    return ReceivableOverdue(
        order_id=ORDER,
        customer_id="cus_acme",
        owner_id="u1",
        team="north",
        due_date=DUE,
        days_overdue=days,
        balance=Decimal(balance),
        currency="EUR",
    )


UNPAID = OrderUnpaidAfter48Hours(
    order_id=ORDER,
    customer_id="cus_acme",
    owner_id="u1",
    team="north",
    balance=Decimal("1000.00"),
    currency="EUR",
    placed_at=PLACED_AT,
)


def pay(amount: Any, payment_id: str = "p2", currency: str = "EUR") -> RecordPayment:
    return RecordPayment(ORDER, payment_id, Decimal(amount) if isinstance(amount, str) else amount,
                         currency)  # fmt: skip


def place(**changes: Any) -> PlaceOrder:
    return PlaceOrder(**{**PLACE.__dict__, **changes})


def at(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def given_when(given: list[DomainEvent], when: OrderCommand) -> list[DomainEvent]:
    return decide(when, fold(given))


@pytest.mark.parametrize(
    ("given", "when", "then"),
    [
        pytest.param([], PLACE, ORDERED, id="placing opens the receivable, due in 30 days"),
        pytest.param(
            [], place(payment_terms_days=14),
            [PLACED.model_copy(update={"payment_due_date": date(2026, 12, 8)}),
             OPENED.model_copy(update={"due_date": date(2026, 12, 8)})],
            id="other payment terms",
        ),
        pytest.param(
            [], place(payment_terms_days=0),
            [PLACED.model_copy(update={"payment_due_date": date(2026, 11, 24)}),
             OPENED.model_copy(update={"due_date": date(2026, 11, 24)})],
            id="payment due the same day",
        ),
        pytest.param(
            [], place(placed_at=datetime(2026, 11, 25, 0, 30, tzinfo=timezone(timedelta(hours=2)))),
            [PLACED.model_copy(update={
                "placed_at": datetime(2026, 11, 25, 0, 30, tzinfo=timezone(timedelta(hours=2)))}),
             OPENED],
            id="the due date counts from the UTC day of placing",
        ),
        pytest.param(PAID_400[:2], pay("400", "p1"), [paid("p1", "400", "600")],
                     id="a part payment lowers the balance"),
        pytest.param(PAID_400, pay("600"), [paid("p2", "600", "0"), SETTLED],
                     id="the payment that brings the balance to 0 settles it"),
        pytest.param(ORDERED, pay("1000", "p1"), [paid("p1", "1000", "0"), SETTLED],
                     id="one payment in full"),
        pytest.param(PAID_400, pay("0.01"), [paid("p2", "0.01", "599.99")],
                     id="a cent is exact"),
        pytest.param(ORDERED, MarkOverdue(ORDER, at(DUE + timedelta(days=1))), [overdue(1)],
                     id="overdue from the first moment after the due date"),
        pytest.param(ORDERED, MarkOverdue(ORDER, at(DUE + timedelta(days=10), 23, 59)),
                     [overdue(10)], id="overdue for 10 days"),
        pytest.param(PAID_400, MarkOverdue(ORDER, at(DUE + timedelta(days=2))),
                     [overdue(2, "600.00")], id="overdue with what is still owed"),
        pytest.param(
            ORDERED,
            MarkOverdue(ORDER, datetime(2026, 12, 24, 23, 30, tzinfo=BRASILIA)),
            [overdue(1)], id="overdue judged on the UTC date",
        ),
        pytest.param(ORDERED, FlagUnpaid(ORDER, PLACED_AT + timedelta(hours=48)), [UNPAID],
                     id="unpaid exactly 48 hours after placing"),
        pytest.param(ORDERED, FlagUnpaid(ORDER, PLACED_AT + timedelta(days=40)), [UNPAID],
                     id="unpaid long after"),
        pytest.param([*ORDERED, overdue(1)], FlagUnpaid(ORDER, at(DUE + timedelta(days=2))),
                     [UNPAID], id="unpaid and overdue are flagged independently"),
        pytest.param([*ORDERED, UNPAID], pay("10"), [paid("p2", "10", "990")],
                     id="a flagged order can still be paid"),
    ],
)  # fmt: skip
def test_decides_events(
    given: list[DomainEvent], when: OrderCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(
    ("given", "when"),
    [
        pytest.param(ORDERED, PLACE, id="place again from the same quote (a retried acceptance)"),
        pytest.param(PAID_400, pay("400", "p1"), id="the same payment reported again"),
        pytest.param(PAID_IN_FULL, pay("1000", "p1"), id="the settling payment reported again"),
        pytest.param(ORDERED, MarkOverdue(ORDER, at(DUE, 23, 59)),
                     id="not overdue on the due date"),
        pytest.param(ORDERED, MarkOverdue(ORDER, PLACED_AT), id="not overdue when placed"),
        pytest.param([*ORDERED, overdue(1)], MarkOverdue(ORDER, at(DUE + timedelta(days=5))),
                     id="overdue is flagged once"),
        pytest.param(PAID_IN_FULL, MarkOverdue(ORDER, at(DUE + timedelta(days=5))),
                     id="a settled receivable is never overdue"),
        pytest.param(ORDERED, FlagUnpaid(ORDER, PLACED_AT + timedelta(hours=47, minutes=59)),
                     id="not unpaid before 48 hours"),
        pytest.param([*ORDERED, UNPAID], FlagUnpaid(ORDER, PLACED_AT + timedelta(days=3)),
                     id="unpaid is flagged once"),
        pytest.param(PAID_400, FlagUnpaid(ORDER, PLACED_AT + timedelta(days=3)),
                     id="a part payment within 48 hours means it is not unpaid"),
        pytest.param(PAID_IN_FULL, FlagUnpaid(ORDER, PLACED_AT + timedelta(days=3)),
                     id="a paid order is not unpaid"),
    ],
)  # fmt: skip
def test_a_repeated_or_premature_check_decides_no_events(
    given: list[DomainEvent], when: OrderCommand
) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("window", "after", "flagged"),
    [
        pytest.param(timedelta(seconds=5), timedelta(seconds=4, milliseconds=999), False,
                     id="5 s window: not a moment before"),
        pytest.param(timedelta(seconds=5), timedelta(seconds=5), True, id="5 s window: at 5 s"),
        pytest.param(timedelta(days=7), timedelta(hours=48), False,
                     id="7 day window: 48 hours is not enough"),
        pytest.param(timedelta(days=7), timedelta(days=7), True, id="7 day window: at 7 days"),
    ],
)  # fmt: skip
def test_the_unpaid_window_is_the_one_the_decider_is_given(
    window: timedelta, after: timedelta, flagged: bool
) -> None:
    """The event keeps its historical name (OrderUnpaidAfter48Hours) whatever the window."""
    decided = decide(FlagUnpaid(ORDER, PLACED_AT + after), fold(ORDERED), unpaid_after=window)
    assert decided == ([UNPAID] if flagged else [])


def test_a_part_payment_within_a_configured_window_still_means_it_is_not_unpaid() -> None:
    later = FlagUnpaid(ORDER, PLACED_AT + timedelta(minutes=5))
    assert decide(later, fold(PAID_400), unpaid_after=timedelta(seconds=30)) == []
    assert decide(later, fold([*ORDERED, UNPAID]), unpaid_after=timedelta(seconds=30)) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [
        pytest.param(ORDERED, place(quote_id="quo_other"), AlreadyExists,
                     "order ord_51c2 already exists", id="place another quote's order here"),
        pytest.param([], place(total=Decimal(0)), InvalidInput, "total: must be more than 0",
                     id="place an order worth nothing"),
        pytest.param([], place(total=10.0), InvalidInput, "total: must be an exact decimal",
                     id="place with a float total"),
        pytest.param([], place(currency="eu"), InvalidInput, "currency: must be an ISO",
                     id="place in a bad currency"),
        pytest.param([], place(payment_terms_days=-1), InvalidInput,
                     "payment_terms_days: must be from 0 to 365", id="negative terms"),
        pytest.param([], place(payment_terms_days=366), InvalidInput,
                     "payment_terms_days: must be from 0 to 365", id="terms over a year"),
        pytest.param([], place(placed_at=datetime(2026, 11, 24)), InvalidInput,
                     "placed_at: must be a time with a time zone", id="placed without a zone"),
        pytest.param([], pay("10"), NotFound, "no order with id ord_51c2",
                     id="pay an unknown order"),
        pytest.param([], MarkOverdue(ORDER, PLACED_AT), NotFound, "no order",
                     id="check an unknown order for overdue"),
        pytest.param([], FlagUnpaid(ORDER, PLACED_AT), NotFound, "no order",
                     id="check an unknown order for unpaid"),
        pytest.param(ORDERED, pay("1000.01"), Overpayment,
                     "a payment of 1000.01 EUR is more than the open balance of 1000.00 EUR",
                     id="pay more than owed"),
        pytest.param(PAID_400, pay("600.01"), Overpayment, "open balance of 600.00 EUR",
                     id="pay more than the rest"),
        pytest.param(PAID_IN_FULL, pay("0.01"), Overpayment, "open balance of 0.00 EUR",
                     id="pay a settled receivable"),
        pytest.param(ORDERED, pay("10", currency="USD"), InvalidInput,
                     "currency: order ord_51c2 is owed in EUR, not USD",
                     id="pay in another currency"),
        pytest.param(PAID_400, pay("399", "p1"), WrongState,
                     "payment p1 of order ord_51c2 was recorded as 400.00 EUR, not 399.00 EUR",
                     id="the same reference with another amount"),
        pytest.param(PAID_400, pay("400", "p1", "USD"), WrongState, "not 400.00 USD",
                     id="the same reference in another currency"),
        pytest.param(ORDERED, pay("0"), InvalidInput, "amount: must be more than 0",
                     id="pay nothing"),
        pytest.param(ORDERED, pay("-5"), InvalidInput, "amount: must be more than 0",
                     id="pay a negative amount"),
        pytest.param(ORDERED, pay("0.005"), InvalidInput, "amount: must have at most 2 decimal",
                     id="pay a fraction of a cent"),
        pytest.param(ORDERED, pay(0.1), InvalidInput, "amount: must be an exact decimal",
                     id="pay a float"),
        pytest.param(ORDERED, pay(True), InvalidInput, "amount: must be an exact decimal",
                     id="pay a boolean"),
        pytest.param(ORDERED, pay("10", " "), InvalidInput, "payment_id: must not be blank",
                     id="pay without a reference"),
        pytest.param(ORDERED, MarkOverdue(ORDER, datetime(2027, 1, 1)), InvalidInput,
                     "now: must be a time with a time zone", id="overdue check without a zone"),
        pytest.param(ORDERED, FlagUnpaid(ORDER, datetime(2027, 1, 1)), InvalidInput,
                     "now: must be a time with a time zone", id="unpaid check without a zone"),
    ],
)  # fmt: skip
def test_refuses_what_the_rules_do_not_allow(
    given: list[DomainEvent], when: OrderCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


def test_an_overpayment_names_the_balance() -> None:
    with pytest.raises(Overpayment) as refused:
        given_when(PAID_400, pay("700"))
    assert (refused.value.balance, refused.value.amount, refused.value.currency) == (
        Decimal("600.00"),
        Decimal("700.00"),
        "EUR",
    )


def test_payments_are_deducted_until_the_balance_is_zero() -> None:
    state = fold(ORDERED)
    for payment_id, amount in [("a", "0.10"), ("b", "0.20"), ("c", "999.70")]:
        state = fold(decide(pay(amount, payment_id), state), state)
    assert isinstance(state, Order)
    assert (state.paid, state.balance, state.settled) == (Decimal("1000.00"), Decimal(0), True)
    assert state.payments == (
        ("a", Decimal("0.10")),
        ("b", Decimal("0.20")),
        ("c", Decimal("999.70")),
    )


def test_history_folds_into_the_order_and_its_receivable() -> None:
    state = fold([*PAID_400, overdue(3, "600"), UNPAID])
    assert isinstance(state, Order)
    assert (state.total, state.paid, state.balance, state.due_date) == (
        Decimal("1000.00"),
        Decimal("400"),
        Decimal("600.00"),
        DUE,
    )
    assert (state.overdue, state.unpaid_flagged, state.settled) == (True, True, False)


def test_the_due_date_is_the_placed_day_plus_the_terms() -> None:
    assert payment_due_date(PLACED_AT, 30) == DUE
    late_in_tokyo = datetime(2026, 11, 25, 8, 0, tzinfo=timezone(timedelta(hours=9)))
    assert payment_due_date(late_in_tokyo, 1) == date(2026, 11, 25)


ACCEPTED_QUOTE = quote.fold(
    [
        QuoteDrafted(
            quote_id="quo_51c2",
            opportunity_id="opp_7f3a",
            customer_id="cus_acme",
            owner_id="u1",
            team="north",
            currency="EUR",
            lines=(
                QuoteLine(
                    sku="S",
                    description="d",
                    quantity=Decimal(1),
                    unit_price=Decimal(1000),
                    discount_percent=Decimal(0),
                    net_amount=Decimal("1000.00"),
                ),
            ),
            total=Decimal("1000.00"),
        ),
        QuoteSent(quote_id="quo_51c2"),
        QuoteAccepted(quote_id="quo_51c2", order_id=ORDER, accepted_at=PLACED_AT),
    ]
)


def test_an_accepted_quote_places_its_order_when_it_was_accepted() -> None:
    assert placing_for(ACCEPTED_QUOTE, 30) == PLACE


def test_only_an_accepted_quote_places_an_order() -> None:
    with pytest.raises(TypeError):
        placing_for(quote.NoQuote(), 30)
