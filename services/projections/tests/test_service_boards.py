"""The service boards: given ticket streams, the agents board (by resolution period), the
service board (by opening period) and the surveys board (by answer period), the agent ranking
read from them; and, for random histories delivered at least once, boards kept after every
event that equal a plain count over the events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_folding import Record
from rows_and_boards import FoldedBoards, at_least_once
from ticket_events import (
    assigned_on,
    breached_on,
    closed_on,
    opened_on,
    reopened_on,
    replied_on,
    resolved_on,
    surveyed_on,
    ticket_stream,
)

from crm_contracts import DomainEvent
from crm_contracts import tickets as t
from crm_projections.application.boards import BoardSpec
from crm_projections.domain import service_boards as sb
from crm_projections.domain import ticket_rows
from crm_projections.domain.streams import Document

SPECS = (
    BoardSpec("agents", sb.agents_keys, sb.agents_select, sb.agents_summary, sb.AGENTS_INDEXES),
    BoardSpec(
        "service", sb.service_keys, sb.service_select, sb.service_summary, sb.SERVICE_INDEXES
    ),
    BoardSpec(
        "surveys", sb.surveys_keys, sb.surveys_select, sb.surveys_summary, sb.SURVEYS_INDEXES
    ),
)
NOV = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday of week 45
DEC = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday of week 50


def boards_of(*streams: list[Record]) -> FoldedBoards:
    folded = FoldedBoards(ticket_rows.MODEL, SPECS)
    for records in streams:
        folded.fold(records)
    return folded


def resolved_ticket(
    ticket_id: str,
    agent: str | None,
    at: datetime,
    *,
    team: str | None = "support",
    within_sla: bool = True,
    csat: int | None = None,
    kind: str = "question",
) -> list[Record]:
    snap: dict[str, Any] = {"assignee_id": agent, "team": team, "kind": kind}
    events: list[DomainEvent] = [
        opened_on(ticket_id, "cus_1", at - timedelta(hours=5), **snap),
        resolved_on(ticket_id, "cus_1", at, within_sla=within_sla, **snap),
    ]
    if csat is not None:
        events.append(surveyed_on(ticket_id, "cus_1", at + timedelta(hours=1), csat, **snap))
    return ticket_stream(ticket_id, *events)


def by_id(entries: list[Document], key: str) -> dict[Any, Document]:
    return {entry[key]: {k: v for k, v in entry.items() if k != key} for entry in entries}


# --- given / when / then ---------------------------------------------------------------------


def test_the_agents_board_counts_resolutions_sla_kept_and_csat_per_agent_and_team() -> None:
    folded = boards_of(
        resolved_ticket("tkt_1", "a1", NOV, csat=5),
        resolved_ticket("tkt_2", "a1", NOV + timedelta(days=1), within_sla=False, csat=2),
        resolved_ticket("tkt_3", "a2", NOV + timedelta(days=2), team="vip"),
        resolved_ticket("tkt_4", "a1", NOV + timedelta(days=3), team="vip", csat=4),
        resolved_ticket("tkt_5", None, NOV + timedelta(days=3)),
        resolved_ticket("tkt_6", "a1", DEC, csat=1),
    )
    board = folded.boards[("agents", "month:2026-11")]
    assert by_id(board["agents"], "agent_id") == {
        None: {"team": "support", "resolved": 1, "sla_kept": 1, "csat_sum": 0, "csat_count": 0},
        "a1": {"team": "vip", "resolved": 3, "sla_kept": 2, "csat_sum": 11, "csat_count": 3},
        "a2": {"team": "vip", "resolved": 1, "sla_kept": 1, "csat_sum": 0, "csat_count": 0},
    }
    assert by_id(board["teams"], "team") == {
        "support": {"resolved": 3, "sla_kept": 2, "csat_sum": 7, "csat_count": 2},
        "vip": {"resolved": 2, "sla_kept": 2, "csat_sum": 4, "csat_count": 1},
    }
    assert board["all"] == {"resolved": 5, "sla_kept": 4, "csat_sum": 11, "csat_count": 3}
    assert folded.boards[("agents", "week:2026-W45")]["all"]["resolved"] == 5
    assert folded.boards[("agents", "month:2026-12")]["all"]["resolved"] == 1
    assert sb.average_csat(board["agents"][1]) == sb.average_csat({"csat_sum": 11, "csat_count": 3})
    assert str(sb.average_csat(board["all"])) == "3.67"
    assert str(sb.sla_kept_share(board["all"])) == "0.8000"
    assert sb.average_csat(board["agents"][0]) is None


def test_an_open_or_reopened_ticket_counts_on_no_agents_board() -> None:
    history = resolved_ticket("tkt_1", "a1", NOV, csat=4)
    folded = boards_of(history)
    assert folded.boards[("agents", "month:2026-11")]["all"]["resolved"] == 1

    folded.fold(ticket_stream("tkt_1", reopened_on("tkt_1", "cus_1", DEC), first=4))

    assert folded.boards[("agents", "month:2026-11")]["all"]["resolved"] == 0  # refreshed
    assert folded.keys("agents") == set()
    row = folded.rows.documents["tkt_1"]
    assert sb.agents_keys(row) == set()
    assert sb.surveys_keys(row) == {"week:2026-W45", "month:2026-11", "quarter:2026-Q4"}


def test_a_survey_answered_later_lands_on_the_resolution_board_and_its_own_period() -> None:
    folded = boards_of(
        ticket_stream(
            "tkt_1",
            opened_on("tkt_1", "cus_1", NOV),
            resolved_on("tkt_1", "cus_1", NOV + timedelta(days=27)),  # 29 November
            surveyed_on("tkt_1", "cus_1", DEC, 4, recommend=10),
        )
    )
    assert folded.boards[("agents", "month:2026-11")]["all"]["csat_sum"] == 4
    assert folded.boards[("surveys", "month:2026-12")]["all"] == {
        "csat_sum": 4,
        "csat_count": 1,
        "by_csat": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0},
        "promoters": 1,
        "detractors": 0,
    }
    assert ("surveys", "month:2026-11") not in folded.boards


def test_the_service_board_counts_tickets_and_complaints_opened_in_the_period() -> None:
    folded = boards_of(
        ticket_stream("tkt_1", opened_on("tkt_1", "cus_1", NOV, kind="complaint")),
        ticket_stream("tkt_2", opened_on("tkt_2", "cus_1", NOV, kind="complaint", team="vip")),
        ticket_stream("tkt_3", opened_on("tkt_3", "cus_2", NOV, kind="question", team=None)),
        ticket_stream("tkt_4", opened_on("tkt_4", "cus_2", DEC, kind="complaint")),
    )
    board = folded.boards[("service", "month:2026-11")]
    assert board["all"] == {
        "opened": 3,
        "complaints": 2,
        "by_kind": {"question": 1, "service_request": 0, "complaint": 2, "requirement": 0},
    }
    assert [(e["team"], e["opened"], e["complaints"]) for e in board["teams"]] == [
        (None, 1, 0),
        ("support", 1, 1),
        ("vip", 1, 1),
    ]
    assert folded.boards[("service", "quarter:2026-Q4")]["all"]["complaints"] == 3

    # a ticket moved to another team moves on the board of the period it was opened in
    folded.fold(ticket_stream("tkt_1", assigned_on("tkt_1", "cus_1", DEC, team="vip"), first=2))
    teams = folded.boards[("service", "month:2026-11")]["teams"]
    assert [(e["team"], e["opened"]) for e in teams] == [(None, 1), ("vip", 2)]


def test_an_empty_period_summarises_to_zeros() -> None:
    assert sb.agents_summary("month:2026-01", []) == {
        "agents": [],
        "teams": [],
        "all": {"resolved": 0, "sla_kept": 0, "csat_sum": 0, "csat_count": 0},
    }
    assert sb.service_summary("week:2026-W01", [])["all"]["opened"] == 0
    assert sb.surveys_summary("quarter:2026-Q1", [])["all"]["csat_count"] == 0
    assert sb.nps({"csat_count": 0}) is None


def test_nps_is_promoters_minus_detractors_per_survey() -> None:
    entry = {"csat_count": 3, "promoters": 2, "detractors": 0}
    assert str(sb.nps(entry)) == "66.7"
    assert str(sb.nps({"csat_count": 4, "promoters": 1, "detractors": 3})) == "-50.0"


def test_the_agent_ranking_by_each_measure_breaks_ties_by_id_and_compares_periods() -> None:
    folded = boards_of(
        resolved_ticket("tkt_1", "a3", NOV, csat=4),
        resolved_ticket("tkt_2", "a2", NOV, csat=4),
        resolved_ticket("tkt_3", "a2", NOV, within_sla=False, csat=5),
        resolved_ticket("tkt_4", "a1", NOV, within_sla=False),
        resolved_ticket("tkt_5", None, NOV, csat=5),
        resolved_ticket("tkt_6", "a1", DEC, csat=3),
        resolved_ticket("tkt_7", "a3", DEC, csat=5),
        resolved_ticket("tkt_8", "a3", DEC, csat=5),
    )
    november = folded.boards[("agents", "month:2026-11")]
    december = folded.boards[("agents", "month:2026-12")]

    by_resolved = sb.agent_ranking(december, november)
    assert [(e["agent_id"], e["rank"], e["value"]) for e in by_resolved] == [
        ("a3", 1, 2),
        ("a1", 2, 1),
    ]
    assert (by_resolved[0]["previous_rank"], by_resolved[0]["rank_change"]) == (3, 2)
    assert by_resolved[0]["value_change"] == 1

    by_csat = sb.agent_ranking(november, {}, by="average_csat")
    assert [(e["agent_id"], e["value"]) for e in by_csat] == [
        ("a2", "4.50"),
        ("a3", "4.00"),
        ("a1", None),  # no survey: last
    ]
    assert by_csat[0]["average_csat"] == "4.50"
    assert by_csat[0]["previous_rank"] is None

    by_sla = sb.agent_ranking(november, {}, by="sla_kept")
    assert [(e["agent_id"], e["value"]) for e in by_sla] == [
        ("a3", "1.0000"),
        ("a2", "0.5000"),
        ("a1", "0.0000"),
    ]
    assert [e["agent_id"] for e in sb.agent_ranking(november, {}, limit=2)] == ["a2", "a1"]

    teams = sb.team_ranking(december, november, by="average_csat")
    assert [(e["team"], e["value"], e["previous_value"]) for e in teams] == [
        ("support", "4.33", "4.50")
    ]


def test_the_selects_find_exactly_the_rows_of_their_key() -> None:
    folded = boards_of(
        resolved_ticket("tkt_1", "a1", NOV, csat=5),
        resolved_ticket("tkt_2", "a1", DEC, csat=5),
        ticket_stream("tkt_3", opened_on("tkt_3", "cus_1", NOV)),
    )
    assert [r["ticket_id"] for r in folded.selected("agents", "month:2026-11")] == ["tkt_1"]
    assert [r["ticket_id"] for r in folded.selected("service", "month:2026-11")] == [
        "tkt_1",
        "tkt_3",
    ]
    assert [r["ticket_id"] for r in folded.selected("surveys", "week:2026-W50")] == ["tkt_2"]
    assert sb.agents_select("quarter:2026-Q4") == {"resolved_quarter": "2026-Q4"}
    for spec in SPECS:
        indexed = {field for index in spec.indexes for field, _ in index}
        for key in ("week:2026-W45", "month:2026-11", "quarter:2026-Q4"):
            assert set(spec.select(key)) <= indexed


# --- property: boards kept after every event equal a plain count over the events -----------

START = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
KINDS = st.sampled_from([kind.value for kind in t.TicketKind])
TEAMS = st.sampled_from(["north", "south", None])
AGENTS = st.sampled_from(["a1", "a2", "a3", None])
STEPS = ["assign", "reply", "breach", "resolve", "reopen", "survey", "close"]


@st.composite
def ticket_history(draw: st.DrawFn, ticket_id: str, customer_id: str) -> list[DomainEvent]:
    at = START + timedelta(hours=draw(st.integers(0, 24 * 100)))
    snap: dict[str, Any] = {
        "kind": draw(KINDS),
        "priority": draw(st.sampled_from(["low", "normal", "high"])),
        "team": draw(TEAMS),
        "assignee_id": draw(AGENTS),
    }
    events: list[DomainEvent] = [opened_on(ticket_id, customer_id, at, **snap)]
    status, replied, surveyed = "new", False, False
    for _ in range(draw(st.integers(0, 8))):
        at += timedelta(hours=draw(st.integers(1, 24 * 20)))
        step = draw(st.sampled_from(STEPS))
        resolved = status == "resolved"
        if step == "assign" and not resolved:
            snap |= {"team": draw(TEAMS), "assignee_id": draw(AGENTS)}
            status = "open"
            events.append(assigned_on(ticket_id, customer_id, at, status=status, **snap))
        elif step == "reply" and not resolved:
            status = "open"
            events.append(replied_on(ticket_id, customer_id, at, first=not replied, **snap))
            replied = True
        elif step == "breach" and not resolved:
            target = draw(st.sampled_from(["first_response", "resolution"]))
            events.append(breached_on(ticket_id, customer_id, at, target, status=status, **snap))
        elif step == "resolve" and not resolved:
            status = "resolved"
            within = draw(st.booleans())
            events.append(resolved_on(ticket_id, customer_id, at, within_sla=within, **snap))
        elif step == "reopen" and resolved:
            status = "reopened"
            events.append(reopened_on(ticket_id, customer_id, at, **snap))
        elif step == "survey" and resolved and not surveyed:
            csat, recommend = draw(st.integers(1, 5)), draw(st.integers(0, 10))
            events.append(
                surveyed_on(ticket_id, customer_id, at, csat, recommend=recommend, **snap)
            )
            surveyed = True
        elif step == "close" and resolved:
            events.append(closed_on(ticket_id, customer_id, at, **snap))
            break
    return events


@st.composite
def histories(draw: st.DrawFn) -> dict[str, list[Record]]:
    streams: dict[str, list[Record]] = {}
    for number in range(draw(st.integers(1, 7))):
        ticket_id = f"tkt_{number}"
        customer_id = f"cus_{draw(st.integers(0, 2))}"
        streams[ticket_id] = ticket_stream(ticket_id, *draw(ticket_history(ticket_id, customer_id)))
    return streams


def calendar_keys(moment: datetime) -> list[str]:
    """The week, month and quarter of a moment, worked out here from the calendar."""
    year, week, _ = moment.isocalendar()
    return [
        f"week:{year}-W{week:02d}",
        f"month:{moment.year}-{moment.month:02d}",
        f"quarter:{moment.year}-Q{(moment.month + 2) // 3}",
    ]


@dataclass
class Ticket:
    """What a ticket's events say, read in order from the contract's words."""

    opened: t.TicketOpened
    last: t.TicketEvent
    resolution: t.TicketResolved | None
    breached: bool
    survey: t.SurveyAnswered | None


def tickets_of(streams: dict[str, list[Record]]) -> list[Ticket]:
    answer = []
    for records in streams.values():
        events = [event for _, event in records]
        assert isinstance(events[0], t.TicketOpened)
        resolution = None
        for event in events:
            if isinstance(event, t.TicketResolved):
                resolution = event
            elif isinstance(event, t.TicketReopened):
                resolution = None
        surveys = [e for e in events if isinstance(e, t.SurveyAnswered)]
        last = events[-1]
        assert isinstance(last, t.TicketEvent)
        answer.append(
            Ticket(
                opened=events[0],
                last=last,
                resolution=resolution,
                breached=any(isinstance(e, t.SlaBreached) for e in events),
                survey=surveys[-1] if surveys else None,
            )
        )
    return answer


def plain_boards(tickets: list[Ticket]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every board, counted straight from the tickets: section -> id -> counters."""
    boards: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    )
    for ticket in tickets:
        for key in calendar_keys(ticket.opened.opened_at):
            for section, name in (("teams", ticket.last.team), ("all", "all")):
                counts = boards[("service", key)][section][name]
                counts["opened"] += 1
                counts["complaints"] += ticket.opened.kind == t.TicketKind.COMPLAINT
                counts[f"kind:{ticket.opened.kind.value}"] += 1
        survey = ticket.survey
        if survey is not None:
            for key in calendar_keys(survey.answered_at):
                for section, name in (("teams", ticket.last.team), ("all", "all")):
                    counts = boards[("surveys", key)][section][name]
                    counts["csat_sum"] += survey.csat
                    counts["csat_count"] += 1
                    counts[f"csat:{survey.csat}"] += 1
                    counts["promoters"] += survey.would_recommend >= 9
                    counts["detractors"] += survey.would_recommend <= 6
        done = ticket.resolution
        if done is not None:
            for key in calendar_keys(done.resolved_at):
                sections = (
                    ("agents", done.assignee_id),
                    ("teams", done.team),
                    ("all", "all"),
                )
                for section, name in sections:
                    counts = boards[("agents", key)][section][name]
                    counts["resolved"] += 1
                    counts["sla_kept"] += done.within_sla and not ticket.breached
                    counts["csat_sum"] += survey.csat if survey else 0
                    counts["csat_count"] += survey is not None
                latest = boards[("agents", key)]["latest"]
                moment = (done.resolved_at, done.ticket_id)
                if done.assignee_id not in latest or latest[done.assignee_id] < moment:
                    latest[done.assignee_id] = moment
                    boards[("agents", key)]["agents"][done.assignee_id]["team"] = done.team
    return boards


def flattened(board: Document) -> dict[str, Any]:
    """A board in the plain count's shape: section -> id -> counters, zeros left out."""
    answer: dict[str, Any] = {}
    for section, id_field in (("agents", "agent_id"), ("teams", "team")):
        if section in board:
            answer[section] = {e[id_field]: _counters(e, id_field) for e in board[section]}
    answer["all"] = {"all": _counters(board["all"], "")} if _counters(board["all"], "") else {}
    return {section: entries for section, entries in answer.items() if entries}


def _counters(entry: Document, id_field: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in entry.items():
        if name == id_field:
            continue
        if isinstance(value, dict):
            prefix = "kind" if name == "by_kind" else "csat"
            flat |= {f"{prefix}:{k}": v for k, v in value.items() if v}
        elif value:
            flat[name] = value
    return flat


def expected_shape(counts: dict[str, Any]) -> dict[str, Any]:
    shaped = {
        section: {name: {k: v for k, v in c.items() if v} for name, c in entries.items()}
        for section, entries in counts.items()
        if section != "latest"
    }
    return {s: {n: c for n, c in entries.items() if c} for s, entries in shaped.items() if entries}


@settings(max_examples=80, deadline=None)
@given(streams=histories(), data=st.data())
def test_boards_kept_through_redeliveries_and_replays_equal_a_plain_count_of_the_events(
    streams: dict[str, list[Record]], data: st.DataObject
) -> None:
    deliveries = at_least_once(data, streams)
    live = FoldedBoards(ticket_rows.MODEL, SPECS).fold(deliveries)
    plain = boards_of(*reversed(streams.values()))
    rebuilt = FoldedBoards(ticket_rows.MODEL, SPECS, rebuilding=True).fold(deliveries)
    rebuilt.end_rebuild()

    # every fold changes the rows as the plain history does, whatever the redeliveries
    assert live.rows.documents == plain.rows.documents
    for records in streams.values():
        row = live.rows.documents[records[0][0].subject]
        assert row["streams"] == {f"tickets:{records[0][0].subject}": len(records)}

    expected = {key: expected_shape(c) for key, c in plain_boards(tickets_of(streams)).items()}
    for spec in SPECS:
        # the boards refreshed after each event (or once, after a rebuild) are what their
        # rows now say, all of them
        for folded in (live, rebuilt):
            assert live.keys(spec.name) <= {k for n, k in folded.boards if n == spec.name}
            for (name, key), board in folded.boards.items():
                if name == spec.name:
                    assert board == live.summary(name, key), (name, key)
        # and what a plain count of the events says
        scratch = live.from_scratch(spec.name)
        assert set(scratch) == {key for name, key in expected if name == spec.name}
        for key, board in scratch.items():
            assert flattened(board) == expected[(spec.name, key)], (spec.name, key)


@pytest.mark.parametrize("measure", ["resolved", "average_csat", "sla_kept"])
@settings(max_examples=30, deadline=None)
@given(streams=histories())
def test_the_agent_ranking_orders_every_agent_by_its_measure_then_id(
    measure: sb.AgentMeasure, streams: dict[str, list[Record]]
) -> None:
    folded = boards_of(*streams.values())
    for key in folded.keys("agents"):
        board = folded.boards[("agents", key)]
        ranking = sb.agent_ranking(board, board, by=measure)
        agents = [e for e in board["agents"] if e["agent_id"] is not None]
        assert [e["rank"] for e in ranking] == list(range(1, len(agents) + 1))
        assert all(e["rank_change"] == 0 and e["previous_value"] == e["value"] for e in ranking)
        values = [sb.MEASURES[measure](e) for e in ranking]
        order = [
            (v is None, -(v or 0), e["agent_id"]) for v, e in zip(values, ranking, strict=True)
        ]
        assert order == sorted(order)
