"""Receivables by rep: given order streams, then each owner's open and overdue receivables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from customer_events import NOW, metadata, opened, overdue, paid, pipeline, placed, settled, unpaid
from projection_folding import Folded, Unroutable, folded

from crm_contracts import pipeline as p
from crm_contracts.pipeline import SOURCE
from crm_projections.domain import receivables
from crm_projections.domain.receivables import combined, public_view


def test_each_rep_gets_the_open_receivables_of_the_orders_they_own() -> None:
    documents = folded(
        receivables.MODEL,
        pipeline("ord_1", *placed("ord_1", "cus_1", "21600.00", owner_id="u1")),
        pipeline("ord_2", *placed("ord_2", "cus_2", "100.00", owner_id="u2", team="south")),
        pipeline(
            "ord_3",
            *placed("ord_3", "cus_3", "70.00", owner_id="u1", currency="USD"),
            paid("ord_3", "cus_3", "20.00", "50.00", currency="USD"),
        ),
    )
    assert set(documents) == {"u1", "u2"}
    assert public_view(documents["u1"]) == {
        "owner_id": "u1",
        "team": "north",
        "receivables": [
            {
                "order_id": "ord_1",
                "customer_id": "cus_1",
                "total": "21600.00",
                "balance": "21600.00",
                "currency": "EUR",
                "due_date": "2026-12-24",
                "overdue": False,
            },
            {
                "order_id": "ord_3",
                "customer_id": "cus_3",
                "total": "70.00",
                "balance": "50.00",
                "currency": "USD",
                "due_date": "2026-12-24",
                "overdue": False,
            },
        ],
        "open_total": {"EUR": "21600.00", "USD": "50.00"},
        "overdue_total": {},
        "open_count": 2,
        "overdue_count": 0,
        "updated_at": NOW + timedelta(minutes=3),
    }
    assert public_view(documents["u2"])["team"] == "south"


def test_overdue_receivables_are_summed_apart_and_settled_ones_disappear() -> None:
    documents = folded(
        receivables.MODEL,
        pipeline(
            "ord_1",
            *placed("ord_1", "cus_1", "300.00"),
            paid("ord_1", "cus_1", "100.00", "200.00"),
            overdue("ord_1", "cus_1", "200.00"),
        ),
        pipeline("ord_2", *placed("ord_2", "cus_1", "50.00"), unpaid("ord_2", "cus_1", "50.00")),
        pipeline(
            "ord_3",
            *placed("ord_3", "cus_2", "80.00"),
            overdue("ord_3", "cus_2", "80.00"),
            paid("ord_3", "cus_2", "80.00", "0.00"),
            settled("ord_3", "cus_2", "80.00"),
        ),
    )
    view = public_view(documents["u1"])
    assert [(r["order_id"], r["balance"], r["overdue"]) for r in view["receivables"]] == [
        ("ord_1", "200.00", True),
        ("ord_2", "50.00", False),
    ]
    assert (view["open_total"], view["overdue_total"]) == ({"EUR": "250.00"}, {"EUR": "200.00"})
    assert (view["open_count"], view["overdue_count"]) == (2, 1)
    assert documents["u1"]["streams"]["pipeline:ord_3"] == 5  # still remembered: no double count


def test_payments_name_no_owner_and_follow_the_order_streams_owner() -> None:
    state = Folded(receivables.MODEL).fold(
        pipeline("ord_1", *placed("ord_1", "cus_1", owner_id="u7"))
    )
    state.fold(pipeline("ord_1", paid("ord_1", "cus_1", "1.00", "21599.00"), first=3))
    assert state.routes == {"pipeline:ord_1": "u7"}
    assert public_view(state.documents["u7"])["open_total"] == {"EUR": "21599.00"}


def test_a_payment_of_an_order_never_seen_cannot_be_routed() -> None:
    with pytest.raises(Unroutable):
        Folded(receivables.MODEL).fold(
            pipeline("ord_1", paid("ord_1", "cus_1", "1.00", "2.00"), first=3)
        )


def test_the_reps_team_is_the_one_named_last_in_time() -> None:
    north = pipeline("ord_1", *placed("ord_1", "cus_1", team="north"))
    south = [
        (metadata(event, "ord_2", n, source=SOURCE, time=NOW + timedelta(days=1)), event)
        for n, event in enumerate(placed("ord_2", "cus_2", team="south"), start=1)
    ]
    assert folded(receivables.MODEL, north, south)["u1"]["team"] == "south"
    assert folded(receivables.MODEL, south, north)["u1"]["team"] == "south"


def test_other_streams_are_not_for_this_read_model() -> None:
    assert folded(receivables.MODEL, pipeline("opp_1", opened("opp_1", "cus_1"))) == {}
    assert receivables.target(*pipeline("quo_1", p.QuoteSent(quote_id="quo_1"))[0]) is None


def test_reps_combine_per_currency() -> None:
    documents = folded(
        receivables.MODEL,
        pipeline(
            "ord_1",
            *placed("ord_1", "cus_1", "10.10", owner_id="u1"),
            overdue("ord_1", "cus_1", "10.10"),
        ),
        pipeline("ord_2", *placed("ord_2", "cus_2", "0.90", owner_id="u2")),
        pipeline("ord_3", *placed("ord_3", "cus_2", "5.00", owner_id="u2", currency="CHF")),
    )
    assert combined([public_view(d) for d in documents.values()]) == {
        "open_total": {"CHF": "5.00", "EUR": "11.00"},
        "overdue_total": {"EUR": "10.10"},
        "open_count": 3,
        "overdue_count": 1,
    }
