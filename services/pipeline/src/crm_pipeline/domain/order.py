"""The order aggregate as a decider: an accepted quote and the receivable it opens.

Placing an order opens its receivable for the order's total, due the placed
date plus the payment terms. Payments are deducted until the balance is 0,
which settles it; a payment over the balance is refused and a payment whose
reference was already counted changes nothing. Two time checks, both
no-ops unless due and both at most once: ``MarkOverdue`` once the due date
has passed with money owed, ``FlagUnpaid`` once the unpaid window passed without
any payment. The clock is an input (``now``), never read here, and so is the window
(``decide(..., unpaid_after=)``, the setting ``CRM_PIPELINE_UNPAID_AFTER``; 48 hours
by default). The event it raises keeps the name ``OrderUnpaidAfter48Hours`` whatever
the window: the name is historical, the contract unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm_contracts.pipeline import (
    OrderPlaced,
    OrderUnpaidAfter48Hours,
    PaymentReceived,
    PaymentRefunded,
    ReceivableOpened,
    ReceivableOverdue,
    ReceivableSettled,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain import values
from crm_pipeline.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    Overpayment,
    WrongState,
)
from crm_pipeline.domain.quote import Quote, QuoteState

KIND = "order"
DEFAULT_UNPAID_AFTER = timedelta(hours=48)
"""The unpaid window unless configured (``CRM_PIPELINE_UNPAID_AFTER``)."""
MAX_PAYMENT_TERMS_DAYS = 365


def payment_due_date(placed_at: datetime, payment_terms_days: int) -> date:
    """The last day to pay: the (UTC) day the order was placed plus the payment terms."""
    return placed_at.astimezone(UTC).date() + timedelta(days=payment_terms_days)


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str
    quote_id: str
    opportunity_id: str
    customer_id: str
    owner_id: str
    total: Decimal
    currency: str
    placed_at: datetime
    payment_terms_days: int
    team: str | None = None


@dataclass(frozen=True)
class RecordPayment:
    order_id: str
    payment_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class RefundPayment:
    """Give money of one payment back: at most what it paid minus its earlier refunds."""

    order_id: str
    payment_id: str
    refund_id: str
    amount: Decimal
    currency: str
    at: datetime


@dataclass(frozen=True)
class MarkOverdue:
    """Flag the receivable if its due date passed before ``now`` with money still owed."""

    order_id: str
    now: datetime


@dataclass(frozen=True)
class FlagUnpaid:
    """Flag the order if nothing was paid within the unpaid window (48 h by default)."""

    order_id: str
    now: datetime


OrderCommand = PlaceOrder | RecordPayment | RefundPayment | MarkOverdue | FlagUnpaid

# --- state --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoOrder:
    """Nothing placed under this id."""


@dataclass(frozen=True)
class Order:
    order_id: str
    quote_id: str
    opportunity_id: str
    customer_id: str
    owner_id: str
    team: str | None
    total: Decimal
    currency: str
    placed_at: datetime
    due_date: date
    paid: Decimal = Decimal("0.00")
    payments: tuple[tuple[str, Decimal], ...] = ()
    refunds: tuple[tuple[str, str, Decimal], ...] = ()
    """(refund id, payment id, amount) of every refund, in order."""
    settled: bool = False
    overdue: bool = False
    unpaid_flagged: bool = False

    @property
    def balance(self) -> Decimal:
        return self.total - self.paid

    def payment(self, payment_id: str) -> Decimal | None:
        return next((amount for known, amount in self.payments if known == payment_id), None)

    def refunded(self, payment_id: str) -> Decimal:
        return sum((a for _, paid, a in self.refunds if paid == payment_id), Decimal("0.00"))


OrderState = NoOrder | Order

initial_state: OrderState = NoOrder()


def decide(
    command: OrderCommand,
    state: OrderState,
    *,
    unpaid_after: timedelta = DEFAULT_UNPAID_AFTER,
) -> list[DomainEvent]:
    """The events ``command`` causes; ``unpaid_after`` is the window of ``FlagUnpaid``."""
    match command, state:
        case PlaceOrder(), Order():
            if command.quote_id == state.quote_id:
                return []  # the quote's acceptance, retried
            raise AlreadyExists(KIND, command.order_id)
        case PlaceOrder(), NoOrder():
            return _placed(command)
        case _, NoOrder():
            raise NotFound(KIND, command.order_id)
        case RecordPayment(), Order():
            return _paid(command, state)
        case RefundPayment(), Order():
            return _refunded(command, state)
        case MarkOverdue(), Order():
            return _overdue(command, state)
        case FlagUnpaid(), Order():
            return _unpaid(command, state, unpaid_after)
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def _aware(moment: datetime, field: str) -> datetime:
    if moment.utcoffset() is None:
        raise InvalidInput(field, "must be a time with a time zone")
    return moment


def _placed(command: PlaceOrder) -> list[DomainEvent]:
    total = values.money(command.total, "total")
    currency = values.currency(command.currency)
    placed_at = _aware(command.placed_at, "placed_at")
    terms = command.payment_terms_days
    if not 0 <= terms <= MAX_PAYMENT_TERMS_DAYS:
        raise InvalidInput("payment_terms_days", f"must be from 0 to {MAX_PAYMENT_TERMS_DAYS} days")
    due = payment_due_date(placed_at, terms)
    return [
        OrderPlaced(
            order_id=command.order_id,
            quote_id=command.quote_id,
            opportunity_id=command.opportunity_id,
            customer_id=command.customer_id,
            owner_id=command.owner_id,
            team=command.team,
            total=total,
            currency=currency,
            placed_at=placed_at,
            payment_due_date=due,
        ),
        ReceivableOpened(
            order_id=command.order_id,
            customer_id=command.customer_id,
            owner_id=command.owner_id,
            team=command.team,
            amount=total,
            currency=currency,
            due_date=due,
        ),
    ]


def _paid(command: RecordPayment, state: Order) -> list[DomainEvent]:
    payment_id = values.text(command.payment_id, "payment_id", max_length=200)
    amount = values.money(command.amount)
    known = state.payment(payment_id)
    if known is not None:
        if known == amount and command.currency == state.currency:
            return []  # the same payment, reported again
        raise WrongState(
            "Payment already recorded",
            f"payment {payment_id} of order {state.order_id} was recorded as "
            f"{known:.2f} {state.currency}, not {amount:.2f} {command.currency}",
        )
    if command.currency != state.currency:
        raise InvalidInput(
            "currency",
            f"order {state.order_id} is owed in {state.currency}, not {command.currency}",
        )
    if amount > state.balance:
        raise Overpayment(state.order_id, amount, state.balance, state.currency)
    balance = state.balance - amount
    paid: list[DomainEvent] = [
        PaymentReceived(
            order_id=state.order_id,
            customer_id=state.customer_id,
            payment_id=payment_id,
            amount=amount,
            currency=state.currency,
            balance_after=balance,
        )
    ]
    if balance == 0:
        paid.append(
            ReceivableSettled(
                order_id=state.order_id,
                customer_id=state.customer_id,
                amount=state.total,
                currency=state.currency,
            )
        )
    return paid


def _refunded(command: RefundPayment, state: Order) -> list[DomainEvent]:
    refund_id = values.text(command.refund_id, "refund_id", max_length=200)
    amount = values.money(command.amount)
    known = next((r for r in state.refunds if r[0] == refund_id), None)
    if known is not None:
        if (known[1], known[2]) == (command.payment_id, amount):
            return []  # the same refund, reported again
        raise WrongState(
            "Refund already made",
            f"refund {refund_id} of order {state.order_id} was {known[2]:.2f} {state.currency} "
            f"of payment {known[1]}",
        )
    paid = state.payment(command.payment_id)
    if paid is None:
        raise InvalidInput(
            "payment_id", f"order {state.order_id} has no payment {command.payment_id}"
        )
    if command.currency != state.currency:
        raise InvalidInput(
            "currency",
            f"order {state.order_id} was paid in {state.currency}, not {command.currency}",
        )
    refundable = paid - state.refunded(command.payment_id)
    if amount > refundable:
        raise InvalidInput(
            "amount",
            f"at most {refundable:.2f} {state.currency} of payment {command.payment_id} can "
            f"still be refunded, not {amount:.2f}",
        )
    return [
        PaymentRefunded(
            order_id=state.order_id,
            customer_id=state.customer_id,
            payment_id=command.payment_id,
            refund_id=refund_id,
            amount=amount,
            currency=state.currency,
            refunded_at=_aware(command.at, "at"),
        )
    ]


def _overdue(command: MarkOverdue, state: Order) -> list[DomainEvent]:
    today = _aware(command.now, "now").astimezone(UTC).date()
    if state.overdue or state.balance == 0 or today <= state.due_date:
        return []
    return [
        ReceivableOverdue(
            order_id=state.order_id,
            customer_id=state.customer_id,
            owner_id=state.owner_id,
            team=state.team,
            due_date=state.due_date,
            days_overdue=(today - state.due_date).days,
            balance=state.balance,
            currency=state.currency,
        )
    ]


def _unpaid(command: FlagUnpaid, state: Order, unpaid_after: timedelta) -> list[DomainEvent]:
    now = _aware(command.now, "now")
    if state.unpaid_flagged or state.paid > 0 or now < state.placed_at + unpaid_after:
        return []
    return [
        OrderUnpaidAfter48Hours(
            order_id=state.order_id,
            customer_id=state.customer_id,
            owner_id=state.owner_id,
            team=state.team,
            balance=state.balance,
            currency=state.currency,
            placed_at=state.placed_at,
        )
    ]


def evolve(state: OrderState, event: DomainEvent) -> OrderState:
    match event, state:
        case OrderPlaced(), NoOrder():
            return Order(
                order_id=event.order_id,
                quote_id=event.quote_id,
                opportunity_id=event.opportunity_id,
                customer_id=event.customer_id,
                owner_id=event.owner_id,
                team=event.team,
                total=event.total,
                currency=event.currency,
                placed_at=event.placed_at,
                due_date=event.payment_due_date,
            )
        case ReceivableOpened(), Order():
            return replace(state, total=event.amount, due_date=event.due_date)
        case PaymentReceived(), Order():
            return replace(
                state,
                paid=state.paid + event.amount,
                payments=(*state.payments, (event.payment_id, event.amount)),
            )
        case PaymentRefunded(), Order():
            return replace(
                state, refunds=(*state.refunds, (event.refund_id, event.payment_id, event.amount))
            )
        case ReceivableSettled(), Order():
            return replace(state, settled=True)
        case ReceivableOverdue(), Order():
            return replace(state, overdue=True)
        case OrderUnpaidAfter48Hours(), Order():
            return replace(state, unpaid_flagged=True)
    return state  # an event this version does not fold (e.g. a newer type)


def fold(events: Iterable[DomainEvent], state: OrderState = initial_state) -> OrderState:
    for event in events:
        state = evolve(state, event)
    return state


def placing_for(accepted: QuoteState, payment_terms_days: int) -> PlaceOrder:
    """The order an accepted quote becomes, placed when the customer accepted."""
    if not isinstance(accepted, Quote) or accepted.order_id is None or accepted.accepted_at is None:
        raise TypeError("only an accepted quote places an order")
    return PlaceOrder(
        order_id=accepted.order_id,
        quote_id=accepted.quote_id,
        opportunity_id=accepted.opportunity_id,
        customer_id=accepted.customer_id,
        owner_id=accepted.owner_id,
        total=accepted.total,
        currency=accepted.currency,
        placed_at=accepted.accepted_at,
        payment_terms_days=payment_terms_days,
        team=accepted.team,
    )
