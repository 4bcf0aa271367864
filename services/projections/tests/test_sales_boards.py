"""Deal rows, the sales leaderboard and the funnel: given pipeline streams, then the rows,
the boards summarised from them, and the ranking with the previous period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from customer_events import NOW, metadata, moved, opened, pipeline, reopened, won
from customer_events import lost as lost_event
from projection_folding import Folded, Record

from crm_contracts import pipeline as p
from crm_projections.domain import deal_rows, sales_boards
from crm_projections.domain.ranking import ranked
from crm_projections.domain.streams import Document


def captured(lead_id: str, owner_id: str = "u1") -> p.LeadCaptured:
    return p.LeadCaptured(
        lead_id=lead_id, source=p.LeadSource.WEB, name="Ada", owner_id=owner_id, team="north"
    )


def qualified(lead_id: str) -> p.LeadQualified:
    return p.LeadQualified(
        lead_id=lead_id, opportunity_id=lead_id.replace("lead_", "opp_"), customer_id="cus_1"
    )


def at(records: list[Record], moment: Any) -> list[Record]:
    """The same records, stamped one minute apart from ``moment``."""
    return [
        (meta.model_copy(update={"time": moment + timedelta(minutes=i)}), event)
        for i, (meta, event) in enumerate(records)
    ]


def rows_of(*streams: list[Record]) -> dict[str, Document]:
    folded = Folded(deal_rows.MODEL)
    for records in streams:
        folded.fold(records)
    return folded.documents


def test_a_lead_and_its_opportunity_are_one_deal_that_entered_when_the_lead_came() -> None:
    rows = rows_of(
        at(pipeline("lead_7f", captured("lead_7f"), qualified("lead_7f")), NOW),
        at(
            pipeline("opp_7f", opened("opp_7f", "cus_1"), won("opp_7f", "cus_1", "900.00")),
            NOW + timedelta(days=10),
        ),
    )
    (row,) = rows.values()
    assert row["deal_id"] == "deal_7f"
    assert (row["lead_status"], row["status"], row["amount"]) == ("qualified", "won", "900.00")
    assert row["entered_at"] == NOW
    assert row["won_at"] == NOW + timedelta(days=10, minutes=1)
    assert (row["won_week"], row["won_month"], row["won_quarter"]) == (
        "2026-W49",
        "2026-12",
        "2026-Q4",
    )
    assert row["stages_reached"] == [*deal_rows.OPEN_STAGES, "won"]


def test_reaching_a_stage_passes_the_ones_before_and_reopening_unwins() -> None:
    rows = rows_of(
        pipeline(
            "opp_1",
            opened("opp_1", "cus_1"),
            moved("opp_1", p.Stage.PROPOSAL, 50),
            won("opp_1", "cus_1"),
            reopened("opp_1", p.Outcome.WON),
        )
    )
    (row,) = rows.values()
    assert row["stages_reached"] == [*deal_rows.OPEN_STAGES, "won"]  # ever reached
    assert (row["status"], row["won_at"], row["won_month"]) == ("open", None, None)
    assert sales_boards.sales_keys(row) == set()


def leaderboard(rows: dict[str, Document], key: str) -> Document:
    selected = [r for r in rows.values() if key in sales_boards.sales_keys(r)]
    return sales_boards.sales_summary(key, selected)


def test_the_leaderboard_sums_revenue_per_currency_and_deals_per_rep_and_team() -> None:
    deals = [
        pipeline(f"opp_{i}", opened(f"opp_{i}", "cus_1", owner_id=o, team=t),
                 won(f"opp_{i}", "cus_1", amount, currency=c, owner_id=o, team=t))
        for i, (o, t, amount, c) in enumerate(
            [
                ("u1", "north", "100.00", "EUR"),
                ("u1", "north", "50.50", "EUR"),
                ("u2", "north", "300.00", "EUR"),
                ("u3", "south", "10.00", "USD"),
            ]
        )
    ]  # fmt: skip
    board = leaderboard(rows_of(*deals), "month:2026-11")
    reps = {r["owner_id"]: r for r in board["reps"]}
    assert reps["u1"]["revenue"] == {"EUR": "150.50"}
    assert (reps["u1"]["deals"], reps["u1"]["team"]) == (2, "north")
    assert {t["team"]: t["deals"] for t in board["teams"]} == {"north": 3, "south": 1}
    assert board["all"]["revenue"] == {"EUR": "450.50", "USD": "10.00"}
    assert board["all"]["average_cycle_days"] == "0.0"  # opened and won a minute apart


def test_ranking_breaks_ties_by_id_and_says_what_changed() -> None:
    current = [{"owner_id": "u2", "v": 5}, {"owner_id": "u1", "v": 5}, {"owner_id": "u3", "v": 9}]
    previous = [{"owner_id": "u1", "v": 7}, {"owner_id": "u3", "v": 1}]
    board = ranked(current, previous, key="owner_id", value=lambda e: Decimal(e["v"]))
    assert [(e["owner_id"], e["rank"]) for e in board] == [("u3", 1), ("u1", 2), ("u2", 3)]
    u1 = board[1]
    assert (u1["previous_rank"], u1["rank_change"], u1["value_change"]) == (1, -1, "-2")
    assert (board[2]["previous_rank"], board[2]["rank_change"]) == (None, None)


def test_the_funnel_counts_each_stage_of_the_deals_that_entered_in_the_period() -> None:
    deals = [
        at(pipeline("lead_a", captured("lead_a"), qualified("lead_a")), NOW),
        pipeline("opp_a", opened("opp_a", "cus_1"), moved("opp_a", p.Stage.PROPOSAL, 50),
                 won("opp_a", "cus_1")),
        at(pipeline("lead_b", captured("lead_b")), NOW),
        pipeline("opp_c", opened("opp_c", "cus_1"), lost_event("opp_c")),
        pipeline("opp_d", opened("opp_d", "cus_1", owner_id="u2")),
    ]  # fmt: skip
    rows = rows_of(*deals)
    key = "month:2026-11"
    board = sales_boards.funnel_summary(
        key, [r for r in rows.values() if key in sales_boards.funnel_keys(r)]
    )
    counts = board["all"]
    assert (counts["leads"], counts["qualified"], counts["opportunities"]) == (2, 1, 3)
    assert counts["reached"]["qualification"] == 3
    assert counts["reached"]["proposal"] == 1
    assert (counts["won"], counts["lost"]) == (1, 1)
    rates = sales_boards.conversions(counts)
    assert (rates["qualified"], rates["proposal"], rates["overall"]) == (
        "0.5000",
        "1.0000",
        "0.3333",
    )
    assert board["by_owner"]["u2"]["opportunities"] == 1


def test_a_redelivered_or_replayed_history_gives_the_same_rows() -> None:
    history = pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1"))
    once = rows_of(history)
    twice = Folded(deal_rows.MODEL).fold([*history, history[0], *history]).documents
    assert once == twice
    assert metadata(history[0][1], "opp_1", 1).sequence == 1
