"""A deal handed to another rep (OpportunityReassigned): given the opportunity's stream, then
the customer 360, the forecast and the deal rows name the new owner and team."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from customer_events import lost, moved, opened, pipeline, reopened, won
from projection_folding import Folded, Record, folded

from crm_contracts import pipeline as p
from crm_contracts.pipeline import Outcome, Stage
from crm_projections.domain import customer360, deal_rows, forecast, sales_boards
from crm_projections.domain.customer360 import public_view
from crm_projections.domain.streams import StreamKind, Target, stream_kind


def reassigned(
    opportunity_id: str,
    owner_id: str = "u2",
    team: str | None = "north",
    *,
    previous_owner_id: str = "u1",
    previous_team: str | None = "north",
    customer_id: str = "cus_1",
) -> p.OpportunityReassigned:
    return p.OpportunityReassigned(
        opportunity_id=opportunity_id,
        customer_id=customer_id,
        owner_id=owner_id,
        previous_owner_id=previous_owner_id,
        team=team,
        previous_team=previous_team,
        reason="u1 left the company",
        reassigned_by="m1",
    )


def view_of(*streams: list[Record]) -> dict[str, Any]:
    (document,) = folded(customer360.MODEL, *streams).values()
    return public_view(document)


def test_the_event_belongs_to_the_opportunitys_stream_and_names_its_customer() -> None:
    ((meta, event),) = pipeline("opp_1", reassigned("opp_1"), first=2)
    assert stream_kind(event) is StreamKind.OPPORTUNITY
    assert customer360.target(meta, event) == Target("cus_1", learnt=True)
    assert forecast.target(meta, event) == Target("opp_1")
    assert deal_rows.target(meta, event) == Target("deal_1")


# --- customer 360 ----------------------------------------------------------------------------


def test_the_customer_360_shows_an_open_deal_with_its_new_owner() -> None:
    view = view_of(
        pipeline("opp_1", opened("opp_1", "cus_1"), reassigned("opp_1", "u2", "south")),
        pipeline("opp_2", opened("opp_2", "cus_1", closes=date(2027, 6, 30))),
    )
    assert [
        (o["opportunity_id"], o["owner_id"], o["team"]) for o in view["open_opportunities"]
    ] == [
        ("opp_1", "u2", "south"),
        ("opp_2", "u1", "north"),
    ]


def test_a_handed_over_deal_keeps_everything_else_the_360_shows() -> None:
    before = view_of(
        pipeline("opp_1", opened("opp_1", "cus_1"), moved("opp_1", Stage.PROPOSAL, 50))
    )
    after = view_of(
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1"),
            moved("opp_1", Stage.PROPOSAL, 50),
            reassigned("opp_1"),
        )
    )
    (was,), (now,) = before["open_opportunities"], after["open_opportunities"]
    assert now == {**was, "owner_id": "u2"}
    assert after["revenue_won"] == before["revenue_won"] == {}


def test_a_deal_won_after_its_handover_counts_as_revenue_of_the_customer() -> None:
    view = view_of(
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1"),
            reassigned("opp_1"),
            won("opp_1", "cus_1", "500.00", owner_id="u2"),
        )
    )
    assert (view["open_opportunities"], view["revenue_won"]) == ([], {"EUR": "500.00"})


def test_a_redelivered_handover_changes_nothing() -> None:
    history = pipeline("opp_1", opened("opp_1", "cus_1"), reassigned("opp_1"))
    once = folded(customer360.MODEL, history)
    state = Folded(customer360.MODEL).fold(history)
    assert state.apply(*history[1]) == "duplicate"
    assert state.documents == once


# --- forecast --------------------------------------------------------------------------------


def test_the_forecast_counts_an_open_deal_for_its_new_rep_and_team() -> None:
    rows = folded(
        forecast.MODEL,
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1", amount="1000.00", probability=10),
            moved("opp_1", Stage.PROPOSAL, 50),
            reassigned("opp_1", "u2", "south"),
        ),
        pipeline("opp_2", opened("opp_2", "cus_1", amount="300.00", probability=10)),
    )
    assert (rows["opp_1"]["owner_id"], rows["opp_1"]["team"], rows["opp_1"]["weighted"]) == (
        "u2",
        "south",
        "500.00",
    )
    summary = forecast.summarise(rows.values())
    assert [
        (r["owner_id"], r["team"], r["totals"]["EUR"]["amount"]) for r in summary["by_rep"]
    ] == [
        ("u1", "north", "300.00"),
        ("u2", "south", "1000.00"),
    ]
    assert {t["team"]: t["totals"]["EUR"]["weighted"] for t in summary["by_team"]} == {
        "north": "30.00",
        "south": "500.00",
    }
    assert summary["totals"]["EUR"] == {"weighted": "530.00", "amount": "1300.00", "count": 2}


@pytest.mark.parametrize(
    "closing",
    [
        pytest.param([won("opp_1", "cus_1", owner_id="u2")], id="won"),
        pytest.param([lost("opp_1", owner_id="u2")], id="lost"),
    ],
)
def test_a_handed_over_deal_leaves_the_forecast_when_it_closes(
    closing: list[p.OpportunityWon | p.OpportunityLost],
) -> None:
    rows = folded(
        forecast.MODEL, pipeline("opp_1", opened("opp_1", "cus_1"), reassigned("opp_1"), *closing)
    )
    assert rows["opp_1"]["owner_id"] == "u2"
    assert forecast.summarise(rows.values())["by_rep"] == []


def test_a_reopened_deal_handed_over_is_forecast_for_its_new_rep() -> None:
    rows = folded(
        forecast.MODEL,
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1"),
            lost("opp_1"),
            reopened("opp_1", Outcome.LOST),
            reassigned("opp_1", "u3", None, previous_team="north"),
        ),
    )
    (rep,) = forecast.summarise(rows.values())["by_rep"]
    assert (rep["owner_id"], rep["team"]) == ("u3", None)


# --- deal rows -------------------------------------------------------------------------------


def captured(lead_id: str) -> p.LeadCaptured:
    return p.LeadCaptured(
        lead_id=lead_id, source=p.LeadSource.WEB, name="Ada", owner_id="u1", team="north"
    )


def qualified(lead_id: str) -> p.LeadQualified:
    return p.LeadQualified(
        lead_id=lead_id, opportunity_id=lead_id.replace("lead_", "opp_"), customer_id="cus_1"
    )


def test_a_deal_row_names_its_new_owner_and_the_funnel_counts_it_for_them() -> None:
    rows = folded(
        deal_rows.MODEL,
        pipeline("lead_7f", captured("lead_7f"), qualified("lead_7f")),
        pipeline("opp_7f", opened("opp_7f", "cus_1"), reassigned("opp_7f", "u2", "south")),
    )
    (row,) = rows.values()
    assert (row["owner_id"], row["team"], row["status"]) == ("u2", "south", "open")
    keys = sales_boards.funnel_keys(row)
    assert keys  # a week, a month, a quarter
    for key in keys:
        assert set(sales_boards.funnel_summary(key, [row])["by_owner"]) == {"u2"}


def test_the_leaderboard_credits_the_rep_who_won_the_handed_over_deal() -> None:
    rows = folded(
        deal_rows.MODEL,
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1"),
            reassigned("opp_1", "u2", "south"),
            won("opp_1", "cus_1", "900.00", owner_id="u2", team="south"),
        ),
    )
    (row,) = rows.values()
    keys = sales_boards.sales_keys(row)
    assert keys
    for key in keys:
        board = sales_boards.sales_summary(key, [row])
        assert [(r["owner_id"], r["team"], r["revenue"]) for r in board["reps"]] == [
            ("u2", "south", {"EUR": "900.00"})
        ]


def test_the_deal_row_keeps_its_bookkeeping_when_handed_over() -> None:
    history = pipeline("opp_1", opened("opp_1", "cus_1"), reassigned("opp_1"))
    row = folded(deal_rows.MODEL, history)["deal_1"]
    assert row["streams"] == {"pipeline:opp_1": 2}
    assert (row["stage"], row["amount"], row["entered_at"]) == (
        "qualification",
        "48000.00",
        history[0][0].time,
    )
