"""Rows and their boards in the store: every fold refreshes the boards of the row before and
after it (unless it changed no field the board reads), a redelivery refreshes again, a
rebuild writes its rows in batches and refreshes once at the end, and racing refreshes never
leave a board older than its rows."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from customer_events import opened, pipeline, reopened, won
from opentelemetry.sdk.trace import TracerProvider

from crm_contracts import pipeline as p
from crm_projections.application import projector
from crm_projections.application.boards import BoardSpec, RowsProjector
from crm_projections.domain import deal_rows, sales_boards

SALES = BoardSpec(
    "sales",
    sales_boards.sales_keys,
    sales_boards.sales_select,
    sales_boards.sales_summary,
    indexes=((("status", 1), ("won_month", 1)),),
)
MONTH = "month:2026-11"


@pytest.fixture
def deals(memory_client: Any, tracer_provider: TracerProvider) -> RowsProjector:
    return RowsProjector(
        deal_rows.MODEL,
        memory_client["crm_projections"],
        tracer_provider.get_tracer("test"),
        collection="deal_rows",
        boards=[SALES],
    )


async def fold(projector: RowsProjector, records: list[Any]) -> None:
    for metadata, event in records:
        await projector.apply(metadata, event)


async def test_a_won_deal_lands_on_its_board_and_leaves_it_when_reopened(
    deals: RowsProjector,
) -> None:
    history = pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1", "120.00"))
    await fold(deals, history)
    board = await deals.board("sales", MONTH)
    assert board["all"] == {"revenue": {"EUR": "120.00"}, "deals": 1, "average_cycle_days": "0.0"}

    await fold(deals, pipeline("opp_1", reopened("opp_1", p.Outcome.WON), first=3))
    assert (await deals.board("sales", MONTH))["all"]["deals"] == 0


async def test_a_board_nobody_counted_in_answers_empty(deals: RowsProjector) -> None:
    board = await deals.board("sales", "month:1999-01")
    assert board == sales_boards.sales_summary("month:1999-01", [])


async def test_a_redelivery_refreshes_a_board_a_crash_left_behind(
    deals: RowsProjector, memory_client: Any
) -> None:
    history = pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1", "120.00"))
    await fold(deals, history)
    boards = memory_client["crm_projections"]["boards"]
    await boards.delete_many({})  # as if the process died between the row and the board

    await fold(deals, history[-1:])  # the broker delivers the last event again

    assert (await deals.board("sales", MONTH))["all"]["deals"] == 1


async def test_a_rebuild_defers_refreshes_to_the_end(
    deals: RowsProjector, memory_client: Any
) -> None:
    boards = memory_client["crm_projections"]["boards"]
    await deals.begin_rebuild()
    await fold(deals, pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1")))
    assert await boards.count_documents({}) == 0
    await deals.end_rebuild()
    assert (await deals.board("sales", MONTH))["all"]["deals"] == 1


async def test_racing_refreshes_leave_the_board_as_its_rows_say(deals: RowsProjector) -> None:
    histories = [
        pipeline(f"opp_{i}", opened(f"opp_{i}", "cus_1"), won(f"opp_{i}", "cus_1", "10.00"))
        for i in range(6)
    ]
    await asyncio.gather(*(fold(deals, history) for history in histories))
    await asyncio.gather(*(deals.refresh("sales", MONTH) for _ in range(4)))
    board = await deals.board("sales", MONTH)
    assert board["all"]["deals"] == 6
    assert board["all"]["revenue"] == {"EUR": "60.00"}


async def test_dropping_the_rows_drops_their_boards(
    deals: RowsProjector, memory_client: Any
) -> None:
    await fold(deals, pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1")))
    await deals.drop()
    assert await memory_client["crm_projections"]["boards"].count_documents({}) == 0


class _Everything(frozenset[str]):
    """Every field name: a board that reads none of the row's fields."""

    def __contains__(self, name: object) -> bool:
        return True


async def test_a_fold_changing_no_field_a_board_reads_skips_it_but_a_redelivery_refreshes(
    memory_client: Any, tracer_provider: TracerProvider
) -> None:
    blind = RowsProjector(
        deal_rows.MODEL,
        memory_client["crm_projections"],
        tracer_provider.get_tracer("test"),
        collection="deal_rows",
        boards=[dataclasses.replace(SALES, ignores=_Everything())],
    )
    boards = memory_client["crm_projections"]["boards"]
    history = pipeline("opp_1", opened("opp_1", "cus_1"), won("opp_1", "cus_1", "120.00"))
    await fold(blind, history)
    assert await boards.find_one({"_id": f"sales:{MONTH}"}) is None  # the win was skipped

    await fold(blind, history[-1:])  # a redelivery refreshes whatever it changed
    assert (await blind.board("sales", MONTH))["all"]["deals"] == 1
    assert await boards.find_one({"_id": f"sales:{MONTH}"}) is not None


async def test_a_rebuild_writes_its_buffered_rows_when_the_buffer_fills_and_at_the_end(
    deals: RowsProjector, memory_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projector, "BUFFERED", 2)
    rows = memory_client["crm_projections"]["deal_rows"]
    await deals.begin_rebuild()
    for n in range(5):
        opp = f"opp_{n}"
        await fold(deals, pipeline(opp, opened(opp, "cus_1"), won(opp, "cus_1", "10.00")))
    assert await rows.count_documents({}) > 0  # flushed when full...
    assert await rows.count_documents({"status": "won"}) < 5  # ...the latest folds in memory
    await deals.end_rebuild()
    assert await rows.count_documents({"status": "won"}) == 5
    board = await deals.board("sales", MONTH)
    assert (board["all"]["deals"], board["all"]["revenue"]) == (5, {"EUR": "50.00"})


async def test_a_rebuild_phase_defers_every_key_a_row_left_once_per_state(
    memory_client: Any, tracer_provider: TracerProvider
) -> None:
    """A deferred phase counts the keys of each state of a row once: as the state a fold
    made, not again as the next fold's ``before``. A state an earlier phase made is counted
    again (its keys were summarised then; leaving one changes that board now)."""
    asked: list[str] = []

    def keys(row: dict[str, Any]) -> set[str]:
        asked.append(row["period"])
        return {row["period"]}

    spec = BoardSpec(
        name="by_period",
        keys=keys,
        select=lambda key: {"period": key},
        summarise=lambda key, rows: {"rows": len(rows)},
    )
    rows = RowsProjector(
        deal_rows.MODEL,
        memory_client["crm_projections"],
        tracer_provider.get_tracer("test"),
        collection="things",
        boards=[spec],
    ).at(1)
    state = [{"_id": "r1", "period": period, "revision": n} for n, period in enumerate("ABCD")]

    await rows.begin_rebuild()
    await rows.folded(None, state[0])
    await rows.folded(state[0], state[1])
    await rows.folded(state[1], state[2])
    assert rows._deferred == {("by_period", "A"), ("by_period", "B"), ("by_period", "C")}
    assert asked == ["A", "B", "C"]
    await rows.begin_rebuild()  # the catch-up: C was folded in the history phase
    await rows.folded(state[2], state[3])
    assert rows._deferred == {("by_period", "C"), ("by_period", "D")}
    await rows.folded(state[3], state[3])  # a redelivery marks its keys again
    assert rows._deferred == {("by_period", "C"), ("by_period", "D")}
    assert asked == ["A", "B", "C", "C", "D", "D"]


@pytest.mark.parametrize("buffered", [100, 2])
async def test_a_rebuild_summarises_from_the_rows_it_holds_or_else_reads_them(
    buffered: int,
    deals: RowsProjector,
    memory_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A phase whose buffer holds every row (the collection began empty, nothing was
    forgotten) summarises its boards from them; one whose buffer filled and forgot rows
    reads them from the collection. The boards are the same."""
    from crm_projections.application import boards
    from crm_runtime.embedded_store import EmbeddedCollection

    monkeypatch.setattr(boards, "BULK_SUMMARY", 0)  # every phase summarises from one scan
    monkeypatch.setattr(projector, "BUFFERED", buffered)
    scans: list[str] = []
    find = EmbeddedCollection.find

    def counted(self: EmbeddedCollection, query: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not query and self.name == "deal_rows":
            scans.append(self.name)
        return find(self, query, *args, **kwargs)

    monkeypatch.setattr(EmbeddedCollection, "find", counted)
    await deals.begin_rebuild()
    for n in range(5):
        opp = f"opp_{n}"
        await fold(deals, pipeline(opp, opened(opp, "cus_1"), won(opp, "cus_1", "10.00")))
    await fold(deals, pipeline("opp_0", reopened("opp_0", p.Outcome.WON), first=3))
    await deals.end_rebuild()

    assert scans == ([] if buffered == 100 else ["deal_rows"])
    board = await deals.board("sales", MONTH)
    assert (board["all"]["deals"], board["all"]["revenue"]) == (4, {"EUR": "40.00"})
