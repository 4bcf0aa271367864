"""Order rows: given an order's stream, when it folds, then the row says who bought, what it
cost, whether and when it was settled, overdue, unpaid, refunded, and counts in the periods
of those facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from customer_events import (
    NOW,
    at_times,
    overdue,
    paid,
    pipeline,
    placed,
    refunded,
    settled,
    unpaid,
)
from projection_folding import Folded

from crm_projections.domain import order_rows

PLACED = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def test_a_placed_order_is_an_open_receivable_of_its_customer_owner_and_team() -> None:
    # given an order placed for cus_1 by u3 of the south team
    stream = pipeline(
        "ord_1", *placed("ord_1", "cus_1", "500.00", owner_id="u3", team="south", placed_at=NOW)
    )
    # when it folds
    (row,) = Folded(order_rows.MODEL).fold(stream).documents.values()
    # then
    assert (row["order_id"], row["customer_id"], row["owner_id"], row["team"]) == (
        "ord_1",
        "cus_1",
        "u3",
        "south",
    )
    assert (row["total"], row["currency"], row["balance"]) == ("500.00", "EUR", "500.00")
    assert row["placed_at"] == NOW
    assert (row["placed_week"], row["placed_month"], row["placed_quarter"]) == (
        "2026-W48",
        "2026-11",
        "2026-Q4",
    )
    assert (row["settled"], row["overdue"], row["unpaid_after_48_hours"]) == (False, False, False)
    assert row["refunded"] == "0.00"
    assert row["streams"] == {"pipeline:ord_1": 2}


def test_flags_settlement_and_refunds_are_kept_with_their_moments() -> None:
    # given an order unpaid after 48 hours, then overdue, paid down, settled, then refunded
    stream = at_times(
        pipeline(
            "ord_1",
            *placed("ord_1", "cus_1", "500.00", placed_at=PLACED),
            unpaid("ord_1", "cus_1", "500.00"),
            overdue("ord_1", "cus_1", "500.00"),
            paid("ord_1", "cus_1", "200.00", "300.00"),
            paid("ord_1", "cus_1", "300.00", "0.00"),
            settled("ord_1", "cus_1", "500.00"),
            refunded("ord_1", "cus_1", "50.00"),
        ),
        PLACED,
        PLACED,
        PLACED + timedelta(days=2),
        PLACED + timedelta(days=31),
        PLACED + timedelta(days=40),
        PLACED + timedelta(days=41),
        PLACED + timedelta(days=41),
        PLACED + timedelta(days=95),
    )
    # when it folds
    (row,) = Folded(order_rows.MODEL).fold(stream).documents.values()
    # then the flags stay with their moments, the receivable is closed
    assert row["unpaid_after_48_hours"] is True
    assert row["unpaid_at"] == PLACED + timedelta(days=2)
    assert row["overdue_at"] == PLACED + timedelta(days=31)
    assert row["overdue_entry_balance"] == "500.00"
    assert (row["settled"], row["overdue"], row["balance"]) == (True, False, "0.00")
    assert row["settled_at"] == PLACED + timedelta(days=41)
    assert row["refunded"] == "50.00"
    assert row["refunds"][0]["after_settled"] is True
    # and every balance change is a dated move, flagged overdue once it was
    assert [(at - PLACED, delta, late) for at, delta, late in row["moves"]] == [
        (timedelta(0), "500.00", False),
        (timedelta(days=40), "-200.00", True),
        (timedelta(days=41), "-300.00", True),
    ]
    # and the row counts in the periods of those facts, across the year end
    assert {"month:2026-11", "month:2026-12", "month:2027-01", "month:2027-03"} <= set(
        row["periods"]
    )
    assert "quarter:2027-Q1" in row["periods"]


def test_a_redelivered_event_changes_nothing() -> None:
    # given a payment delivered twice
    stream = pipeline(
        "ord_1", *placed("ord_1", "cus_1", "500.00"), paid("ord_1", "cus_1", "100.00", "400.00")
    )
    state = Folded(order_rows.MODEL).fold(stream)
    once = dict(state.documents)
    # when the payment comes again
    assert state.apply(*stream[-1]) == "duplicate"
    # then
    assert state.documents == once
    assert once["ord_1"]["balance"] == "400.00"


def test_other_streams_are_not_order_rows() -> None:
    from customer_events import opened

    assert order_rows.target(*pipeline("opp_1", opened("opp_1", "cus_1"))[0]) is None


def test_the_boards_to_refresh_are_those_of_the_facts_an_event_added() -> None:
    from crm_contracts import pipeline as p

    stream = at_times(
        pipeline(
            "ord_1",
            *placed("ord_1", "cus_1", "500.00", placed_at=PLACED),
            paid("ord_1", "cus_1", "100.00", "400.00"),
        ),
        PLACED,
        PLACED,
        PLACED + timedelta(days=3),
    )
    state = Folded(order_rows.MODEL).fold(stream)
    row = state.documents["ord_1"]
    # a payment on 3 December touches only its own week, month and quarter
    assert row["touched"] == ["month:2026-12", "quarter:2026-Q4", "week:2026-W49"]
    # a receivable opened in another currency changes what every fact counts as
    (meta, opened) = stream[1]
    assert isinstance(opened, p.ReceivableOpened)
    again = opened.model_copy(update={"currency": "USD"})
    after = order_rows.project(row, meta.model_copy(update={"sequence": 4}), again)
    assert after["touched"] == after["periods"]
