"""Member rows: given a member's loyalty stream, the row keeps the home store (now and since
when), the enrolment and its periods, when the member became a repeat purchaser, the points
earned per period and the balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from customer_events import numbered, registered
from projection_folding import Folded
from ticket_events import (
    bonus_on,
    earned_on,
    enrolled,
    home_store_changed,
    member_stream,
    opened_on,
    redeemed,
    reversed_on,
    store_opened,
    ticket_stream,
)

from crm_contracts import DomainEvent
from crm_contracts import loyalty as lo
from crm_projections.domain import member_rows
from crm_projections.domain.streams import Document

ENROLLED = datetime(2026, 10, 30, 18, 0, tzinfo=UTC)  # Friday of week 44, October, Q4


def row_of(*events: DomainEvent) -> Document:
    return Folded(member_rows.MODEL).fold(member_stream("cus_1", *events)).documents["cus_1"]


def test_an_enrolled_member_has_its_store_the_periods_it_joined_in_and_nothing_earned() -> None:
    row = row_of(enrolled("cus_1", "sto_berlin", at=ENROLLED))

    assert row["_id"] == row["customer_id"] == "cus_1"
    assert (row["home_store_id"], row["tier"], row["enrolled_at"]) == (
        "sto_berlin",
        "silver",
        ENROLLED,
    )
    assert (row["enrolled_week"], row["enrolled_month"], row["enrolled_quarter"]) == (
        "2026-W44",
        "2026-10",
        "2026-Q4",
    )
    assert row["home_stores"] == [{"store_id": "sto_berlin", "since": ENROLLED}]
    assert (row["order_count"], row["second_order_at"], row["balance"]) == (0, None, 0)
    assert (row["points_earned"], row["earned_by_period"], row["earned_periods"]) == (0, {}, [])
    assert row["streams"] == {"loyalty:mbr_cus_1": 1}


def test_points_earned_and_bonuses_add_up_per_period_and_the_balance_is_the_latest() -> None:
    nov = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # Monday of week 45
    dec = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)  # Thursday of week 53
    row = row_of(
        enrolled("cus_1", at=ENROLLED),
        earned_on("cus_1", "p1", 120, 120, nov),
        bonus_on("cus_1", 30, 150, nov + timedelta(days=1)),
        earned_on("cus_1", "p2", 0, 150, nov + timedelta(days=2)),  # too small to earn any
        redeemed("cus_1", 100, 50),
        earned_on("cus_1", "p3", 80, 130, dec, orders=2),
        reversed_on("cus_1", "p3", 40, 90, dec + timedelta(hours=1)),
    )
    assert row["earned_by_period"] == {
        "week:2026-W45": 150,
        "month:2026-11": 150,
        "week:2026-W53": 80,
        "month:2026-12": 80,
        "quarter:2026-Q4": 230,
    }
    assert row["earned_periods"] == sorted(row["earned_by_period"])
    assert (row["points_earned"], row["balance"]) == (230, 90)


def test_the_first_earn_of_a_second_order_makes_a_repeat_purchaser() -> None:
    first = datetime(2026, 11, 5, tzinfo=UTC)
    second = first + timedelta(days=20)
    row = row_of(
        enrolled("cus_1", at=ENROLLED),
        earned_on("cus_1", "p1", 10, 10, first),
        earned_on("cus_1", "p1b", 10, 20, first + timedelta(days=1)),  # same order, 2nd payment
        earned_on("cus_1", "p2", 10, 30, second, orders=2),
        earned_on("cus_1", "p3", 10, 40, second + timedelta(days=9), orders=3),
    )
    assert (row["order_count"], row["second_order_at"]) == (3, second)


def test_a_move_changes_the_home_store_from_then_on() -> None:
    moved_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    row = row_of(
        enrolled("cus_1", "sto_a", at=ENROLLED),
        home_store_changed("cus_1", "sto_b", "sto_a", moved_at),
        earned_on("cus_1", "p1", 10, 10, moved_at + timedelta(days=1), store="sto_b"),
    )
    assert row["home_store_id"] == "sto_b"
    assert row["home_stores"] == [
        {"store_id": "sto_a", "since": ENROLLED},
        {"store_id": "sto_b", "since": moved_at},
    ]
    assert member_rows.home_store_at(row, moved_at) == "sto_a"
    assert member_rows.home_store_at(row, moved_at + timedelta(seconds=1)) == "sto_b"
    assert member_rows.home_store_at(row, ENROLLED) == "sto_a"  # before joining: its first
    assert member_rows.home_store_at({"home_store_id": "sto_x"}, moved_at) == "sto_x"


def test_tier_changes_are_kept() -> None:
    upgraded = lo.TierUpgraded(
        customer_id="cus_1",
        home_store_id="sto_1",
        from_tier="silver",
        to_tier="gold",
        basis=lo.TierBasis.POINTS,
        rolling_spend="0.00",
        rolling_points=500,
        currency="EUR",
        at=ENROLLED + timedelta(days=3),
    )
    assert row_of(enrolled("cus_1", at=ENROLLED), upgraded)["tier"] == "gold"


def test_only_member_events_are_routed_to_the_member() -> None:
    folded = Folded(member_rows.MODEL)
    folded.fold(numbered("sto_1", store_opened("sto_1"), source=lo.SOURCE))
    folded.fold(numbered("cus_1", registered("cus_1")))
    folded.fold(ticket_stream("tkt_1", opened_on("tkt_1", "cus_1", ENROLLED)))
    assert folded.documents == {}
    (meta, event), *_ = numbered("sto_1", store_opened("sto_1"), source=lo.SOURCE)
    with pytest.raises(ValueError):
        member_rows.project(member_rows.empty("cus_1"), meta, event)


def test_every_event_of_the_stream_advances_the_row_and_a_redelivery_changes_nothing() -> None:
    history = member_stream(
        "cus_1",
        enrolled("cus_1", at=ENROLLED),
        earned_on("cus_1", "p1", 10, 10, ENROLLED + timedelta(days=1)),
        lo.CouponRedeemed(
            customer_id="cus_1", home_store_id="sto_1", coupon_id="cpn_1", redeemed_at=ENROLLED
        ),
    )
    folded = Folded(member_rows.MODEL).fold(history)
    once = dict(folded.documents)
    assert once["cus_1"]["streams"] == {"loyalty:mbr_cus_1": 3}
    assert [folded.apply(meta, event) for meta, event in history] == ["duplicate"] * 3
    assert folded.documents == once
