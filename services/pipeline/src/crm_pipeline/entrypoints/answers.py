"""What the HTTP API answers (response models: the OpenAPI document and an output filter)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Money = str  # a decimal string with two places, e.g. "1250.00"


class Lead(BaseModel):
    """A lead as the caller may see it: e-mail and phone masked unless the role allows."""

    id: str
    source: str
    name: str
    company: str | None
    email: str | None
    phone: str | None
    owner_id: str
    team: str | None
    customer_id: str | None
    status: Literal["open", "qualified", "disqualified"]
    opportunity_id: str | None
    disqualification_reason: str | None
    version: int


class Opportunity(BaseModel):
    id: str
    customer_id: str
    lead_id: str | None
    title: str
    amount: Money = Field(examples=["48000.00"])
    currency: str
    stage: str
    probability: int
    weighted_amount: Money = Field(description="amount x probability / 100")
    expected_close_date: str
    owner_id: str
    team: str | None
    status: Literal["open", "won", "lost"]
    lost_reason: str | None
    version: int


class OpportunitySummary(BaseModel):
    """One opportunity of a list: who owns it, where it stands, what it is worth."""

    id: str
    customer_id: str
    owner_id: str
    team: str | None
    stage: str
    status: Literal["open", "won", "lost"]
    amount: Money = Field(examples=["48000.00"])
    currency: str


class OpportunityList(BaseModel):
    opportunities: list[OpportunitySummary]
    next: str | None = Field(
        description="Cursor of the next page (pass it as ``after``); null on the last page.",
        examples=["opp_7f3a"],
    )


class QuoteLine(BaseModel):
    sku: str
    description: str
    quantity: str
    unit_price: Money
    discount_percent: str
    net_amount: Money


class Quote(BaseModel):
    id: str
    opportunity_id: str
    customer_id: str
    owner_id: str
    team: str | None
    currency: str
    lines: list[QuoteLine]
    total: Money
    status: Literal["drafted", "sent", "accepted", "rejected"]
    order_id: str | None
    rejection_reason: str | None
    version: int


class Payment(BaseModel):
    payment_id: str
    amount: Money


class Refund(BaseModel):
    refund_id: str
    payment_id: str
    amount: Money


class Receivable(BaseModel):
    amount: Money
    paid: Money
    balance: Money
    due_date: str
    settled: bool
    overdue: bool
    unpaid_after_48_hours: bool
    payments: list[Payment]
    refunds: list[Refund] = []


class Order(BaseModel):
    id: str
    quote_id: str
    opportunity_id: str
    customer_id: str
    owner_id: str
    team: str | None
    currency: str
    total: Money
    placed_at: str
    receivable: Receivable
    version: int
