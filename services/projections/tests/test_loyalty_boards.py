"""The loyalty boards: given member streams, the points board (points earned in a period, the
points leaders) and the stores board (members, new members and repeat purchasers at a period's
end, the store ranking); and, for random histories delivered at least once, boards kept after
every event that equal a plain count over the events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from customer_events import numbered
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from projection_folding import Record
from rows_and_boards import FoldedBoards, at_least_once, in_time_order
from ticket_events import (
    bonus_on,
    earned_on,
    enrolled,
    home_store_changed,
    member_stream,
    redeemed_on,
    reversed_on,
    store_opened,
)

from crm_contracts import DomainEvent
from crm_contracts import loyalty as lo
from crm_projections.application.boards import BoardSpec, RowsProjector
from crm_projections.domain import loyalty_boards as lb
from crm_projections.domain import member_rows
from crm_projections.domain.streams import Document

POINTS = BoardSpec("points", lb.points_keys, lb.points_select, lb.points_summary, lb.POINTS_INDEXES)
STORES = BoardSpec("stores", lb.stores_keys, lb.stores_select, lb.stores_summary, lb.STORES_INDEXES)
SPECS = (POINTS, STORES)
OCT = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # Monday of week 41
NOV = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday of week 45
DEC = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday of week 50


def boards_of(*streams: list[Record]) -> FoldedBoards:
    folded = FoldedBoards(member_rows.MODEL, SPECS)
    for records in streams:
        folded.fold(records)
    return folded


def member(
    customer_id: str,
    store: str,
    joined: datetime,
    *orders: datetime,
    points: int = 10,
) -> list[Record]:
    """A member enrolled at ``store`` who paid one order at each of ``orders``."""
    events: list[DomainEvent] = [enrolled(customer_id, store, at=joined)]
    for number, at in enumerate(orders, start=1):
        events.append(
            earned_on(
                customer_id, f"{customer_id}-{number}", points, points * number, at, orders=number
            )
        )
    return member_stream(customer_id, *events)


def stores(board: Document) -> dict[Any, tuple[int, int, int]]:
    return {
        e["store_id"]: (e["members"], e["new_members"], e["repeat_purchasers"])
        for e in board["stores"]
    }


# --- given / when / then ---------------------------------------------------------------------


def test_the_points_board_lists_who_earned_in_the_period_and_how_much() -> None:
    folded = boards_of(
        member_stream(
            "cus_1",
            enrolled("cus_1", "sto_a", at=OCT),
            earned_on("cus_1", "p1", 120, 120, NOV, store="sto_a"),
            bonus_on("cus_1", 30, 150, NOV + timedelta(days=1), store="sto_a"),
            earned_on("cus_1", "p2", 50, 200, DEC, store="sto_a"),
        ),
        member_stream(
            "cus_2",
            enrolled("cus_2", "sto_b", at=OCT),
            earned_on("cus_2", "p3", 0, 0, NOV, store="sto_b"),  # too small: earned none
        ),
    )
    november = folded.boards[("points", "month:2026-11")]
    assert november == {
        "members": [{"customer_id": "cus_1", "home_store_id": "sto_a", "points": 150}],
        "all": {"members": 1, "points": 150},
    }
    assert folded.boards[("points", "quarter:2026-Q4")]["all"] == {"members": 1, "points": 200}
    assert ("points", "month:2026-10") not in folded.boards
    assert lb.points_summary("month:2026-10", []) == {
        "members": [],
        "all": {"members": 0, "points": 0},
    }


def test_points_leaders_rank_by_points_earned_ties_by_customer_and_say_what_changed() -> None:
    folded = boards_of(
        *(
            member_stream(
                cid,
                enrolled(cid, at=OCT),
                earned_on(cid, f"{cid}-n", nov, nov, NOV),
                earned_on(cid, f"{cid}-d", dec, nov + dec, DEC),
            )
            for cid, nov, dec in (("cus_1", 50, 80), ("cus_2", 90, 80), ("cus_3", 50, 10))
        )
    )
    november = folded.boards[("points", "month:2026-11")]
    december = folded.boards[("points", "month:2026-12")]

    leaders = lb.points_leaders(december, november)
    assert [(e["customer_id"], e["rank"], e["value"]) for e in leaders] == [
        ("cus_1", 1, 80),  # a tie with cus_2: the smaller id first
        ("cus_2", 2, 80),
        ("cus_3", 3, 10),
    ]
    assert [(e["previous_rank"], e["rank_change"], e["value_change"]) for e in leaders] == [
        (2, 1, 30),
        (1, -1, -10),
        (3, 0, -40),
    ]
    assert [e["customer_id"] for e in lb.points_leaders(november, {}, limit=1)] == ["cus_2"]


def test_the_stores_board_counts_members_new_members_and_repeat_purchasers_at_the_end() -> None:
    folded = boards_of(
        member("cus_1", "sto_a", OCT, OCT + timedelta(days=1), NOV),  # repeat in November
        member("cus_2", "sto_a", NOV, NOV + timedelta(days=2), NOV + timedelta(days=3)),
        member("cus_3", "sto_b", NOV + timedelta(days=5)),
        member("cus_4", "sto_b", DEC, DEC + timedelta(days=1), DEC + timedelta(days=2)),
    )
    assert stores(folded.boards[("stores", "month:2026-10")]) == {"sto_a": (1, 1, 0)}
    november = folded.boards[("stores", "month:2026-11")]
    assert stores(november) == {"sto_a": (2, 1, 2), "sto_b": (1, 1, 0)}
    assert november["all"] == {"members": 3, "new_members": 2, "repeat_purchasers": 2}
    assert stores(folded.boards[("stores", "month:2026-12")]) == {
        "sto_a": (2, 0, 2),
        "sto_b": (2, 1, 1),
    }
    assert stores(folded.boards[("stores", "quarter:2026-Q4")]) == {
        "sto_a": (2, 2, 2),
        "sto_b": (2, 2, 1),
    }
    assert stores(folded.boards[("stores", "week:2026-W45")]) == {
        "sto_a": (2, 1, 2),
        "sto_b": (1, 1, 0),
    }
    assert lb.repeat_purchase_rate(november["stores"][0]) == lb.repeat_purchase_rate(
        {"members": 1, "repeat_purchasers": 1}
    )
    assert str(lb.repeat_purchase_rate(november["all"])) == "0.6667"
    assert lb.repeat_purchase_rate({"members": 0, "repeat_purchasers": 0}) is None


def test_a_member_counts_where_it_belonged_at_the_end_and_a_move_leaves_past_periods() -> None:
    moved_at = NOV + timedelta(days=10)
    folded = boards_of(member("cus_1", "sto_a", OCT, OCT + timedelta(days=1), OCT + timedelta(2)))
    october = dict(folded.boards[("stores", "month:2026-10")])

    folded.fold(
        member_stream("cus_1", home_store_changed("cus_1", "sto_b", "sto_a", moved_at), first=4)
    )

    assert folded.boards[("stores", "month:2026-10")] == october
    assert stores(folded.boards[("stores", "month:2026-11")]) == {"sto_b": (1, 0, 1)}
    assert stores(folded.boards[("stores", "week:2026-W46")]) == {"sto_b": (1, 0, 1)}
    assert stores(folded.summary("stores", "week:2026-W45")) == {"sto_a": (1, 0, 1)}
    row = folded.rows.documents["cus_1"]
    assert lb.stores_keys(row) == {
        "week:2026-W41",
        "month:2026-10",
        "quarter:2026-Q4",
        "week:2026-W46",
        "month:2026-11",
    }


def test_a_period_nothing_happened_in_carries_the_counts_forward_with_no_new_members() -> None:
    folded = boards_of(
        member("cus_1", "sto_a", OCT, OCT + timedelta(days=1), OCT + timedelta(days=2)),
        member("cus_2", "sto_b", OCT + timedelta(days=3)),
    )
    october = folded.boards[("stores", "month:2026-10")]
    assert ("stores", "month:2026-11") not in folded.boards  # no member changed in November
    assert lb.carried_forward(october) == folded.summary("stores", "month:2026-11")
    assert lb.carried_forward({}) == lb.stores_summary("month:2026-11", [])


def test_the_store_ranking_by_repeat_rate_or_new_members_ties_by_store() -> None:
    folded = boards_of(
        member("cus_1", "sto_c", OCT, OCT, OCT + timedelta(days=1)),
        member("cus_2", "sto_c", NOV),
        member("cus_3", "sto_a", NOV, NOV, NOV + timedelta(days=1)),
        member("cus_4", "sto_a", NOV),
        member("cus_5", "sto_b", NOV),
    )
    october = folded.boards[("stores", "month:2026-10")]
    november = folded.boards[("stores", "month:2026-11")]

    by_rate = lb.store_ranking(november, october)
    assert [(e["store_id"], e["rank"], e["value"]) for e in by_rate] == [
        ("sto_a", 1, "0.5000"),  # a tie with sto_c: the smaller id first
        ("sto_c", 2, "0.5000"),
        ("sto_b", 3, "0.0000"),
    ]
    assert [(e["previous_rank"], e["previous_value"]) for e in by_rate] == [
        (None, None),
        (1, "1.0000"),
        (None, None),
    ]
    assert by_rate[1]["value_change"] == "-0.5000"
    assert by_rate[1]["repeat_purchase_rate"] == "0.5000"

    by_new = lb.store_ranking(november, october, by="new_members", limit=2)
    assert [(e["store_id"], e["value"]) for e in by_new] == [("sto_a", 2), ("sto_b", 1)]


def test_the_selects_find_the_rows_of_their_key_through_indexed_fields() -> None:
    folded = boards_of(member("cus_1", "sto_a", OCT, NOV), member("cus_2", "sto_a", DEC, DEC))
    assert lb.stores_select("month:2026-11") == {
        "enrolled_at": {"$lt": datetime(2026, 12, 1, tzinfo=UTC)}
    }
    assert [r["customer_id"] for r in folded.selected("stores", "quarter:2026-Q4")] == [
        "cus_1",
        "cus_2",
    ]
    assert [r["customer_id"] for r in folded.selected("stores", "week:2026-W49")] == ["cus_1"]
    assert [r["customer_id"] for r in folded.selected("points", "month:2026-11")] == ["cus_1"]
    for spec in SPECS:
        indexed = {field for index in spec.indexes for field, _ in index}
        assert set(spec.select("month:2026-11")) <= indexed


async def test_the_boards_through_the_store_say_what_the_rows_say(
    memory_client: Any, tracer_provider: TracerProvider
) -> None:
    projector = RowsProjector(
        member_rows.MODEL,
        memory_client["crm_projections"],
        tracer_provider.get_tracer("test"),
        collection="member_rows",
        boards=SPECS,
    )
    await projector.create_indexes()
    history = [
        *member("cus_1", "sto_a", OCT, OCT + timedelta(days=1), NOV),
        *member("cus_2", "sto_b", NOV, DEC),
        *member_stream("cus_1", home_store_changed("cus_1", "sto_b", "sto_a", DEC), first=4),
    ]
    for metadata, event in history:
        await projector.apply(metadata, event)
    folded = boards_of(history)
    for name, key in folded.boards:
        assert await projector.board(name, key) == folded.boards[(name, key)], (name, key)
    assert stores(await projector.board("stores", "month:2026-12")) == {"sto_b": (2, 0, 1)}


# --- property: boards kept after every event equal a plain count over the events -----------

START = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
STORE_IDS = ["sto_a", "sto_b", "sto_c"]
STEPS = ["earn", "earn", "bonus", "move", "redeem", "reverse", "coupon"]


@st.composite
def member_history(draw: st.DrawFn, customer_id: str) -> list[DomainEvent]:
    at = START + timedelta(hours=draw(st.integers(0, 24 * 100)))
    store = draw(st.sampled_from(STORE_IDS))
    events: list[DomainEvent] = [enrolled(customer_id, store, at=at)]
    balance = orders = 0
    for number in range(draw(st.integers(0, 9))):
        at += timedelta(hours=draw(st.integers(1, 24 * 25)))
        step = draw(st.sampled_from(STEPS))
        if step == "earn":
            orders += 1 if orders == 0 else draw(st.integers(0, 1))
            points = draw(st.integers(0, 200))
            balance += points
            events.append(
                earned_on(
                    customer_id, f"p{number}", points, balance, at, orders=orders, store=store
                )
            )
        elif step == "bonus":
            points = draw(st.integers(1, 50))
            balance += points
            events.append(
                bonus_on(customer_id, points, balance, at, reference=f"r{number}", store=store)
            )
        elif step == "move":
            new = draw(st.sampled_from([s for s in STORE_IDS if s != store]))
            events.append(home_store_changed(customer_id, new, store, at))
            store = new
        elif step in ("redeem", "reverse") and balance > 0:
            points = draw(st.integers(1, balance))
            balance -= points
            build = redeemed_on if step == "redeem" else reversed_on
            events.append(build(customer_id, f"x{number}", points, balance, at, store=store))
        elif step == "coupon":
            events.append(
                lo.CouponRedeemed(
                    customer_id=customer_id,
                    home_store_id=store,
                    coupon_id=f"cpn_{number}",
                    redeemed_at=at,
                )
            )
    return events


@st.composite
def histories(draw: st.DrawFn) -> dict[str, list[Record]]:
    streams: dict[str, list[Record]] = {}
    for number in range(draw(st.integers(1, 6))):
        customer_id = f"cus_{number}"
        records = member_stream(customer_id, *draw(member_history(customer_id)))
        streams[customer_id] = records
    for store_id in draw(st.sets(st.sampled_from(STORE_IDS), max_size=2)):
        streams[store_id] = numbered(store_id, store_opened(store_id, START), source=lo.SOURCE)
    return streams


def moment(event: DomainEvent) -> datetime:
    """When an event happened, by the contract's own time field."""
    for name in (
        "enrolled_at",
        "changed_at",
        "earned_at",
        "awarded_at",
        "redeemed_at",
        "reversed_at",
        "opened_at",
    ):
        if hasattr(event, name):
            at: datetime = getattr(event, name)
            return at
    raise AssertionError(f"no time in {event!r}")


def calendar_keys(at: datetime) -> list[str]:
    year, week, _ = at.isocalendar()
    return [
        f"week:{year}-W{week:02d}",
        f"month:{at.year}-{at.month:02d}",
        f"quarter:{at.year}-Q{(at.month + 2) // 3}",
    ]


def key_bounds(key: str) -> tuple[datetime, datetime]:
    """[start, end) of a board key, from the calendar."""
    granularity, _, period = key.partition(":")
    year = int(period[:4])
    if granularity == "week":
        first = date.fromisocalendar(year, int(period[6:]), 1)
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return start, start + timedelta(weeks=1)
    month = int(period[5:]) if granularity == "month" else 3 * int(period[6:]) - 2
    months = 1 if granularity == "month" else 3
    start = datetime(year, month, 1, tzinfo=UTC)
    following = month - 1 + months
    return start, datetime(year + following // 12, following % 12 + 1, 1, tzinfo=UTC)


def all_keys(first: datetime, last: datetime) -> list[str]:
    """Every week, month and quarter from ``first`` to ``last``, in order."""
    keys: list[str] = []
    day = first
    while day <= last + timedelta(days=1):
        keys += [key for key in calendar_keys(day) if key not in keys]
        day += timedelta(days=1)
    return keys


def member_events(streams: dict[str, list[Record]]) -> dict[str, list[DomainEvent]]:
    return {
        key: [event for _, event in records]
        for key, records in streams.items()
        if isinstance(records[0][1], lo.MemberEnrolled)
    }


def plain_points(members: dict[str, list[DomainEvent]]) -> dict[str, dict[str, Any]]:
    """Per key: customer -> (points earned in the period, its home store now)."""
    points: dict[str, dict[str, Any]] = defaultdict(dict)
    for customer_id, events in members.items():
        home = getattr(events[-1], "home_store_id")  # noqa: B009 - every member event has one
        for event in events:
            if isinstance(event, lo.PointsEarned | lo.BonusAwarded) and event.points:
                for key in calendar_keys(moment(event)):
                    earned, _ = points[key].get(customer_id, (0, home))
                    points[key][customer_id] = (earned + event.points, home)
    return points


def plain_stores(members: dict[str, list[DomainEvent]], key: str) -> dict[str, Any]:
    """Per store at the end of the key's period: members, new members, repeat purchasers."""
    start, end = key_bounds(key)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for events in members.values():
        joined = moment(events[0])
        if joined >= end:
            continue
        store = None
        for event in events:
            if isinstance(event, lo.MemberEnrolled | lo.HomeStoreChanged) and moment(event) < end:
                store = event.home_store_id
        repeat = any(
            isinstance(e, lo.PointsEarned) and e.order_count >= 2 and e.earned_at < end
            for e in events
        )
        for name in (store, "all"):
            assert name is not None
            counts[name][0] += 1
            counts[name][1] += start <= joined
            counts[name][2] += repeat
    return {name: tuple(c) for name, c in counts.items()}


def board_stores(board: Document) -> dict[str, Any]:
    shown = stores(board)
    if board["all"]["members"]:
        all_ = board["all"]
        shown["all"] = (all_["members"], all_["new_members"], all_["repeat_purchasers"])
    return shown


@settings(max_examples=60, deadline=None)
@given(streams=histories(), data=st.data())
def test_boards_kept_through_redeliveries_and_replays_equal_a_plain_count_of_the_events(
    streams: dict[str, list[Record]], data: st.DataObject
) -> None:
    members = member_events(streams)
    anyhow = at_least_once(data, streams)
    live = FoldedBoards(member_rows.MODEL, SPECS).fold(anyhow)
    rebuilt = FoldedBoards(member_rows.MODEL, SPECS, rebuilding=True).fold(anyhow).end_rebuild()
    timely = FoldedBoards(member_rows.MODEL, SPECS).fold(in_time_order(data, streams, moment))
    plain = boards_of(*reversed(streams.values()))

    for folded in (live, rebuilt, timely):
        assert folded.rows.documents == plain.rows.documents
    for customer_id, records in streams.items():
        if customer_id in members:
            row = plain.rows.documents[customer_id]
            assert row["streams"] == {f"loyalty:mbr_{customer_id}": len(records)}
            balances = [e.balance for e in members[customer_id] if hasattr(e, "balance")]
            assert row["balance"] == (balances[-1] if balances else 0)
    assert set(plain.rows.documents) == set(members)

    # points boards are kept right by any delivery order; every board by a rebuild; stores
    # boards (counting every member enrolled before the period's end) by time-ordered delivery
    kept = [(live, "points"), (rebuilt, "points"), (rebuilt, "stores"), (timely, "stores")]
    for folded, name in kept:
        assert plain.keys(name) <= {key for board, key in folded.boards if board == name}
        for (board, key), content in folded.boards.items():
            if board == name:
                assert content == plain.summary(name, key), (name, key)

    # the boards say what a plain count of the events says
    points = plain_points(members)
    assert set(plain.keys("points")) == set(points)
    for key, board in plain.from_scratch("points").items():
        assert {
            m["customer_id"]: (m["points"], m["home_store_id"]) for m in board["members"]
        } == points[key], key
        assert board["all"]["points"] == sum(p for p, _ in points[key].values())

    joined = [moment(events[0]) for events in members.values()]
    latest = max(moment(e) for events in members.values() for e in events)
    keys = all_keys(min(joined) - timedelta(days=40), latest + timedelta(days=40))
    assert plain.keys("stores") <= set(keys)
    previous: dict[str, Document] = {}
    for key in keys:
        board = plain.summary("stores", key)
        assert board_stores(board) == plain_stores(members, key), key
        granularity = key.partition(":")[0]
        if key not in plain.keys("stores") and granularity in previous:
            assert board == lb.carried_forward(previous[granularity]), key
        previous[granularity] = board


@settings(max_examples=30, deadline=None)
@given(streams=histories())
def test_the_store_ranking_orders_every_store_by_its_measure_then_id(
    streams: dict[str, list[Record]],
) -> None:
    folded = boards_of(*streams.values())
    for key in folded.keys("stores"):
        board = folded.boards[("stores", key)]
        for measure in ("repeat_purchase_rate", "new_members"):
            ranking = lb.store_ranking(board, board, by=measure)  # type: ignore[arg-type]
            assert [e["rank"] for e in ranking] == list(range(1, len(board["stores"]) + 1))
            values = [lb.STORE_MEASURES[measure](e) for e in ranking]  # type: ignore[index]
            order = [(-(v or 0), e["store_id"]) for v, e in zip(values, ranking, strict=True)]
            assert order == sorted(order)
            assert all(e["rank_change"] == 0 for e in ranking)


_ENDS = sorted(
    {
        lb.bounds(key.partition(":")[2])[1]
        for day in range(-60, 60)
        for key in lb.stores_keys({"enrolled_at": OCT + timedelta(days=day)})
    }
)
_moments = st.integers(0, 200).map(
    lambda step: OCT - timedelta(days=60) + timedelta(hours=step * 13)
) | st.sampled_from(_ENDS)  # a move or an enrolment just at a period's end, too
_member_rows = st.lists(
    st.fixed_dictionaries(
        {
            "customer_id": st.uuids().map(str),
            "enrolled_at": st.none() | _moments,
            "home_store_id": st.none() | st.sampled_from(["sto_a", "sto_b"]),
            "home_stores": st.lists(
                st.fixed_dictionaries(
                    {"store_id": st.sampled_from(["sto_a", "sto_b", "sto_c"]), "since": _moments}
                ),
                max_size=4,
            ),
            "second_order_at": st.none() | _moments,
        }
    ),
    max_size=12,
)
_period_keys = st.sets(
    st.integers(0, 120)
    .map(lambda day: OCT - timedelta(days=40) + timedelta(days=day))
    .flatmap(lambda moment: st.sampled_from(sorted(lb.stores_keys({"enrolled_at": moment})))),
    max_size=10,
)


@given(_member_rows, _period_keys)
def test_the_stores_boards_of_many_periods_at_once_are_each_periods_own(
    rows: list[Document], keys: set[str]
) -> None:
    """A rebuild summarises every period's stores board from one pass over the members
    (``stores_summaries``): each is what ``stores_summary`` gives over the rows its
    ``select`` picks (members moving store before, between and after the periods' ends)."""
    together = lb.stores_summaries(keys, rows)
    one_by_one = {
        key: lb.stores_summary(key, [row for row in rows if lb.stores_selects(row, {key})])
        for key in keys
    }
    assert together == one_by_one
