"""Requirement handling (issue #7, flow 1): a B2B customer's requirement ticket through
sales, R&D and customer service to closed.

On ``crm.tickets.TicketOpened`` of kind ``requirement`` the saga

1. looks the customer's owner up in contacts (the rep who judges the business value; a
   customer without an owner, or unknown to contacts, goes to the sales lead);
2. asks the reviewer: a note on the customer's timeline in contacts, where a rep reads about
   their customers (reps do not read tickets), naming the saga to answer;
3. waits for the **sales review** (``POST /sagas/{id}/decisions/sales_review``): a
   rejection ends the saga with the customer told through the ticket (a public reply, then
   the ticket resolved with the reason); a confirmation carries the business value;
4. sends R&D a ``crm.rnd.RequirementEstimateRequested`` on the R&D request topic and waits
   for ``RequirementScheduled`` or ``RequirementDeclined`` on the reply topic (contracts in
   ``crm_contracts.rnd``); a decline ends the saga like a rejection;
5. tells the customer the schedule (a public reply) and waits for customer service to
   **follow up**: the ticket resolved by the agent;
6. closes the ticket.

Every waiting step (sales review, R&D estimate, follow-up) has its own deadline. A late
step escalates once: ``crm.sagas.RequirementStepEscalated`` is published, the sales review
passes to the sales lead (asked on the customer's timeline), a late follow-up is assigned
to the service lead, and the saga records when and to whom. The saga keeps when each step
started and ended: the cycle time per requirement and per step.

A ticket closed by someone else before the end ends the saga (nothing more is sent); a
ticket already resolved when the follow-up starts counts as followed up. Refusals of the
ticket commands because the ticket moved on (409) are recorded and accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from crm_sagas.domain.saga import (
    Deadline,
    DeadlinePassed,
    Decided,
    Entry,
    Observed,
    SagaCommand,
    Started,
    Status,
    StepRefused,
    StepSucceeded,
    Trigger,
    publication,
)

TYPE = "requirement"
OPENED = "crm.tickets.TicketOpened"
RESOLVED = "crm.tickets.TicketResolved"
REOPENED = "crm.tickets.TicketReopened"
CLOSED = "crm.tickets.TicketClosed"
SCHEDULED = "crm.rnd.RequirementScheduled"
DECLINED = "crm.rnd.RequirementDeclined"
REQUESTED = "crm.rnd.RequirementEstimateRequested"
ESCALATED = "crm.sagas.RequirementStepEscalated"

# The steps a person or R&D takes, each with its own deadline.
SALES_REVIEW = "sales_review"
RND_ESTIMATE = "rnd_estimate"
FOLLOW_UP = "follow_up"
PHASES = (SALES_REVIEW, RND_ESTIMATE, FOLLOW_UP)

# The commands the saga sends.
LOOK_UP = "look_up_owner"
ASK_REVIEW = "ask_sales_review"
ASK_LEAD = "ask_sales_lead"
REQUEST_ESTIMATE = "request_estimate"
TELL_SCHEDULE = "tell_customer_schedule"
TELL_REJECTION = "tell_customer_rejection"
RESOLVE_REJECTED = "resolve_rejected"
CLOSE = "close_ticket"
REASSIGN_FOLLOW_UP = "reassign_follow_up"
NOTE_RND_LATE = "note_rnd_late"
TICKET_STEPS = frozenset({TELL_SCHEDULE, TELL_REJECTION, RESOLVE_REJECTED, CLOSE,
                          REASSIGN_FOLLOW_UP, NOTE_RND_LATE})  # fmt: skip
BUSINESS_VALUES = ("low", "medium", "high")


def saga_id_of(ticket_id: str) -> str:
    return f"sag_requirement_{ticket_id}"


def escalate_step(phase: str) -> str:
    return f"escalate_{phase}"


class InvalidDecision(ValueError):
    """A decision the flow cannot read (a confirmation without its business value)."""


@dataclass(frozen=True)
class StepTime:
    started_at: datetime
    ended_at: datetime | None = None
    escalated_at: datetime | None = None
    escalated_to: str | None = None
    due_at: datetime | None = None
    """When the step was due, as recorded when it escalated."""

    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class Review:
    accepted: bool
    by: str
    reason: str
    business_value: str | None
    value_note: str | None


@dataclass(frozen=True)
class RndAnswer:
    scheduled: bool
    event_id: str
    estimate_days: int | None = None
    scheduled_for: str | None = None
    delivery_by: str | None = None
    rnd_team: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Requirement:
    ticket_id: str
    customer_id: str
    priority: str
    team: str | None
    opened_at: datetime
    steps: Mapping[str, StepTime]
    looked_up: bool = False
    owner_id: str | None = None
    known_customer: bool = True
    reviewer: str | None = None
    review_asked: bool = False
    lead_asked: bool = False
    review: Review | None = None
    estimate_requested: bool = False
    rnd: RndAnswer | None = None
    customer_told: bool = False
    rejection_resolved: bool = False
    ticket_resolved: bool = False
    ticket_closed: bool = False
    closed_at: datetime | None = None
    told_at: datetime | None = None
    """When a rejection reached the customer (told, and the ticket resolved): its end."""
    closed_early: bool = False
    done_commands: frozenset[str] = field(default_factory=frozenset)
    """Escalation commands answered (publications, reassignments, notes)."""
    conflicts: tuple[str, ...] = ()
    """Ticket commands refused because the ticket had moved on, with the reason."""

    @property
    def rejected(self) -> str | None:
        """Who ended it: sales (rejected) or R&D (declined); None while it goes on."""
        if self.review is not None and not self.review.accepted:
            return "sales"
        if self.rnd is not None and not self.rnd.scheduled:
            return "rnd"
        return None

    @property
    def phase(self) -> str:
        if self.closed_early:
            return "closed_early"
        if self.rejected is not None:
            return "rejected"
        if self.review is None:
            return SALES_REVIEW
        if self.rnd is None:
            return RND_ESTIMATE
        if not (FOLLOW_UP in self.steps and self.steps[FOLLOW_UP].ended_at is not None):
            return FOLLOW_UP
        return "closing"


@dataclass(frozen=True)
class RequirementFlow:
    """Configured by the settings: the deadline of each step, the leads who take a late
    step over, and the R&D and saga-event topics."""

    review_deadline: timedelta
    rnd_deadline: timedelta
    follow_up_deadline: timedelta
    sales_lead: str
    service_lead: str
    rnd_requests_topic: str = "crm.rnd.requests"
    events_topic: str = "crm.sagas.events"
    opened_from: datetime | None = None
    """Requirements opened before this are not handled (the first rollout reads the whole
    tickets topic: old requirements were handled by hand)."""
    type: str = TYPE

    def starting(self, trigger: Trigger) -> str | None:
        if trigger.type == OPENED and trigger.data.get("kind") == "requirement":
            if self.opened_from is not None and trigger.at < self.opened_from:
                return None
            return saga_id_of(str(trigger.data["ticket_id"]))
        return None

    def following(self, trigger: Trigger) -> str | None:
        if trigger.type in (RESOLVED, REOPENED, CLOSED) and (
            trigger.data.get("kind") == "requirement"
        ):
            return saga_id_of(str(trigger.data["ticket_id"]))
        if trigger.type in (SCHEDULED, DECLINED):
            return saga_id_of(str(trigger.data["requirement_id"]))
        return None

    def initial_state(self, started: Started) -> Requirement:
        data = started.trigger.data
        opened_at = started.trigger.at
        return Requirement(
            ticket_id=str(data["ticket_id"]),
            customer_id=str(data["customer_id"]),
            priority=str(data.get("priority", "normal")),
            team=data.get("team"),
            opened_at=opened_at,
            steps={SALES_REVIEW: StepTime(started_at=opened_at)},
        )

    # --- evolve ----------------------------------------------------------------------------

    def evolve(self, state: Requirement, entry: Entry) -> Requirement:
        match entry:
            case StepSucceeded(step=step, answer=answer):
                return self._succeeded(state, step, answer, entry.at)
            case StepRefused(step=step) if self.expects(state, entry):
                return self._refused(state, entry)
            case Decided(step=step) if step == SALES_REVIEW and state.review is None:
                details = entry.details
                review = Review(
                    accepted=entry.accepted,
                    by=entry.by,
                    reason=entry.reason,
                    business_value=details.get("business_value"),
                    value_note=details.get("value_note"),
                )
                return replace(
                    state, review=review, steps=_ended(state.steps, SALES_REVIEW, entry.at)
                )
            case Observed(trigger=trigger):
                return self._observed(state, trigger)
            case DeadlinePassed(name=phase) if phase in PHASES and phase in state.steps:
                to = {SALES_REVIEW: self.sales_lead, FOLLOW_UP: self.service_lead}.get(phase)
                limit = {SALES_REVIEW: self.review_deadline, RND_ESTIMATE: self.rnd_deadline,
                         FOLLOW_UP: self.follow_up_deadline}[phase]  # fmt: skip
                due = entry.due or state.steps[phase].started_at + limit
                late = replace(
                    state.steps[phase], escalated_at=entry.at, escalated_to=to, due_at=due
                )
                reviewer = self.sales_lead if phase == SALES_REVIEW else state.reviewer
                return replace(state, steps={**state.steps, phase: late}, reviewer=reviewer)
        return state

    def _succeeded(
        self, state: Requirement, step: str, answer: Mapping[str, Any], at: datetime
    ) -> Requirement:
        if step == LOOK_UP:
            owner = answer.get("owner_id")
            return replace(state, looked_up=True, owner_id=owner, reviewer=owner or self.sales_lead)
        if step == ASK_REVIEW:
            return replace(state, review_asked=True)
        if step == ASK_LEAD:
            return replace(state, lead_asked=True)
        if step == REQUEST_ESTIMATE:
            steps = dict(state.steps)
            steps.setdefault(RND_ESTIMATE, StepTime(started_at=at))  # R&D may have answered
            return replace(state, estimate_requested=True, steps=steps)
        if step == TELL_SCHEDULE:
            steps = {**state.steps, FOLLOW_UP: StepTime(started_at=at)}
            if state.ticket_resolved:
                steps = _ended(steps, FOLLOW_UP, at)
            return replace(state, customer_told=True, steps=steps)
        if step == TELL_REJECTION:
            return replace(state, customer_told=True, told_at=at)
        if step == RESOLVE_REJECTED:
            return replace(state, rejection_resolved=True, ticket_resolved=True, told_at=at)
        if step == CLOSE:
            return replace(state, ticket_closed=True, closed_at=at)
        return replace(state, done_commands=state.done_commands | {step})

    def _refused(self, state: Requirement, refused: StepRefused) -> Requirement:
        step = refused.step
        if step == LOOK_UP:  # unknown to contacts (or erased): the sales lead reviews
            return replace(state, looked_up=True, known_customer=False, reviewer=self.sales_lead)
        # The ticket moved on (closed or resolved already): the step is as good as done.
        after = self._succeeded(state, step, {}, refused.at)
        return replace(after, conflicts=(*state.conflicts, f"{step}: {refused.detail}"))

    def _observed(self, state: Requirement, trigger: Trigger) -> Requirement:
        if trigger.type == RESOLVED:
            steps = state.steps
            if FOLLOW_UP in steps and steps[FOLLOW_UP].ended_at is None:
                steps = _ended(steps, FOLLOW_UP, trigger.at)
            return replace(state, ticket_resolved=True, steps=steps)
        if trigger.type == REOPENED:
            steps = dict(state.steps)
            if FOLLOW_UP in steps and not state.ticket_closed:  # the follow-up goes on
                steps[FOLLOW_UP] = replace(steps[FOLLOW_UP], ended_at=None)
            return replace(state, ticket_resolved=False, steps=steps)
        if trigger.type == CLOSED:
            if self._finished(state) or state.phase == "closing":
                return replace(state, ticket_closed=True, closed_at=state.closed_at or trigger.at)
            return replace(state, ticket_closed=True, closed_early=True, closed_at=trigger.at)
        if trigger.type in (SCHEDULED, DECLINED) and self._answers_request(state, trigger):
            data = trigger.data
            answer = RndAnswer(
                scheduled=trigger.type == SCHEDULED,
                event_id=trigger.event_id,
                estimate_days=data.get("estimate_days"),
                scheduled_for=data.get("scheduled_for"),
                delivery_by=data.get("delivery_by"),
                rnd_team=data.get("rnd_team"),
                reason=data.get("reason"),
            )
            # Answered before the request's acknowledgement was recorded: it went out when
            # sales confirmed.
            asked = state.steps.get(RND_ESTIMATE) or StepTime(
                started_at=state.steps[SALES_REVIEW].ended_at or trigger.at
            )
            steps = _ended({**state.steps, RND_ESTIMATE: asked}, RND_ESTIMATE, trigger.at)
            return replace(state, rnd=answer, estimate_requested=True, steps=steps)
        return state

    def _answers_request(self, state: Requirement, trigger: Trigger) -> bool:
        """R&D's first reply naming the request, once sales confirmed.

        The reply may come before the broker's acknowledgement of the request is recorded
        (or the runner died in between, and R&D answers the request sent again with the
        same reply, which is not recorded twice): it counts all the same. A reply naming
        another request (a stray or a test message) does not.
        """
        if state.rnd is not None or state.phase != RND_ESTIMATE:
            return False
        return trigger.data.get("request_id") == _request_id(state)

    def expects(self, state: Requirement, refused: StepRefused) -> bool:
        if refused.step == LOOK_UP:
            return refused.status in (404, 410)
        # A customer unknown to contacts is asked about on the ticket (a ticket command too).
        on_ticket = refused.step in TICKET_STEPS or (
            refused.step in (ASK_REVIEW, ASK_LEAD) and not state.known_customer
        )
        return on_ticket and refused.status == 409

    # --- react -----------------------------------------------------------------------------

    def react(self, state: Requirement) -> list[SagaCommand]:
        if not state.looked_up:
            return [
                SagaCommand(LOOK_UP, "contacts", "GET", f"/contacts/customers/{state.customer_id}",
                            keep=("owner_id", "kind"))
            ]  # fmt: skip
        commands = self._escalations(state)
        if state.closed_early:
            return commands
        phase = state.phase
        if phase == SALES_REVIEW:
            if not state.review_asked:
                # The one looked up (not the lead a late review passed to): the same request
                # under the same Idempotency-Key whenever it is sent.
                commands.append(self._ask(state, ASK_REVIEW, state.owner_id or self.sales_lead))
            elif state.steps[SALES_REVIEW].escalated_at is not None and not state.lead_asked:
                commands.append(self._ask(state, ASK_LEAD, self.sales_lead))
        elif phase == RND_ESTIMATE and not state.estimate_requested:
            commands.append(self._request_estimate(state))
        elif phase == FOLLOW_UP and not state.customer_told:
            commands.append(self._tell_schedule(state))
        elif phase == "closing" and not state.ticket_closed:
            commands.append(self._ticket(CLOSE, "close", None, state.ticket_id))
        elif phase == "rejected":
            if not state.customer_told:
                commands.append(self._tell_rejection(state))
            elif not (state.rejection_resolved or state.ticket_resolved):
                commands.append(
                    self._ticket(RESOLVE_REJECTED, "resolve", {"resolution": _why_not(state)},
                                 state.ticket_id)
                )  # fmt: skip
        return commands

    def _escalations(self, state: Requirement) -> list[SagaCommand]:
        commands: list[SagaCommand] = []
        for phase in PHASES:
            step = state.steps.get(phase)
            if step is None or step.escalated_at is None:
                continue
            publish = escalate_step(phase)
            if publish not in state.done_commands:
                commands.append(self._escalation_event(state, phase, step))
            if (
                phase == FOLLOW_UP
                and REASSIGN_FOLLOW_UP not in state.done_commands
                and not (state.ticket_closed)
            ):
                commands.append(
                    self._ticket(
                        REASSIGN_FOLLOW_UP, "assign", {"assignee_id": self.service_lead},
                        state.ticket_id,
                    )
                )  # fmt: skip
            if (
                phase == RND_ESTIMATE
                and NOTE_RND_LATE not in state.done_commands
                and not (state.ticket_closed)
            ):
                commands.append(
                    self._ticket(
                        NOTE_RND_LATE, "notes",
                        {"body": f"R&D has not estimated this requirement by "
                                 f"{_moment(step.due_at or step.escalated_at)}; escalated "
                                 f"(saga {saga_id_of(state.ticket_id)})."},
                        state.ticket_id,
                    )
                )  # fmt: skip
        return commands

    def _ask(self, state: Requirement, step: str, reviewer: str) -> SagaCommand:
        saga = saga_id_of(state.ticket_id)
        text = (
            f"Sales review for {reviewer}: requirement ticket {state.ticket_id} "
            f"({state.priority} priority) needs your judgement of its business value. Confirm "
            f"or reject it: POST /sagas/{saga}/decisions/{SALES_REVIEW}."
        )
        late = state.steps[SALES_REVIEW]
        if step == ASK_LEAD:
            due = late.due_at or late.escalated_at or late.started_at
            text = f"Escalated: no sales review by {_moment(due)}. " + text
        if not state.known_customer:
            return self._ticket(step, "notes", {"body": text}, state.ticket_id)
        return SagaCommand(
            step, "contacts", "POST", f"/contacts/customers/{state.customer_id}/interactions",
            body={"kind": "note", "summary": text[:1000]}, keep=("id",),
        )  # fmt: skip

    def _request_estimate(self, state: Requirement) -> SagaCommand:
        review = state.review
        assert review is not None
        reply_by = (state.steps[SALES_REVIEW].ended_at or state.opened_at) + self.rnd_deadline
        return publication(
            REQUEST_ESTIMATE,
            self.rnd_requests_topic,
            REQUESTED,
            state.ticket_id,
            {
                "request_id": _request_id(state),
                "requirement_id": state.ticket_id,
                "customer_id": state.customer_id,
                "priority": state.priority,
                "business_value": review.business_value or "medium",
                # Only the note written for R&D leaves the CRM, never the review's reason.
                "value_note": review.value_note or f"{review.business_value} business value",
                "confirmed_by": review.by,
                "reply_by": reply_by.isoformat(),
            },
            at=state.steps[SALES_REVIEW].ended_at or state.opened_at,
        )

    def _escalation_event(self, state: Requirement, phase: str, step: StepTime) -> SagaCommand:
        assert step.escalated_at is not None
        return publication(
            escalate_step(phase),
            self.events_topic,
            ESCALATED,
            state.ticket_id,
            {
                "saga_id": saga_id_of(state.ticket_id),
                "requirement_id": state.ticket_id,
                "customer_id": state.customer_id,
                "step": phase,
                "due_at": (step.due_at or step.escalated_at).isoformat(),
                "escalated_at": step.escalated_at.isoformat(),
                "escalated_to": step.escalated_to,
            },
            at=step.escalated_at,
        )

    def _tell_schedule(self, state: Requirement) -> SagaCommand:
        rnd = state.rnd
        assert rnd is not None
        body = (
            "Good news: your request has been accepted and scheduled. Our development team "
            f"starts on {rnd.scheduled_for} and plans to deliver by {rnd.delivery_by} "
            f"(about {rnd.estimate_days} days). Our service team will follow up "
            "with you."
        )
        return self._ticket(TELL_SCHEDULE, "replies", {"body": body}, state.ticket_id)

    def _tell_rejection(self, state: Requirement) -> SagaCommand:
        body = (
            "Thank you for your request. We have reviewed it carefully and will not take it "
            f"forward at this time: {_why_not(state)}. Please reply if anything changes."
        )
        return self._ticket(TELL_REJECTION, "replies", {"body": body[:5000]}, state.ticket_id)

    def _ticket(
        self, step: str, action: str, body: Mapping[str, Any] | None, ticket_id: str
    ) -> SagaCommand:
        return SagaCommand(step, "tickets", "POST", f"/tickets/{ticket_id}/{action}",
                           body=body, keep=("status",))  # fmt: skip

    # --- time ------------------------------------------------------------------------------

    def deadline(self, state: Requirement) -> Deadline | None:
        if state.closed_early or not state.looked_up:
            return None
        limits = {SALES_REVIEW: self.review_deadline, RND_ESTIMATE: self.rnd_deadline,
                  FOLLOW_UP: self.follow_up_deadline}  # fmt: skip
        phase = state.phase
        step = state.steps.get(phase)
        if phase not in limits or step is None or step.escalated_at is not None:
            return None
        if phase == FOLLOW_UP and not state.customer_told:
            return None
        return Deadline(phase, step.started_at + limits[phase])

    def outcome(self, state: Requirement) -> Status:
        return Status.COMPLETED if self._finished(state) else Status.RUNNING

    def _finished(self, state: Requirement) -> bool:
        if self._escalations(state):
            return False
        if state.closed_early:
            return True
        if state.phase == "rejected":
            return state.customer_told and (state.rejection_resolved or state.ticket_resolved)
        return state.phase == "closing" and state.ticket_closed

    def awaits(self, state: Requirement) -> dict[str, frozenset[str]]:
        if state.looked_up and state.phase == SALES_REVIEW and not state.closed_early:
            # The owner, and the sales lead (who takes a late review over).
            asked = {who for who in (state.owner_id, self.sales_lead) if who}
            return {SALES_REVIEW: frozenset(asked)}
        return {}

    def check_decision(self, decided: Decided) -> None:
        """Raises InvalidDecision for a decision the flow cannot read."""
        if decided.step != SALES_REVIEW:
            raise InvalidDecision(f"a requirement has no {decided.step} decision")
        value = decided.details.get("business_value")
        if decided.accepted and value not in BUSINESS_VALUES:
            raise InvalidDecision(
                "a confirmation names the business value: one of " + ", ".join(BUSINESS_VALUES)
            )
        if decided.accepted and not decided.details.get("value_note"):
            raise InvalidDecision(
                "a confirmation carries a value_note for R&D (what the requirement is worth "
                "and why, without personal data): it is all R&D is told of the review"
            )

    # --- view ------------------------------------------------------------------------------

    def view(self, state: Requirement) -> dict[str, Any]:
        cycle = None
        if state.closed_at is not None and not state.closed_early:
            cycle = (state.closed_at - state.opened_at).total_seconds()
        elif state.phase == "rejected" and self._finished(state) and state.told_at is not None:
            cycle = (state.told_at - state.opened_at).total_seconds()
        return {
            "ticket_id": state.ticket_id,
            "customer_id": state.customer_id,
            "priority": state.priority,
            "phase": state.phase,
            "owner_id": state.owner_id,
            "reviewer": state.reviewer,
            "review": None
            if state.review is None
            else {
                "accepted": state.review.accepted,
                "by": state.review.by,
                "reason": state.review.reason,
                "business_value": state.review.business_value,
            },
            "rnd": None
            if state.rnd is None
            else {
                "scheduled": state.rnd.scheduled,
                "estimate_days": state.rnd.estimate_days,
                "scheduled_for": state.rnd.scheduled_for,
                "delivery_by": state.rnd.delivery_by,
                "rnd_team": state.rnd.rnd_team,
                "reason": state.rnd.reason,
            },
            "result": _result(state),
            "customer_told": state.customer_told,
            "ticket_closed": state.ticket_closed,
            "opened_at": state.opened_at.isoformat(),
            "steps": {
                name: {
                    "started_at": step.started_at.isoformat(),
                    "ended_at": step.ended_at.isoformat() if step.ended_at else None,
                    "seconds": step.seconds(),
                    "escalated_at": step.escalated_at.isoformat() if step.escalated_at else None,
                    "escalated_to": step.escalated_to,
                }
                for name, step in state.steps.items()
            },
            "cycle_seconds": cycle,
            "conflicts": list(state.conflicts),
        }


def _ended(steps: Mapping[str, StepTime], name: str, at: datetime) -> dict[str, StepTime]:
    step = steps.get(name)
    if step is None or step.ended_at is not None:
        return dict(steps)
    # Never before it started: an event's time is its sender's clock, and it may race the
    # answer that started the step.
    return {**steps, name: replace(step, ended_at=max(at, step.started_at))}


def _request_id(state: Requirement) -> str:
    """The id of the saga's one estimate request (R&D names it in its reply)."""
    return f"{saga_id_of(state.ticket_id)}:{REQUEST_ESTIMATE}"


def _why_not(state: Requirement) -> str:
    if state.review is not None and not state.review.accepted:
        return f"not taken forward by sales ({state.review.reason})"
    if state.rnd is not None and not state.rnd.scheduled:
        return f"declined by development ({state.rnd.reason})"
    return "not taken forward"


def _result(state: Requirement) -> str | None:
    if state.closed_early:
        return "ticket_closed_early"
    if state.rejected == "sales":
        return "rejected_by_sales"
    if state.rejected == "rnd":
        return "declined_by_rnd"
    if state.ticket_closed:
        return "scheduled_and_closed"
    return None


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
