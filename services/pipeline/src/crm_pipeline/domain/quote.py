"""The quote aggregate as a decider: a priced offer, drafted, sent, then accepted or rejected.

Line amounts are computed exactly (``Decimal``) and rounded half-even to cents
once per line; the total is the sum of the lines, so a quote always adds up.
Accepting names the order to place, ``ord_`` and the quote's hex id: the
handler places it in the order's own stream, and a retry never places two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from crm_contracts.pipeline import (
    QuoteAccepted,
    QuoteDrafted,
    QuoteLine,
    QuoteRejected,
    QuoteSent,
    Stage,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain import values
from crm_pipeline.domain.errors import AlreadyExists, InvalidInput, NotFound, WrongState
from crm_pipeline.domain.opportunity import Opportunity, OpportunityState

KIND = "quote"
MAX_LINES = 100


def order_id_for(quote_id: str) -> str:
    """The one order a quote can become."""
    return "ord_" + quote_id.removeprefix("quo_")


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class DraftQuote:
    """Price an opportunity; who it is for comes from the opportunity (the handler reads it)."""

    quote_id: str
    opportunity_id: str
    customer_id: str
    owner_id: str
    currency: str
    lines: tuple[LineItem, ...]
    team: str | None = None


@dataclass(frozen=True)
class SendQuote:
    quote_id: str


@dataclass(frozen=True)
class AcceptQuote:
    quote_id: str
    order_id: str
    accepted_at: datetime


@dataclass(frozen=True)
class RejectQuote:
    quote_id: str
    reason: str | None = None


QuoteCommand = DraftQuote | SendQuote | AcceptQuote | RejectQuote

# --- state --------------------------------------------------------------------------------------


class QuoteStatus(StrEnum):
    DRAFTED = "drafted"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class NoQuote:
    """Nothing drafted under this id."""


@dataclass(frozen=True)
class Quote:
    quote_id: str
    opportunity_id: str
    customer_id: str
    owner_id: str
    team: str | None
    currency: str
    lines: tuple[QuoteLine, ...]
    total: Decimal
    status: QuoteStatus = QuoteStatus.DRAFTED
    order_id: str | None = None
    accepted_at: datetime | None = None
    rejection_reason: str | None = None


QuoteState = NoQuote | Quote

initial_state: QuoteState = NoQuote()


def decide(command: QuoteCommand, state: QuoteState) -> list[DomainEvent]:
    match command, state:
        case DraftQuote(), Quote():
            raise AlreadyExists(KIND, command.quote_id)
        case DraftQuote(), NoQuote():
            return [_drafted(command)]
        case _, NoQuote():
            raise NotFound(KIND, command.quote_id)
        case SendQuote(), Quote():
            return _sent(state)
        case AcceptQuote(), Quote():
            return _accepted(command, state)
        case RejectQuote(), Quote():
            return _rejected(command, state)
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def priced_lines(lines: Sequence[LineItem]) -> tuple[QuoteLine, ...]:
    """Validate line items and price each one."""
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidInput("lines", f"a quote has from 1 to {MAX_LINES} lines")
    priced = []
    for number, line in enumerate(lines):
        at = f"lines.{number}"
        quantity = values.quantity(line.quantity, f"{at}.quantity")
        unit_price = values.money(line.unit_price, f"{at}.unit_price", allow_zero=True)
        discount = values.percent(line.discount_percent, f"{at}.discount_percent")
        net = values.net_amount(quantity, unit_price, discount)
        if net > values.MAX_AMOUNT:
            raise InvalidInput(at, f"the line amounts to {net}, more than {values.MAX_AMOUNT}")
        priced.append(
            QuoteLine(
                sku=values.text(line.sku, f"{at}.sku", max_length=64),
                description=values.text(line.description, f"{at}.description", max_length=500),
                quantity=quantity,
                unit_price=unit_price,
                discount_percent=discount,
                net_amount=net,
            )
        )
    return tuple(priced)


def _drafted(command: DraftQuote) -> QuoteDrafted:
    lines = priced_lines(command.lines)
    total = sum((line.net_amount for line in lines), Decimal("0.00"))
    if total == 0:
        raise InvalidInput("lines", "the quote totals 0.00: a quote must be worth something")
    if total > values.MAX_AMOUNT:
        raise InvalidInput("lines", f"the quote totals {total}, more than {values.MAX_AMOUNT}")
    return QuoteDrafted(
        quote_id=command.quote_id,
        opportunity_id=command.opportunity_id,
        customer_id=command.customer_id,
        owner_id=command.owner_id,
        team=command.team,
        currency=values.currency(command.currency),
        lines=lines,
        total=total,
    )


def _closed(state: Quote) -> WrongState:
    return WrongState(
        f"Quote was {state.status.value}",
        f"quote {state.quote_id} was already {state.status.value}; draft a new quote instead",
    )


def _sent(state: Quote) -> list[DomainEvent]:
    match state.status:
        case QuoteStatus.SENT:
            return []
        case QuoteStatus.ACCEPTED | QuoteStatus.REJECTED:
            raise _closed(state)
    return [QuoteSent(quote_id=state.quote_id)]


def _not_sent(state: Quote, doing: str) -> WrongState:
    return WrongState(
        "Quote not sent",
        f"quote {state.quote_id} has not been sent to the customer; send it before {doing} it",
    )


def _accepted(command: AcceptQuote, state: Quote) -> list[DomainEvent]:
    if command.accepted_at.utcoffset() is None:
        raise InvalidInput("accepted_at", "must be a time with a time zone")
    match state.status:
        case QuoteStatus.ACCEPTED:
            if command.order_id == state.order_id:
                return []  # a retry: the order it became is the same
            raise _closed(state)
        case QuoteStatus.REJECTED:
            raise _closed(state)
        case QuoteStatus.DRAFTED:
            raise _not_sent(state, "accepting")
    return [
        QuoteAccepted(
            quote_id=state.quote_id, order_id=command.order_id, accepted_at=command.accepted_at
        )
    ]


def _rejected(command: RejectQuote, state: Quote) -> list[DomainEvent]:
    reason = values.text(command.reason, "reason", max_length=500) if command.reason else None
    match state.status:
        case QuoteStatus.REJECTED:
            return []
        case QuoteStatus.ACCEPTED:
            raise _closed(state)
        case QuoteStatus.DRAFTED:
            raise _not_sent(state, "rejecting")
    return [QuoteRejected(quote_id=state.quote_id, reason=reason)]


def evolve(state: QuoteState, event: DomainEvent) -> QuoteState:
    match event, state:
        case QuoteDrafted(), NoQuote():
            return Quote(
                quote_id=event.quote_id,
                opportunity_id=event.opportunity_id,
                customer_id=event.customer_id,
                owner_id=event.owner_id,
                team=event.team,
                currency=event.currency,
                lines=event.lines,
                total=event.total,
            )
        case QuoteSent(), Quote():
            return replace(state, status=QuoteStatus.SENT)
        case QuoteAccepted(), Quote():
            return replace(
                state,
                status=QuoteStatus.ACCEPTED,
                order_id=event.order_id,
                accepted_at=event.accepted_at,
            )
        case QuoteRejected(), Quote():
            return replace(state, status=QuoteStatus.REJECTED, rejection_reason=event.reason)
    return state  # an event this version does not fold (e.g. a newer type)


def fold(events: Iterable[DomainEvent], state: QuoteState = initial_state) -> QuoteState:
    for event in events:
        state = evolve(state, event)
    return state


def draft_for(
    opportunity: OpportunityState,
    quote_id: str,
    lines: Sequence[LineItem],
    currency: str | None = None,
) -> DraftQuote:
    """A quote prices an opportunity that is not lost, in the opportunity's currency."""
    if not isinstance(opportunity, Opportunity):
        raise TypeError("a quote prices an existing opportunity")
    if opportunity.stage is Stage.LOST:
        raise WrongState(
            "Opportunity was lost",
            f"opportunity {opportunity.opportunity_id} was lost; reopen it before quoting",
        )
    if currency is not None and currency != opportunity.currency:
        raise InvalidInput(
            "currency",
            f"opportunity {opportunity.opportunity_id} is in {opportunity.currency}, "
            f"not {currency}",
        )
    return DraftQuote(
        quote_id=quote_id,
        opportunity_id=opportunity.opportunity_id,
        customer_id=opportunity.customer_id,
        owner_id=opportunity.owner_id,
        currency=opportunity.currency,
        lines=tuple(lines),
        team=opportunity.team,
    )
