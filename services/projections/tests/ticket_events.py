"""Tickets and loyalty events for the projections' tests, numbered per stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from customer_events import NOW, numbered
from projection_folding import Record

from crm_contracts import DomainEvent
from crm_contracts import loyalty as lo
from crm_contracts import tickets as t

TICKETS_SOURCE = t.SOURCE
LOYALTY_SOURCE = lo.SOURCE


def ticket_stream(ticket_id: str, *events: DomainEvent, first: int = 1) -> list[Record]:
    return numbered(ticket_id, *events, source=TICKETS_SOURCE, first=first)


def member_stream(customer_id: str, *events: DomainEvent, first: int = 1) -> list[Record]:
    return numbered(f"mbr_{customer_id}", *events, source=LOYALTY_SOURCE, first=first)


def _snapshot(
    ticket_id: str, customer_id: str, *, kind: str, priority: str, status: str, **more: Any
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "customer_id": customer_id,
        "kind": kind,
        "priority": priority,
        "status": status,
        "team": more.pop("team", "support"),
        "assignee_id": more.pop("assignee_id", "a1"),
        **more,
    }


def ticket_opened(
    ticket_id: str,
    customer_id: str,
    *,
    kind: str = "complaint",
    priority: str = "normal",
    at: datetime = NOW,
    assignee_id: str | None = "a1",
) -> t.TicketOpened:
    return t.TicketOpened(
        **_snapshot(
            ticket_id,
            customer_id,
            kind=kind,
            priority=priority,
            status="new",
            assignee_id=assignee_id,
        ),
        channel=t.Channel.EMAIL,
        subject="The invoice is wrong",
        description="Charged twice for November.",
        opened_by="a1",
        opened_at=at,
        first_response_due=at + timedelta(hours=4),
        resolution_due=at + timedelta(hours=24),
    )


def replied(
    ticket_id: str, customer_id: str, *, first: bool = True, **snap: Any
) -> t.TicketReplied:
    return t.TicketReplied(
        **_snapshot(
            ticket_id,
            customer_id,
            **{"kind": "complaint", "priority": "normal", "status": "open", **snap},
        ),
        reply_id=f"rep_{ticket_id}",
        body="We are on it.",
        author_id="a1",
        replied_at=NOW + timedelta(hours=1),
        first_response=first,
        first_response_within_sla=True if first else None,
    )


def breached(ticket_id: str, customer_id: str, target: str, **snap: Any) -> t.SlaBreached:
    return t.SlaBreached(
        **_snapshot(
            ticket_id,
            customer_id,
            **{"kind": "complaint", "priority": "normal", "status": "open", **snap},
        ),
        target=t.SlaTarget(target),
        due=NOW + timedelta(hours=24),
        detected_at=NOW + timedelta(hours=25),
    )


def escalated(ticket_id: str, customer_id: str, **snap: Any) -> t.TicketEscalated:
    return t.TicketEscalated(
        **_snapshot(
            ticket_id,
            customer_id,
            **{
                "kind": "complaint",
                "priority": "high",
                "status": "open",
                "assignee_id": "lead1",
                **snap,
            },
        ),
        reason=t.SlaTarget.RESOLUTION,
        from_assignee_id="a1",
        to_assignee_id="lead1",
        from_priority=t.Priority.NORMAL,
        to_priority=t.Priority.HIGH,
        escalated_at=NOW + timedelta(hours=25),
    )


def resolved(ticket_id: str, customer_id: str, **snap: Any) -> t.TicketResolved:
    return t.TicketResolved(
        **_snapshot(
            ticket_id,
            customer_id,
            **{"kind": "complaint", "priority": "normal", "status": "resolved", **snap},
        ),
        resolution="Refunded the double charge.",
        resolved_by="a1",
        opened_at=NOW,
        resolved_at=NOW + timedelta(hours=30),
        resolution_due=NOW + timedelta(hours=24),
        within_sla=False,
    )


def surveyed(
    ticket_id: str, customer_id: str, csat: int, *, hours: int = 31, **snap: Any
) -> t.SurveyAnswered:
    return t.SurveyAnswered(
        **_snapshot(
            ticket_id,
            customer_id,
            **{"kind": "complaint", "priority": "normal", "status": "resolved", **snap},
        ),
        csat=csat,
        would_recommend=8,
        comment=None,
        answered_at=NOW + timedelta(hours=hours),
        recorded_by="a1",
    )


def closed(ticket_id: str, customer_id: str, **snap: Any) -> t.TicketClosed:
    return t.TicketClosed(
        **_snapshot(
            ticket_id,
            customer_id,
            **{"kind": "complaint", "priority": "normal", "status": "closed", **snap},
        ),
        closed_by="a1",
        closed_at=NOW + timedelta(hours=40),
    )


def enrolled(customer_id: str, store: str = "sto_1", *, at: datetime = NOW) -> lo.MemberEnrolled:
    return lo.MemberEnrolled(
        customer_id=customer_id, home_store_id=store, tier="silver", enrolled_at=at
    )


def earned(
    customer_id: str,
    payment: str,
    points: int,
    balance: int,
    *,
    orders: int = 1,
    order_id: str = "ord_1",
    store: str = "sto_1",
) -> lo.PointsEarned:
    return lo.PointsEarned(
        customer_id=customer_id,
        home_store_id=store,
        entry_id=f"earn:{payment}",
        points=points,
        reason="purchase",
        order_id=order_id,
        payment_id=payment,
        amount=Decimal(points),
        currency="EUR",
        earned_at=NOW,
        expires_at=NOW + timedelta(days=365),
        order_count=orders,
        balance=balance,
    )


def redeemed(
    customer_id: str, points: int, balance: int, store: str = "sto_1"
) -> lo.PointsRedeemed:
    return lo.PointsRedeemed(
        customer_id=customer_id,
        home_store_id=store,
        redemption_id=f"red_{points}",
        points=points,
        description="Coffee",
        lots=(lo.LotUse(entry_id="earn:pay_1", points=points),),
        redeemed_at=NOW,
        balance=balance,
    )


# --- dated builders (the boards key rows by the contract's own times) ---------------------------


def _ticket(
    ticket_id: str,
    customer_id: str,
    status: str,
    *,
    kind: str = "complaint",
    priority: str = "normal",
    team: str | None = "support",
    assignee_id: str | None = "a1",
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "customer_id": customer_id,
        "kind": kind,
        "priority": priority,
        "status": status,
        "team": team,
        "assignee_id": assignee_id,
    }


def opened_on(ticket_id: str, customer_id: str, at: datetime, **snap: Any) -> t.TicketOpened:
    return t.TicketOpened(
        **_ticket(ticket_id, customer_id, "new", **snap),
        channel=t.Channel.WEB,
        subject="Help",
        description="Something is wrong.",
        opened_by="a1",
        opened_at=at,
        first_response_due=at + timedelta(hours=4),
        resolution_due=at + timedelta(hours=24),
    )


def assigned_on(
    ticket_id: str, customer_id: str, at: datetime, *, status: str = "open", **snap: Any
) -> t.TicketAssigned:
    return t.TicketAssigned(
        **_ticket(ticket_id, customer_id, status, **snap), assigned_by="lead1", assigned_at=at
    )


def replied_on(
    ticket_id: str, customer_id: str, at: datetime, *, first: bool = True, **snap: Any
) -> t.TicketReplied:
    return t.TicketReplied(
        **_ticket(ticket_id, customer_id, "open", **snap),
        reply_id=f"rep_{at:%H%M}",
        body="We are on it.",
        author_id="a1",
        replied_at=at,
        first_response=first,
        first_response_within_sla=True if first else None,
    )


def breached_on(
    ticket_id: str,
    customer_id: str,
    at: datetime,
    target: str = "resolution",
    *,
    status: str = "open",
    **snap: Any,
) -> t.SlaBreached:
    return t.SlaBreached(
        **_ticket(ticket_id, customer_id, status, **snap),
        target=t.SlaTarget(target),
        due=at - timedelta(minutes=1),
        detected_at=at,
    )


def resolved_on(
    ticket_id: str, customer_id: str, at: datetime, *, within_sla: bool = True, **snap: Any
) -> t.TicketResolved:
    return t.TicketResolved(
        **_ticket(ticket_id, customer_id, "resolved", **snap),
        resolution="Done.",
        resolved_by=snap.get("assignee_id") or "a1",
        opened_at=NOW,
        resolved_at=at,
        resolution_due=at + timedelta(hours=1 if within_sla else -1),
        within_sla=within_sla,
    )


def reopened_on(ticket_id: str, customer_id: str, at: datetime, **snap: Any) -> t.TicketReopened:
    return t.TicketReopened(
        **_ticket(ticket_id, customer_id, "reopened", **snap),
        reason=None,
        reopened_by="a1",
        reopened_at=at,
        resolution_due=at + timedelta(hours=24),
    )


def surveyed_on(
    ticket_id: str,
    customer_id: str,
    at: datetime,
    csat: int,
    *,
    recommend: int = 8,
    status: str = "resolved",
    **snap: Any,
) -> t.SurveyAnswered:
    return t.SurveyAnswered(
        **_ticket(ticket_id, customer_id, status, **snap),
        csat=csat,
        would_recommend=recommend,
        comment=None,
        answered_at=at,
        recorded_by="a1",
    )


def closed_on(ticket_id: str, customer_id: str, at: datetime, **snap: Any) -> t.TicketClosed:
    return t.TicketClosed(
        **_ticket(ticket_id, customer_id, "closed", **snap), closed_by="a1", closed_at=at
    )


def earned_on(
    customer_id: str,
    payment: str,
    points: int,
    balance: int,
    at: datetime,
    *,
    orders: int = 1,
    store: str = "sto_1",
) -> lo.PointsEarned:
    return lo.PointsEarned(
        customer_id=customer_id,
        home_store_id=store,
        entry_id=f"earn:{payment}",
        points=points,
        reason="purchase",
        order_id=f"ord_{payment}",
        payment_id=payment,
        amount=Decimal(max(points, 1)),
        currency="EUR",
        earned_at=at,
        expires_at=at + timedelta(days=365),
        order_count=orders,
        balance=balance,
    )


def bonus_on(
    customer_id: str,
    points: int,
    balance: int,
    at: datetime,
    *,
    reference: str = "2026",
    store: str = "sto_1",
) -> lo.BonusAwarded:
    return lo.BonusAwarded(
        customer_id=customer_id,
        home_store_id=store,
        entry_id=f"bonus:birthday:{reference}",
        reason=lo.BonusReason.BIRTHDAY,
        reference=reference,
        points=points,
        awarded_at=at,
        expires_at=at + timedelta(days=365),
        balance=balance,
    )


def home_store_changed(
    customer_id: str, store: str, previous: str, at: datetime
) -> lo.HomeStoreChanged:
    return lo.HomeStoreChanged(
        customer_id=customer_id,
        home_store_id=store,
        previous_home_store_id=previous,
        changed_at=at,
    )


def reversed_on(
    customer_id: str, payment: str, points: int, balance: int, at: datetime, store: str = "sto_1"
) -> lo.PointsReversed:
    return lo.PointsReversed(
        customer_id=customer_id,
        home_store_id=store,
        refund_id=f"rfd_{payment}",
        payment_id=payment,
        order_id=f"ord_{payment}",
        amount=Decimal(max(points, 1)),
        currency="EUR",
        points_due=points,
        points=points,
        shortfall=0,
        lots=(lo.LotUse(entry_id=f"earn:{payment}", points=max(points, 1)),),
        reversed_at=at,
        balance=balance,
    )


def store_opened(store_id: str, at: datetime = NOW) -> lo.StoreOpened:
    return lo.StoreOpened(store_id=store_id, name=store_id, city="Berlin", opened_at=at)


def redeemed_on(
    customer_id: str, redemption: str, points: int, balance: int, at: datetime, store: str = "sto_1"
) -> lo.PointsRedeemed:
    return lo.PointsRedeemed(
        customer_id=customer_id,
        home_store_id=store,
        redemption_id=redemption,
        points=points,
        description="Coffee",
        lots=(lo.LotUse(entry_id="earn:p1", points=points),),
        redeemed_at=at,
        balance=balance,
    )
