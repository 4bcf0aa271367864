"""The customer 360's sales side: given pipeline streams, then opportunities, revenue,
orders, receivables and churn signals of the customer's document."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from customer_events import (
    NOW,
    drafted,
    lost,
    metadata,
    moved,
    numbered,
    opened,
    overdue,
    paid,
    pipeline,
    placed,
    registered,
    reopened,
    settled,
    unpaid,
    won,
)
from projection_folding import Folded, Record, Unroutable, folded

from crm_contracts import pipeline as p
from crm_contracts.pipeline import Outcome, Stage
from crm_projections.domain import customer360
from crm_projections.domain.customer360 import public_view
from crm_projections.domain.streams import Document


def view_of(*streams: list[Record]) -> dict[str, Any]:
    documents = folded(customer360.MODEL, *streams)
    (document,) = documents.values()
    return public_view(document)


def test_an_opened_opportunity_is_listed_with_what_a_rep_needs() -> None:
    view = view_of(
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1", amount="48000.00", probability=10),
            moved("opp_1", Stage.PROPOSAL, 50),
            p.OpportunityAmountChanged(
                opportunity_id="opp_1",
                amount="52000.00",
                previous_amount="48000.00",
                currency="EUR",
            ),
            p.OpportunityCloseDateChanged(
                opportunity_id="opp_1",
                expected_close_date=date(2027, 4, 30),
                previous_close_date=date(2027, 3, 31),
            ),
        )
    )
    assert view["open_opportunities"] == [
        {
            "opportunity_id": "opp_1",
            "title": "40 seats, 2 years",
            "amount": "52000.00",
            "currency": "EUR",
            "stage": "proposal",
            "probability": 50,
            "expected_close_date": "2027-04-30",
            "owner_id": "u1",
            "team": "north",
        }
    ]
    assert view["revenue_won"] == {}


def test_open_opportunities_are_ordered_by_expected_close_date() -> None:
    view = view_of(
        pipeline("opp_b", opened("opp_b", "cus_1", closes=date(2027, 1, 15))),
        pipeline("opp_a", opened("opp_a", "cus_1", closes=date(2027, 6, 1))),
    )
    assert [o["opportunity_id"] for o in view["open_opportunities"]] == ["opp_b", "opp_a"]


def test_won_deals_leave_the_open_list_and_add_up_per_currency_exactly() -> None:
    view = view_of(
        pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1", "48000.10")),
        pipeline("opp_2", opened("opp_2", "cus_1"), won("opp_2", "cus_1", "0.20")),
        pipeline(
            "opp_3",
            opened("opp_3", "cus_1", currency="USD"),
            won("opp_3", "cus_1", "999.99", currency="USD"),
        ),
        pipeline("opp_4", opened("opp_4", "cus_1"), lost("opp_4")),
    )
    assert view["open_opportunities"] == []
    assert view["revenue_won"] == {"EUR": "48000.30", "USD": "999.99"}


def test_a_reopened_won_deal_is_open_again_and_no_longer_counted_as_won() -> None:
    history = [
        opened("opp_1", "cus_1"),
        won("opp_1", "cus_1", "48000.00"),
        reopened("opp_1", Outcome.WON, stage=Stage.NEGOTIATION, probability=75),
    ]
    view = view_of(pipeline("opp_1", *history))
    assert view["revenue_won"] == {}
    (back,) = view["open_opportunities"]
    assert (back["stage"], back["probability"], back["amount"]) == ("negotiation", 75, "48000.00")

    won_again = view_of(pipeline("opp_1", *history, won("opp_1", "cus_1", "50000.00")))
    assert won_again["revenue_won"] == {"EUR": "50000.00"}


def test_a_reopened_lost_deal_is_listed_again() -> None:
    view = view_of(
        pipeline("opp_1", opened("opp_1", "cus_1"), lost("opp_1"), reopened("opp_1", Outcome.LOST))
    )
    assert [o["stage"] for o in view["open_opportunities"]] == ["negotiation"]


def test_an_order_counts_and_opens_its_receivable() -> None:
    view = view_of(
        pipeline("ord_1", *placed("ord_1", "cus_1", "21600.00", placed_at=NOW)),
        pipeline(
            "ord_2",
            *placed(
                "ord_2", "cus_1", "100.00", placed_at=NOW + timedelta(days=2), due=date(2027, 1, 2)
            ),
        ),
    )
    orders = view["orders"]
    assert (orders["count"], orders["last_placed_at"]) == (2, NOW + timedelta(days=2))
    assert [(o["order_id"], o["total"], o["settled"]) for o in orders["recent"]] == [
        ("ord_2", "100.00", False),
        ("ord_1", "21600.00", False),
    ]
    assert view["receivables"] == {
        "items": [
            {
                "order_id": "ord_1",
                "total": "21600.00",
                "balance": "21600.00",
                "currency": "EUR",
                "due_date": "2026-12-24",
                "overdue": False,
            },
            {
                "order_id": "ord_2",
                "total": "100.00",
                "balance": "100.00",
                "currency": "EUR",
                "due_date": "2027-01-02",
                "overdue": False,
            },
        ],
        "open_balance": {"EUR": "21700.00"},
        "overdue_balance": {},
    }


def test_payments_lower_the_balance_and_a_settled_receivable_disappears() -> None:
    view = view_of(
        pipeline(
            "ord_1",
            *placed("ord_1", "cus_1", "21600.00"),
            paid("ord_1", "cus_1", "10000.00", "11600.00"),
        ),
        pipeline(
            "ord_2",
            *placed("ord_2", "cus_1", "50.00"),
            paid("ord_2", "cus_1", "50.00", "0.00"),
            settled("ord_2", "cus_1", "50.00"),
        ),
    )
    assert [(r["order_id"], r["balance"]) for r in view["receivables"]["items"]] == [
        ("ord_1", "11600.00")
    ]
    assert view["receivables"]["open_balance"] == {"EUR": "11600.00"}
    assert view["orders"]["count"] == 2


def test_overdue_receivables_are_flagged_summed_per_currency_and_signalled() -> None:
    view = view_of(
        pipeline(
            "ord_1",
            *placed("ord_1", "cus_1", "21600.00"),
            paid("ord_1", "cus_1", "10000.00", "11600.00"),
            overdue("ord_1", "cus_1", "11600.00"),
        ),
        pipeline(
            "ord_2",
            *placed("ord_2", "cus_1", "70.00", currency="USD"),
            overdue("ord_2", "cus_1", "70.00", currency="USD"),
        ),
        pipeline("ord_3", *placed("ord_3", "cus_1", "5.00")),
    )
    receivables = view["receivables"]
    assert [r["overdue"] for r in receivables["items"]] == [True, True, False]
    assert receivables["open_balance"] == {"EUR": "11605.00", "USD": "70.00"}
    assert receivables["overdue_balance"] == {"EUR": "11600.00", "USD": "70.00"}
    assert [(s["signal"], s["order_id"]) for s in view["churn_signals"]] == [
        ("receivable_overdue", "ord_1"),
        ("receivable_overdue", "ord_2"),
    ]


def test_an_order_unpaid_after_48_hours_is_a_churn_signal_until_money_comes_in() -> None:
    flagged = [*placed("ord_1", "cus_1", "21600.00"), unpaid("ord_1", "cus_1", "21600.00")]
    view = view_of(pipeline("ord_1", *flagged))
    assert view["churn_signals"] == [
        {
            "signal": "order_unpaid_after_48_hours",
            "order_id": "ord_1",
            "placed_at": NOW,
            "balance": "21600.00",
            "currency": "EUR",
        }
    ]
    after_payment = view_of(
        pipeline("ord_1", *flagged, paid("ord_1", "cus_1", "100.00", "21500.00"))
    )
    assert after_payment["churn_signals"] == []


def test_quotes_are_folded_for_their_position_only() -> None:
    documents = folded(
        customer360.MODEL,
        pipeline(
            "quo_1",
            drafted("quo_1", "opp_1", "cus_1"),
            p.QuoteSent(quote_id="quo_1"),
            p.QuoteAccepted(quote_id="quo_1", order_id="ord_1", accepted_at=NOW),
        ),
    )
    assert documents["cus_1"]["streams"] == {"pipeline:quo_1": 3}
    assert public_view(documents["cus_1"])["open_opportunities"] == []


def test_pipeline_events_before_the_registration_lose_nothing() -> None:
    sales = pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1"))
    master = numbered("cus_1", registered("cus_1", "Ada Lovelace"))
    sales_first = folded(customer360.MODEL, sales, master)
    contacts_first = folded(customer360.MODEL, master, sales)
    assert sales_first == contacts_first
    view = public_view(sales_first["cus_1"])
    assert (view["profile"]["name"], view["revenue_won"]) == ("Ada Lovelace", {"EUR": "48000.00"})
    assert view["streams"] == {"contacts:cus_1": 1, "pipeline:opp_1": 2}


def test_later_events_of_a_stream_go_to_the_customer_its_first_event_named() -> None:
    state = Folded(customer360.MODEL)
    state.fold(pipeline("quo_1", drafted("quo_1", "opp_1", "cus_1"), p.QuoteSent(quote_id="quo_1")))
    assert state.routes == {"pipeline:quo_1": "cus_1"}
    assert state.documents["cus_1"]["streams"] == {"pipeline:quo_1": 2}


def test_an_event_of_a_stream_whose_first_event_was_not_seen_cannot_be_routed() -> None:
    state = Folded(customer360.MODEL)
    with pytest.raises(Unroutable):
        state.fold(pipeline("quo_1", p.QuoteSent(quote_id="quo_1"), first=2))
    assert state.documents == {}


@pytest.mark.parametrize(
    "lead",
    [
        p.LeadCaptured(lead_id="lead_1", source=p.LeadSource.WEB, name="Ada", owner_id="u1"),
        p.LeadQualified(lead_id="lead_1", opportunity_id="opp_1", customer_id="cus_1"),
    ],
)
def test_leads_are_not_folded_even_when_they_name_a_customer(lead: p.DomainEvent) -> None:
    assert folded(customer360.MODEL, pipeline("lead_1", lead)) == {}


def test_the_latest_event_is_the_latest_in_time_whichever_stream_came_last() -> None:
    event = registered("cus_1")
    later = [(metadata(event, "cus_1", 1, time=NOW + timedelta(hours=1), event_id="evt-9"), event)]
    earlier = pipeline("opp_1", opened("opp_1", "cus_1"))
    document: Document = folded(customer360.MODEL, later, earlier)["cus_1"]
    assert (document["updated_at"], document["last_event_id"]) == (
        NOW + timedelta(hours=1),
        "evt-9",
    )
