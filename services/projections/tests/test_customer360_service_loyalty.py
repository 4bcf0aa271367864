"""The customer 360's service and loyalty sides: given tickets and member streams, then open
tickets, breaches, the last survey, assignees, churn signals, tier, points and coupons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from customer_events import NOW, registered
from customer_events import numbered as contacts_stream
from projection_folding import Folded, Record, folded
from ticket_events import (
    breached,
    closed,
    earned,
    enrolled,
    escalated,
    member_stream,
    redeemed,
    replied,
    resolved,
    surveyed,
    ticket_opened,
    ticket_stream,
)

from crm_contracts import loyalty as lo
from crm_projections.domain import customer360
from crm_projections.domain.customer360 import public_view


def view_of(*streams: list[Record]) -> dict[str, Any]:
    documents = folded(customer360.MODEL, *streams)
    (document,) = documents.values()
    return public_view(document)


def test_an_opened_ticket_is_open_with_its_deadlines_and_assignee() -> None:
    view = view_of(ticket_stream("tkt_1", ticket_opened("tkt_1", "cus_1", kind="question")))
    (ticket,) = view["service"]["open_tickets"]
    assert ticket["ticket_id"] == "tkt_1"
    assert (ticket["kind"], ticket["status"], ticket["channel"]) == ("question", "new", "email")
    assert ticket["first_response_due"] == NOW + timedelta(hours=4)
    assert ticket["resolution_due"] == NOW + timedelta(hours=24)
    assert view["assignees"] == ["a1"]
    assert view["service"]["ticket_count"] == 1
    assert "subject" not in ticket  # personal text stays in the tickets service


def test_a_breached_and_escalated_complaint_is_a_churn_signal_until_resolved() -> None:
    history = [
        ticket_opened("tkt_1", "cus_1"),
        replied("tkt_1", "cus_1"),
        breached("tkt_1", "cus_1", "resolution"),
        escalated("tkt_1", "cus_1"),
    ]
    view = view_of(ticket_stream("tkt_1", *history))
    (ticket,) = view["service"]["open_tickets"]
    assert (ticket["priority"], ticket["assignee_id"]) == ("high", "lead1")
    assert ticket["first_responded_at"] == NOW + timedelta(hours=1)
    assert [b["target"] for b in ticket["breaches"]] == ["resolution"]
    assert view["service"]["sla_breaches"]["count"] == 1
    assert [b["ticket_id"] for b in view["service"]["sla_breaches"]["open"]] == ["tkt_1"]
    assert view["assignees"] == ["lead1"]
    assert view["churn_signals"] == [
        {"signal": "complaint_past_sla", "ticket_id": "tkt_1", "breaches": ["resolution"]}
    ]

    after = view_of(ticket_stream("tkt_1", *history, resolved("tkt_1", "cus_1")))
    assert after["service"]["open_tickets"] == []
    assert after["service"]["sla_breaches"] == {"count": 1, "open": []}  # counted, not open
    assert after["churn_signals"] == []


def test_the_same_breach_reported_twice_counts_once() -> None:
    view = view_of(
        ticket_stream(
            "tkt_1",
            ticket_opened("tkt_1", "cus_1"),
            breached("tkt_1", "cus_1", "first_response"),
            breached("tkt_1", "cus_1", "first_response"),
            breached("tkt_1", "cus_1", "resolution"),
        )
    )
    assert view["service"]["sla_breaches"]["count"] == 2


def test_the_last_csat_is_the_latest_survey_answered_over_all_tickets() -> None:
    view = view_of(
        ticket_stream(
            "tkt_1",
            ticket_opened("tkt_1", "cus_1"),
            resolved("tkt_1", "cus_1"),
            surveyed("tkt_1", "cus_1", 2, hours=50),
        ),
        ticket_stream(
            "tkt_2",
            ticket_opened("tkt_2", "cus_1", at=NOW + timedelta(hours=2)),
            resolved("tkt_2", "cus_1"),
            surveyed("tkt_2", "cus_1", 5, hours=40),
            closed("tkt_2", "cus_1"),
        ),
    )
    assert view["service"]["last_csat"] == {
        "ticket_id": "tkt_1",
        "csat": 2,
        "would_recommend": 8,
        "answered_at": NOW + timedelta(hours=50),
    }
    recent = view["service"]["recent_tickets"]
    assert [(t["ticket_id"], t["status"]) for t in recent] == [
        ("tkt_2", "closed"),
        ("tkt_1", "resolved"),
    ]
    assert view["assignees"] == ["a1"]  # tkt_1 is resolved but not closed: still theirs


def test_tickets_and_the_registration_fold_in_any_order_into_one_document() -> None:
    tickets = ticket_stream("tkt_1", ticket_opened("tkt_1", "cus_1"))
    contacts = contacts_stream("cus_1", registered("cus_1"))
    first = Folded(customer360.MODEL).fold([*tickets, *contacts]).documents["cus_1"]
    second = Folded(customer360.MODEL).fold([*contacts, *tickets]).documents["cus_1"]
    for key in ("tickets", "open_tickets", "profile", "streams"):
        assert first[key] == second[key]


def test_a_member_shows_tier_points_home_store_and_purchases() -> None:
    view = view_of(
        member_stream(
            "cus_1",
            enrolled("cus_1"),
            earned("cus_1", "pay_1", 120, 120, orders=1),
            earned("cus_1", "pay_2", 80, 200, orders=1),  # a second payment of the same order
            earned("cus_1", "pay_3", 50, 250, orders=2, order_id="ord_2"),
            redeemed("cus_1", 100, 150),
            lo.TierUpgraded(
                customer_id="cus_1",
                home_store_id="sto_1",
                from_tier="silver",
                to_tier="gold",
                basis=lo.TierBasis.POINTS,
                rolling_spend="250.00",
                rolling_points=250,
                currency="EUR",
                at=NOW,
            ),
            lo.HomeStoreChanged(
                customer_id="cus_1",
                home_store_id="sto_2",
                previous_home_store_id="sto_1",
                changed_at=NOW,
            ),
        )
    )
    assert view["loyalty"] == {
        "tier": "gold",
        "points_balance": 150,
        "points_earned": 250,
        "home_store_id": "sto_2",
        "enrolled_at": NOW,
        "purchases": 2,
        "coupons": [],
    }


def test_only_usable_coupons_are_shown() -> None:
    def issued(coupon_id: str, days: int) -> lo.CouponIssued:
        return lo.CouponIssued(
            customer_id="cus_1",
            home_store_id="sto_1",
            coupon_id=coupon_id,
            reward=lo.RewardKind.BIRTHDAY_VOUCHER,
            description="A free dessert",
            value=None,
            currency=None,
            valid_until=NOW + timedelta(days=days),
            points_cost=0,
            lots=(),
            reference=None,
            issued_at=NOW,
            balance=0,
        )

    view = view_of(
        member_stream(
            "cus_1",
            enrolled("cus_1"),
            issued("cpn_1", 30),
            issued("cpn_2", 10),
            issued("cpn_3", 20),
            lo.CouponRedeemed(
                customer_id="cus_1",
                home_store_id="sto_1",
                coupon_id="cpn_1",
                store_id="sto_1",
                redeemed_at=NOW,
            ),
            lo.CouponWithdrawn(
                customer_id="cus_1",
                home_store_id="sto_1",
                coupon_id="cpn_3",
                reason="paid in time",
                points_returned=0,
                lots=(),
                withdrawn_at=NOW,
                balance=0,
            ),
        )
    )
    assert [c["coupon_id"] for c in view["loyalty"]["coupons"]] == ["cpn_2"]
    assert view["loyalty"]["coupons"][0]["reward"] == "birthday_voucher"


def test_a_customer_who_is_no_member_has_no_loyalty_section() -> None:
    assert view_of(contacts_stream("cus_1", registered("cus_1")))["loyalty"] is None


def test_store_events_do_not_fold_into_any_customer() -> None:
    event = lo.StoreOpened(store_id="sto_1", name="Mitte", city="Berlin", opened_at=NOW)
    assert customer360.customer_id_of(event) is None
    assert folded(customer360.MODEL, member_stream("x", event)) == {}
