"""The ticket decider: given these commands, when this one, then these events (or this error)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tickets_testing import CUSTOMER, LEAD, NOW, POLICY, TEAM, given, later, names, opening, when

from crm_contracts.tickets import (
    Priority,
    SlaBreached,
    SlaTarget,
    SurveyAnswered,
    TicketAssigned,
    TicketCustomerResponded,
    TicketEscalated,
    TicketOpened,
    TicketPriorityChanged,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketStatus,
)
from crm_tickets.domain import ticket
from crm_tickets.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    SurveyAlreadyAnswered,
    WrongState,
)
from crm_tickets.domain.sla import DEFAULT_TARGETS, SlaPolicy, raised, sla_targets
from crm_tickets.domain.ticket import (
    AddNote,
    AnswerSurvey,
    AssignTicket,
    ChangePriority,
    CloseTicket,
    FlagBreach,
    RecordCustomerResponse,
    ReopenTicket,
    ReplyToCustomer,
    ResolveTicket,
    WaitOnCustomer,
)

T = "tkt_1"


def reply(minutes: float = 10, body: str = "We are on it.") -> ReplyToCustomer:
    return ReplyToCustomer(T, f"rep_{minutes}", body, "a1", later(minutes=minutes))


def resolve(hours: float = 2) -> ResolveTicket:
    return ResolveTicket(T, "Address corrected.", "a1", later(hours=hours))


def wait(hours: float = 1) -> WaitOnCustomer:
    return WaitOnCustomer(T, "a1", later(hours=hours))


def respond(hours: float = 5) -> RecordCustomerResponse:
    return RecordCustomerResponse(T, "a1", later(hours=hours), "Here it is.")


def close(hours: float = 3) -> CloseTicket:
    return CloseTicket(T, "a1", later(hours=hours))


def reopen(hours: float = 4) -> ReopenTicket:
    return ReopenTicket(T, "a1", later(hours=hours), "Still wrong.")


def survey(csat: int = 5, recommend: int = 9, hours: float = 3) -> AnswerSurvey:
    return AnswerSurvey(T, csat, recommend, "service:survey", later(hours=hours), "Thanks")


# Paths to each status, for the matrices below.
STATUSES: dict[TicketStatus, tuple[ticket.TicketCommand, ...]] = {
    TicketStatus.NEW: (opening(),),
    TicketStatus.OPEN: (opening(), reply()),
    TicketStatus.WAITING_ON_CUSTOMER: (opening(), reply(), wait()),
    TicketStatus.RESOLVED: (opening(), reply(), resolve()),
    TicketStatus.CLOSED: (opening(), reply(), resolve(), close()),
    TicketStatus.REOPENED: (opening(), reply(), resolve(), reopen()),
}


def in_status(status: TicketStatus) -> ticket.Ticket:
    state, _ = given(*STATUSES[status])
    assert isinstance(state, ticket.Ticket) and state.status is status
    return state


# --- opening ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "first", "resolution"),
    [
        (priority, targets.first_response, targets.resolution)
        for priority, targets in DEFAULT_TARGETS.items()
    ],
)
def test_opening_computes_the_deadlines_of_its_priority(
    priority: Priority, first: timedelta, resolution: timedelta
) -> None:
    [opened] = when(ticket.initial_state, opening(priority=priority))

    assert isinstance(opened, TicketOpened)
    assert opened.first_response_due == NOW + first
    assert opened.resolution_due == NOW + resolution
    assert (opened.status, opened.customer_id, opened.team) == (TicketStatus.NEW, CUSTOMER, TEAM)


def test_configured_targets_replace_the_defaults() -> None:
    policy = SlaPolicy(targets=sla_targets({"urgent": {"first_response": timedelta(seconds=3)}}))

    [opened] = when(ticket.initial_state, opening(priority=Priority.URGENT), policy)

    assert isinstance(opened, TicketOpened)
    assert opened.first_response_due == NOW + timedelta(seconds=3)
    assert opened.resolution_due == NOW + DEFAULT_TARGETS[Priority.URGENT].resolution


def test_a_ticket_opens_once() -> None:
    state, _ = given(opening())
    with pytest.raises(AlreadyExists):
        when(state, opening())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subject": "  "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"description": ""}, "description"),
        ({"description": "x" * 10_001}, "description"),
        ({"customer_id": " "}, "customer_id"),
        ({"team": " "}, "team"),
        ({"assignee_id": ""}, "assignee_id"),
    ],
)
def test_opening_refuses_bad_values(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        when(ticket.initial_state, opening(**changes))
    assert refused.value.field == field


def test_opening_trims_text() -> None:
    [opened] = when(ticket.initial_state, opening(subject="  Hi  ", description=" there "))
    assert isinstance(opened, TicketOpened)
    assert (opened.subject, opened.description) == ("Hi", "there")


@pytest.mark.parametrize(
    "command",
    [
        AssignTicket(T, "a2", "a1", NOW),
        ChangePriority(T, Priority.HIGH, "a1", NOW),
        reply(),
        AddNote(T, "n1", "x", "a1", NOW),
        wait(),
        respond(),
        resolve(),
        close(),
        reopen(),
        FlagBreach(T, SlaTarget.FIRST_RESPONSE, NOW),
        survey(),
    ],
)
def test_every_command_but_opening_needs_a_ticket(command: ticket.TicketCommand) -> None:
    with pytest.raises(NotFound):
        when(ticket.initial_state, command)


# --- assignment and priority --------------------------------------------------------------------


def test_assigning_hands_the_ticket_to_another_agent_and_team() -> None:
    state, _ = given(opening())

    [assigned] = when(state, AssignTicket(T, "a2", "m1", later(minutes=5), team="support-south"))

    assert isinstance(assigned, TicketAssigned)
    assert (assigned.assignee_id, assigned.previous_assignee_id) == ("a2", "a1")
    assert (assigned.team, assigned.previous_team) == ("support-south", TEAM)


def test_assigning_to_whoever_has_it_changes_nothing() -> None:
    state, _ = given(opening())
    assert when(state, AssignTicket(T, "a1", "m1", NOW)) == []
    assert when(state, AssignTicket(T, "a1", "m1", NOW, team=TEAM)) == []


@pytest.mark.parametrize("status", [s for s in TicketStatus if s is not TicketStatus.CLOSED])
def test_any_ticket_not_closed_can_be_assigned(status: TicketStatus) -> None:
    assert names(when(in_status(status), AssignTicket(T, "a9", "m1", NOW))) == ["TicketAssigned"]


def test_a_closed_ticket_cannot_be_assigned() -> None:
    with pytest.raises(WrongState):
        when(in_status(TicketStatus.CLOSED), AssignTicket(T, "a9", "m1", NOW))


@pytest.mark.parametrize("priority", list(Priority))
def test_a_priority_change_recomputes_both_deadlines(priority: Priority) -> None:
    state, _ = given(opening(priority=Priority.LOW if priority is not Priority.LOW else "normal"))

    [changed] = when(state, ChangePriority(T, priority, "m1", later(minutes=30)))

    targets = POLICY.for_priority(priority)
    assert isinstance(changed, TicketPriorityChanged)
    assert changed.first_response_due == NOW + targets.first_response
    assert changed.resolution_due == NOW + targets.resolution
    assert changed.priority is priority


def test_a_priority_change_keeps_the_time_waited_on_the_customer() -> None:
    state, _ = given(opening(), reply(), wait(hours=1), respond(hours=4))  # waited 3 h

    [changed] = when(state, ChangePriority(T, Priority.HIGH, "m1", later(hours=5)))

    assert isinstance(changed, TicketPriorityChanged)
    assert changed.resolution_due == NOW + timedelta(days=1, hours=3)


def test_the_same_priority_changes_nothing() -> None:
    state, _ = given(opening())
    assert when(state, ChangePriority(T, Priority.NORMAL, "m1", NOW)) == []


@pytest.mark.parametrize("status", [TicketStatus.RESOLVED, TicketStatus.CLOSED])
def test_a_finished_ticket_keeps_its_priority(status: TicketStatus) -> None:
    with pytest.raises(WrongState):
        when(in_status(status), ChangePriority(T, Priority.URGENT, "m1", NOW))


# --- replies and notes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "within"), [(10, True), (8 * 60, True), (8 * 60 + 1, False)])
def test_the_first_reply_is_the_first_response_and_says_if_in_time(
    minutes: float, within: bool
) -> None:
    state, _ = given(opening())

    [replied] = when(state, reply(minutes))

    assert isinstance(replied, TicketReplied)
    assert replied.first_response is True
    assert replied.first_response_within_sla is within
    assert replied.status is TicketStatus.OPEN


def test_later_replies_are_not_first_responses() -> None:
    state, _ = given(opening(), reply(10))

    [replied] = when(state, reply(20))

    assert isinstance(replied, TicketReplied)
    assert (replied.first_response, replied.first_response_within_sla) == (False, None)


@pytest.mark.parametrize(
    ("status", "after"),
    [
        (TicketStatus.NEW, TicketStatus.OPEN),
        (TicketStatus.OPEN, TicketStatus.OPEN),
        (TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.WAITING_ON_CUSTOMER),
        (TicketStatus.REOPENED, TicketStatus.OPEN),
    ],
)
def test_replies_move_the_status(status: TicketStatus, after: TicketStatus) -> None:
    [replied] = when(in_status(status), reply(600))
    assert isinstance(replied, TicketReplied)
    assert replied.status is after


@pytest.mark.parametrize("status", [TicketStatus.RESOLVED, TicketStatus.CLOSED])
def test_no_replies_on_a_finished_ticket(status: TicketStatus) -> None:
    with pytest.raises(WrongState):
        when(in_status(status), reply(600))


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001])
def test_replies_and_notes_need_a_body(body: str) -> None:
    state = in_status(TicketStatus.OPEN)
    with pytest.raises(InvalidInput):
        when(state, ReplyToCustomer(T, "r", body, "a1", NOW))
    with pytest.raises(InvalidInput):
        when(state, AddNote(T, "n", body, "a1", NOW))


@pytest.mark.parametrize("status", [s for s in TicketStatus if s is not TicketStatus.CLOSED])
def test_notes_go_on_any_ticket_not_closed_and_keep_its_status(status: TicketStatus) -> None:
    [note] = when(in_status(status), AddNote(T, "n1", "Prefers e-mail.", "a1", NOW))
    assert names([note]) == ["TicketNoteAdded"]
    assert note.status is status  # type: ignore[attr-defined]


def test_no_notes_on_a_closed_ticket() -> None:
    with pytest.raises(WrongState):
        when(in_status(TicketStatus.CLOSED), AddNote(T, "n1", "x", "a1", NOW))


def test_replies_and_notes_are_kept_in_order() -> None:
    state, _ = given(
        opening(), reply(10, "one"), AddNote(T, "n1", "inside", "a2", later(minutes=11)), reply(12)
    )
    assert isinstance(state, ticket.Ticket)
    assert [r.body for r in state.replies] == ["one", "We are on it."]
    assert [(n.body, n.author_id) for n in state.notes] == [("inside", "a2")]
    assert state.first_responded_at == later(minutes=10)


# --- waiting on the customer ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.REOPENED])
def test_a_worked_ticket_can_wait_on_the_customer(status: TicketStatus) -> None:
    assert names(when(in_status(status), wait(5))) == ["TicketWaitingOnCustomer"]


def test_waiting_again_changes_nothing() -> None:
    assert when(in_status(TicketStatus.WAITING_ON_CUSTOMER), wait(2)) == []


@pytest.mark.parametrize("status", [TicketStatus.RESOLVED, TicketStatus.CLOSED])
def test_a_finished_ticket_does_not_wait(status: TicketStatus) -> None:
    with pytest.raises(WrongState):
        when(in_status(status), wait(5))


def test_the_customer_responding_pushes_the_resolution_deadline_back_by_the_wait() -> None:
    state, _ = given(opening(), reply(), wait(hours=1))

    [responded] = when(state, respond(hours=6))

    assert isinstance(responded, TicketCustomerResponded)
    assert responded.resolution_due == NOW + timedelta(days=3, hours=5)
    assert responded.status is TicketStatus.OPEN
    assert responded.message == "Here it is."


@pytest.mark.parametrize(
    "status", [s for s in TicketStatus if s is not TicketStatus.WAITING_ON_CUSTOMER]
)
def test_a_customer_response_needs_a_ticket_waiting_for_it(status: TicketStatus) -> None:
    with pytest.raises(WrongState):
        when(in_status(status), respond())


# --- resolving, closing, reopening ---------------------------------------------------------------


@pytest.mark.parametrize(("hours", "within"), [(2, True), (72, True), (72.01, False)])
def test_resolving_says_if_it_was_within_the_sla(hours: float, within: bool) -> None:
    state, _ = given(opening(), reply())

    [resolved] = when(state, resolve(hours))

    assert isinstance(resolved, TicketResolved)
    assert resolved.within_sla is within
    assert resolved.resolution_due == NOW + timedelta(days=3)
    assert resolved.opened_at == NOW


def test_resolving_while_waiting_counts_the_wait_as_paused() -> None:
    state, _ = given(opening(), reply(), wait(hours=1))

    [resolved] = when(state, resolve(hours=80))  # 79 h waited: due at 72 + 79 h

    assert isinstance(resolved, TicketResolved)
    assert resolved.within_sla is True
    assert resolved.resolution_due == NOW + timedelta(hours=72 + 79)


@pytest.mark.parametrize(
    "status",
    [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.REOPENED],
)
def test_any_worked_ticket_can_be_resolved(status: TicketStatus) -> None:
    assert names(when(in_status(status), resolve(6))) == ["TicketResolved"]


def test_resolving_twice_changes_nothing() -> None:
    assert when(in_status(TicketStatus.RESOLVED), resolve(6)) == []


def test_resolving_needs_a_resolution() -> None:
    with pytest.raises(InvalidInput):
        when(in_status(TicketStatus.OPEN), ResolveTicket(T, " ", "a1", NOW))


def test_a_closed_ticket_is_not_resolved_again() -> None:
    with pytest.raises(WrongState):
        when(in_status(TicketStatus.CLOSED), resolve(6))


def test_a_resolved_ticket_closes_and_closing_twice_changes_nothing() -> None:
    assert names(when(in_status(TicketStatus.RESOLVED), close())) == ["TicketClosed"]
    assert when(in_status(TicketStatus.CLOSED), close()) == []


@pytest.mark.parametrize(
    "status",
    [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.REOPENED],
)
def test_only_a_resolved_ticket_closes(status: TicketStatus) -> None:
    with pytest.raises(WrongState):
        when(in_status(status), close())


def test_reopening_starts_a_new_resolution_cycle() -> None:
    state = in_status(TicketStatus.RESOLVED)

    [reopened] = when(state, reopen(hours=10))

    assert isinstance(reopened, TicketReopened)
    assert reopened.resolution_due == later(hours=10) + timedelta(days=3)
    assert reopened.status is TicketStatus.REOPENED
    assert reopened.reason == "Still wrong."


@pytest.mark.parametrize(
    "status",
    [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.CLOSED],
)
def test_only_a_resolved_ticket_reopens(status: TicketStatus) -> None:
    with pytest.raises(WrongState):
        when(in_status(status), reopen())


def test_reopening_a_reopened_ticket_changes_nothing() -> None:
    assert when(in_status(TicketStatus.REOPENED), reopen(9)) == []


def test_the_last_command_decides_the_terminal_state() -> None:
    closed, _ = given(*STATUSES[TicketStatus.CLOSED])
    surveyed, _ = given(*STATUSES[TicketStatus.CLOSED], survey(hours=4))
    assert not ticket.is_terminal(closed)
    assert ticket.is_terminal(surveyed)


# --- SLA breaches and escalation -----------------------------------------------------------------


def first_response_check(hours: float) -> FlagBreach:
    return FlagBreach(T, SlaTarget.FIRST_RESPONSE, later(hours=hours))


def resolution_check(hours: float) -> FlagBreach:
    return FlagBreach(T, SlaTarget.RESOLUTION, later(hours=hours))


@pytest.mark.parametrize("hours", [0, 7.99, 8 - 1 / 3600])
def test_nothing_is_breached_before_its_deadline(hours: float) -> None:
    state, _ = given(opening())
    assert when(state, first_response_check(hours)) == []
    assert when(state, resolution_check(hours)) == []


def test_a_missed_first_response_is_flagged_and_escalated_to_the_team_lead() -> None:
    state, _ = given(opening())

    breached, escalated = when(state, first_response_check(8))

    assert isinstance(breached, SlaBreached) and isinstance(escalated, TicketEscalated)
    assert (breached.target, breached.due) == (SlaTarget.FIRST_RESPONSE, later(hours=8))
    assert breached.detected_at == later(hours=8)
    assert (escalated.from_assignee_id, escalated.to_assignee_id) == ("a1", LEAD)
    assert (escalated.from_priority, escalated.to_priority) == (Priority.NORMAL, Priority.HIGH)
    assert (escalated.assignee_id, escalated.priority) == (LEAD, Priority.HIGH)
    assert escalated.reason is SlaTarget.FIRST_RESPONSE


def test_a_breach_is_flagged_once_per_target() -> None:
    state, _ = given(opening(), first_response_check(8))
    assert when(state, first_response_check(9)) == []
    assert names(when(state, resolution_check(72))) == ["SlaBreached", "TicketEscalated"]


@pytest.mark.parametrize(
    ("priority", "raised_to"),
    [
        (Priority.LOW, Priority.NORMAL),
        (Priority.NORMAL, Priority.HIGH),
        (Priority.HIGH, Priority.URGENT),
        (Priority.URGENT, Priority.URGENT),
    ],
)
def test_escalation_raises_the_priority_one_level(priority: Priority, raised_to: Priority) -> None:
    assert raised(priority) is raised_to
    state, _ = given(opening(priority=priority))
    events = when(state, first_response_check(24 * 5))
    assert events[-1].priority is raised_to  # type: ignore[attr-defined]


def test_an_urgent_ticket_already_with_the_lead_is_only_flagged() -> None:
    state, _ = given(opening(priority=Priority.URGENT, assignee_id=LEAD))
    assert names(when(state, first_response_check(1))) == ["SlaBreached"]


def test_without_a_team_lead_the_assignee_stays() -> None:
    state, _ = given(opening(team="nobody-leads"))
    _, escalated = when(state, first_response_check(8))
    assert isinstance(escalated, TicketEscalated)
    assert escalated.to_assignee_id == escalated.from_assignee_id == "a1"
    assert escalated.to_priority is Priority.HIGH


def test_an_answered_ticket_has_no_first_response_breach() -> None:
    state, _ = given(opening(), reply(9 * 60))  # late, but answered
    assert when(state, first_response_check(10)) == []


@pytest.mark.parametrize("status", [TicketStatus.RESOLVED, TicketStatus.CLOSED])
def test_finished_tickets_breach_nothing(status: TicketStatus) -> None:
    state = in_status(status)
    assert when(state, resolution_check(1000)) == []
    assert when(state, first_response_check(1000)) == []


def test_the_resolution_clock_is_paused_while_waiting_on_the_customer() -> None:
    state, _ = given(opening(), reply(), wait(hours=1))
    assert when(state, resolution_check(100)) == []
    responded, _ = given(opening(), reply(), wait(hours=1), respond(hours=30))  # due at 72+29
    assert when(responded, resolution_check(100)) == []
    assert names(when(responded, resolution_check(101))) == ["SlaBreached", "TicketEscalated"]


def test_a_reopened_ticket_can_breach_its_new_resolution_deadline() -> None:
    state, _ = given(opening(), reply(), resolution_check(72), resolve(80), reopen(81))
    # the breach escalated it to high: a day to resolve from the reopening
    assert when(state, resolution_check(81 + 23)) == []
    [breached, _] = when(state, resolution_check(81 + 24))
    assert isinstance(breached, SlaBreached)
    assert breached.due == later(hours=81 + 24)


def test_breaches_are_remembered() -> None:
    state, _ = given(opening(), first_response_check(8))
    assert isinstance(state, ticket.Ticket)
    assert [(b.target, b.due) for b in state.breaches] == [
        (SlaTarget.FIRST_RESPONSE, later(hours=8))
    ]
    assert (state.assignee_id, state.priority, state.escalations) == (LEAD, Priority.HIGH, 1)


# --- survey ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [TicketStatus.RESOLVED, TicketStatus.CLOSED])
@pytest.mark.parametrize(("csat", "recommend"), [(1, 0), (3, 7), (5, 10)])
def test_a_resolved_ticket_takes_one_survey(
    status: TicketStatus, csat: int, recommend: int
) -> None:
    [answered] = when(in_status(status), survey(csat, recommend, hours=6))
    assert isinstance(answered, SurveyAnswered)
    assert (answered.csat, answered.would_recommend, answered.comment) == (
        csat,
        recommend,
        "Thanks",
    )
    assert answered.customer_id == CUSTOMER


@pytest.mark.parametrize(
    ("csat", "recommend", "field"),
    [
        (0, 5, "csat"),
        (6, 5, "csat"),
        (-1, 5, "csat"),
        (3, -1, "would_recommend"),
        (3, 11, "would_recommend"),
    ],
)
def test_answers_out_of_range_are_refused(csat: int, recommend: int, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        when(in_status(TicketStatus.RESOLVED), survey(csat, recommend))
    assert refused.value.field == field


def test_a_second_answer_is_refused() -> None:
    state, _ = given(*STATUSES[TicketStatus.RESOLVED], survey())
    with pytest.raises(SurveyAlreadyAnswered):
        when(state, survey(1, 1))


def test_a_reopened_and_resolved_again_ticket_still_takes_one_survey() -> None:
    state, _ = given(*STATUSES[TicketStatus.RESOLVED], survey(), reopen(), resolve(6))
    with pytest.raises(SurveyAlreadyAnswered):
        when(state, survey())


@pytest.mark.parametrize(
    "status",
    [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.REOPENED],
)
def test_no_survey_before_resolution(status: TicketStatus) -> None:
    with pytest.raises(WrongState):
        when(in_status(status), survey())


def test_every_event_carries_the_ticket_and_customer() -> None:
    _, events = given(
        opening(),
        AssignTicket(T, "a2", "m1", later(minutes=1)),
        ChangePriority(T, Priority.HIGH, "m1", later(minutes=2)),
        AddNote(T, "n", "note", "a2", later(minutes=3)),
        first_response_check(5),
        reply(400),
        wait(7),
        respond(8),
        resolve(9),
        survey(hours=10),
        reopen(11),
        resolve(12),
        close(13),
    )
    assert len(events) == 14
    assert {(e.ticket_id, e.customer_id) for e in events} == {(T, CUSTOMER)}  # type: ignore[attr-defined]


# --- SLA targets from settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"critical": {"resolution": timedelta(hours=1)}}, "unknown priority 'critical'"),
        ({"high": {"reply": timedelta(hours=1)}}, "unknown target(s) reply"),
        ({"high": {"resolution": timedelta(0)}}, "high.resolution must be longer than 0"),
        ({"low": {"first_response": timedelta(days=9)}}, "low: first_response"),
    ],
)
def test_bad_sla_targets_are_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="invalid SLA targets") as refused:
        sla_targets(overrides)
    assert message in str(refused.value)


def test_sla_overrides_apply_per_priority_and_target() -> None:
    table = sla_targets({"high": {"resolution": timedelta(hours=6)}})
    assert table[Priority.HIGH].resolution == timedelta(hours=6)
    assert table[Priority.HIGH].first_response == DEFAULT_TARGETS[Priority.HIGH].first_response
    assert table[Priority.LOW] == DEFAULT_TARGETS[Priority.LOW]
