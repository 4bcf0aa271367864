"""What the HTTP API accepts: request bodies, validated at the edge (unknown fields refused).

Amounts are exact. Send them as strings (``"12.50"``) or integers; a JSON
number with a fraction is accepted only when it has at most two decimal places
as written (``12.5``), and anything with more (``12.345``, or the
``0.30000000000000004`` that binary float arithmetic produces) is refused with
422, since a binary float cannot hold most cent amounts exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from crm_contracts.pipeline import LeadSource, Stage
from crm_pipeline.domain import values

LIMIT = Decimal("1e15")


def _exact_number(places: int, what: str, example: str) -> Callable[[object], Decimal]:
    pattern = re.compile(rf"[0-9]{{1,15}}(\.[0-9]{{1,{places}}})?")
    unit = Decimal(1).scaleb(-places)
    advice = f'send {what} as a string such as "{example}" (at most {places} decimal places)'

    def parse(value: object) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(advice)
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, str):
            if not pattern.fullmatch(value):
                raise ValueError(advice)
            return Decimal(value)
        if not math.isfinite(value) or abs(value) >= LIMIT:
            raise ValueError(advice)
        exact = Decimal(repr(value))  # the shortest text that reads back as this float
        if exact != exact.quantize(unit):
            raise ValueError(f"{what} has more than {places} decimal places; {advice}")
        return exact

    return parse


def _number_schema(places: int, example: str) -> WithJsonSchema:
    text = {"type": "string", "pattern": rf"^[0-9]{{1,15}}(\.[0-9]{{1,{places}}})?$"}
    return WithJsonSchema({"anyOf": [text, {"type": "number"}], "examples": [example]})


Amount = Annotated[
    Decimal,
    BeforeValidator(_exact_number(2, "amounts", "1250.00")),
    _number_schema(2, "1250.00"),
]
Quantity = Annotated[
    Decimal, BeforeValidator(_exact_number(3, "quantities", "2.5")), _number_schema(3, "2.5")
]
Percent = Annotated[
    Decimal, BeforeValidator(_exact_number(2, "percentages", "12.5")), _number_schema(2, "12.5")
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
Reference = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.@:-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=1000)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Email = Annotated[str, Field(max_length=320), AfterValidator(values.email_address)]
Phone = Annotated[str, Field(max_length=32), AfterValidator(values.phone_number)]
PaymentReference = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.:/-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaptureLeadRequest(Strict):
    source: LeadSource = Field(examples=["web"])
    name: Text = Field(examples=["Ada Lovelace"])
    company: Text | None = Field(default=None, examples=["Acme AG"])
    email: Email | None = Field(default=None, examples=["ada@example.com"])
    phone: Phone | None = Field(default=None, examples=["+4930901820"])
    customer_id: Reference | None = Field(
        default=None, description="The customer, if the lead is from a known one."
    )
    owner_id: Reference | None = Field(
        default=None, description="Owning sales rep; defaults to the caller.", examples=["u1"]
    )
    team: Reference | None = Field(
        default=None, description="Owner's team; defaults to the caller's.", examples=["north"]
    )


class QualifyLeadRequest(Strict):
    """Qualify the lead and open its opportunity with these terms."""

    customer_id: Reference | None = Field(
        default=None, description="Needed unless the lead names its customer."
    )
    title: Text | None = Field(default=None, description="Defaults to the lead's company.")
    amount: Amount
    currency: Currency
    expected_close_date: date = Field(examples=["2027-03-31"])
    stage: Stage = Field(default=Stage.QUALIFICATION, description="An open stage.")


class DisqualifyLeadRequest(Strict):
    reason: Reason = Field(examples=["no budget this year"])


class OpenOpportunityRequest(Strict):
    customer_id: Reference
    title: Text = Field(examples=["40 seats, 2 years"])
    amount: Amount
    currency: Currency
    expected_close_date: date = Field(examples=["2027-03-31"])
    stage: Stage = Field(default=Stage.QUALIFICATION, description="An open stage.")
    owner_id: Reference | None = Field(default=None, description="Defaults to the caller.")
    team: Reference | None = Field(default=None, description="Defaults to the caller's.")


class ChangeOpportunityRequest(Strict):
    """A merge patch of the expected amount and close date (neither can be removed)."""

    amount: Amount | None = None
    expected_close_date: date | None = Field(default=None, examples=["2027-04-30"])

    @field_validator("amount", "expected_close_date", mode="before")
    @classmethod
    def _not_removable(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be removed")
        return value


class MoveStageRequest(Strict):
    stage: Stage = Field(examples=["proposal"])


class LoseOpportunityRequest(Strict):
    reason: Reason = Field(examples=["chose a competitor"])


class ReopenOpportunityRequest(Strict):
    stage: Stage | None = Field(
        default=None, description="Defaults to the stage it was closed from."
    )


class ReassignOpportunityRequest(Strict):
    """Hand an open opportunity to another sales rep, saying why."""

    owner_id: Reference = Field(description="User id of the new owning sales rep.", examples=["u2"])
    team: Reference | None = Field(
        default=None,
        description="The new owner's team; the opportunity keeps its team when left out.",
        examples=["north"],
    )
    reason: Reason = Field(examples=["u1 left the company"])


class QuoteLineRequest(Strict):
    sku: Annotated[str, Field(min_length=1, max_length=64)] = Field(examples=["SEAT-Y"])
    description: Text = Field(examples=["Annual seat licence"])
    quantity: Quantity
    unit_price: Amount
    discount_percent: Percent = Decimal(0)


class DraftQuoteRequest(Strict):
    opportunity_id: Reference
    lines: list[QuoteLineRequest] = Field(min_length=1, max_length=100)
    currency: Currency | None = Field(
        default=None, description="Must be the opportunity's currency, which is the default."
    )


class RejectQuoteRequest(Strict):
    reason: Reason | None = Field(default=None, examples=["too expensive"])


class PaymentRequest(Strict):
    amount: Amount
    currency: Currency
    payment_id: PaymentReference | None = Field(
        default=None,
        description="Reference of the payment (e.g. the bank's); defaults to the "
        "Idempotency-Key. A reference already counted is not counted again.",
        examples=["bank-2026-11-30-0042"],
    )


class RefundRequest(Strict):
    payment_id: PaymentReference = Field(
        description="The payment to give money back from (its reference).",
        examples=["bank-2026-11-30-0042"],
    )
    amount: Amount
    currency: Currency
    refund_id: PaymentReference | None = Field(
        default=None,
        description="Reference of the refund; defaults to the Idempotency-Key. A reference "
        "already refunded is not refunded again.",
        examples=["rfd_0042"],
    )
