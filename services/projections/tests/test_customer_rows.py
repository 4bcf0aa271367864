"""Customer rows: given a customer's contacts stream, when it folds, then the row keeps its
lifecycle over time, its purchases and its last interaction, and every contacts event of
the stream moves its position."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from customer_events import (
    at_times,
    changed,
    interaction,
    numbered,
    purchase_recorded,
    registered,
    stage_changed,
)
from hypothesis import given
from hypothesis import strategies as st
from projection_folding import Folded

from crm_contracts import contacts as c
from crm_projections.domain import customer_rows
from crm_projections.domain.streams import recounted

S = c.LifecycleStage
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def days(n: int) -> datetime:
    return T0 + timedelta(days=n)


def test_the_lifecycle_is_kept_with_the_moment_of_every_stage() -> None:
    # given a customer who buys twice, falls at risk, and churns
    stream = at_times(
        numbered(
            "cus_1",
            registered("cus_1"),
            changed("cus_1", name="Ada King"),
            purchase_recorded("cus_1", "ord_1", at=days(1)),
            stage_changed("cus_1", S.CUSTOMER, caused_by="order:ord_1"),
            purchase_recorded("cus_1", "ord_2", at=days(20)),
            stage_changed("cus_1", S.REPEAT_CUSTOMER, from_=S.CUSTOMER, caused_by="order:ord_2"),
            stage_changed("cus_1", S.AT_RISK, from_=S.REPEAT_CUSTOMER),
            stage_changed("cus_1", S.CHURNED, from_=S.AT_RISK),
        ),
        days(0),
        days(0),
        days(1),
        days(1),
        days(20),
        days(20),
        days(50),
        days(70),
    )
    # when it folds
    (row,) = Folded(customer_rows.MODEL).fold(stream).documents.values()
    # then every contacts event moved the position, the unused one included
    assert row["streams"] == {"contacts:cus_1": 8}
    assert row["registered_at"] == days(0)
    assert row["lifecycle_stage"] == "churned"
    assert (row["customer_at"], row["repeat_customer_at"], row["at_risk_at"]) == (
        days(1),
        days(20),
        days(50),
    )
    assert row["churned_at"] == days(70)
    assert (row["churned_week"], row["churned_month"], row["churned_quarter"]) == (
        "2026-W51",
        "2026-12",
        "2026-Q4",
    )
    assert (row["purchase_count"], row["first_purchase_at"], row["repeat_purchase_at"]) == (
        2,
        days(1),
        days(20),
    )
    # and it was active from its first purchase until it churned
    assert customer_rows.active_spells(row) == [(days(1), days(70))]
    assert customer_rows.purchase_spells(row, 2) == [(days(20), None)]
    assert customer_rows.active_just_before(row, days(70)) is True
    assert customer_rows.active_just_before(row, days(1)) is False


def test_the_last_interaction_is_the_newest_by_when_it_happened() -> None:
    # given interactions logged out of the order they happened in
    stream = numbered(
        "cus_1",
        registered("cus_1"),
        interaction("cus_1", 2, at=days(10)),
        interaction("cus_1", 1, at=days(3)),
    )
    # when they fold
    (row,) = Folded(customer_rows.MODEL).fold(stream).documents.values()
    # then
    assert (row["last_interaction_at"], row["last_interaction_id"]) == (days(10), "int_02")


def test_a_merged_duplicate_stops_counting_and_its_orders_count_for_the_survivor() -> None:
    # given a duplicate who bought once, merged into a survivor who had not bought
    duplicate = at_times(
        numbered(
            "cus_d",
            registered("cus_d"),
            purchase_recorded("cus_d", "ord_1", at=days(2)),
            stage_changed("cus_d", S.CUSTOMER, caused_by="order:ord_1"),
            c.CustomerMergedInto(customer_id="cus_d", survivor_id="cus_s"),
        ),
        days(0),
        days(2),
        days(2),
        days(30),
    )
    survivor = at_times(
        numbered(
            "cus_s",
            registered("cus_s"),
            c.CustomersMerged(customer_id="cus_s", merged_id="cus_d", order_ids=("ord_1",)),
            stage_changed("cus_s", S.CUSTOMER, caused_by="merge:cus_d"),
        ),
        days(0),
        days(30),
        days(30),
    )
    # when both fold
    rows = Folded(customer_rows.MODEL).fold([*duplicate, *survivor]).documents
    # then the duplicate was active and a purchaser only until the merge
    assert customer_rows.active_spells(rows["cus_d"]) == [(days(2), days(30))]
    assert customer_rows.purchase_spells(rows["cus_d"], 1) == [(days(2), days(30))]
    # and the survivor is, from the merge on
    assert rows["cus_s"]["purchases"] == {"ord_1": days(30)}
    assert customer_rows.active_spells(rows["cus_s"]) == [(days(30), None)]


def test_a_purchase_recorded_again_keeps_its_first_time() -> None:
    row = customer_rows._bought(
        {"purchases": {"ord_1": days(1)}}, {"ord_1": days(9), "ord_2": days(5)}
    )
    assert row["purchases"] == {"ord_1": days(1), "ord_2": days(5)}
    assert (row["first_purchase_at"], row["repeat_purchase_at"]) == (days(1), days(5))


def test_handovers_and_other_contexts_are_not_customer_rows() -> None:
    from customer_events import opened, pipeline

    assert customer_rows.target(*pipeline("opp_1", opened("opp_1", "cus_1"))[0]) is None


def test_a_purchase_placed_before_one_recorded_earlier_touches_the_boards_it_moved_from() -> None:
    # given purchases on day 1 and day 40, the second making a repeat purchaser
    stream = at_times(
        numbered(
            "cus_1",
            registered("cus_1"),
            purchase_recorded("cus_1", "ord_1", at=days(1)),
            purchase_recorded("cus_1", "ord_3", at=days(40)),
            purchase_recorded("cus_1", "ord_2", at=days(10)),
        ),
        days(0),
        days(1),
        days(40),
        days(70),
    )
    state = Folded(customer_rows.MODEL).fold(stream[:3])
    assert customer_rows.purchase_spells(state.documents["cus_1"], 2) == [(days(40), None)]
    # when an order placed on day 10 is recorded on day 70
    state.apply(*stream[3])
    row = state.documents["cus_1"]
    # then the customer was a repeat purchaser from day 10, and the boards of day 40's
    # periods (where it no longer became one) are refreshed with those of day 10; day 70,
    # when it was recorded, is no fact of the row
    assert customer_rows.purchase_spells(row, 2) == [(days(10), None)]
    assert row["touched"] == [
        "month:2026-10",  # day 10
        "month:2026-11",  # day 40
        "quarter:2026-Q4",
        "week:2026-W42",
        "week:2026-W46",
    ]


def test_an_event_that_changes_nothing_counted_refreshes_no_board() -> None:
    stream = numbered("cus_1", registered("cus_1"), changed("cus_1", name="Ada King"))
    row = Folded(customer_rows.MODEL).fold(stream).documents["cus_1"]
    assert row["touched"] == []


@given(st.lists(st.integers(0, 6)), st.lists(st.integers(0, 6)))
def test_recounted_keys_are_those_either_side_has_more_of(old: list[int], new: list[int]) -> None:
    before, after = Counter(old), Counter(new)
    found = recounted(before, after)
    assert sorted(found) == sorted(((after - before) + (before - after)).keys())
    assert len(found) == len(set(found))


def _any_contacts_event(kind: int, n: int, day: int) -> c.DomainEvent:
    """One event of customer ``cus_1``'s stream after its registration, by ``kind``."""
    stages = list(S)
    return [
        lambda: changed("cus_1", name=f"Name {n}"),
        lambda: interaction("cus_1", n % 90, at=days(day)),
        lambda: stage_changed("cus_1", stages[n % len(stages)]),
        lambda: purchase_recorded("cus_1", f"ord_{n % 4}", at=days(day)),
        lambda: c.CustomersMerged(
            customer_id="cus_1", merged_id=f"cus_{n}", order_ids=(f"ord_m{n % 3}",)
        ),
        lambda: c.CustomerMergedInto(customer_id="cus_1", survivor_id="cus_9"),
        lambda: c.CustomerErased(customer_id="cus_1"),
    ][kind]()


@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 400), st.integers(-30, 120)), max_size=12)
)
def test_each_fold_keeps_the_periods_of_every_fact_and_touches_the_boards_it_recounted(
    steps: list[tuple[int, int, int]],
) -> None:
    """Whatever the event, the row's ``periods`` are those of all its facts and its
    ``touched`` those of the points and facts the event changed, as computed from the row
    before and after (``project`` takes a shorter way for the events that count nothing)."""
    events = [_any_contacts_event(kind, n, day) for kind, n, day in steps]
    stream = at_times(
        numbered("cus_1", registered("cus_1"), *events),
        *(days(i * 3) for i in range(len(events) + 1)),
    )
    before = customer_rows.empty("cus_1")
    for metadata, event in stream:
        after = customer_rows.project(before, metadata, event)
        assert after["periods"] == customer_rows.periods(after)
        assert after["touched"] == customer_rows.touched(before, after)
        before = after
