"""Events of the pipeline bounded context: leads, opportunities, quotes, orders, receivables.

Four kinds of stream, each keyed by its aggregate id (the Kafka key):

- a lead (``lead_...``): captured, then qualified into an opportunity or disqualified;
- an opportunity (``opp_...``): opened, moved through stages with win probabilities,
  won or lost with a reason, perhaps reopened;
- a quote (``quo_...``): drafted with line items, sent, accepted or rejected;
- an order (``ord_...``): placed when a quote is accepted; its stream also carries the
  order's receivable: opened, paid down, settled, flagged overdue or unpaid.

Money is exact: a decimal number in a JSON string with at most two decimal places
(``"1250.00"``), always beside an ISO 4217 currency code. Never parse it as a binary
float. Dates are ISO 8601 calendar dates; times are UTC timestamps.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from crm_contracts.registry import PERSONAL, REGISTRY, DomainEvent

SOURCE = "/crm/pipeline"
TOPIC = "crm.pipeline.events"

# --- exact numbers ----------------------------------------------------------------------------

MONEY_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
QUANTITY_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,3})?$"
PERCENT_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,2})?$"
CENT = Decimal("0.01")


def _exact(pattern: str, what: str) -> Any:
    """A validator that takes a Decimal, an int or a decimal string, never a float."""
    compiled = re.compile(pattern)

    def parse(value: object) -> Decimal:
        if isinstance(value, bool | float):
            raise ValueError(f'{what} must be exact: a decimal string such as "12.50", not a float')
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str):
            if not compiled.fullmatch(value):
                raise ValueError(f"{what} must match {pattern}")
            return Decimal(value)
        if isinstance(value, Decimal):
            try:
                text = format(value, "f")
            except (InvalidOperation, ValueError):  # pragma: no cover - format never fails
                text = ""
            if not value.is_finite() or not compiled.fullmatch(text):
                raise ValueError(f"{what} must match {pattern}")
            return value
        raise ValueError(f"{what} must be a decimal string")

    return BeforeValidator(parse)


Money = Annotated[
    Decimal,
    _exact(MONEY_PATTERN, "an amount"),
    PlainSerializer(lambda value: str(value.quantize(CENT)), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN}),
]
"""An amount of money: at most two decimal places, written as a string ("1250.00")."""

Quantity = Annotated[
    Decimal,
    _exact(QUANTITY_PATTERN, "a quantity"),
    PlainSerializer(
        lambda value: format(value.normalize(), "f"), return_type=str, when_used="json"
    ),
    WithJsonSchema({"type": "string", "pattern": QUANTITY_PATTERN}),
]
"""A quantity of a line item: at most three decimal places, as a string ("2.5")."""

Percent = Annotated[
    Decimal,
    _exact(PERCENT_PATTERN, "a percentage"),
    PlainSerializer(
        lambda value: format(value.normalize(), "f"), return_type=str, when_used="json"
    ),
    WithJsonSchema({"type": "string", "pattern": PERCENT_PATTERN}),
]
"""A percentage from 0 to 100 with at most two decimal places, as a string ("12.5")."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 alphabetic currency code."""

Probability = Annotated[int, Field(ge=0, le=100)]
"""A win probability in whole percent."""


class LeadSource(StrEnum):
    """The channel a lead came through."""

    WEB = "web"
    EVENT = "event"
    REFERRAL = "referral"
    PARTNER = "partner"
    OTHER = "other"


class Stage(StrEnum):
    """Stages of an opportunity: four open ones in sales order, then won or lost."""

    QUALIFICATION = "qualification"
    NEEDS_ANALYSIS = "needs_analysis"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"


OPEN_STAGES = (Stage.QUALIFICATION, Stage.NEEDS_ANALYSIS, Stage.PROPOSAL, Stage.NEGOTIATION)


class Outcome(StrEnum):
    """How a closed opportunity ended."""

    WON = "won"
    LOST = "lost"


LeadId = Annotated[
    str, Field(description="Id of the lead (also the event subject).", examples=["lead_7f3a"])
]
OpportunityId = Annotated[
    str,
    Field(description="Id of the opportunity (also the event subject).", examples=["opp_7f3a"]),
]
QuoteId = Annotated[
    str, Field(description="Id of the quote (also the event subject).", examples=["quo_51c2"])
]
OrderId = Annotated[
    str,
    Field(
        description="Id of the order (also the event subject): ord_ and the quote's hex id.",
        examples=["ord_51c2"],
    ),
]
CustomerId = Annotated[
    str,
    Field(
        description="Id of the customer in the contacts context.",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    ),
]
OwnerId = Annotated[str, Field(description="User id of the owning sales rep.", examples=["u1"])]
Team = Annotated[
    str | None, Field(description="Sales team of the owner, if any.", examples=["north"])
]
CurrencyCode = Annotated[
    Currency, Field(description="ISO 4217 currency code of every amount.", examples=["EUR"])
]


# --- leads -------------------------------------------------------------------------------------


@REGISTRY.event
class LeadCaptured(DomainEvent):
    """A prospective deal came in through a channel and was given to a sales rep."""

    event_type: ClassVar[str] = "crm.pipeline.LeadCaptured"
    schema_version: ClassVar[int] = 1

    lead_id: LeadId
    source: LeadSource = Field(description="Channel the lead came through.", examples=["web"])
    name: str = Field(
        description="Name of the contact person. Personal data: encrypted at rest, and after "
        'an erasure replayed as "[erased]".',
        examples=["Ada Lovelace"],
        json_schema_extra=PERSONAL,
    )
    company: str | None = Field(
        default=None, description="Company the contact works for, if any.", examples=["Acme AG"]
    )
    email: str | None = Field(
        default=None,
        description="E-mail address of the contact. Personal data.",
        examples=["ada@example.com"],
        json_schema_extra=PERSONAL,
    )
    phone: str | None = Field(
        default=None,
        description="Phone number of the contact in E.164 form. Personal data.",
        examples=["+4930901820"],
        json_schema_extra=PERSONAL,
    )
    owner_id: OwnerId
    team: Team = None
    customer_id: str | None = Field(
        default=None,
        description="The customer in the contacts context, when the lead is from a known one.",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )


@REGISTRY.event
class LeadQualified(DomainEvent):
    """The lead is a real sales chance: an opportunity was opened for it (same correlation)."""

    event_type: ClassVar[str] = "crm.pipeline.LeadQualified"
    schema_version: ClassVar[int] = 1

    lead_id: LeadId
    opportunity_id: str = Field(
        description="The opportunity opened from the lead: opp_ and the lead's hex id.",
        examples=["opp_7f3a"],
    )
    customer_id: CustomerId


@REGISTRY.event
class LeadDisqualified(DomainEvent):
    """The lead was dropped: no need, no budget, not reachable..."""

    event_type: ClassVar[str] = "crm.pipeline.LeadDisqualified"
    schema_version: ClassVar[int] = 1

    lead_id: LeadId
    reason: str = Field(description="Why the lead was dropped.", examples=["no budget this year"])


# --- opportunities -----------------------------------------------------------------------------


@REGISTRY.event
class OpportunityOpened(DomainEvent):
    """A deal in the making: its value, expected close date and first stage."""

    event_type: ClassVar[str] = "crm.pipeline.OpportunityOpened"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    customer_id: CustomerId
    lead_id: str | None = Field(
        default=None, description="The lead it was qualified from, if any.", examples=["lead_7f3a"]
    )
    title: str = Field(description="What the deal is about.", examples=["40 seats, 2 years"])
    amount: Money = Field(description="Expected value of the deal.", examples=["48000.00"])
    currency: CurrencyCode
    stage: Stage = Field(description="The stage it opens in.", examples=["qualification"])
    probability: Probability = Field(
        description="Win probability of that stage, in percent.", examples=[10]
    )
    expected_close_date: date = Field(
        description="When the deal is expected to close.", examples=["2027-03-31"]
    )
    owner_id: OwnerId
    team: Team = None


@REGISTRY.event
class OpportunityStageMoved(DomainEvent):
    """The opportunity moved to another open stage (forwards or back)."""

    event_type: ClassVar[str] = "crm.pipeline.OpportunityStageMoved"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    from_stage: Stage = Field(description="The stage it left.", examples=["qualification"])
    to_stage: Stage = Field(description="The stage it is now in.", examples=["proposal"])
    probability: Probability = Field(
        description="Win probability of the new stage, in percent.", examples=[50]
    )


@REGISTRY.event
class OpportunityAmountChanged(DomainEvent):
    """The expected value of the deal changed."""

    event_type: ClassVar[str] = "crm.pipeline.OpportunityAmountChanged"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    amount: Money = Field(description="The new expected value.", examples=["52000.00"])
    previous_amount: Money = Field(description="The value before.", examples=["48000.00"])
    currency: CurrencyCode


@REGISTRY.event
class OpportunityCloseDateChanged(DomainEvent):
    """The deal is now expected to close on another date."""

    event_type: ClassVar[str] = "crm.pipeline.OpportunityCloseDateChanged"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    expected_close_date: date = Field(description="The new date.", examples=["2027-04-30"])
    previous_close_date: date = Field(description="The date before.", examples=["2027-03-31"])


@REGISTRY.event
class OpportunityWon(DomainEvent):
    """The customer signed: the deal is won at its current amount."""

    event_type: ClassVar[str] = "crm.pipeline.OpportunityWon"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    customer_id: CustomerId
    owner_id: OwnerId
    team: Team = None
    from_stage: Stage = Field(description="The open stage it was won from.", examples=["proposal"])
    amount: Money = Field(description="Value of the won deal.", examples=["48000.00"])
    currency: CurrencyCode
    probability: Probability = Field(description="Always 100.", examples=[100])


@REGISTRY.event
class OpportunityLost(DomainEvent):
    """The deal was lost, with the reason."""

    event_type: ClassVar[str] = "crm.pipeline.OpportunityLost"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    owner_id: OwnerId
    team: Team = None
    from_stage: Stage = Field(description="The open stage it was lost in.", examples=["proposal"])
    reason: str = Field(description="Why it was lost.", examples=["chose a competitor"])
    probability: Probability = Field(description="Always 0.", examples=[0])


@REGISTRY.event
class OpportunityReopened(DomainEvent):
    """A won or lost deal is open again, in an open stage."""

    event_type: ClassVar[str] = "crm.pipeline.OpportunityReopened"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    previous_outcome: Outcome = Field(description="How it had ended.", examples=["lost"])
    stage: Stage = Field(description="The open stage it is now in.", examples=["negotiation"])
    probability: Probability = Field(
        description="Win probability of that stage, in percent.", examples=[75]
    )


@REGISTRY.event
class OpportunityReassigned(DomainEvent):
    """An open deal was handed to another sales rep (e.g. when its rep leaves), with the reason.

    From this event on, the deal and what it is worth count for the new owner and team;
    only open deals are reassigned, so won and lost deals stay with whoever closed them.
    When it happened is the envelope's ``time``, as for every opportunity event.
    """

    event_type: ClassVar[str] = "crm.pipeline.OpportunityReassigned"
    schema_version: ClassVar[int] = 1

    opportunity_id: OpportunityId
    customer_id: CustomerId
    owner_id: str = Field(description="User id of the new owning sales rep.", examples=["u2"])
    previous_owner_id: str = Field(
        description="User id of the sales rep who owned the deal before.", examples=["u1"]
    )
    team: str | None = Field(
        default=None,
        description="Sales team of the new owner, if any (unchanged unless the request named "
        "another).",
        examples=["north"],
    )
    previous_team: str | None = Field(
        default=None,
        description="Sales team the deal belonged to before, if any.",
        examples=["north"],
    )
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the deal changed hands.",
        examples=["u1 left the company"],
    )
    reassigned_by: str = Field(
        description="Who reassigned it: user id of a manager or admin, or a service.",
        examples=["m1"],
    )


# --- quotes ------------------------------------------------------------------------------------


class QuoteLine(BaseModel):
    """One line of a quote: what, how many, at what price, with what discount."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(
        description="Stock-keeping unit of the product or service.", examples=["SEAT-Y"]
    )
    description: str = Field(
        description="What the customer gets.", examples=["Annual seat licence"]
    )
    quantity: Quantity = Field(description="How many, more than 0.", examples=["40"])
    unit_price: Money = Field(description="Price of one, before discount.", examples=["600.00"])
    discount_percent: Percent = Field(description="Discount on the line, 0-100.", examples=["10"])
    net_amount: Money = Field(
        description="quantity x unit price x (1 - discount/100), rounded half-even to cents.",
        examples=["21600.00"],
    )


@REGISTRY.event
class QuoteDrafted(DomainEvent):
    """A priced offer was drawn up for an opportunity."""

    event_type: ClassVar[str] = "crm.pipeline.QuoteDrafted"
    schema_version: ClassVar[int] = 1

    quote_id: QuoteId
    opportunity_id: str = Field(description="The opportunity it prices.", examples=["opp_7f3a"])
    customer_id: CustomerId
    owner_id: OwnerId
    team: Team = None
    currency: CurrencyCode
    lines: tuple[QuoteLine, ...] = Field(
        min_length=1,
        description="The line items, in order.",
        examples=[
            [
                {
                    "sku": "SEAT-Y",
                    "description": "Annual seat licence",
                    "quantity": "40",
                    "unit_price": "600.00",
                    "discount_percent": "10",
                    "net_amount": "21600.00",
                }
            ]
        ],
    )
    total: Money = Field(description="Sum of the lines' net amounts.", examples=["21600.00"])


@REGISTRY.event
class QuoteSent(DomainEvent):
    """The quote went out to the customer."""

    event_type: ClassVar[str] = "crm.pipeline.QuoteSent"
    schema_version: ClassVar[int] = 1

    quote_id: QuoteId


@REGISTRY.event
class QuoteAccepted(DomainEvent):
    """The customer accepted the quote; the order it becomes follows in its own stream."""

    event_type: ClassVar[str] = "crm.pipeline.QuoteAccepted"
    schema_version: ClassVar[int] = 1

    quote_id: QuoteId
    order_id: str = Field(
        description="The order placed from it: ord_ and the quote's hex id.",
        examples=["ord_51c2"],
    )
    accepted_at: datetime = Field(
        description="When the customer accepted (UTC); the order is placed at this time.",
        examples=["2026-11-24T09:30:00Z"],
    )


@REGISTRY.event
class QuoteRejected(DomainEvent):
    """The customer turned the quote down."""

    event_type: ClassVar[str] = "crm.pipeline.QuoteRejected"
    schema_version: ClassVar[int] = 1

    quote_id: QuoteId
    reason: str | None = Field(
        default=None, description="Why, if the customer said.", examples=["too expensive"]
    )


# --- orders and their receivables --------------------------------------------------------------


@REGISTRY.event
class OrderPlaced(DomainEvent):
    """An accepted quote became an order; its receivable opens in the same commit."""

    event_type: ClassVar[str] = "crm.pipeline.OrderPlaced"
    schema_version: ClassVar[int] = 1

    order_id: OrderId
    quote_id: str = Field(description="The accepted quote.", examples=["quo_51c2"])
    opportunity_id: str = Field(description="The opportunity of the quote.", examples=["opp_7f3a"])
    customer_id: CustomerId
    owner_id: OwnerId
    team: Team = None
    total: Money = Field(description="What the customer owes.", examples=["21600.00"])
    currency: CurrencyCode
    placed_at: datetime = Field(
        description="When it was placed (UTC).", examples=["2026-11-24T09:30:00Z"]
    )
    payment_due_date: date = Field(
        description="Last day to pay: placed date plus the payment terms.", examples=["2026-12-24"]
    )


@REGISTRY.event
class ReceivableOpened(DomainEvent):
    """The customer owes the order's total, due by a date."""

    event_type: ClassVar[str] = "crm.pipeline.ReceivableOpened"
    schema_version: ClassVar[int] = 1

    order_id: OrderId
    customer_id: CustomerId
    owner_id: OwnerId
    team: Team = None
    amount: Money = Field(description="The amount owed.", examples=["21600.00"])
    currency: CurrencyCode
    due_date: date = Field(description="Last day to pay.", examples=["2026-12-24"])


@REGISTRY.event
class PaymentReceived(DomainEvent):
    """A payment was deducted from the receivable."""

    event_type: ClassVar[str] = "crm.pipeline.PaymentReceived"
    schema_version: ClassVar[int] = 1

    order_id: OrderId
    customer_id: CustomerId
    payment_id: str = Field(
        description="Reference of the payment; the same reference is never counted twice.",
        examples=["bank-2026-11-30-0042"],
    )
    amount: Money = Field(description="Amount paid.", examples=["10000.00"])
    currency: CurrencyCode
    balance_after: Money = Field(description="What is still owed after it.", examples=["11600.00"])


@REGISTRY.event
class ReceivableSettled(DomainEvent):
    """The balance reached zero: the receivable is paid in full and closes."""

    event_type: ClassVar[str] = "crm.pipeline.ReceivableSettled"
    schema_version: ClassVar[int] = 1

    order_id: OrderId
    customer_id: CustomerId
    amount: Money = Field(
        description="Total paid, equal to the amount owed.", examples=["21600.00"]
    )
    currency: CurrencyCode


@REGISTRY.event
class ReceivableOverdue(DomainEvent):
    """The due date passed with money still owed (flagged once per receivable)."""

    event_type: ClassVar[str] = "crm.pipeline.ReceivableOverdue"
    schema_version: ClassVar[int] = 1

    order_id: OrderId
    customer_id: CustomerId
    owner_id: OwnerId
    team: Team = None
    due_date: date = Field(description="The date that passed.", examples=["2026-12-24"])
    days_overdue: int = Field(
        ge=1, description="Days past the due date when flagged.", examples=[1]
    )
    balance: Money = Field(description="What is still owed.", examples=["11600.00"])
    currency: CurrencyCode


@REGISTRY.event
class OrderUnpaidAfter48Hours(DomainEvent):
    """Nothing was paid 48 hours after the order was placed: a churn signal (flagged once)."""

    event_type: ClassVar[str] = "crm.pipeline.OrderUnpaidAfter48Hours"
    schema_version: ClassVar[int] = 1

    order_id: OrderId
    customer_id: CustomerId
    owner_id: OwnerId
    team: Team = None
    balance: Money = Field(description="What is owed (the whole total).", examples=["21600.00"])
    currency: CurrencyCode
    placed_at: datetime = Field(
        description="When the order was placed (UTC).", examples=["2026-11-24T09:30:00Z"]
    )


@REGISTRY.event
class PaymentRefunded(DomainEvent):
    """Money of one payment was given back to the customer (in part or in full).

    The amount never exceeds what that payment paid minus its earlier refunds. The
    receivable does not reopen: a refund is money returned, not money owed again.
    """

    event_type: ClassVar[str] = "crm.pipeline.PaymentRefunded"
    schema_version: ClassVar[int] = 1

    order_id: OrderId
    customer_id: CustomerId
    payment_id: str = Field(
        description="The payment refunded (its reference from PaymentReceived).",
        examples=["bank-2026-11-30-0042"],
    )
    refund_id: str = Field(
        description="Reference of the refund; the same reference is never refunded twice.",
        examples=["rfd_0042"],
    )
    amount: Money = Field(description="Amount given back.", examples=["2500.00"])
    currency: CurrencyCode
    refunded_at: datetime = Field(
        description="When the refund was made (UTC).", examples=["2026-12-03T09:00:00Z"]
    )
