"""Ticket rows: given a ticket's stream, the row keeps the latest snapshot, the moments of
opening, resolution and survey with their periods, the resolver, and whether the SLA was kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from customer_events import numbered, registered
from projection_folding import Folded
from ticket_events import (
    assigned_on,
    breached_on,
    closed_on,
    earned,
    member_stream,
    opened_on,
    reopened_on,
    replied_on,
    resolved_on,
    surveyed_on,
    ticket_stream,
)

from crm_contracts import DomainEvent
from crm_projections.domain import ticket_rows
from crm_projections.domain.streams import Document

OPENED = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # a Friday of week 48, November, Q4


def row_of(*events: DomainEvent) -> Document:
    return Folded(ticket_rows.MODEL).fold(ticket_stream("tkt_1", *events)).documents["tkt_1"]


def test_an_opened_ticket_keeps_its_snapshot_and_the_periods_it_was_opened_in() -> None:
    row = row_of(opened_on("tkt_1", "cus_1", OPENED, kind="question", priority="high"))

    assert row["_id"] == row["ticket_id"] == "tkt_1"
    assert (row["customer_id"], row["kind"], row["priority"], row["status"]) == (
        "cus_1",
        "question",
        "high",
        "new",
    )
    assert (row["team"], row["assignee_id"], row["channel"]) == ("support", "a1", "web")
    assert row["opened_at"] == OPENED
    assert (row["opened_week"], row["opened_month"], row["opened_quarter"]) == (
        "2026-W48",
        "2026-11",
        "2026-Q4",
    )
    assert row.get("resolved_at") is None
    assert (row["within_sla"], row["breaches"], row["reopened"]) == (False, [], 0)
    assert row["streams"] == {"tickets:tkt_1": 1}


def test_a_ticket_resolved_in_time_without_a_breach_kept_its_sla_and_credits_its_assignee() -> None:
    resolved_at = OPENED + timedelta(days=4)  # Tuesday 1 December: week 49, December
    row = row_of(
        opened_on("tkt_1", "cus_1", OPENED),
        replied_on("tkt_1", "cus_1", OPENED + timedelta(hours=1)),
        assigned_on("tkt_1", "cus_1", OPENED + timedelta(hours=2), assignee_id="a2", team="vip"),
        resolved_on("tkt_1", "cus_1", resolved_at, assignee_id="a2", team="vip"),
    )

    assert row["first_responded_at"] == OPENED + timedelta(hours=1)
    assert row["first_response_within_sla"] is True
    assert (row["resolver"], row["resolver_team"], row["status"]) == ("a2", "vip", "resolved")
    assert row["resolved_at"] == resolved_at
    assert (row["resolved_week"], row["resolved_month"], row["resolved_quarter"]) == (
        "2026-W49",
        "2026-12",
        "2026-Q4",
    )
    assert row["within_sla"] is True


@pytest.mark.parametrize("target", ["first_response", "resolution"])
def test_any_breach_means_the_sla_was_not_kept_even_if_resolved_in_time(target: str) -> None:
    row = row_of(
        opened_on("tkt_1", "cus_1", OPENED),
        breached_on("tkt_1", "cus_1", OPENED + timedelta(hours=5), target),
        resolved_on("tkt_1", "cus_1", OPENED + timedelta(hours=6), within_sla=True),
    )
    assert row["resolution_within_sla"] is True
    assert [b["target"] for b in row["breaches"]] == [target]
    assert row["within_sla"] is False


def test_a_late_resolution_did_not_keep_the_sla() -> None:
    row = row_of(
        opened_on("tkt_1", "cus_1", OPENED),
        resolved_on("tkt_1", "cus_1", OPENED + timedelta(days=3), within_sla=False),
    )
    assert (row["resolved_at"] is not None, row["within_sla"]) == (True, False)


def test_a_breach_flagged_twice_for_the_same_deadline_counts_once() -> None:
    at = OPENED + timedelta(hours=5)
    row = row_of(
        opened_on("tkt_1", "cus_1", OPENED),
        breached_on("tkt_1", "cus_1", at),
        breached_on("tkt_1", "cus_1", at),
        breached_on("tkt_1", "cus_1", at + timedelta(days=1)),  # another deadline
    )
    assert len(row["breaches"]) == 2


def test_reopening_resets_the_resolution_until_the_next_and_the_survey_stays() -> None:
    first = OPENED + timedelta(hours=3)
    answered = OPENED + timedelta(days=5)
    reopened_at = OPENED + timedelta(days=6)
    history = [
        opened_on("tkt_1", "cus_1", OPENED),
        resolved_on("tkt_1", "cus_1", first),
        surveyed_on("tkt_1", "cus_1", answered, 2, recommend=3),
        reopened_on("tkt_1", "cus_1", reopened_at),
    ]
    row = row_of(*history)
    assert row["status"] == "reopened"
    assert (row["resolved_at"], row["resolver"], row["resolved_month"]) == (None, None, None)
    assert (row["within_sla"], row["reopened"]) == (False, 1)
    assert (row["csat"], row["would_recommend"], row["answered_at"]) == (2, 3, answered)
    assert row["answered_week"] == "2026-W49"

    second = reopened_at + timedelta(days=30)
    row = row_of(*history, resolved_on("tkt_1", "cus_1", second, assignee_id="a3", within_sla=True))
    assert (row["resolved_at"], row["resolver"], row["resolved_month"]) == (
        second,
        "a3",
        "2027-01",
    )
    assert row["resolved_quarter"] == "2027-Q1"
    assert row["within_sla"] is True


def test_closing_keeps_the_resolution_and_takes_the_latest_snapshot() -> None:
    resolved_at = OPENED + timedelta(hours=3)
    row = row_of(
        opened_on("tkt_1", "cus_1", OPENED),
        resolved_on("tkt_1", "cus_1", resolved_at),
        closed_on("tkt_1", "cus_1", OPENED + timedelta(days=3), team="archive", assignee_id=None),
    )
    assert (row["status"], row["team"], row["assignee_id"]) == ("closed", "archive", None)
    assert (row["resolved_at"], row["resolver"], row["resolver_team"]) == (
        resolved_at,
        "a1",
        "support",
    )


def test_only_tickets_events_are_routed_to_their_ticket() -> None:
    folded = Folded(ticket_rows.MODEL)
    assert folded.fold(numbered("cus_1", registered("cus_1"))).documents == {}
    assert folded.fold(member_stream("cus_1", earned("cus_1", "p1", 10, 10))).documents == {}
    folded.fold(ticket_stream("tkt_9", opened_on("tkt_9", "cus_1", OPENED)))
    assert set(folded.documents) == {"tkt_9"}
    (meta, event), *_ = numbered("cus_1", registered("cus_1"))
    with pytest.raises(ValueError):
        ticket_rows.project(ticket_rows.empty("tkt_9"), meta, event)


def test_every_event_of_the_stream_advances_the_row_and_a_redelivery_changes_nothing() -> None:
    history = ticket_stream(
        "tkt_1",
        opened_on("tkt_1", "cus_1", OPENED),
        replied_on("tkt_1", "cus_1", OPENED + timedelta(hours=1)),
        replied_on("tkt_1", "cus_1", OPENED + timedelta(hours=2), first=False),
        resolved_on("tkt_1", "cus_1", OPENED + timedelta(hours=3)),
    )
    folded = Folded(ticket_rows.MODEL).fold(history)
    once = dict(folded.documents)
    assert once["tkt_1"]["streams"] == {"tickets:tkt_1": 4}
    assert once["tkt_1"]["first_responded_at"] == OPENED + timedelta(hours=1)
    assert [folded.apply(meta, event) for meta, event in history] == ["duplicate"] * 4
    assert folded.documents == once
