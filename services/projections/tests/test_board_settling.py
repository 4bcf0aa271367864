"""Boards refreshed once per batch of row changes: folds mark the boards they touch pending,
a settle refreshes each marked board once, a read settles what it reads first, a consumer's
batch writes one mark per read model, and a rebuild summarises many boards from one scan of
the rows (``BoardSpec.selected_in`` agreeing with the boards' ``select``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from customer_events import at_times, opened, pipeline, reopened, won
from hypothesis import given, settings
from opentelemetry.sdk.trace import TracerProvider
from projection_folding import Folded
from test_kpi_boards import histories as customer_and_order_histories
from test_loyalty_boards import histories as member_histories
from test_service_boards import histories as ticket_histories

from crm_contracts import pipeline as p
from crm_projections.application import analytics, boards
from crm_projections.application.boards import BoardSpec, RowsProjector
from crm_projections.domain import customer_rows, member_rows, order_rows, ticket_rows
from crm_projections.domain.streams import Document, ReadModel
from crm_runtime.embedded_query import matches
from crm_runtime.leases import Lease
from crm_runtime.testing import loop_turns

NOV = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
DEC = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


@pytest.fixture
def deals(memory_client: Any, tracer_provider: TracerProvider) -> RowsProjector:
    return analytics.deals_projector(
        memory_client["crm_projections"], tracer_provider.get_tracer("t")
    )


async def fold(projector: RowsProjector, records: Iterable[Any]) -> None:
    for metadata, event in records:
        await projector.apply(metadata, event)


def won_deal(opp: str, amount: str = "10.00", *, at: datetime = NOV, owner: str = "u1") -> Any:
    return at_times(
        pipeline(
            opp, opened(opp, "cus_1", owner_id=owner), won(opp, "cus_1", amount, owner_id=owner)
        ),
        at,
        at,
    )


async def marks(memory_client: Any) -> list[Document]:
    return [m async for m in memory_client["crm_projections"]["deal_rows_boards_pending"].find({})]


async def stored(memory_client: Any, board_id: str) -> Document | None:
    found: Document | None = await memory_client["crm_projections"]["boards"].find_one(
        {"_id": board_id}
    )
    return found


async def test_a_settle_lets_other_tasks_run_between_two_boards(
    deals: RowsProjector, memory_client: Any
) -> None:
    """Summaries are CPU work: a settle round gives the loop back between two boards, so a
    consumer sharing the process is not held up until the last board is written."""
    for n in range(3):
        await fold(deals, won_deal(f"opp_{n}"))
    async with loop_turns() as turns:
        refreshed = await deals.refresh_pending()
        during = turns()
    assert refreshed == 6
    assert during >= refreshed - 1


async def test_a_fold_marks_its_boards_and_a_settle_refreshes_each_once(
    deals: RowsProjector, memory_client: Any
) -> None:
    for n in range(3):
        await fold(deals, won_deal(f"opp_{n}"))
    assert await stored(memory_client, "sales:month:2026-11") is None  # not refreshed per fold
    assert len(await marks(memory_client)) == 6  # one per fold (opened, won) that touched one

    refreshed = await deals.refresh_pending()

    assert refreshed == 6  # sales and funnel of the week, month and quarter, once each
    assert await marks(memory_client) == []
    board = await stored(memory_client, "sales:month:2026-11")
    assert board is not None
    assert (board["revision"], board["all"]["deals"]) == (1, 3)


async def test_a_fold_marks_boards_only_when_a_field_they_read_changed(
    deals: RowsProjector, memory_client: Any
) -> None:
    """Only the bookkeeping changed, or None where the field was absent: nothing is marked.
    A field added, removed or given a new value: the boards are marked."""
    await fold(deals, won_deal("opp_1"))
    await deals.refresh_pending()
    row = await memory_client["crm_projections"]["deal_rows"].find_one({})
    unchanged = [
        {**row, "revision": row["revision"] + 1, "streams": {}, "last_event_id": "e"},
        {**row, "never_set": None},
    ]
    for after in unchanged:
        await deals.folded(row, after)
    assert await marks(memory_client) == []

    with_more = {**row, "note": "new"}
    changed = [
        (row, with_more),  # added
        (with_more, row),  # removed
        (row, {**row, "amount": "11.00"}),  # a new value
    ]
    for before, after in changed:
        await deals.folded(before, after)
    assert len(await marks(memory_client)) == len(changed)


async def test_a_read_is_never_older_than_the_rows(
    deals: RowsProjector, memory_client: Any
) -> None:
    await fold(deals, won_deal("opp_1"))
    await deals.refresh_pending()
    await fold(deals, won_deal("opp_2", "5.00"))

    board = await deals.board("sales", "month:2026-11")  # marked since the settle

    assert (board["all"]["deals"], board["all"]["revenue"]) == (2, {"EUR": "15.00"})
    assert len(await marks(memory_client)) == 2  # left for the settle, which refreshes again
    await deals.refresh_pending()
    assert (await deals.board("sales", "month:2026-11"))["all"]["deals"] == 2


async def test_a_fold_during_a_settle_leaves_its_own_mark(
    deals: RowsProjector, memory_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fold(deals, won_deal("opp_1"))
    serving = deals.at(0)  # the generation the folds and the settle work on
    replace_board = serving._replace_board
    late = won_deal("opp_2", "5.00")

    async def folding_meanwhile(*board: Any) -> bool:
        written = await replace_board(*board)
        if late:  # a consumer folds while the settle works through the marks it read
            await fold(deals, [late.pop(0), late.pop(0)])
        return written

    monkeypatch.setattr(serving, "_replace_board", folding_meanwhile)
    await deals.refresh_pending()
    monkeypatch.undo()

    assert len(await marks(memory_client)) == 2  # the late folds', not deleted by the settle
    await deals.refresh_pending()
    board = await stored(memory_client, "sales:month:2026-11")
    assert board is not None and board["all"]["deals"] == 2


async def test_a_settle_reads_each_row_once_and_loses_a_race_to_a_newer_refresh(
    deals: RowsProjector, memory_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The six boards of a settle come from one read of the rows; a board another refresh
    wrote after the settle read the boards' revisions is refreshed again, on its own."""
    await fold(deals, won_deal("opp_1"))
    serving = deals.at(0)
    rows = serving.documents
    reads: list[Any] = []
    find = rows.find

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args[0] if args else kwargs.get("filter"))
        return find(*args, **kwargs)

    monkeypatch.setattr(rows, "find", counted)
    replace_board = serving._replace_board
    raced: list[str] = []

    async def racing(board: Document | None, name: str, key: str, content: Document) -> bool:
        if not raced:  # another process refreshes this board after the settle read it
            raced.append(f"{name}:{key}")
            await fold(deals, won_deal("opp_2", "5.00"))
            await serving.refresh(name, key)
        return await replace_board(board, name, key, content)

    monkeypatch.setattr(serving, "_replace_board", racing)
    assert await deals.refresh_pending() == 6

    # the six boards' rows at once; the racer's refresh; the board that lost, on its own
    assert len(reads) == 3 and "$or" in reads[0]
    (lost,) = raced
    board = await stored(memory_client, lost)
    assert board is not None and board["revision"] == 2  # the racer's, then the settle's
    monkeypatch.undo()
    name, _, key = lost.partition(":")
    await serving.refresh(name, key)  # from the rows as they are: the same content
    again = await stored(memory_client, lost)
    assert again is not None
    assert {**again, "revision": 2} == board
    await deals.refresh_pending()
    assert (await deals.board("sales", "month:2026-11"))["all"]["deals"] == 2


async def test_replays_and_redeliveries_do_not_count_twice(
    deals: RowsProjector, memory_client: Any
) -> None:
    history = won_deal("opp_1", "120.00")
    await fold(deals, history)
    await deals.refresh_pending()
    await fold(deals, history)  # the whole stream replayed
    await fold(deals, history[-1:])  # and its last event once more
    assert len(await marks(memory_client)) == 3  # a redelivery marks every board of its row

    await deals.refresh_pending()

    board = await deals.board("sales", "month:2026-11")
    assert board["all"] == {"revenue": {"EUR": "120.00"}, "deals": 1, "average_cycle_days": "0.0"}


async def test_a_row_moving_between_periods_and_owners_leaves_one_board_for_the_other(
    deals: RowsProjector,
) -> None:
    await fold(deals, won_deal("opp_1", "100.00", owner="u1"))
    await deals.refresh_pending()
    again = at_times(
        pipeline(
            "opp_1",
            reopened("opp_1", p.Outcome.WON),
            won("opp_1", "cus_1", "80.00", owner_id="u2", team="south"),
            first=3,
        ),
        DEC,
        DEC,
    )
    await fold(deals, again)
    await deals.refresh_pending()

    november = await deals.board("sales", "month:2026-11")
    december = await deals.board("sales", "month:2026-12")
    assert (november["all"]["deals"], november["reps"]) == (0, [])
    assert december["all"]["revenue"] == {"EUR": "80.00"}
    assert [(r["owner_id"], r["team"], r["deals"]) for r in december["reps"]] == [
        ("u2", "south", 1)
    ]
    funnel = await deals.board("funnel", "month:2026-11")  # entered in November: stays there
    assert funnel["by_owner"] == {"u2": funnel["all"]}


async def test_a_batch_of_folds_writes_one_mark_per_read_model(
    deals: RowsProjector, memory_client: Any
) -> None:
    deals.hold_marks()
    for n in range(4):
        await fold(deals, won_deal(f"opp_{n}"))
    assert await marks(memory_client) == []  # held until the batch is acknowledged

    await deals.write_marks()

    (mark,) = await marks(memory_client)
    assert "sales:month:2026-11" in mark["boards"] and "funnel:week:2026-W46" in mark["boards"]
    assert (await deals.board("sales", "month:2026-11"))["all"]["deals"] == 4
    await fold(deals, won_deal("opp_9"))  # no longer held: a mark per fold
    assert len(await marks(memory_client)) == 3


async def test_a_rebuild_summarising_from_one_scan_writes_the_boards_the_live_path_does(
    deals: RowsProjector, memory_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    histories = [
        won_deal("opp_1", "100.00", owner="u1"),
        won_deal("opp_2", "30.00", at=DEC, owner="u2"),
        at_times(pipeline("opp_3", opened("opp_3", "cus_2", owner_id="u1")), DEC),
    ]
    for history in histories:
        await fold(deals, history)
    await deals.refresh_pending()
    live = {b["_id"]: b async for b in memory_client["crm_projections"]["boards"].find({})}
    await memory_client["crm_projections"]["boards"].delete_many({})
    await memory_client["crm_projections"]["deal_rows"].delete_many({})

    monkeypatch.setattr(boards, "BULK_SUMMARY", 0)  # every phase summarises from one scan
    await deals.begin_rebuild()
    for history in histories:
        await fold(deals, history)
    await deals.end_rebuild()

    rebuilt = {b["_id"]: b async for b in memory_client["crm_projections"]["boards"].find({})}
    assert rebuilt == live
    assert await marks(memory_client) == []


# --- selected_in: what a scan of the rows puts in each board is what its select picks ------


def assert_selected_in_agrees(specs: Sequence[BoardSpec], rows: Iterable[Document]) -> None:
    rows = list(rows)
    for spec in specs:
        keys = {key for row in rows for key in spec.keys(row)}
        keys |= {key for row in rows for key in row.get("periods", [])}
        keys |= {"week:2030-W01", "month:2030-01", "quarter:2030-Q1", "month:2000-01"}
        for row in rows:
            assert spec.selected_in(row, keys) == {
                key for key in keys if matches(row, spec.select(key))
            }, (spec.name, row["_id"])


def assert_summarised_agrees(specs: Sequence[BoardSpec], rows: Iterable[Document]) -> None:
    """What a scan gives each key of a board kind (``summaries``: key by key, or all at once
    with ``summarise_many``) is its summary over the rows its ``select`` picks."""
    rows = list(rows)
    for spec in specs:
        keys = {key for row in rows for key in spec.keys(row)}
        keys |= {key for row in rows for key in row.get("periods", [])}
        keys |= {"week:2030-W01", "month:2030-01", "quarter:2030-Q1", "month:2000-01"}
        assert dict(spec.summaries(keys, rows)) == {
            key: spec.summarise(key, [row for row in rows if matches(row, spec.select(key))])
            for key in keys
        }, spec.name


def folded_rows(model: ReadModel, streams: dict[str, list[Any]]) -> list[Document]:
    rows = Folded(model)
    for records in streams.values():
        rows.fold(records)
    return list(rows.documents.values())


@settings(max_examples=40, deadline=None)
@given(streams=member_histories())
def test_a_scan_puts_members_in_the_boards_their_select_picks(
    streams: dict[str, list[Any]],
) -> None:
    specs = (analytics.POINTS, analytics.STORE_RANKING)
    rows = folded_rows(member_rows.MODEL, streams)
    assert_selected_in_agrees(specs, rows)
    assert_summarised_agrees(specs, rows)


@settings(max_examples=40, deadline=None)
@given(streams=ticket_histories())
def test_a_scan_puts_tickets_in_the_boards_their_select_picks(
    streams: dict[str, list[Any]],
) -> None:
    specs = (analytics.AGENTS, analytics.SERVICE, analytics.SURVEYS)
    rows = folded_rows(ticket_rows.MODEL, streams)
    assert_selected_in_agrees(specs, rows)
    assert_summarised_agrees(specs, rows)


@settings(max_examples=40, deadline=None)
@given(streams=customer_and_order_histories())
def test_a_scan_puts_customers_and_orders_in_the_kpi_boards_their_select_picks(
    streams: dict[str, list[Any]],
) -> None:
    assert_selected_in_agrees((analytics.KPI_CUSTOMERS,), folded_rows(customer_rows.MODEL, streams))
    assert_selected_in_agrees((analytics.KPI_ORDERS,), folded_rows(order_rows.MODEL, streams))


async def test_of_two_replicas_only_the_lease_holder_settles_and_the_other_takes_over(
    memory_client: Any, tracer_provider: TracerProvider
) -> None:
    """Every replica of the consumer group runs the settle loop; the marks are shared, so
    one settler at a time does (its lease), and another one once it lapses."""
    database = memory_client["crm_projections"]
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    replicas = {
        name: analytics.deals_projector(database, tracer_provider.get_tracer(name))
        for name in ("a", "b")
    }
    settled: list[str] = []
    for name, replica in replicas.items():
        refresh = replica.refresh_pending

        async def counted(*, limit: int = 0, _name: str = name, _refresh: Any = refresh) -> int:
            settled.append(_name)
            return int(await _refresh(limit=limit))

        replica.refresh_pending = counted  # type: ignore[method-assign]

    def lease(owner: str) -> Lease:
        return Lease(
            database, "projections-settle", owner, ttl=timedelta(seconds=10), clock=lambda: clock[0]
        )

    async def run(*names: str) -> None:
        stop = asyncio.Event()
        loops = [
            asyncio.create_task(
                boards.keep_settled([replicas[n]], stop, every=0.01, lease=lease(n))
            )
            for n in names
        ]
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*loops)

    await fold(replicas["a"], won_deal("opp_1"))
    await run("a", "b")
    assert settled and set(settled) == {"a"}, settled  # a took the lease first
    assert (await stored(memory_client, "sales:month:2026-11"))["all"]["deals"] == 1

    settled.clear()
    await fold(replicas["b"], won_deal("opp_2"))
    await run("b")  # a is gone, but its lease has not lapsed yet: the marks wait
    assert settled == []
    clock[0] += timedelta(seconds=11)
    await run("b")
    assert set(settled) == {"b"}, settled
    assert (await stored(memory_client, "sales:month:2026-11"))["all"]["deals"] == 2
