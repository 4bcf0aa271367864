"""Builders of contacts and pipeline events and their envelopes for the projections tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import contacts as c
from crm_contracts import pipeline as p
from crm_contracts.contacts import SOURCE, CustomerDetailsChanged, CustomerKind, CustomerRegistered
from crm_contracts.pipeline import SOURCE as PIPELINE_SOURCE

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class LeadScored(DomainEvent):
    """An event of another model: registered nowhere, belongs to no customer 360."""

    event_type: ClassVar[str] = "crm.sales.LeadScored"
    schema_version: ClassVar[int] = 1

    lead_id: str
    score: int


def metadata(
    event: DomainEvent | type[DomainEvent],
    subject: str,
    sequence: int,
    *,
    source: str = SOURCE,
    event_id: str | None = None,
    time: datetime | None = None,
) -> EventMetadata:
    return EventMetadata(
        id=event_id or f"evt-{subject}-{sequence}",
        type=event.event_type,
        schema_version=event.schema_version,
        source=source,
        subject=subject,
        sequence=sequence,
        time=time or NOW + timedelta(minutes=sequence),
        correlation_id=f"corr-{subject}",
        causation_id=f"cmd-{subject}-{sequence}",
        actor="user:u1",
    )


def registered(
    customer_id: str,
    name: str = "Ada Lovelace",
    *,
    email: str | None = "ada@example.com",
    phone: str | None = "+447700900123",
    kind: CustomerKind = CustomerKind.PERSON,
) -> CustomerRegistered:
    return CustomerRegistered(
        customer_id=customer_id, name=name, kind=kind, email=email, phone=phone
    )


def changed(
    customer_id: str, *, cleared: tuple[str, ...] = (), **fields: Any
) -> CustomerDetailsChanged:
    return CustomerDetailsChanged(customer_id=customer_id, cleared=cleared, **fields)


def payload(event: DomainEvent) -> dict[str, Any]:
    """The JSON body the contacts service publishes for ``event``."""
    return event.model_dump(mode="json")


# --- pipeline events ----------------------------------------------------------------------

Record = tuple[EventMetadata, DomainEvent]
CLOSES = date(2027, 3, 31)
DUE = date(2026, 12, 24)


def numbered(
    subject: str, *events: DomainEvent, source: str = SOURCE, first: int = 1
) -> list[Record]:
    """The events of one stream with their envelopes, numbered from ``first``."""
    return [
        (metadata(event, subject, sequence, source=source), event)
        for sequence, event in enumerate(events, start=first)
    ]


def pipeline(subject: str, *events: DomainEvent, first: int = 1) -> list[Record]:
    return numbered(subject, *events, source=PIPELINE_SOURCE, first=first)


def opened(
    opportunity_id: str,
    customer_id: str,
    *,
    amount: str = "48000.00",
    currency: str = "EUR",
    probability: int = 10,
    closes: date = CLOSES,
    owner_id: str = "u1",
    team: str | None = "north",
    title: str = "40 seats, 2 years",
) -> p.OpportunityOpened:
    return p.OpportunityOpened(
        opportunity_id=opportunity_id,
        customer_id=customer_id,
        title=title,
        amount=Decimal(amount),
        currency=currency,
        stage=p.Stage.QUALIFICATION,
        probability=probability,
        expected_close_date=closes,
        owner_id=owner_id,
        team=team,
    )


def moved(
    opportunity_id: str, to: p.Stage, probability: int, *, from_: p.Stage = p.Stage.QUALIFICATION
) -> p.OpportunityStageMoved:
    return p.OpportunityStageMoved(
        opportunity_id=opportunity_id, from_stage=from_, to_stage=to, probability=probability
    )


def won(
    opportunity_id: str,
    customer_id: str,
    amount: str = "48000.00",
    *,
    currency: str = "EUR",
    owner_id: str = "u1",
    team: str | None = "north",
) -> p.OpportunityWon:
    return p.OpportunityWon(
        opportunity_id=opportunity_id,
        customer_id=customer_id,
        owner_id=owner_id,
        team=team,
        from_stage=p.Stage.NEGOTIATION,
        amount=Decimal(amount),
        currency=currency,
        probability=100,
    )


def lost(
    opportunity_id: str, *, owner_id: str = "u1", team: str | None = "north"
) -> p.OpportunityLost:
    return p.OpportunityLost(
        opportunity_id=opportunity_id,
        owner_id=owner_id,
        team=team,
        from_stage=p.Stage.PROPOSAL,
        reason="chose a competitor",
        probability=0,
    )


def reopened(
    opportunity_id: str,
    previous: p.Outcome,
    *,
    stage: p.Stage = p.Stage.NEGOTIATION,
    probability: int = 75,
) -> p.OpportunityReopened:
    return p.OpportunityReopened(
        opportunity_id=opportunity_id,
        previous_outcome=previous,
        stage=stage,
        probability=probability,
    )


def drafted(
    quote_id: str, opportunity_id: str, customer_id: str, total: str = "21600.00"
) -> p.QuoteDrafted:
    line = p.QuoteLine(
        sku="SEAT-Y",
        description="Annual seat licence",
        quantity=Decimal(1),
        unit_price=Decimal(total),
        discount_percent=Decimal(0),
        net_amount=Decimal(total),
    )
    return p.QuoteDrafted(
        quote_id=quote_id,
        opportunity_id=opportunity_id,
        customer_id=customer_id,
        owner_id="u1",
        team="north",
        currency="EUR",
        lines=(line,),
        total=Decimal(total),
    )


def placed(
    order_id: str,
    customer_id: str,
    total: str = "21600.00",
    *,
    currency: str = "EUR",
    owner_id: str = "u1",
    team: str | None = "north",
    placed_at: datetime = NOW,
    due: date = DUE,
) -> list[DomainEvent]:
    """OrderPlaced and ReceivableOpened: the commit the pipeline appends for a new order."""
    return [
        p.OrderPlaced(
            order_id=order_id,
            quote_id=order_id.replace("ord_", "quo_"),
            opportunity_id=order_id.replace("ord_", "opp_"),
            customer_id=customer_id,
            owner_id=owner_id,
            team=team,
            total=Decimal(total),
            currency=currency,
            placed_at=placed_at,
            payment_due_date=due,
        ),
        p.ReceivableOpened(
            order_id=order_id,
            customer_id=customer_id,
            owner_id=owner_id,
            team=team,
            amount=Decimal(total),
            currency=currency,
            due_date=due,
        ),
    ]


def paid(
    order_id: str, customer_id: str, amount: str, balance_after: str, *, currency: str = "EUR"
) -> p.PaymentReceived:
    return p.PaymentReceived(
        order_id=order_id,
        customer_id=customer_id,
        payment_id=f"pay-{order_id}-{balance_after}",
        amount=Decimal(amount),
        currency=currency,
        balance_after=Decimal(balance_after),
    )


def settled(
    order_id: str, customer_id: str, amount: str, *, currency: str = "EUR"
) -> p.ReceivableSettled:
    return p.ReceivableSettled(
        order_id=order_id, customer_id=customer_id, amount=Decimal(amount), currency=currency
    )


def overdue(
    order_id: str,
    customer_id: str,
    balance: str,
    *,
    currency: str = "EUR",
    owner_id: str = "u1",
    team: str | None = "north",
) -> p.ReceivableOverdue:
    return p.ReceivableOverdue(
        order_id=order_id,
        customer_id=customer_id,
        owner_id=owner_id,
        team=team,
        due_date=DUE,
        days_overdue=1,
        balance=Decimal(balance),
        currency=currency,
    )


def unpaid(
    order_id: str,
    customer_id: str,
    balance: str,
    *,
    currency: str = "EUR",
    owner_id: str = "u1",
    team: str | None = "north",
) -> p.OrderUnpaidAfter48Hours:
    return p.OrderUnpaidAfter48Hours(
        order_id=order_id,
        customer_id=customer_id,
        owner_id=owner_id,
        team=team,
        balance=Decimal(balance),
        currency=currency,
        placed_at=NOW,
    )


def interaction(
    customer_id: str, number: int, *, at: datetime | None = None, summary: str | None = None
) -> c.InteractionLogged:
    return c.InteractionLogged(
        customer_id=customer_id,
        interaction_id=f"int_{number:02d}",
        kind=c.InteractionKind.CALL,
        at=at or NOW - timedelta(days=30 - number),
        summary=summary or f"Call {number} about the espresso machines",
        logged_by="user:u1",
    )


# --- lifecycle, purchases and refunds (KPI rows) ------------------------------------------


def stage_changed(
    customer_id: str,
    to: c.LifecycleStage,
    *,
    from_: c.LifecycleStage = c.LifecycleStage.PROSPECT,
    caused_by: str = "manual",
) -> c.CustomerLifecycleStageChanged:
    return c.CustomerLifecycleStageChanged(
        customer_id=customer_id,
        from_stage=from_,
        to_stage=to,
        reason="changed by hand" if caused_by == "manual" else "purchase",
        caused_by=caused_by,
    )


def purchase_recorded(
    customer_id: str, order_id: str, *, at: datetime = NOW
) -> c.CustomerPurchaseRecorded:
    return c.CustomerPurchaseRecorded(customer_id=customer_id, order_id=order_id, at=at)


def refunded(
    order_id: str,
    customer_id: str,
    amount: str,
    *,
    refund_id: str | None = None,
    currency: str = "EUR",
    at: datetime = NOW,
) -> p.PaymentRefunded:
    return p.PaymentRefunded(
        order_id=order_id,
        customer_id=customer_id,
        payment_id=f"pay-{order_id}",
        refund_id=refund_id or f"rfd-{order_id}-{amount}",
        amount=Decimal(amount),
        currency=currency,
        refunded_at=at,
    )


def at_times(records: list[Record], *moments: datetime) -> list[Record]:
    """The same records, the n-th stamped at the n-th moment (the last moment repeats)."""
    return [
        (meta.model_copy(update={"time": moments[min(i, len(moments) - 1)]}), event)
        for i, (meta, event) in enumerate(records)
    ]
