"""The forecast: given opportunity streams, then the weighted pipeline per period, rep and team."""

from __future__ import annotations

from datetime import date

import pytest
from customer_events import lost, moved, opened, pipeline, placed, reopened, won
from projection_folding import folded

from crm_contracts import pipeline as p
from crm_contracts.pipeline import Outcome, Stage
from crm_projections.domain import forecast
from crm_projections.domain.forecast import period_field, summarise


def test_each_opportunity_is_a_row_with_its_periods_and_exact_weighted_amount() -> None:
    rows = folded(
        forecast.MODEL,
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1", amount="48000.01", probability=10, closes=date(2027, 2, 28)),
            moved("opp_1", Stage.NEEDS_ANALYSIS, 15),
        ),
    )
    row = rows["opp_1"]
    assert (row["month"], row["quarter"], row["year"]) == ("2027-02", "2027-Q1", "2027")
    assert (row["amount"], row["probability"], row["weighted"]) == ("48000.01", 15, "7200.0015")
    assert (row["owner_id"], row["team"], row["status"], row["customer_id"]) == (
        "u1",
        "north",
        "open",
        "cus_1",
    )


@pytest.mark.parametrize(
    ("closes", "month", "quarter"),
    [
        (date(2027, 1, 1), "2027-01", "2027-Q1"),
        (date(2027, 3, 31), "2027-03", "2027-Q1"),
        (date(2027, 4, 1), "2027-04", "2027-Q2"),
        (date(2027, 9, 30), "2027-09", "2027-Q3"),
        (date(2027, 12, 31), "2027-12", "2027-Q4"),
    ],
)
def test_close_dates_fall_into_their_month_and_quarter(
    closes: date, month: str, quarter: str
) -> None:
    row = folded(forecast.MODEL, pipeline("opp_1", opened("opp_1", "cus_1", closes=closes)))[
        "opp_1"
    ]
    assert (row["month"], row["quarter"]) == (month, quarter)


def test_a_new_close_date_moves_the_row_to_another_period() -> None:
    rows = folded(
        forecast.MODEL,
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1", closes=date(2027, 3, 31)),
            p.OpportunityCloseDateChanged(
                opportunity_id="opp_1",
                expected_close_date=date(2027, 4, 1),
                previous_close_date=date(2027, 3, 31),
            ),
        ),
    )
    assert (rows["opp_1"]["month"], rows["opp_1"]["quarter"]) == ("2027-04", "2027-Q2")


def test_won_lost_and_reopened_set_the_status_the_forecast_counts() -> None:
    rows = folded(
        forecast.MODEL,
        pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1")),
        pipeline("opp_2", opened("opp_2", "cus_1"), lost("opp_2")),
        pipeline(
            "opp_3",
            opened("opp_3", "cus_1"),
            lost("opp_3"),
            reopened("opp_3", Outcome.LOST, probability=75),
        ),
    )
    assert [(r["status"], r["probability"]) for r in rows.values()] == [
        ("won", 100),
        ("lost", 0),
        ("open", 75),
    ]
    assert summarise(rows.values())["totals"] == {
        "EUR": {"weighted": "36000.00", "amount": "48000.00", "count": 1}
    }


def test_the_summary_sums_per_currency_overall_per_team_and_per_rep() -> None:
    rows = folded(
        forecast.MODEL,
        pipeline(
            "opp_1", opened("opp_1", "cus_1", amount="1000.00", probability=10, owner_id="u1")
        ),
        pipeline("opp_2", opened("opp_2", "cus_2", amount="0.05", probability=50, owner_id="u1")),
        pipeline("opp_3", opened("opp_3", "cus_3", amount="200.00", probability=75, owner_id="u2")),
        pipeline(
            "opp_4",
            opened(
                "opp_4",
                "cus_4",
                amount="80.00",
                probability=50,
                owner_id="u3",
                team="south",
                currency="USD",
            ),
        ),
        pipeline(
            "opp_5",
            opened("opp_5", "cus_5", amount="10.00", probability=20, owner_id="u4", team=None),
        ),
    )
    summary = summarise(rows.values())
    assert summary["totals"] == {
        "EUR": {"weighted": "252.02", "amount": "1210.05", "count": 4},  # 252.025, half-even
        "USD": {"weighted": "40.00", "amount": "80.00", "count": 1},
    }
    assert summary["by_team"] == [
        {"team": None, "totals": {"EUR": {"weighted": "2.00", "amount": "10.00", "count": 1}}},
        {
            "team": "north",
            "totals": {"EUR": {"weighted": "250.02", "amount": "1200.05", "count": 3}},
        },
        {"team": "south", "totals": {"USD": {"weighted": "40.00", "amount": "80.00", "count": 1}}},
    ]
    assert [(r["owner_id"], r["team"], r["totals"]) for r in summary["by_rep"]] == [
        ("u1", "north", {"EUR": {"weighted": "100.02", "amount": "1000.05", "count": 2}}),
        ("u2", "north", {"EUR": {"weighted": "150.00", "amount": "200.00", "count": 1}}),
        ("u3", "south", {"USD": {"weighted": "40.00", "amount": "80.00", "count": 1}}),
        ("u4", None, {"EUR": {"weighted": "2.00", "amount": "10.00", "count": 1}}),
    ]


def test_an_empty_period_sums_to_nothing() -> None:
    assert summarise([]) == {"totals": {}, "by_team": [], "by_rep": []}


@pytest.mark.parametrize(
    ("period", "field"), [("2027-03", "month"), ("2027-Q1", "quarter"), ("2027", "year")]
)
def test_a_period_names_a_month_a_quarter_or_a_year(period: str, field: str) -> None:
    assert period_field(period) == field


@pytest.mark.parametrize("period", ["2027-13", "2027-Q5", "27-Q1", "2027-1", "Q1-2027", ""])
def test_anything_else_is_no_period(period: str) -> None:
    with pytest.raises(ValueError, match="YYYY, YYYY-MM or YYYY-Qn"):
        period_field(period)


def test_only_opportunity_streams_are_rows() -> None:
    assert folded(forecast.MODEL, pipeline("ord_1", *placed("ord_1", "cus_1"))) == {}
