"""A requirement ticket through sales, R&D and customer service, as pure given/when/then."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sagas_testing import (
    MAX_ATTEMPTS,
    NOW,
    REQUIREMENT,
    given,
    rnd_declined,
    rnd_reply,
    rnd_scheduled,
    steps,
    ticket_closed,
    ticket_opened,
    ticket_reopened,
    ticket_resolved,
    when,
)

from crm_contracts.rnd import RequirementEstimateRequested
from crm_contracts.sagas import RequirementStepEscalated
from crm_sagas.domain import requirement as flow
from crm_sagas.domain import saga as core
from crm_sagas.domain.saga import (
    PUBLISH,
    Cancelled,
    DeadlinePassed,
    Decided,
    Entry,
    Observed,
    Retried,
    Saga,
    SagaCommand,
    Status,
    StepFailed,
    StepRefused,
    StepSucceeded,
    Trigger,
)

SAGA = "sag_requirement_tkt_1"
DECISION_URL = f"POST /sagas/{SAGA}/decisions/sales_review"
LEAD, SERVICE_LEAD = REQUIREMENT.sales_lead, REQUIREMENT.service_lead

# One requirement's timeline: opened at NOW, reviewed after 2 hours, estimated after a day,
# followed up (resolved) after two days, closed a minute later.
T_REVIEW = NOW + timedelta(hours=2)
T_REQUEST = T_REVIEW + timedelta(minutes=1)
T_RND = NOW + timedelta(days=1)
T_TOLD = T_RND + timedelta(minutes=5)
T_RESOLVED = NOW + timedelta(days=2)
T_CLOSED = T_RESOLVED + timedelta(minutes=1)

LOOKED_UP = StepSucceeded(NOW, flow.LOOK_UP, 200, {"owner_id": "u1", "kind": "company"})
ASKED = StepSucceeded(NOW, flow.ASK_REVIEW, 201, {"id": "int_1"})
CONFIRMED = Decided(
    T_REVIEW, flow.SALES_REVIEW, "u1", True, "the renewal depends on it",
    {"business_value": "high", "value_note": "Blocks the roll-out to 40 stores"},
)  # fmt: skip
REJECTED = Decided(T_REVIEW, flow.SALES_REVIEW, "u1", False, "no budget for it this year")
REQUESTED = StepSucceeded(T_REQUEST, flow.REQUEST_ESTIMATE, 202, {"message_id": "msg_1"})
SCHEDULED = Observed(T_RND, rnd_scheduled(T_RND))
DECLINED = Observed(T_RND, rnd_declined(T_RND))
TOLD = StepSucceeded(T_TOLD, flow.TELL_SCHEDULE, 201, {"status": "open"})
RESOLVED = Observed(T_RESOLVED, ticket_resolved(T_RESOLVED))
CLOSED = StepSucceeded(T_CLOSED, flow.CLOSE, 200, {"status": "closed"})

AT_REVIEW = (LOOKED_UP, ASKED)
AT_ESTIMATE = (*AT_REVIEW, CONFIRMED, REQUESTED)
AT_FOLLOW_UP = (*AT_ESTIMATE, SCHEDULED, TOLD)
AT_CLOSING = (*AT_FOLLOW_UP, RESOLVED)


def requirement(*entries: Entry) -> Saga[Any]:
    return given(REQUIREMENT, ticket_opened(), *entries)


def outstanding(saga: Saga[Any]) -> dict[str, SagaCommand]:
    return {c.step: c for c in core.resume(REQUIREMENT, saga)}


def view(saga: Saga[Any]) -> dict[str, Any]:
    return REQUIREMENT.view(saga.state)


def ok(step: str, at: datetime = NOW) -> StepSucceeded:
    return StepSucceeded(at, step, 201, {"status": "open"})


def escalated(saga: Saga[Any]) -> tuple[Saga[Any], list[str]]:
    """The saga after its pending deadline passed, and what it then sends."""
    pending = core.deadline(REQUIREMENT, saga)
    assert pending is not None
    (passed,) = core.on_deadline(REQUIREMENT, saga, pending.at)
    return when(REQUIREMENT, saga, passed)


# --- start -----------------------------------------------------------------------------------


def test_a_requirement_ticket_starts_a_saga_named_after_the_ticket() -> None:
    assert REQUIREMENT.starting(ticket_opened()) == SAGA
    assert REQUIREMENT.starting(ticket_opened(ticket="tkt_9")) == "sag_requirement_tkt_9"


@pytest.mark.parametrize("kind", ["question", "service_request", "complaint"])
def test_no_other_kind_of_ticket_starts_one(kind: str) -> None:
    assert REQUIREMENT.starting(ticket_opened(kind=kind)) is None
    assert REQUIREMENT.following(ticket_resolved(kind=kind)) is None


@pytest.mark.parametrize(
    "event",
    [ticket_resolved(), ticket_reopened(), ticket_closed(), rnd_scheduled(), rnd_declined()],
    ids=["resolved", "reopened", "closed", "rnd-scheduled", "rnd-declined"],
)
def test_the_tickets_later_events_and_rnds_replies_concern_the_running_saga(
    event: Trigger,
) -> None:
    assert REQUIREMENT.starting(event) is None
    assert REQUIREMENT.following(event) == SAGA


def test_it_starts_by_looking_the_customers_owner_up() -> None:
    saga = requirement()
    (look_up,) = core.resume(REQUIREMENT, saga)
    assert (look_up.step, look_up.service, look_up.method, look_up.path) == (
        flow.LOOK_UP, "contacts", "GET", "/contacts/customers/cus_acme",
    )  # fmt: skip
    assert core.status(REQUIREMENT, saga) is Status.RUNNING
    assert core.deadline(REQUIREMENT, saga) is None  # nobody asked yet
    assert REQUIREMENT.awaits(saga.state) == {}
    shown = view(saga)
    assert (shown["phase"], shown["priority"], shown["result"]) == ("sales_review", "high", None)
    assert shown["steps"]["sales_review"]["started_at"] == NOW.isoformat()


# --- the sales review ------------------------------------------------------------------------


def test_the_owner_is_asked_on_the_customers_timeline_naming_the_decision() -> None:
    after, sent = when(REQUIREMENT, requirement(), LOOKED_UP)
    assert sent == [flow.ASK_REVIEW]
    ask = outstanding(after)[flow.ASK_REVIEW]
    assert (ask.service, ask.method, ask.path) == (
        "contacts", "POST", "/contacts/customers/cus_acme/interactions",
    )  # fmt: skip
    assert ask.body is not None and ask.body["kind"] == "note"
    summary = ask.body["summary"]
    assert "u1" in summary and "tkt_1" in summary and "high priority" in summary
    assert DECISION_URL in summary
    assert view(after)["reviewer"] == "u1"
    assert REQUIREMENT.awaits(after.state) == {flow.SALES_REVIEW: frozenset({"u1", LEAD})}


@pytest.mark.parametrize("status", [404, 410])
def test_a_customer_unknown_to_contacts_goes_to_the_sales_lead_through_a_ticket_note(
    status: int,
) -> None:
    unknown = StepRefused(NOW, flow.LOOK_UP, status, "no customer cus_acme")
    after, sent = when(REQUIREMENT, requirement(), unknown)
    assert after.stuck is None and sent == [flow.ASK_REVIEW]
    ask = outstanding(after)[flow.ASK_REVIEW]
    assert (ask.service, ask.method, ask.path) == ("tickets", "POST", "/tickets/tkt_1/notes")
    assert ask.body is not None and LEAD in ask.body["body"] and DECISION_URL in ask.body["body"]
    assert (view(after)["owner_id"], view(after)["reviewer"]) == (None, LEAD)
    assert REQUIREMENT.awaits(after.state) == {flow.SALES_REVIEW: frozenset({LEAD})}


def test_a_customer_without_an_owner_is_reviewed_by_the_sales_lead_on_its_timeline() -> None:
    ownerless = StepSucceeded(NOW, flow.LOOK_UP, 200, {"owner_id": None, "kind": "company"})
    after, sent = when(REQUIREMENT, requirement(), ownerless)
    assert sent == [flow.ASK_REVIEW]
    ask = outstanding(after)[flow.ASK_REVIEW]
    assert ask.path == "/contacts/customers/cus_acme/interactions"
    assert ask.body is not None and f"Sales review for {LEAD}" in ask.body["summary"]
    assert REQUIREMENT.awaits(after.state) == {flow.SALES_REVIEW: frozenset({LEAD})}


def test_once_asked_the_saga_waits_for_the_review_until_its_deadline() -> None:
    saga = requirement(*AT_REVIEW)
    assert core.resume(REQUIREMENT, saga) == []
    pending = core.deadline(REQUIREMENT, saga)
    assert pending == core.Deadline("sales_review", NOW + REQUIREMENT.review_deadline)


@pytest.mark.parametrize(
    "entries",
    [(CONFIRMED,), (REJECTED,), (Observed(NOW, ticket_closed()),)],
    ids=["confirmed", "rejected", "closed"],
)
def test_nobody_is_asked_to_decide_once_the_review_is_over(entries: tuple[Entry, ...]) -> None:
    assert REQUIREMENT.awaits(requirement(*AT_REVIEW, *entries).state) == {}


def test_only_the_first_review_counts() -> None:
    saga = requirement(*AT_REVIEW, CONFIRMED)
    after, _ = when(REQUIREMENT, saga, REJECTED)
    assert after.state == saga.state


# --- rejected by sales -----------------------------------------------------------------------


def test_a_rejection_by_sales_tells_the_customer_why_then_resolves_the_ticket() -> None:
    rejected, sent = when(REQUIREMENT, requirement(*AT_REVIEW), REJECTED)
    assert sent == [flow.TELL_REJECTION]
    reply = outstanding(rejected)[flow.TELL_REJECTION]
    assert (reply.service, reply.path) == ("tickets", "/tickets/tkt_1/replies")
    assert reply.body is not None and "no budget for it this year" in reply.body["body"]
    assert core.deadline(REQUIREMENT, rejected) is None

    told, sent = when(REQUIREMENT, rejected, ok(flow.TELL_REJECTION, T_REVIEW))
    assert sent == [flow.RESOLVE_REJECTED]
    resolve = outstanding(told)[flow.RESOLVE_REJECTED]
    assert resolve.path == "/tickets/tkt_1/resolve"
    assert resolve.body is not None and "no budget for it this year" in resolve.body["resolution"]
    assert core.status(REQUIREMENT, told) is Status.RUNNING

    resolved_at = T_REVIEW + timedelta(minutes=5)
    done, sent = when(REQUIREMENT, told, ok(flow.RESOLVE_REJECTED, resolved_at))
    assert sent == [] and core.status(REQUIREMENT, done) is Status.COMPLETED
    shown = view(done)
    assert (shown["phase"], shown["result"]) == ("rejected", "rejected_by_sales")
    assert shown["review"] == {
        "accepted": False, "by": "u1", "reason": "no budget for it this year",
        "business_value": None,
    }  # fmt: skip
    assert shown["steps"]["sales_review"]["seconds"] == 7200
    assert shown["cycle_seconds"] == 7200 + 300  # until the customer was told, resolved
    assert "rnd_estimate" not in shown["steps"] and shown["rnd"] is None


def test_a_rejected_ticket_the_agent_resolved_already_is_not_resolved_again() -> None:
    saga = requirement(*AT_REVIEW, REJECTED, RESOLVED)
    done, sent = when(REQUIREMENT, saga, ok(flow.TELL_REJECTION))
    assert sent == [] and core.status(REQUIREMENT, done) is Status.COMPLETED


# --- confirmed: R&D --------------------------------------------------------------------------


def test_a_confirmation_asks_rnd_for_an_estimate_over_kafka() -> None:
    confirmed, sent = when(REQUIREMENT, requirement(*AT_REVIEW), CONFIRMED)
    assert sent == [flow.REQUEST_ESTIMATE]
    request = outstanding(confirmed)[flow.REQUEST_ESTIMATE]
    assert (request.service, request.method, request.path, request.event_type, request.subject) == (
        "kafka", PUBLISH, "crm.rnd.requests", "crm.rnd.RequirementEstimateRequested", "tkt_1",
    )  # fmt: skip
    assert request.body == {
        "request_id": f"{SAGA}:request_estimate",
        "requirement_id": "tkt_1",
        "customer_id": "cus_acme",
        "priority": "high",
        "business_value": "high",
        "value_note": "Blocks the roll-out to 40 stores",
        "confirmed_by": "u1",
        "reply_by": (T_REVIEW + REQUIREMENT.rnd_deadline).isoformat(),
    }
    RequirementEstimateRequested.model_validate(request.body)  # the contract R&D reads
    shown = view(confirmed)
    assert shown["phase"] == "rnd_estimate"
    assert shown["review"]["business_value"] == "high"
    assert shown["steps"]["sales_review"]["seconds"] == 7200


def test_only_the_note_for_rnd_leaves_the_crm_never_the_reviews_reason() -> None:
    request = outstanding(requirement(*AT_REVIEW, CONFIRMED))[flow.REQUEST_ESTIMATE]
    assert request.body is not None
    assert CONFIRMED.reason not in str(request.body)
    assert request.body["value_note"] == CONFIRMED.details["value_note"]
    assert request.at == T_REVIEW  # the message's time: a resend is the same message


def test_the_estimates_deadline_runs_from_the_request_sent() -> None:
    saga = requirement(*AT_REVIEW, CONFIRMED)
    assert core.deadline(REQUIREMENT, saga) is None  # not before R&D was asked
    requested, sent = when(REQUIREMENT, saga, REQUESTED)
    assert sent == []
    assert core.deadline(REQUIREMENT, requested) == core.Deadline(
        "rnd_estimate", T_REQUEST + REQUIREMENT.rnd_deadline
    )
    assert view(requested)["steps"]["rnd_estimate"]["started_at"] == T_REQUEST.isoformat()


@pytest.mark.parametrize(
    ("decided", "valid"),
    [
        (Decided(NOW, flow.SALES_REVIEW, "u1", True, "worth it"), False),
        (Decided(NOW, flow.SALES_REVIEW, "u1", True, "ok", {"business_value": "huge"}), False),
        (Decided(NOW, "follow_up", "u1", True, "done", {"business_value": "high"}), False),
        (Decided(NOW, flow.SALES_REVIEW, "u1", False, "not for us"), True),
        (Decided(NOW, flow.SALES_REVIEW, "u1", True, "ok", {"business_value": "low"}), False),
        *[
            (
                Decided(
                    NOW,
                    flow.SALES_REVIEW,
                    "u1",
                    True,
                    "ok",
                    {"business_value": value, "value_note": "a B2B need"},
                ),
                True,
            )
            for value in flow.BUSINESS_VALUES
        ],
    ],
    ids=[
        "no-value",
        "unknown-value",
        "other-step",
        "rejection",
        "no-note",
        "low",
        "medium",
        "high",
    ],
)
def test_a_confirmation_must_name_its_business_value_and_a_note_for_rnd(
    decided: Decided, valid: bool
) -> None:
    if valid:
        REQUIREMENT.check_decision(decided)
    else:
        with pytest.raises(flow.InvalidDecision):
            REQUIREMENT.check_decision(decided)


# --- scheduled: told, followed up, closed ----------------------------------------------------


def test_a_scheduled_requirement_is_told_followed_up_and_closed_with_its_times() -> None:
    saga = requirement(*AT_ESTIMATE)
    scheduled, sent = when(REQUIREMENT, saga, SCHEDULED)
    assert sent == [flow.TELL_SCHEDULE]
    tell = outstanding(scheduled)[flow.TELL_SCHEDULE]
    assert (tell.service, tell.path) == ("tickets", "/tickets/tkt_1/replies")
    assert tell.body is not None
    for part in ("2026-12-07", "2026-12-18", r"\b8\b"):  # starts, delivered, estimate days
        assert re.search(part, tell.body["body"])
    assert core.deadline(REQUIREMENT, scheduled) is None  # the follow-up waits for the reply

    told, sent = when(REQUIREMENT, scheduled, TOLD)
    assert sent == []
    assert core.deadline(REQUIREMENT, told) == core.Deadline(
        "follow_up", T_TOLD + REQUIREMENT.follow_up_deadline
    )
    assert view(told)["phase"] == "follow_up"

    resolved, sent = when(REQUIREMENT, told, RESOLVED)
    assert sent == [flow.CLOSE]
    close = outstanding(resolved)[flow.CLOSE]
    assert (close.path, close.body) == ("/tickets/tkt_1/close", None)
    assert core.deadline(REQUIREMENT, resolved) is None

    done, sent = when(REQUIREMENT, resolved, CLOSED)
    assert sent == [] and core.status(REQUIREMENT, done) is Status.COMPLETED
    assert core.is_terminal(REQUIREMENT, done)
    shown = view(done)
    assert (shown["result"], shown["ticket_closed"], shown["customer_told"]) == (
        "scheduled_and_closed", True, True,
    )  # fmt: skip
    assert shown["rnd"] == {
        "scheduled": True, "estimate_days": 8, "scheduled_for": "2026-12-07",
        "delivery_by": "2026-12-18", "rnd_team": "platform", "reason": None,
    }  # fmt: skip
    seconds = {name: step["seconds"] for name, step in shown["steps"].items()}
    assert seconds == {
        "sales_review": (T_REVIEW - NOW).total_seconds(),
        "rnd_estimate": (T_RND - T_REQUEST).total_seconds(),
        "follow_up": (T_RESOLVED - T_TOLD).total_seconds(),
    }
    assert shown["cycle_seconds"] == (T_CLOSED - NOW).total_seconds() == 2 * 86400 + 60
    assert all(step["escalated_at"] is None for step in shown["steps"].values())
    assert shown["conflicts"] == []


def test_a_decline_by_rnd_tells_the_customer_rnds_reason_and_resolves_the_ticket() -> None:
    declined, sent = when(REQUIREMENT, requirement(*AT_ESTIMATE), DECLINED)
    assert sent == [flow.TELL_REJECTION]
    reply = outstanding(declined)[flow.TELL_REJECTION]
    assert reply.body is not None and "no capacity this quarter" in reply.body["body"]
    told, sent = when(REQUIREMENT, declined, ok(flow.TELL_REJECTION, T_RND))
    assert sent == [flow.RESOLVE_REJECTED]
    resolve = outstanding(told)[flow.RESOLVE_REJECTED]
    assert resolve.body is not None and "declined by development" in resolve.body["resolution"]
    done, sent = when(REQUIREMENT, told, ok(flow.RESOLVE_REJECTED, T_RND))
    assert sent == [] and core.status(REQUIREMENT, done) is Status.COMPLETED
    shown = view(done)
    assert (shown["phase"], shown["result"]) == ("rejected", "declined_by_rnd")
    assert shown["rnd"]["reason"] == "no capacity this quarter"
    assert shown["steps"]["rnd_estimate"]["seconds"] == (T_RND - T_REQUEST).total_seconds()
    assert shown["cycle_seconds"] == (T_RND - NOW).total_seconds()


@pytest.mark.parametrize(
    "again",
    [
        Observed(T_RESOLVED, rnd_scheduled(T_RESOLVED, event="evt_scheduled_2", estimate_days=20)),
        Observed(T_RESOLVED, rnd_declined(T_RESOLVED, event="evt_declined_2")),
        SCHEDULED,
    ],
    ids=["second-schedule", "later-decline", "redelivered"],
)
def test_only_rnds_first_reply_counts(again: Observed) -> None:
    saga = requirement(*AT_ESTIMATE, SCHEDULED)
    after, sent = when(REQUIREMENT, saga, again)
    assert after.state == saga.state
    assert sent == [flow.TELL_SCHEDULE]  # still the first reply's schedule
    assert view(after)["rnd"]["estimate_days"] == 8


@pytest.mark.parametrize("reply", [SCHEDULED, DECLINED], ids=["scheduled", "declined"])
def test_a_reply_before_rnd_was_asked_is_ignored(reply: Observed) -> None:
    saga = requirement(*AT_REVIEW)
    after, sent = when(REQUIREMENT, saga, reply)
    assert sent == [] and after.state == saga.state
    assert view(after)["rnd"] is None
    _, sent = when(REQUIREMENT, after, CONFIRMED)
    assert sent == [flow.REQUEST_ESTIMATE]  # R&D is still asked once sales confirmed


def test_a_reply_to_another_request_is_ignored_while_the_request_is_under_way() -> None:
    saga = requirement(*AT_REVIEW, CONFIRMED)
    stray = rnd_reply(
        "RequirementScheduled", "evt_stray", T_RND, request_id="rrq_other", estimate_days=3,
        scheduled_for="2026-12-01", delivery_by="2026-12-04", rnd_team="platform",
    )  # fmt: skip
    after, sent = when(REQUIREMENT, saga, Observed(T_RND, stray))
    assert after.state == saga.state and sent == [flow.REQUEST_ESTIMATE]


@pytest.mark.parametrize(
    ("reply", "then"),
    [(SCHEDULED, flow.TELL_SCHEDULE), (DECLINED, flow.TELL_REJECTION)],
    ids=["scheduled", "declined"],
)
def test_a_reply_to_our_request_counts_before_its_acknowledgement_is_recorded(
    reply: Observed, then: str
) -> None:
    """R&D may answer before the runner recorded the broker's acknowledgement, or the runner
    may die in between: R&D answers the request sent again with the same reply id, which the
    runner does not record twice, so that first reply is the only one there is."""
    saga = requirement(*AT_REVIEW, CONFIRMED)
    after, sent = when(REQUIREMENT, saga, reply)
    assert sent == [then]  # and the request is no longer outstanding
    rnd_step = view(after)["steps"]["rnd_estimate"]
    assert rnd_step["started_at"] == T_REVIEW.isoformat()
    assert rnd_step["seconds"] == (T_RND - T_REVIEW).total_seconds()
    assert core.deadline(REQUIREMENT, after) is None
    acknowledged = core.evolve(REQUIREMENT, after, REQUESTED, max_attempts=MAX_ATTEMPTS)
    assert view(acknowledged)["steps"]["rnd_estimate"] == rnd_step  # the times stay


@pytest.mark.parametrize(
    ("entries", "event", "step"),
    [
        (AT_ESTIMATE, SCHEDULED.trigger, "rnd_estimate"),
        (AT_FOLLOW_UP, RESOLVED.trigger, "follow_up"),
    ],
    ids=["rnd-reply", "resolved"],
)
def test_an_event_stamped_before_its_step_was_recorded_ends_the_step_after_no_time(
    entries: tuple[Entry, ...], event: Trigger, step: str
) -> None:
    """R&D's clock, or an event that raced the answer recorded: never a negative time."""
    saga = requirement(*entries)
    started = saga.state.steps[step].started_at
    early = Trigger(event.event_id, event.type, event.subject, event.data,
                    event.correlation_id, started - timedelta(seconds=3))  # fmt: skip
    after, _ = when(REQUIREMENT, saga, Observed(started, early))
    assert view(after)["steps"][step]["seconds"] == 0


# --- the follow-up ---------------------------------------------------------------------------


def test_a_ticket_resolved_before_the_follow_up_started_counts_as_followed_up() -> None:
    early = Observed(T_RND, ticket_resolved(T_RND))
    saga = requirement(*AT_ESTIMATE, early, SCHEDULED)
    assert steps(core.resume(REQUIREMENT, saga)) == [flow.TELL_SCHEDULE]  # still told
    told, sent = when(REQUIREMENT, saga, TOLD)
    assert sent == [flow.CLOSE]
    assert core.deadline(REQUIREMENT, told) is None
    assert view(told)["steps"]["follow_up"]["seconds"] == 0
    done, _ = when(REQUIREMENT, told, CLOSED)
    assert core.status(REQUIREMENT, done) is Status.COMPLETED
    assert view(done)["result"] == "scheduled_and_closed"


def test_a_reopened_ticket_during_the_follow_up_waits_for_the_next_resolution() -> None:
    saga = requirement(*AT_CLOSING)
    assert steps(core.resume(REQUIREMENT, saga)) == [flow.CLOSE]
    reopened_at = T_RESOLVED + timedelta(minutes=10)
    reopened, sent = when(REQUIREMENT, saga, Observed(reopened_at, ticket_reopened(reopened_at)))
    assert sent == []  # no longer closed
    shown = view(reopened)
    assert shown["phase"] == "follow_up" and shown["steps"]["follow_up"]["ended_at"] is None
    assert core.deadline(REQUIREMENT, reopened) == core.Deadline(
        "follow_up", T_TOLD + REQUIREMENT.follow_up_deadline
    )
    again_at = T_RESOLVED + timedelta(hours=5)
    again = Observed(again_at, ticket_resolved(again_at, event="evt_resolved_2"))
    resolved, sent = when(REQUIREMENT, reopened, again)
    assert sent == [flow.CLOSE]
    assert view(resolved)["steps"]["follow_up"]["seconds"] == (again_at - T_TOLD).total_seconds()


def test_a_ticket_closed_by_the_agent_after_the_follow_up_ends_the_saga_as_closed() -> None:
    saga = requirement(*AT_CLOSING)
    after, sent = when(REQUIREMENT, saga, Observed(T_CLOSED, ticket_closed(T_CLOSED)))
    assert sent == [] and core.status(REQUIREMENT, after) is Status.COMPLETED
    shown = view(after)
    assert (shown["result"], shown["cycle_seconds"]) == (
        "scheduled_and_closed", (T_CLOSED - NOW).total_seconds(),
    )  # fmt: skip


@pytest.mark.parametrize(
    "entries",
    [
        (),
        (LOOKED_UP,),
        AT_REVIEW,
        (*AT_REVIEW, CONFIRMED),
        AT_ESTIMATE,
        (*AT_ESTIMATE, SCHEDULED),
        AT_FOLLOW_UP,
        (*AT_REVIEW, REJECTED),
    ],
    ids=["looking-up", "asking", "reviewing", "confirmed", "estimating", "scheduled",
         "following-up", "rejected"],
)  # fmt: skip
def test_a_ticket_closed_before_the_end_ends_the_saga_with_nothing_more_sent(
    entries: tuple[Entry, ...],
) -> None:
    saga = requirement(*entries)
    closed, sent = when(REQUIREMENT, saga, Observed(T_CLOSED, ticket_closed(T_CLOSED)))
    assert sent == [] and core.status(REQUIREMENT, closed) is Status.COMPLETED
    assert core.deadline(REQUIREMENT, closed) is None
    assert REQUIREMENT.awaits(closed.state) == {}
    shown = view(closed)
    assert (shown["phase"], shown["result"], shown["cycle_seconds"]) == (
        "closed_early", "ticket_closed_early", None,
    )  # fmt: skip


# --- deadlines: escalated once ---------------------------------------------------------------


def escalation(saga: Saga[Any], phase: str) -> dict[str, Any]:
    command = outstanding(saga)[flow.escalate_step(phase)]
    assert (command.service, command.method, command.path) == ("kafka", PUBLISH, "crm.sagas.events")
    assert (command.event_type, command.subject) == ("crm.sagas.RequirementStepEscalated", "tkt_1")
    assert command.body is not None
    RequirementStepEscalated.model_validate(command.body)  # the contract it is published under
    return dict(command.body)


@pytest.mark.parametrize(
    ("entries", "phase", "due", "to", "with_it"),
    [
        (AT_REVIEW, "sales_review", NOW + REQUIREMENT.review_deadline, LEAD, flow.ASK_LEAD),
        (AT_ESTIMATE, "rnd_estimate", T_REQUEST + REQUIREMENT.rnd_deadline, None,
         flow.NOTE_RND_LATE),
        (AT_FOLLOW_UP, "follow_up", T_TOLD + REQUIREMENT.follow_up_deadline, SERVICE_LEAD,
         flow.REASSIGN_FOLLOW_UP),
    ],
    ids=["sales-review", "rnd-estimate", "follow-up"],
)  # fmt: skip
def test_a_late_step_is_escalated_once(
    entries: tuple[Entry, ...], phase: str, due: datetime, to: str | None, with_it: str
) -> None:
    saga = requirement(*entries)
    assert core.on_deadline(REQUIREMENT, saga, due - timedelta(seconds=1)) == []
    (passed,) = core.on_deadline(REQUIREMENT, saga, due)
    assert passed == DeadlinePassed(due, phase, due=due)
    late, sent = when(REQUIREMENT, saga, passed)
    assert sent == [flow.escalate_step(phase), with_it]
    assert escalation(late, phase) == {
        "saga_id": SAGA, "requirement_id": "tkt_1", "customer_id": "cus_acme", "step": phase,
        "due_at": due.isoformat(), "escalated_at": due.isoformat(), "escalated_to": to,
    }  # fmt: skip
    step = view(late)["steps"][phase]
    assert (step["escalated_at"], step["escalated_to"], step["ended_at"]) == (
        due.isoformat(), to, None,
    )  # fmt: skip
    assert core.deadline(REQUIREMENT, late) is None  # no second deadline for the step
    assert core.on_deadline(REQUIREMENT, late, due + timedelta(days=30)) == []
    published, sent = when(REQUIREMENT, late, StepSucceeded(due, flow.escalate_step(phase), 202))
    assert sent == [with_it]
    done, sent = when(REQUIREMENT, published, ok(with_it, due))
    assert sent == [] and core.status(REQUIREMENT, done) is Status.RUNNING
    assert core.deadline(REQUIREMENT, done) is None


def test_a_late_review_is_asked_of_the_sales_lead_who_may_then_decide() -> None:
    late, _ = escalated(requirement(*AT_REVIEW))
    ask = outstanding(late)[flow.ASK_LEAD]
    assert ask.path == "/contacts/customers/cus_acme/interactions"
    assert ask.body is not None
    summary = ask.body["summary"]
    assert summary.startswith("Escalated: no sales review by 2026-11-24 17:30 UTC.")
    assert f"Sales review for {LEAD}" in summary and DECISION_URL in summary
    assert view(late)["reviewer"] == LEAD
    assert REQUIREMENT.awaits(late.state) == {flow.SALES_REVIEW: frozenset({"u1", LEAD})}
    lead = Decided(T_REVIEW, flow.SALES_REVIEW, LEAD, True, "strategic", {"business_value": "high"})
    decided, sent = when(REQUIREMENT, late, lead)
    assert sent == [flow.escalate_step("sales_review"), flow.REQUEST_ESTIMATE]  # no more asking
    request = outstanding(decided)[flow.REQUEST_ESTIMATE]
    assert request.body is not None and request.body["confirmed_by"] == LEAD


def test_an_ask_not_yet_answered_at_the_deadline_is_sent_again_unchanged() -> None:
    """Its Idempotency-Key is the same: another body would be refused as a reused key."""
    saga = requirement(LOOKED_UP, StepFailed(NOW, flow.ASK_REVIEW, "timed out"))
    before = outstanding(saga)[flow.ASK_REVIEW]
    late, sent = escalated(saga)
    assert sent == [flow.escalate_step("sales_review"), flow.ASK_REVIEW]
    assert outstanding(late)[flow.ASK_REVIEW] == before  # still the owner's question
    _, sent = when(REQUIREMENT, late, ASKED)
    assert sent == [flow.escalate_step("sales_review"), flow.ASK_LEAD]


def test_a_late_review_of_an_unknown_customer_asks_the_lead_on_the_ticket() -> None:
    unknown = StepRefused(NOW, flow.LOOK_UP, 404, "no customer cus_acme")
    asked = StepSucceeded(NOW, flow.ASK_REVIEW, 201, {"status": "new"})
    late, _ = escalated(requirement(unknown, asked))
    ask = outstanding(late)[flow.ASK_LEAD]
    assert (ask.service, ask.path) == ("tickets", "/tickets/tkt_1/notes")


def test_a_late_estimate_is_noted_on_the_ticket_and_a_late_reply_still_counts() -> None:
    late, _ = escalated(requirement(*AT_ESTIMATE))
    note = outstanding(late)[flow.NOTE_RND_LATE]
    assert (note.service, note.path) == ("tickets", "/tickets/tkt_1/notes")
    assert note.body is not None and "by 2026-11-26 11:31 UTC" in note.body["body"]
    assert SAGA in note.body["body"]
    saga = core.replay(
        REQUIREMENT,
        [core.Started(NOW, ticket_opened()), *AT_ESTIMATE,
         DeadlinePassed(T_REQUEST + REQUIREMENT.rnd_deadline, "rnd_estimate"),
         StepSucceeded(T_RESOLVED, flow.escalate_step("rnd_estimate"), 202),
         ok(flow.NOTE_RND_LATE, T_RESOLVED)],
        max_attempts=MAX_ATTEMPTS,
    )  # fmt: skip
    late_reply = T_RESOLVED + timedelta(days=1)
    after, sent = when(REQUIREMENT, saga, Observed(late_reply, rnd_scheduled(late_reply)))
    assert sent == [flow.TELL_SCHEDULE]
    assert view(after)["steps"]["rnd_estimate"]["escalated_to"] is None


def test_a_late_follow_up_is_assigned_to_the_service_lead_and_still_closes() -> None:
    late, _ = escalated(requirement(*AT_FOLLOW_UP))
    assign = outstanding(late)[flow.REASSIGN_FOLLOW_UP]
    assert (assign.path, assign.body) == ("/tickets/tkt_1/assign", {"assignee_id": SERVICE_LEAD})
    later = T_TOLD + REQUIREMENT.follow_up_deadline + timedelta(hours=1)
    saga = late
    for entry in (
        StepSucceeded(later, flow.escalate_step("follow_up"), 202),
        ok(flow.REASSIGN_FOLLOW_UP, later),
        Observed(later, ticket_resolved(later)),
    ):
        saga = core.evolve(REQUIREMENT, saga, entry, max_attempts=MAX_ATTEMPTS)
    assert steps(core.resume(REQUIREMENT, saga)) == [flow.CLOSE]
    done, _ = when(REQUIREMENT, saga, ok(flow.CLOSE, later))
    assert core.status(REQUIREMENT, done) is Status.COMPLETED
    follow_up = view(done)["steps"]["follow_up"]
    assert follow_up["escalated_to"] == SERVICE_LEAD
    assert follow_up["seconds"] == (later - T_TOLD).total_seconds()


def test_the_saga_is_not_completed_before_its_escalation_is_published() -> None:
    late, _ = escalated(requirement(*AT_REVIEW))
    rejected = core.evolve(REQUIREMENT, late, REJECTED, max_attempts=MAX_ATTEMPTS)
    assert steps(core.resume(REQUIREMENT, rejected)) == [
        flow.escalate_step("sales_review"), flow.TELL_REJECTION,
    ]  # fmt: skip
    for entry in (ok(flow.TELL_REJECTION), ok(flow.RESOLVE_REJECTED)):
        rejected = core.evolve(REQUIREMENT, rejected, entry, max_attempts=MAX_ATTEMPTS)
    assert core.status(REQUIREMENT, rejected) is Status.RUNNING
    done, sent = when(
        REQUIREMENT, rejected, StepSucceeded(NOW, flow.escalate_step("sales_review"), 202)
    )
    assert sent == [] and core.status(REQUIREMENT, done) is Status.COMPLETED


def test_an_escalation_that_happened_is_still_announced_when_the_ticket_closes_early() -> None:
    late, _ = escalated(requirement(*AT_FOLLOW_UP))
    closed, sent = when(REQUIREMENT, late, Observed(T_CLOSED, ticket_closed(T_CLOSED)))
    assert sent == [flow.escalate_step("follow_up")]  # but the closed ticket is not reassigned
    assert core.status(REQUIREMENT, closed) is Status.RUNNING
    done, sent = when(REQUIREMENT, closed, StepSucceeded(T_CLOSED, sent[0], 202))
    assert sent == [] and core.status(REQUIREMENT, done) is Status.COMPLETED
    assert view(done)["result"] == "ticket_closed_early"


def test_a_cancelled_requirement_sends_nothing_more() -> None:
    saga = requirement(*AT_REVIEW, CONFIRMED)
    after, sent = when(REQUIREMENT, saga, Cancelled(T_REVIEW, "user:root", "duplicate ticket"))
    assert sent == [] and core.status(REQUIREMENT, after) is Status.CANCELLED
    assert core.deadline(REQUIREMENT, after) is None


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "step"),
    [
        ((*AT_REVIEW, REJECTED), flow.TELL_REJECTION),
        ((*AT_REVIEW, REJECTED, ok(flow.TELL_REJECTION)), flow.RESOLVE_REJECTED),
        ((*AT_ESTIMATE, SCHEDULED), flow.TELL_SCHEDULE),
        (AT_CLOSING, flow.CLOSE),
        ((*AT_ESTIMATE, DeadlinePassed(NOW, "rnd_estimate")), flow.NOTE_RND_LATE),
        ((*AT_FOLLOW_UP, DeadlinePassed(NOW, "follow_up")), flow.REASSIGN_FOLLOW_UP),
    ],
    ids=["tell-rejection", "resolve-rejected", "tell-schedule", "close", "note-rnd-late",
         "reassign-follow-up"],
)  # fmt: skip
def test_a_ticket_that_moved_on_is_a_conflict_recorded_and_accepted(
    entries: tuple[Entry, ...], step: str
) -> None:
    saga = requirement(*entries)
    assert step in steps(core.resume(REQUIREMENT, saga))
    after, sent = when(REQUIREMENT, saga, StepRefused(T_CLOSED, step, 409, "ticket is closed"))
    assert after.stuck is None and step not in sent
    assert view(after)["conflicts"] == [f"{step}: ticket is closed"]


UNKNOWN = StepRefused(NOW, flow.LOOK_UP, 404, "no customer cus_acme")


@pytest.mark.parametrize(
    ("entries", "step"),
    [
        ((UNKNOWN,), flow.ASK_REVIEW),
        ((UNKNOWN, ok(flow.ASK_REVIEW), DeadlinePassed(NOW, "sales_review"),
          StepSucceeded(NOW, flow.escalate_step("sales_review"), 202)), flow.ASK_LEAD),
    ],
    ids=["ask-review", "ask-lead"],
)  # fmt: skip
def test_asking_on_a_ticket_closed_meanwhile_waits_for_the_close_instead_of_failing(
    entries: tuple[Entry, ...], step: str
) -> None:
    """A customer unknown to contacts is asked about on the ticket: once the ticket is
    closed the note is refused (409), and the saga must still be running to see it closed."""
    saga = requirement(*entries)
    assert steps(core.resume(REQUIREMENT, saga)) == [step]
    refused, sent = when(REQUIREMENT, saga, StepRefused(T_CLOSED, step, 409, "ticket is closed"))
    assert refused.stuck is None and sent == []
    assert view(refused)["conflicts"] == [f"{step}: ticket is closed"]
    closed, _ = when(REQUIREMENT, refused, Observed(T_CLOSED, ticket_closed(T_CLOSED)))
    assert core.status(REQUIREMENT, closed) is Status.COMPLETED
    assert view(closed)["result"] == "ticket_closed_early"


@pytest.mark.parametrize(
    ("entries", "refused"),
    [
        ((*AT_ESTIMATE, SCHEDULED), StepRefused(NOW, flow.TELL_SCHEDULE, 403, "not allowed")),
        ((*AT_REVIEW, REJECTED), StepRefused(NOW, flow.TELL_REJECTION, 422, "body too long")),
        ((LOOKED_UP,), StepRefused(NOW, flow.ASK_REVIEW, 409, "customer erased")),
        ((), StepRefused(NOW, flow.LOOK_UP, 403, "not allowed")),
    ],
    ids=["403-reply", "422-reply", "409-contacts-note", "403-look-up"],
)
def test_a_refusal_the_flow_does_not_expect_fails_the_saga_until_retried(
    entries: tuple[Entry, ...], refused: StepRefused
) -> None:
    saga = requirement(*entries)
    failed, sent = when(REQUIREMENT, saga, refused)
    assert sent == [] and core.status(REQUIREMENT, failed) is Status.FAILED
    assert failed.stuck == f"{refused.step} refused ({refused.status}): {refused.detail}"
    assert core.deadline(REQUIREMENT, failed) is None
    assert view(failed)["conflicts"] == []
    retried, sent = when(REQUIREMENT, failed, Retried(T_CLOSED, "user:root"))
    assert sent == [refused.step] and core.status(REQUIREMENT, retried) is Status.RUNNING


def test_the_history_round_trips_through_its_documents() -> None:
    history = [core.Started(NOW, ticket_opened()), *AT_ESTIMATE, SCHEDULED, TOLD, RESOLVED]
    back = [core.entry_from_document(core.entry_to_document(e)) for e in history]
    assert back == history
    assert core.replay(REQUIREMENT, back, max_attempts=MAX_ATTEMPTS) == requirement(*AT_CLOSING)


def test_requirements_opened_before_the_rollout_start_no_saga() -> None:
    rollout = replace(REQUIREMENT, opened_from=NOW)
    assert rollout.starting(ticket_opened(at=NOW - timedelta(days=30))) is None
    assert rollout.starting(ticket_opened(at=NOW)) == "sag_requirement_tkt_1"
