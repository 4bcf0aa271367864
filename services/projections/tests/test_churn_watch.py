"""The churn watch: given a customer's 360 (folded from its streams), when the watch looks at
its public view, then each reason it finds comes with its evidence; and the candidates'
filter selects, by index, every document the watch would list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from customer_events import (
    NOW,
    interaction,
    numbered,
    overdue,
    paid,
    pipeline,
    placed,
    purchase_recorded,
    registered,
    stage_changed,
    unpaid,
)
from projection_folding import Folded, Record
from ticket_events import breached, surveyed, ticket_opened, ticket_stream

from crm_contracts import contacts as c
from crm_projections.domain import churn_watch, customer360

S = c.LifecycleStage


def view_of(*streams: list[Record]) -> dict[str, Any]:
    state = Folded(customer360.MODEL)
    for records in streams:
        state.fold(records)
    (document,) = state.documents.values()
    return customer360.public_view(document)


def a_customer(*more: Any) -> list[Record]:
    return numbered(
        "cus_1",
        registered("cus_1"),
        purchase_recorded("cus_1", "ord_1"),
        stage_changed("cus_1", S.CUSTOMER, caused_by="order:ord_1"),
        *more,
    )


def test_a_customer_silent_for_n_days_is_watched_with_its_last_interaction() -> None:
    # given a customer whose last call was 40 days before now
    view = view_of(
        a_customer(
            interaction("cus_1", 1, at=NOW - timedelta(days=50)),
            interaction("cus_1", 2, at=NOW - timedelta(days=40)),
        )
    )
    # when the watch asks for 30 days of silence, then it is a reason
    assert churn_watch.no_interaction(view, now=NOW, days=30) == {
        "reason": "no_interaction",
        "days": 30,
        "last_interaction": {
            "interaction_id": "int_02",
            "kind": "call",
            "at": NOW - timedelta(days=40),
        },
        "days_since": 40,
    }
    # and for 45 days it is not
    assert churn_watch.no_interaction(view, now=NOW, days=45) is None


def test_silence_is_counted_from_the_proposed_field_when_the_360_keeps_it() -> None:
    view = view_of(a_customer(interaction("cus_1", 1, at=NOW - timedelta(days=40))))
    newer = {**view, "last_interaction_at": NOW - timedelta(days=5)}  # older ones shown only
    assert churn_watch.no_interaction(newer, now=NOW, days=30) is None


def test_a_prospect_never_contacted_is_not_a_churn_risk_but_a_customer_is() -> None:
    prospect = view_of(numbered("cus_1", registered("cus_1")))
    later = NOW + timedelta(days=100)
    assert churn_watch.no_interaction(prospect, now=later, days=30) is None
    customer = view_of(a_customer())
    reason = churn_watch.no_interaction(customer, now=later, days=30)
    assert reason is not None
    assert (reason["last_interaction"], reason["days_since"]) == (None, 99)


def test_orders_unpaid_48_hours_or_overdue_are_reasons_with_the_orders() -> None:
    # given one order unpaid after 48 hours, one overdue and paid in part, one paid in part
    view = view_of(
        a_customer(),
        pipeline("ord_1", *placed("ord_1", "cus_1", "500.00"), unpaid("ord_1", "cus_1", "500.00")),
        pipeline(
            "ord_2",
            *placed("ord_2", "cus_1", "300.00"),
            paid("ord_2", "cus_1", "100.00", "200.00"),
            overdue("ord_2", "cus_1", "200.00"),
        ),
        pipeline(
            "ord_3", *placed("ord_3", "cus_1", "80.00"), paid("ord_3", "cus_1", "10.00", "70.00")
        ),
    )
    # when the watch looks, then both flagged orders are the evidence
    reason = churn_watch.unpaid_orders(view)
    assert reason is not None
    assert [(o["order_id"], o["flags"], o["balance"]) for o in reason["orders"]] == [
        ("ord_1", ["order_unpaid_after_48_hours"], "500.00"),
        ("ord_2", ["receivable_overdue"], "200.00"),
    ]
    assert reason["orders"][0]["placed_at"] == NOW
    assert reason["orders"][1]["due_date"] == "2026-12-24"


def test_satisfaction_below_3_is_a_reason() -> None:
    view = view_of(
        a_customer(),
        ticket_stream("tkt_1", ticket_opened("tkt_1", "cus_1"), surveyed("tkt_1", "cus_1", 2)),
    )
    reason = churn_watch.falling_satisfaction(view)
    assert reason is not None
    assert (reason["below"], reason["last"]["csat"], reason["last"]["ticket_id"]) == (
        3,
        2,
        "tkt_1",
    )
    assert reason["previous"] is None


def test_satisfaction_falling_from_the_survey_before_is_a_reason_with_the_proposed_field() -> None:
    view = view_of(
        a_customer(),
        ticket_stream("tkt_1", ticket_opened("tkt_1", "cus_1"), surveyed("tkt_1", "cus_1", 4)),
    )
    assert churn_watch.falling_satisfaction(view) is None  # 4 alone is fine
    previous = {"ticket_id": "tkt_0", "csat": 5, "answered_at": NOW - timedelta(days=60)}
    fell = {**view, "service": {**view["service"], "previous_csat": previous}}
    reason = churn_watch.falling_satisfaction(fell)
    assert reason is not None
    assert (reason["below"], reason["last"]["csat"], reason["previous"]) == (None, 4, previous)
    rose = {**view, "service": {**view["service"], "previous_csat": {**previous, "csat": 3}}}
    assert churn_watch.falling_satisfaction(rose) is None


def test_open_complaints_past_sla_are_reasons_with_their_deadlines() -> None:
    view = view_of(
        a_customer(),
        ticket_stream(
            "tkt_1", ticket_opened("tkt_1", "cus_1"), breached("tkt_1", "cus_1", "resolution")
        ),
        ticket_stream("tkt_2", ticket_opened("tkt_2", "cus_1", kind="question")),
    )
    assert churn_watch.complaints_past_sla(view) == {
        "reason": "complaints_past_sla",
        "complaints": [
            {
                "ticket_id": "tkt_1",
                "breaches": [{"target": "resolution", "due": NOW + timedelta(hours=24)}],
            }
        ],
    }


def test_the_entry_lists_every_reason_and_merged_or_erased_customers_are_not_watched() -> None:
    view = view_of(
        a_customer(c.CustomerOwnerAssigned(customer_id="cus_1", owner_id="u2", team="south")),
        pipeline("ord_1", *placed("ord_1", "cus_1", "500.00"), unpaid("ord_1", "cus_1", "500.00")),
        ticket_stream("tkt_1", ticket_opened("tkt_1", "cus_1"), surveyed("tkt_1", "cus_1", 1)),
    )
    later = NOW + timedelta(days=90)
    entry = churn_watch.watch_entry(view, now=later, days=30)
    assert entry is not None
    assert (entry["owner_id"], entry["team"], entry["lifecycle_stage"]) == (
        "u2",
        "south",
        "customer",
    )
    assert [r["reason"] for r in entry["reasons"]] == [
        "no_interaction",
        "unpaid_orders",
        "falling_satisfaction",
    ]
    assert churn_watch.watch_entry({**view, "merged_into": "cus_9"}, now=later, days=30) is None
    assert churn_watch.watch_entry({**view, "erased": True}, now=later, days=30) is None
    assert churn_watch.watch_entry(view, now=NOW, days=30) is not None  # still unpaid


def test_a_content_customer_is_not_on_the_list() -> None:
    view = view_of(a_customer(interaction("cus_1", 1, at=NOW - timedelta(days=1))))
    assert churn_watch.watch_entry(view, now=NOW, days=30) is None


# --- the candidates' filter ------------------------------------------------------------------


def matches(document: dict[str, Any], query: dict[str, Any]) -> bool:
    """Enough of MongoDB's matching for the filter: $or, $in, $lt(e), $gt, $exists, null."""
    for field, condition in query.items():
        if field == "$or":
            if not any(matches(document, clause) for clause in condition):
                return False
            continue
        values = _values(document, field.split("."))
        if isinstance(condition, dict):
            for op, operand in condition.items():
                if op == "$exists":
                    if bool(values) != operand:
                        return False
                    continue
                test = {
                    "$in": lambda v, o: v in o,
                    "$lt": lambda v, o: v is not None and v < o,
                    "$lte": lambda v, o: v is not None and v <= o,
                    "$gt": lambda v, o: v is not None and v > o,
                }[op]
                if not any(test(v, operand) for v in values):
                    return False
        elif condition is None:
            if any(v is not None for v in values):
                return False
        elif condition not in values:
            return False
    return True


def _values(value: Any, path: list[str]) -> list[Any]:
    if not path:
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        return [v for item in value for v in _values(item, path)]
    if not isinstance(value, dict) or path[0] not in value:
        return []
    return _values(value[path[0]], path[1:])


def index_of(clause: dict[str, Any]) -> list[str]:
    return [field for field in clause]


@pytest.mark.parametrize("days", [1, 30, 200])
def test_every_document_watched_is_a_candidate_and_every_clause_has_its_index(days: int) -> None:
    # given 360 documents of every kind of reason, and of none
    later = NOW + timedelta(days=60)
    documents = [
        Folded(customer360.MODEL).fold(records).documents
        for records in (
            a_customer(),
            a_customer(interaction("cus_1", 1, at=later - timedelta(days=2))),
            numbered("cus_1", registered("cus_1")),
            [
                *a_customer(),
                *pipeline(
                    "ord_1", *placed("ord_1", "cus_1", "5.00"), unpaid("ord_1", "cus_1", "5.00")
                ),
            ],
            [
                *a_customer(),
                *ticket_stream(
                    "tkt_1",
                    ticket_opened("tkt_1", "cus_1"),
                    breached("tkt_1", "cus_1", "first_response"),
                ),
            ],
            [
                *a_customer(),
                *ticket_stream(
                    "tkt_1", ticket_opened("tkt_1", "cus_1"), surveyed("tkt_1", "cus_1", 2)
                ),
            ],
        )
    ]
    stored = [d["cus_1"] for d in documents]
    with_fields = [
        {
            **d,
            "last_interaction_at": max((i["at"] for i in d.get("interactions", [])), default=None),
        }
        for d in stored
    ]
    falling = {
        **with_fields[0],
        "last_csat": {"ticket_id": "t2", "csat": 4, "answered_at": NOW},
        "previous_csat": {"ticket_id": "t1", "csat": 5, "answered_at": NOW},
    }
    query = churn_watch.candidates_filter(now=later, days=days)
    for document in [*stored, *with_fields, falling]:
        view = customer360.public_view(document) | (
            {"last_interaction_at": document["last_interaction_at"]}
            if "last_interaction_at" in document
            else {}
        )
        if "previous_csat" in document:
            view["service"] = {**view["service"], "previous_csat": document["previous_csat"]}
        # when the watch lists it, then the filter selected it
        if churn_watch.watch_entry(view, now=later, days=days) is not None:
            assert matches(document, query), document["customer_id"]
    # and a content customer, the proposed field kept, is not even fetched
    assert not matches(with_fields[1], query) or days == 1
    # and each clause of the $or is served by an index of its fields, in its order
    indexes = [[field for field, _ in index] for index, _ in churn_watch.INDEXES]
    for clause in query["$or"]:
        assert index_of(clause) in [ix[: len(clause)] for ix in indexes] or any(
            set(index_of(clause)) - {"registered_at"} == set(ix) for ix in indexes
        ), clause
    # and a sparse index serves only clauses no customer without any of its fields matches
    for keys, sparse in churn_watch.INDEXES:
        fields = [field for field, _ in keys]
        tops = {field.split(".")[0] for field in fields}
        served = [
            clause
            for clause in query["$or"]
            if index_of(clause) == fields[: len(clause)]
            or set(index_of(clause)) - {"registered_at"} == set(fields)
        ]
        for clause in served if sparse else []:
            for document in [*stored, *with_fields, falling]:
                bare = {key: value for key, value in document.items() if key not in tops}
                assert not matches(bare, clause), (clause, fields)
