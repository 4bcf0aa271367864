"""The quote decider: exact line pricing, then drafted -> sent -> accepted or rejected."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from crm_contracts.pipeline import (
    OpportunityLost,
    OpportunityOpened,
    OpportunityWon,
    QuoteAccepted,
    QuoteDrafted,
    QuoteLine,
    QuoteRejected,
    QuoteSent,
    Stage,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain import opportunity
from crm_pipeline.domain.errors import AlreadyExists, InvalidInput, NotFound, WrongState
from crm_pipeline.domain.quote import (
    AcceptQuote,
    DraftQuote,
    LineItem,
    Quote,
    QuoteCommand,
    QuoteStatus,
    RejectQuote,
    SendQuote,
    decide,
    draft_for,
    fold,
    order_id_for,
    priced_lines,
)

QUOTE = "quo_51c2"
ORDER = "ord_51c2"
AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SEATS = LineItem("SEAT-Y", "Annual seat licence", Decimal(40), Decimal("600"), Decimal(10))
SETUP = LineItem("SETUP", "Onboarding", Decimal(1), Decimal("1500.00"))
SEATS_LINE = QuoteLine(
    sku="SEAT-Y",
    description="Annual seat licence",
    quantity=Decimal(40),
    unit_price=Decimal("600.00"),
    discount_percent=Decimal(10),
    net_amount=Decimal("21600.00"),
)
SETUP_LINE = QuoteLine(
    sku="SETUP",
    description="Onboarding",
    quantity=Decimal(1),
    unit_price=Decimal("1500.00"),
    discount_percent=Decimal(0),
    net_amount=Decimal("1500.00"),
)
DRAFT = DraftQuote(QUOTE, "opp_7f3a", "cus_acme", "u1", "EUR", (SEATS, SETUP), team="north")
DRAFTED = QuoteDrafted(
    quote_id=QUOTE,
    opportunity_id="opp_7f3a",
    customer_id="cus_acme",
    owner_id="u1",
    team="north",
    currency="EUR",
    lines=(SEATS_LINE, SETUP_LINE),
    total=Decimal("23100.00"),
)
SENT = QuoteSent(quote_id=QUOTE)
ACCEPTED = QuoteAccepted(quote_id=QUOTE, order_id=ORDER, accepted_at=AT)
REJECTED = QuoteRejected(quote_id=QUOTE, reason="too expensive")


def given_when(given: list[DomainEvent], when: QuoteCommand) -> list[DomainEvent]:
    return decide(when, fold(given))


def draft(*lines: LineItem, **changes: Any) -> DraftQuote:
    return DraftQuote(**{**DRAFT.__dict__, "lines": lines, **changes})


def line(quantity: Any = 1, price: Any = "10", discount: Any = 0, **changes: Any) -> LineItem:
    as_decimal = {
        name: Decimal(value) if isinstance(value, str) else value
        for name, value in (("quantity", quantity), ("price", price), ("discount", discount))
    }
    return LineItem(
        sku=changes.get("sku", "SKU"),
        description=changes.get("description", "Thing"),
        quantity=as_decimal["quantity"],
        unit_price=as_decimal["price"],
        discount_percent=as_decimal["discount"],
    )


@pytest.mark.parametrize(
    ("quantity", "price", "discount", "net"),
    [
        pytest.param("3", "19.99", "0", "59.97", id="quantity times price"),
        pytest.param("1", "10.00", "12.5", "8.75", id="a fractional discount"),
        pytest.param("1", "0.05", "50", "0.02", id="half a cent rounds to even (down)"),
        pytest.param("1", "0.15", "50", "0.08", id="half a cent rounds to even (up)"),
        pytest.param("0.333", "3.00", "0", "1.00", id="a fractional quantity"),
        pytest.param("2.5", "0.10", "0", "0.25", id="no float error: 2.5 x 0.10"),
        pytest.param("3", "0.10", "0", "0.30", id="no float error: 3 x 0.10"),
        pytest.param("1", "100", "100", "0.00", id="a free line"),
        pytest.param("1", "0", "0", "0.00", id="a line at price 0"),
        pytest.param(
            "999999999.999", "9999.99", "33.33", "6666993332993.33", id="large values stay exact"
        ),
    ],
)
def test_lines_are_priced_exactly_and_rounded_half_even_once(
    quantity: str, price: str, discount: str, net: str
) -> None:
    (priced,) = priced_lines([line(quantity, price, discount)])
    assert priced.net_amount == Decimal(net)
    assert str(priced.net_amount) == net


def test_the_total_is_the_sum_of_the_rounded_lines() -> None:
    lines = [line("1", "0.05", "50"), line("1", "0.05", "50"), line("1", "0.05", "50")]
    (event,) = given_when([], draft(*lines))
    assert isinstance(event, QuoteDrafted)
    assert [priced.net_amount for priced in event.lines] == [Decimal("0.02")] * 3
    assert event.total == Decimal("0.06")  # not 0.075 rounded once: the lines add up


@pytest.mark.parametrize(
    ("given", "when", "then"),
    [
        pytest.param([], DRAFT, [DRAFTED], id="draft with lines"),
        pytest.param([DRAFTED], SendQuote(QUOTE), [SENT], id="send a draft"),
        pytest.param([DRAFTED, SENT], AcceptQuote(QUOTE, ORDER, AT), [ACCEPTED],
                     id="the customer accepts a sent quote"),
        pytest.param([DRAFTED, SENT], RejectQuote(QUOTE, " too  expensive "), [REJECTED],
                     id="the customer rejects it, saying why"),
        pytest.param([DRAFTED, SENT], RejectQuote(QUOTE),
                     [QuoteRejected(quote_id=QUOTE)], id="the customer rejects it silently"),
    ],
)  # fmt: skip
def test_decides_events(
    given: list[DomainEvent], when: QuoteCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(
    ("given", "when"),
    [
        pytest.param([DRAFTED, SENT], SendQuote(QUOTE), id="send again"),
        pytest.param([DRAFTED, SENT, ACCEPTED], AcceptQuote(QUOTE, ORDER, AT), id="accept again"),
        pytest.param([DRAFTED, SENT, REJECTED], RejectQuote(QUOTE, "x"), id="reject again"),
    ],
)
def test_a_repeated_outcome_decides_no_events(given: list[DomainEvent], when: QuoteCommand) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [
        pytest.param([DRAFTED], DRAFT, AlreadyExists, "quote quo_51c2 already exists",
                     id="draft twice"),
        pytest.param([], draft(), InvalidInput, "lines: a quote has from 1 to 100 lines",
                     id="draft without lines"),
        pytest.param([], draft(*[line()] * 101), InvalidInput, "lines: a quote has from 1 to 100",
                     id="draft with too many lines"),
        pytest.param([], draft(line(0)), InvalidInput, r"lines\.0\.quantity: must be more than 0",
                     id="quantity 0"),
        pytest.param([], draft(line(), line("-1")), InvalidInput,
                     r"lines\.1\.quantity: must be more than 0", id="negative quantity, 2nd line"),
        pytest.param([], draft(line("0.0001")), InvalidInput,
                     r"lines\.0\.quantity: must have at most 3 decimal places",
                     id="quantity with 4 decimals"),
        pytest.param([], draft(line(1.5)), InvalidInput, r"lines\.0\.quantity: must be an exact",
                     id="float quantity"),
        pytest.param([], draft(line("1e10")), InvalidInput, r"lines\.0\.quantity: must be at most",
                     id="quantity too large"),
        pytest.param([], draft(line(1, "-0.01")), InvalidInput,
                     r"lines\.0\.unit_price: must not be negative", id="negative price"),
        pytest.param([], draft(line(1, "0.001")), InvalidInput,
                     r"lines\.0\.unit_price: must have at most 2", id="price with 3 decimals"),
        pytest.param([], draft(line(1, 9.99)), InvalidInput,
                     r"lines\.0\.unit_price: must be an exact",
                     id="float price"),
        pytest.param([], draft(line(1, "10", "100.01")), InvalidInput,
                     r"lines\.0\.discount_percent: must be from 0 to 100", id="discount over 100"),
        pytest.param([], draft(line(1, "10", "-1")), InvalidInput,
                     r"lines\.0\.discount_percent: must be from 0 to 100", id="negative discount"),
        pytest.param([], draft(line(1, "10", "0.001")), InvalidInput,
                     r"lines\.0\.discount_percent: must have at most 2", id="discount 3 decimals"),
        pytest.param([], draft(line(sku=" ")), InvalidInput, r"lines\.0\.sku: must not be blank",
                     id="blank sku"),
        pytest.param([], draft(line(sku="x" * 65)), InvalidInput,
                     r"lines\.0\.sku: must be at most 64",
                     id="sku too long"),
        pytest.param([], draft(line(description="")), InvalidInput,
                     r"lines\.0\.description: must not be blank", id="blank description"),
        pytest.param([], draft(line(1, "0")), InvalidInput, "lines: the quote totals 0.00",
                     id="a quote worth nothing"),
        pytest.param([], draft(line("999999999", "9999999999999")), InvalidInput,
                     r"lines\.0: the line amounts to", id="a line worth too much"),
        pytest.param([], draft(*[line("999999999", "9999")] * 2), InvalidInput,
                     "lines: the quote totals", id="a quote worth too much"),
        pytest.param([], draft(SEATS, currency="Euro"), InvalidInput, "currency: must be an ISO",
                     id="a bad currency"),
        pytest.param([], SendQuote(QUOTE), NotFound, "no quote with id quo_51c2",
                     id="send an unknown quote"),
        pytest.param([], AcceptQuote(QUOTE, ORDER, AT), NotFound, "no quote",
                     id="accept an unknown quote"),
        pytest.param([], RejectQuote(QUOTE), NotFound, "no quote", id="reject an unknown quote"),
        pytest.param([DRAFTED], AcceptQuote(QUOTE, ORDER, AT), WrongState,
                     "has not been sent to the customer; send it before accepting",
                     id="accept a draft"),
        pytest.param([DRAFTED], RejectQuote(QUOTE), WrongState, "send it before rejecting",
                     id="reject a draft"),
        pytest.param([DRAFTED, SENT, ACCEPTED], SendQuote(QUOTE), WrongState,
                     "was already accepted; draft a new quote instead",
                     id="send an accepted quote"),
        pytest.param([DRAFTED, SENT, REJECTED], SendQuote(QUOTE), WrongState,
                     "was already rejected", id="send a rejected quote"),
        pytest.param([DRAFTED, SENT, REJECTED], AcceptQuote(QUOTE, ORDER, AT), WrongState,
                     "was already rejected", id="accept a rejected quote"),
        pytest.param([DRAFTED, SENT, ACCEPTED], RejectQuote(QUOTE), WrongState,
                     "was already accepted", id="reject an accepted quote"),
        pytest.param([DRAFTED, SENT, ACCEPTED], AcceptQuote(QUOTE, "ord_other", AT), WrongState,
                     "was already accepted", id="accept again into another order"),
        pytest.param([DRAFTED, SENT], AcceptQuote(QUOTE, ORDER, datetime(2026, 11, 24)),
                     InvalidInput, "accepted_at: must be a time with a time zone",
                     id="accept at a time without a zone"),
        pytest.param([DRAFTED, SENT], RejectQuote(QUOTE, "x" * 501), InvalidInput,
                     "reason: must be at most 500", id="reject with a reason too long"),
    ],
)  # fmt: skip
def test_refuses_what_the_rules_do_not_allow(
    given: list[DomainEvent], when: QuoteCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


@pytest.mark.parametrize(
    ("given", "when", "title"),
    [
        ([DRAFTED], AcceptQuote(QUOTE, ORDER, AT), "Quote not sent"),
        ([DRAFTED, SENT, REJECTED], AcceptQuote(QUOTE, ORDER, AT), "Quote was rejected"),
        ([DRAFTED, SENT, ACCEPTED], RejectQuote(QUOTE), "Quote was accepted"),
    ],
)
def test_wrong_states_have_a_clear_title(
    given: list[DomainEvent], when: QuoteCommand, title: str
) -> None:
    with pytest.raises(WrongState) as refused:
        given_when(given, when)
    assert refused.value.title == title


def test_history_folds_into_the_quote() -> None:
    accepted = fold([DRAFTED, SENT, ACCEPTED])
    assert isinstance(accepted, Quote)
    assert (accepted.status, accepted.order_id, accepted.accepted_at, accepted.total) == (
        QuoteStatus.ACCEPTED,
        ORDER,
        AT,
        Decimal("23100.00"),
    )
    rejected = fold([DRAFTED, SENT, REJECTED])
    assert isinstance(rejected, Quote)
    assert (rejected.status, rejected.rejection_reason) == (QuoteStatus.REJECTED, "too expensive")


OPENED = OpportunityOpened(
    opportunity_id="opp_7f3a",
    customer_id="cus_acme",
    title="40 seats",
    amount=Decimal(48000),
    currency="EUR",
    stage=Stage.PROPOSAL,
    probability=50,
    expected_close_date=date(2027, 3, 31),
    owner_id="u1",
    team="north",
)


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([OPENED], id="an open opportunity"),
        pytest.param(
            [
                OPENED,
                OpportunityWon(
                    opportunity_id="opp_7f3a",
                    customer_id="cus_acme",
                    owner_id="u1",
                    from_stage=Stage.PROPOSAL,
                    amount=Decimal(48000),
                    currency="EUR",
                    probability=100,
                ),
            ],
            id="a won opportunity",
        ),
    ],
)
def test_a_quote_prices_an_opportunity_for_its_customer_owner_and_currency(
    history: list[DomainEvent],
) -> None:
    assert draft_for(opportunity.fold(history), QUOTE, [SEATS, SETUP]) == DRAFT
    assert draft_for(opportunity.fold(history), QUOTE, [SEATS, SETUP], currency="EUR") == DRAFT


@pytest.mark.parametrize(
    ("history", "currency", "error", "message"),
    [
        pytest.param(
            [
                OPENED,
                OpportunityLost(
                    opportunity_id="opp_7f3a",
                    owner_id="u1",
                    from_stage=Stage.PROPOSAL,
                    reason="x",
                    probability=0,
                ),
            ],
            None,
            WrongState,
            "was lost; reopen it before quoting",
            id="a lost opportunity",
        ),
        pytest.param(
            [OPENED], "USD", InvalidInput, "currency: opportunity opp_7f3a is in EUR, not USD",
            id="another currency",
        ),
    ],
)  # fmt: skip
def test_a_quote_is_refused_for(
    history: list[DomainEvent], currency: str | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        draft_for(opportunity.fold(history), QUOTE, [SEATS], currency)


def test_a_quote_becomes_one_order_whose_id_is_derived_from_its_own() -> None:
    assert order_id_for("quo_51c2") == "ord_51c2"
