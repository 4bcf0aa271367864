"""A leaving rep's book handed over (customers, open opportunities, open tickets), as pure
given/when/then."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from sagas_testing import (
    DEPARTURE,
    MAX_ATTEMPTS,
    NOW,
    departure,
    given,
    steps,
    ticket_opened,
    when,
)

from crm_sagas.domain import rep_departure as flow
from crm_sagas.domain import saga as core
from crm_sagas.domain.saga import (
    Cancelled,
    DeadlinePassed,
    Entry,
    Retried,
    Saga,
    SagaCommand,
    Status,
    StepFailed,
    StepRefused,
    StepSucceeded,
)

SAGA = "sag_departure_u1"
SUCCESSORS = ("u2", "u3")
T1 = NOW + timedelta(minutes=1)
T2 = NOW + timedelta(minutes=2)
T3 = NOW + timedelta(minutes=3)
MOVES = {"cus_a": "u3", "cus_b": "u2"}


def handed_over(
    moves: dict[str, str] = MOVES, *, completed: bool = True, skipped: int = 0, at: datetime = T1
) -> StepSucceeded:
    answer = {
        "completed": completed,
        "moved": [{"customer_id": c, "owner_id": o} for c, o in moves.items()],
        "skipped": [{"customer_id": f"cus_s{n}", "reason": "owned by u9"} for n in range(skipped)],
    }  # fmt: skip
    return StepSucceeded(at, flow.HAND_OVER, 201 if completed else 200, answer)


def opportunity(
    id_: str, customer: str = "cus_z", owner: str = "u1", status: str = "open"
) -> dict[str, Any]:
    return {"id": id_, "customer_id": customer, "owner_id": owner, "status": status}


def ticket(
    id_: str, customer: str = "cus_z", assignee: str = "u1", status: str = "open"
) -> dict[str, Any]:
    return {"id": id_, "customer_id": customer, "assignee_id": assignee, "status": status}


def opportunities_listed(round_: int, *rows: dict[str, Any], at: datetime = T2) -> StepSucceeded:
    return StepSucceeded(at, f"list_opportunities:{round_}", 200, {"opportunities": list(rows)})


def tickets_listed(round_: int, *rows: dict[str, Any], at: datetime = T2) -> StepSucceeded:
    return StepSucceeded(at, f"list_tickets:{round_}", 200, {"tickets": list(rows)})


def reassigned(step: str, at: datetime = T3) -> StepSucceeded:
    return StepSucceeded(at, step, 200, {})


def leaving(*entries: Entry, team: str | None = "north") -> Saga[Any]:
    return given(DEPARTURE, departure(team=team), *entries)


def outstanding(saga: Saga[Any]) -> dict[str, SagaCommand]:
    return {c.step: c for c in core.resume(DEPARTURE, saga)}


def view(saga: Saga[Any]) -> dict[str, Any]:
    return DEPARTURE.view(saga.state)


NOTHING_OPEN = (opportunities_listed(0), tickets_listed(0))


# --- start: the customers --------------------------------------------------------------------


def test_a_departure_request_starts_the_saga_of_the_rep() -> None:
    assert DEPARTURE.starting(departure()) == SAGA
    assert DEPARTURE.starting(departure(rep="u7")) == "sag_departure_u7"
    assert DEPARTURE.starting(ticket_opened()) is None
    assert DEPARTURE.following(departure()) is None  # nothing else concerns it
    assert DEPARTURE.following(ticket_opened()) is None


@pytest.mark.parametrize("team", ["north", None], ids=["with-team", "no-team"])
def test_first_the_customers_are_handed_over_in_contacts(team: str | None) -> None:
    saga = leaving(team=team)
    (hand_over,) = core.resume(DEPARTURE, saga)
    assert (hand_over.step, hand_over.service, hand_over.method, hand_over.path) == (
        flow.HAND_OVER, "contacts", "POST", "/contacts/handovers",
    )  # fmt: skip
    expected: dict[str, Any] = {
        "handover_id": flow.handover_id_of("sag_departure_u1"), "leaving_rep_id": "u1",
        "successor_ids": ["u2", "u3"], "reason": "rep left the company",
    }  # fmt: skip
    if team is not None:
        expected["team"] = team
    assert hand_over.body == expected
    assert set(hand_over.keep) == {"completed", "moved", "skipped"}
    assert core.status(DEPARTURE, saga) is Status.RUNNING
    assert core.deadline(DEPARTURE, saga) == core.Deadline("step", NOW + DEPARTURE.step_deadline)
    assert DEPARTURE.awaits(saga.state) == {}


def test_an_unfinished_handover_is_asked_again_and_counts_as_progress() -> None:
    saga = leaving()
    after, sent = when(DEPARTURE, saga, handed_over({"cus_a": "u3"}, completed=False))
    assert sent == [flow.HAND_OVER]
    assert outstanding(after)[flow.HAND_OVER] == core.resume(DEPARTURE, saga)[0]  # the same
    assert view(after)["customers"] == {"confirmed": False, "moved": {}, "skipped": 0}
    assert core.deadline(DEPARTURE, after) == core.Deadline("step", T1 + DEPARTURE.step_deadline)


def test_a_completed_handover_lists_the_reps_open_opportunities_and_tickets() -> None:
    after, sent = when(DEPARTURE, leaving(), handed_over(skipped=2))
    assert sent == ["list_opportunities:0", "list_tickets:0"]
    assert view(after)["customers"] == {"confirmed": True, "moved": MOVES, "skipped": 2}
    commands = outstanding(after)
    opportunities = commands["list_opportunities:0"]
    assert (opportunities.service, opportunities.method) == ("pipeline", "GET")
    assert opportunities.path == "/pipeline/opportunities?owner_id=u1&status=open&limit=100"
    tickets = commands["list_tickets:0"]
    assert (tickets.service, tickets.method) == ("tickets", "GET")
    path, _, query = tickets.path.partition("?")
    assert path == "/tickets"
    assert parse_qs(query) == {  # only open tickets: a page of closed ones hides nothing
        "assignee_id": ["u1"], "status": sorted(flow.OPEN_TICKET_STATUSES), "limit": ["100"],
    }  # fmt: skip


# --- opportunities ---------------------------------------------------------------------------


def test_an_opportunity_goes_to_the_successor_who_took_its_customer() -> None:
    listed = opportunities_listed(
        0, opportunity("opp_a", "cus_a"), opportunity("opp_b", "cus_b"), opportunity("opp_c")
    )
    saga, sent = when(DEPARTURE, leaving(handed_over()), listed)
    assert sent == [
        "reassign_opportunity:opp_a", "reassign_opportunity:opp_b", "reassign_opportunity:opp_c",
        "list_tickets:0",
    ]  # fmt: skip
    commands = outstanding(saga)
    first = commands["reassign_opportunity:opp_a"]
    assert (first.service, first.method, first.path) == (
        "pipeline", "POST", "/pipeline/opportunities/opp_a/owner",
    )  # fmt: skip
    assert first.body == {"owner_id": "u3", "reason": "rep left the company", "team": "north"}
    assert commands["reassign_opportunity:opp_b"].body == {
        "owner_id": "u2", "reason": "rep left the company", "team": "north",
    }  # fmt: skip
    unmoved = commands["reassign_opportunity:opp_c"].body
    assert unmoved is not None and unmoved["owner_id"] in SUCCESSORS


def test_an_opportunity_reassigned_without_a_team_names_none() -> None:
    saga = leaving(handed_over(), opportunities_listed(0, opportunity("opp_a", "cus_a")), team=None)
    assert outstanding(saga)["reassign_opportunity:opp_a"].body == {
        "owner_id": "u3", "reason": "rep left the company",
    }  # fmt: skip


def test_items_of_customers_not_moved_are_spread_over_the_successors_the_same_each_time() -> None:
    state = leaving(handed_over()).state
    items = [f"opp_{n}" for n in range(40)]
    chosen = [state.successor_for(item, "cus_unmoved") for item in items]
    assert set(chosen) == set(SUCCESSORS)  # both take a share
    assert chosen == [state.successor_for(item, "cus_unmoved") for item in items]  # stable
    again = leaving(handed_over()).state  # a replay decides the same
    assert chosen == [again.successor_for(item, "cus_unmoved") for item in items]
    assert state.successor_for("opp_0", "cus_a") == "u3"  # a moved customer wins


def test_the_list_is_read_again_after_each_round_until_it_names_nothing_new() -> None:
    saga = leaving(
        handed_over(), tickets_listed(0),
        opportunities_listed(0, opportunity("opp_a", "cus_a"), opportunity("opp_b", "cus_b")),
    )  # fmt: skip
    saga, sent = when(DEPARTURE, saga, reassigned("reassign_opportunity:opp_a"))
    assert sent == ["reassign_opportunity:opp_b"]  # the round goes on
    saga, sent = when(DEPARTURE, saga, reassigned("reassign_opportunity:opp_b"))
    assert sent == ["list_opportunities:1"]  # opened for the rep meanwhile?
    # opp_a listed again (a list that lags) is not moved twice; opp_new is new
    relisted = opportunities_listed(
        1, opportunity("opp_a", "cus_a"), opportunity("opp_new", "cus_b"), at=T3
    )
    saga, sent = when(DEPARTURE, saga, relisted)
    assert sent == ["reassign_opportunity:opp_new"]
    assert outstanding(saga)["reassign_opportunity:opp_new"].body == {
        "owner_id": "u2", "reason": "rep left the company", "team": "north",
    }  # fmt: skip
    saga, sent = when(DEPARTURE, saga, reassigned("reassign_opportunity:opp_new"))
    assert sent == ["list_opportunities:2"]
    done, sent = when(DEPARTURE, saga, opportunities_listed(2, opportunity("opp_a", "cus_a")))
    assert sent == [] and core.status(DEPARTURE, done) is Status.COMPLETED
    assert view(done)["opportunities"] == {
        "confirmed": True, "moved": {"opp_a": "u3", "opp_b": "u2", "opp_new": "u2"},
        "skipped": {}, "rounds": 3,
    }  # fmt: skip


def test_only_the_reps_open_opportunities_are_moved() -> None:
    listed = opportunities_listed(
        0,
        opportunity("opp_mine"),
        opportunity("opp_other", owner="u9"),  # someone else's (the filter was not honoured)
        opportunity("opp_won", status="won"),
        opportunity("opp_lost", status="lost"),
        {"id": "opp_bare"},  # only the id: the list's own filter stands
    )
    _, sent = when(DEPARTURE, leaving(handed_over(), tickets_listed(0)), listed)
    assert sent == ["reassign_opportunity:opp_mine", "reassign_opportunity:opp_bare"]


@pytest.mark.parametrize("status", [404, 409])
@pytest.mark.parametrize("book", ["opportunity", "ticket"])
def test_an_item_gone_or_closed_meanwhile_is_skipped_with_the_reason_and_not_tried_again(
    book: str, status: int
) -> None:
    if book == "opportunity":
        first = (tickets_listed(0), opportunities_listed(0, opportunity("x_1"), opportunity("x_2")))
        relist = opportunities_listed(1, opportunity("x_1"), at=T3)
    else:
        first = (opportunities_listed(0), tickets_listed(0, ticket("x_1"), ticket("x_2")))
        relist = tickets_listed(1, ticket("x_1"), at=T3)
    step = f"reassign_{book}:x_1"
    saga = leaving(handed_over(), *first)
    skipped, sent = when(DEPARTURE, saga, StepRefused(T3, step, status, "x_1 is closed"))
    assert skipped.stuck is None and core.status(DEPARTURE, skipped) is Status.RUNNING
    assert sent == [f"reassign_{book}:x_2"]  # not x_1 again
    part = "opportunities" if book == "opportunity" else "tickets"
    assert view(skipped)[part]["skipped"] == {"x_1": f"{status}: x_1 is closed"}
    assert core.deadline(DEPARTURE, skipped) == core.Deadline("step", T3 + DEPARTURE.step_deadline)
    saga = core.evolve(DEPARTURE, skipped, reassigned(f"reassign_{book}:x_2"), max_attempts=3)
    done, sent = when(DEPARTURE, saga, relist)  # listed again: still skipped, not retried
    assert sent == [] and core.status(DEPARTURE, done) is Status.COMPLETED
    assert view(done)[part]["moved"].keys() == {"x_2"}


@pytest.mark.parametrize(
    ("entries", "refused"),
    [
        ((), StepRefused(T1, flow.HAND_OVER, 409, "handover hov_departure_u1 differs")),
        ((handed_over(),), StepRefused(T2, "list_opportunities:0", 403, "not allowed")),
        ((handed_over(),), StepRefused(T2, "list_tickets:0", 422, "bad status")),
        (
            (handed_over(), opportunities_listed(0, opportunity("opp_a"))),
            StepRefused(T3, "reassign_opportunity:opp_a", 403, "not in your team"),
        ),
        (
            (handed_over(), tickets_listed(0, ticket("tkt_a"))),
            StepRefused(T3, "reassign_ticket:tkt_a", 422, "assignee_id: unknown agent"),
        ),
    ],
    ids=["handover-409", "list-opportunities-403", "list-tickets-422", "opportunity-403",
         "ticket-422"],
)  # fmt: skip
def test_any_other_refusal_fails_the_saga_until_an_operator_retries(
    entries: tuple[Entry, ...], refused: StepRefused
) -> None:
    saga = leaving(*entries)
    failed, sent = when(DEPARTURE, saga, refused)
    assert sent == [] and core.status(DEPARTURE, failed) is Status.FAILED
    assert failed.stuck == f"{refused.step} refused ({refused.status}): {refused.detail}"
    assert failed.state == saga.state  # nothing skipped
    retried, sent = when(DEPARTURE, failed, Retried(T3, "user:root"))
    assert refused.step in sent and core.status(DEPARTURE, retried) is Status.RUNNING


def test_a_transient_failure_of_a_reassignment_is_tried_again_not_skipped() -> None:
    saga = leaving(handed_over(), tickets_listed(0), opportunities_listed(0, opportunity("opp_a")))
    after, sent = when(DEPARTURE, saga, StepFailed(T3, "reassign_opportunity:opp_a", "503"))
    assert sent == ["reassign_opportunity:opp_a"]
    assert view(after)["opportunities"]["skipped"] == {}


# --- tickets ---------------------------------------------------------------------------------


def test_each_open_ticket_is_assigned_to_the_successor_who_took_its_customer() -> None:
    listed = tickets_listed(0, ticket("tkt_a", "cus_a"), ticket("tkt_z"))
    saga, sent = when(DEPARTURE, leaving(handed_over(), opportunities_listed(0)), listed)
    assert sent == ["reassign_ticket:tkt_a", "reassign_ticket:tkt_z"]
    commands = outstanding(saga)
    assign = commands["reassign_ticket:tkt_a"]
    assert (assign.service, assign.method, assign.path, assign.body) == (
        "tickets", "POST", "/tickets/tkt_a/assign", {"assignee_id": "u3"},
    )  # fmt: skip
    other = commands["reassign_ticket:tkt_z"].body
    assert other is not None and other["assignee_id"] in SUCCESSORS
    saga = core.evolve(DEPARTURE, saga, reassigned("reassign_ticket:tkt_a"), max_attempts=3)
    saga, sent = when(DEPARTURE, saga, reassigned("reassign_ticket:tkt_z"))
    assert sent == ["list_tickets:1"]
    done, sent = when(DEPARTURE, saga, tickets_listed(1, at=T3))
    assert sent == [] and core.status(DEPARTURE, done) is Status.COMPLETED
    assert view(done)["tickets"]["moved"] == {"tkt_a": "u3", "tkt_z": other["assignee_id"]}


@pytest.mark.parametrize(
    ("status", "moved"),
    [("new", True), ("open", True), ("waiting_on_customer", True), ("reopened", True),
     ("resolved", False), ("closed", False)],
)  # fmt: skip
def test_only_open_tickets_of_the_rep_are_moved(status: str, moved: bool) -> None:
    listed = tickets_listed(0, ticket("tkt_a", status=status), ticket("tkt_b", assignee="a9"))
    after, sent = when(DEPARTURE, leaving(handed_over(), opportunities_listed(0)), listed)
    assert sent == (["reassign_ticket:tkt_a"] if moved else [])
    assert view(after)["tickets"]["confirmed"] is not moved


# --- the end ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "completed"),
    [
        ((handed_over(), *NOTHING_OPEN), True),
        ((handed_over(completed=False), *NOTHING_OPEN), False),
        ((handed_over(), opportunities_listed(0)), False),
        ((handed_over(), tickets_listed(0)), False),
        ((handed_over(), tickets_listed(0), opportunities_listed(0, opportunity("opp_a"))), False),
    ],
    ids=["all-confirmed", "customers-unfinished", "tickets-unlisted", "opportunities-unlisted",
         "opportunity-to-move"],
)  # fmt: skip
def test_completed_only_when_customers_opportunities_and_tickets_are_all_confirmed(
    entries: tuple[Entry, ...], completed: bool
) -> None:
    saga = leaving(*entries)
    assert (core.status(DEPARTURE, saga) is Status.COMPLETED) is completed
    assert (core.deadline(DEPARTURE, saga) is None) is completed
    assert (core.resume(DEPARTURE, saga) == []) is completed


def test_the_view_shows_each_part_of_the_book() -> None:
    saga = leaving(
        handed_over(skipped=1),
        opportunities_listed(0, opportunity("opp_a", "cus_a"), opportunity("opp_b")),
        reassigned("reassign_opportunity:opp_a"),
        StepRefused(T3, "reassign_opportunity:opp_b", 409, "opportunity opp_b is won"),
        tickets_listed(0),
    )  # fmt: skip
    assert view(saga) == {
        "rep_id": "u1",
        "successor_ids": ["u2", "u3"],
        "team": "north",
        "reason": "rep left the company",
        "requested_by": "u_manager",
        "handover_id": flow.handover_id_of("sag_departure_u1"),
        "customers": {"confirmed": True, "moved": MOVES, "skipped": 1},
        "opportunities": {
            "confirmed": False, "moved": {"opp_a": "u3"},
            "skipped": {"opp_b": "409: opportunity opp_b is won"}, "rounds": 1,
        },
        "tickets": {"confirmed": True, "moved": {}, "skipped": {}, "rounds": 1},
        "timed_out": None,
    }  # fmt: skip
    assert steps(core.resume(DEPARTURE, saga)) == ["list_opportunities:1"]


def test_each_item_has_its_own_step_so_a_resend_is_the_same_command() -> None:
    history = (
        handed_over(),
        opportunities_listed(0, *(opportunity(f"opp_{n}") for n in range(5))),
        tickets_listed(0, *(ticket(f"tkt_{n}") for n in range(3))),
    )
    saga = leaving(*history)
    names = steps(core.resume(DEPARTURE, saga))
    assert len(names) == len(set(names)) == 8
    assert names[:5] == [f"reassign_opportunity:opp_{n}" for n in range(5)]
    assert names[5:] == [f"reassign_ticket:tkt_{n}" for n in range(3)]
    assert core.resume(DEPARTURE, saga) == core.resume(DEPARTURE, leaving(*history))  # restarted
    after = core.evolve(DEPARTURE, saga, reassigned("reassign_opportunity:opp_0"), max_attempts=3)
    assert steps(core.resume(DEPARTURE, after)) == names[1:]  # the others unchanged


def test_a_row_listed_twice_is_moved_once() -> None:
    listed = opportunities_listed(0, opportunity("opp_a"), opportunity("opp_a"))
    saga = leaving(handed_over(), tickets_listed(0), listed)
    assert steps(core.resume(DEPARTURE, saga)) == ["reassign_opportunity:opp_a"]
    _, sent = when(DEPARTURE, saga, reassigned("reassign_opportunity:opp_a"))
    assert sent == ["list_opportunities:1"]


def test_a_cancelled_departure_sends_nothing_more() -> None:
    saga = leaving(handed_over(), opportunities_listed(0, opportunity("opp_a")))
    after, sent = when(DEPARTURE, saga, Cancelled(T3, "user:root", "the rep stays"))
    assert sent == [] and core.status(DEPARTURE, after) is Status.CANCELLED
    assert core.deadline(DEPARTURE, after) is None


# --- time ------------------------------------------------------------------------------------


def test_every_answer_moves_the_step_deadline() -> None:
    saga = leaving(handed_over())
    assert core.deadline(DEPARTURE, saga) == core.Deadline("step", T1 + DEPARTURE.step_deadline)
    listed = leaving(handed_over(), opportunities_listed(0, opportunity("opp_a")))
    assert core.deadline(DEPARTURE, listed) == core.Deadline("step", T2 + DEPARTURE.step_deadline)
    failed = core.evolve(DEPARTURE, listed, StepFailed(T3, "list_tickets:0", "503"), max_attempts=3)
    assert core.deadline(DEPARTURE, failed) == core.deadline(DEPARTURE, listed)  # no progress


def test_a_step_unanswered_past_its_deadline_fails_the_saga_until_retried() -> None:
    saga = leaving(handed_over())
    due = T1 + DEPARTURE.step_deadline
    assert core.on_deadline(DEPARTURE, saga, due - timedelta(seconds=1)) == []
    (passed,) = core.on_deadline(DEPARTURE, saga, due)
    assert passed == DeadlinePassed(due, "step", due=due)
    timed_out, sent = when(DEPARTURE, saga, passed)
    assert sent == [] and core.status(DEPARTURE, timed_out) is Status.FAILED
    assert timed_out.stuck is None  # the flow's own failure
    reason = view(timed_out)["timed_out"]
    assert reason == "no answer within 0:30:00 to list_opportunities:0, list_tickets:0"
    assert core.deadline(DEPARTURE, timed_out) is None
    assert core.on_deadline(DEPARTURE, timed_out, due + timedelta(days=1)) == []
    later = due + timedelta(hours=2)
    retried, sent = when(DEPARTURE, timed_out, Retried(later, "user:root"))
    assert core.status(DEPARTURE, retried) is Status.RUNNING
    assert sent == ["list_opportunities:0", "list_tickets:0"]
    assert view(retried)["timed_out"] is None
    assert core.deadline(DEPARTURE, retried) == core.Deadline(
        "step", later + DEPARTURE.step_deadline
    )
    done = retried
    for entry in NOTHING_OPEN:
        done = core.evolve(DEPARTURE, done, entry, max_attempts=MAX_ATTEMPTS)
    assert core.status(DEPARTURE, done) is Status.COMPLETED


def test_the_history_round_trips_through_its_documents() -> None:
    history = [
        core.Started(NOW, departure()),
        handed_over(),
        opportunities_listed(0, opportunity("opp_a", "cus_a")),
        StepRefused(T3, "reassign_opportunity:opp_a", 404, "gone"),
        DeadlinePassed(T3, "step"),
    ]
    back = [core.entry_from_document(core.entry_to_document(e)) for e in history]
    assert back == history
    replayed = core.replay(DEPARTURE, back, max_attempts=MAX_ATTEMPTS)
    assert replayed.state == leaving(*history[1:]).state
