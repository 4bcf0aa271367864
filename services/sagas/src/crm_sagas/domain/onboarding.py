"""Deal won -> onboarding (issue #7, flow 2).

On ``crm.pipeline.OpportunityWon`` the saga

1. looks the customer up in contacts (kind, purchases so far and the deals they came
   from: a purchase of this very deal, recorded first from its order, does not make a
   first-time buyer a returning one);
2. records the won deal as a purchase in contacts (``POST .../purchases`` with its
   ``opportunity_id``, no order yet): contacts' lifecycle rules make a prospect a
   customer and a customer a repeat customer, and count a deal once, so the order the
   deal later becomes (pipeline's OrderPlaced names its opportunity) is not counted
   again, nor is the deal when its order came first. Contacts refuses buying stages
   set by hand (``PUT .../lifecycle-stage``), so the purchase is the API that moves the
   stage, and it is idempotent by itself;
3. for a person (B2C), opens the configured home store in loyalty if the chain has not
   got it (a 409, the store exists, is as good), then enrols them there unless a member
   already (the same enrolment answers 200, a membership at another store 409: both
   mean "a member"); any other refusal fails the saga with loyalty's reason, for an
   operator to retry;
4. opens a ``service_request`` onboarding ticket for a new customer (no purchase before).

It completes when every step is confirmed. Each outstanding step must be answered within
``step_deadline`` of the last progress, or the saga fails as timed out (an operator may
retry it). One saga per opportunity: a deal won again after a reopen onboards nobody twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from crm_sagas.domain.saga import (
    Deadline,
    DeadlinePassed,
    Decided,
    Entry,
    Retried,
    SagaCommand,
    Started,
    Status,
    StepRefused,
    StepSucceeded,
    Trigger,
    step_deadline,
    step_outcome,
    timed_out_reason,
)

TYPE = "onboarding"
WON = "crm.pipeline.OpportunityWon"
LOOK_UP = "look_up_customer"
PURCHASE = "record_purchase"
ENROL = "enrol_member"
TICKET = "open_onboarding_ticket"
OPEN_STORE = "open_home_store"


def saga_id_of(opportunity_id: str) -> str:
    return f"sag_onboarding_{opportunity_id}"


@dataclass(frozen=True)
class Onboarding:
    opportunity_id: str
    customer_id: str
    amount: str
    currency: str
    won_at: datetime
    home_store_id: str
    since: datetime
    """When the saga last made progress: the step deadline counts from here."""
    kind: str | None = None
    purchases_before: int | None = None
    stage: str | None = None
    purchase_recorded: bool = False
    membership: str | None = None
    """enrolled, already_member or not_applicable (a company); None while unknown."""
    store_ready: bool = False
    """The home store of new members exists (the saga opens it if the chain has not)."""
    ticket: str | None = None
    """The onboarding ticket's id, or "not_needed" for a customer who bought before."""
    timed_out: str | None = None

    @property
    def new_customer(self) -> bool | None:
        return None if self.purchases_before is None else self.purchases_before == 0


@dataclass(frozen=True)
class OnboardingFlow:
    """Configured by the settings: the home store of new members, the step deadline."""

    home_store_id: str
    step_deadline: timedelta
    home_store_name: str = "Online shop"
    home_store_city: str = "Online"
    type: str = TYPE

    def starting(self, trigger: Trigger) -> str | None:
        return saga_id_of(str(trigger.data["opportunity_id"])) if trigger.type == WON else None

    def following(self, trigger: Trigger) -> str | None:
        return None  # nothing after the win concerns it

    def initial_state(self, started: Started) -> Onboarding:
        data = started.trigger.data
        return Onboarding(
            opportunity_id=str(data["opportunity_id"]),
            customer_id=str(data["customer_id"]),
            amount=str(data["amount"]),
            currency=str(data["currency"]),
            won_at=started.trigger.at,
            home_store_id=self.home_store_id,
            since=started.at,
        )

    def evolve(self, state: Onboarding, entry: Entry) -> Onboarding:
        match entry:
            case StepSucceeded(step=step, answer=answer):
                return replace(_succeeded(state, step, answer), since=entry.at)
            case StepRefused(step=step) if step == ENROL and entry.status == 409:
                return replace(state, membership="already_member", since=entry.at)
            case StepRefused(step=step) if step == OPEN_STORE and entry.status == 409:
                return replace(state, store_ready=True, since=entry.at)
            case DeadlinePassed():
                why = timed_out_reason(self.step_deadline, self.react(state))
                return replace(state, timed_out=why)
            case Retried():
                return replace(state, timed_out=None, since=entry.at)
        return state

    def expects(self, state: Onboarding, refused: StepRefused) -> bool:
        return refused.step in (ENROL, OPEN_STORE) and refused.status == 409

    def react(self, state: Onboarding) -> list[SagaCommand]:
        customer = state.customer_id
        if state.kind is None:
            return [
                SagaCommand(
                    LOOK_UP, "contacts", "GET", f"/contacts/customers/{customer}",
                    keep=("kind", "lifecycle_stage", "purchases", "purchased_opportunity_ids"),
                )
            ]  # fmt: skip
        commands: list[SagaCommand] = []
        if not state.purchase_recorded:
            commands.append(
                SagaCommand(
                    PURCHASE, "contacts", "POST", f"/contacts/customers/{customer}/purchases",
                    body={"opportunity_id": state.opportunity_id, "at": state.won_at.isoformat()},
                    keep=("lifecycle_stage", "purchases"),
                )
            )  # fmt: skip
        if state.membership is None and state.kind == "person" and not state.store_ready:
            commands.append(
                SagaCommand(
                    OPEN_STORE, "loyalty", "POST", "/loyalty/stores",
                    body={
                        "store_id": state.home_store_id,
                        "name": self.home_store_name,
                        "city": self.home_store_city,
                    },
                    keep=("id",),
                )
            )  # fmt: skip
        elif state.membership is None and state.kind == "person":
            commands.append(
                SagaCommand(
                    ENROL, "loyalty", "POST", "/loyalty/members",
                    body={"customer_id": customer, "home_store_id": state.home_store_id},
                    keep=("tier", "home_store_id"),
                )
            )  # fmt: skip
        if state.ticket is None and state.new_customer:
            commands.append(
                SagaCommand(
                    TICKET, "tickets", "POST", "/tickets",
                    body={
                        "customer_id": customer,
                        "kind": "service_request",
                        "channel": "email",
                        "priority": "normal",
                        "subject": "Onboarding: free operator training",
                        "description": f"New customer: deal {state.opportunity_id} won "
                        f"({state.amount} {state.currency}). Welcome them and offer the "
                        "free operator training.",
                    },
                    keep=("id", "status"),
                )
            )  # fmt: skip
        return commands

    def deadline(self, state: Onboarding) -> Deadline | None:
        return step_deadline(
            done=self._done(state), timed_out=state.timed_out, since=state.since,
            limit=self.step_deadline,
        )  # fmt: skip

    def outcome(self, state: Onboarding) -> Status:
        return step_outcome(done=self._done(state), timed_out=state.timed_out)

    def awaits(self, state: Onboarding) -> dict[str, frozenset[str]]:
        return {}  # no step waits for a person

    def check_decision(self, decided: Decided) -> None:
        raise ValueError(f"a {self.type} saga asks no one for a decision")

    def view(self, state: Onboarding) -> dict[str, Any]:
        return {
            "opportunity_id": state.opportunity_id,
            "customer_id": state.customer_id,
            "customer_kind": state.kind,
            "new_customer": state.new_customer,
            "lifecycle_stage": state.stage,
            "purchase_recorded": state.purchase_recorded,
            "membership": state.membership,
            "home_store_id": state.home_store_id,
            "onboarding_ticket": state.ticket,
            "timed_out": state.timed_out,
        }

    def _done(self, state: Onboarding) -> bool:
        return state.kind is not None and (
            state.purchase_recorded and state.membership is not None and state.ticket is not None
        )


def _succeeded(state: Onboarding, step: str, answer: Any) -> Onboarding:
    if step == LOOK_UP:
        kind = str(answer.get("kind", "person"))
        # A new customer has bought nothing but this deal (its order may have been
        # recorded before the saga looked: contacts names the deals of its purchases).
        this_deal = state.opportunity_id in (answer.get("purchased_opportunity_ids") or [])
        purchases = int(answer.get("purchases", 0)) - (1 if this_deal else 0)
        return replace(
            state,
            kind=kind,
            purchases_before=purchases,
            stage=answer.get("lifecycle_stage"),
            membership="not_applicable" if kind != "person" else state.membership,
            ticket="not_needed" if purchases > 0 else state.ticket,
        )
    if step == PURCHASE:
        return replace(state, purchase_recorded=True, stage=answer.get("lifecycle_stage"))
    if step == OPEN_STORE:
        return replace(state, store_ready=True)
    if step == ENROL:
        return replace(state, membership="enrolled")
    if step == TICKET:
        return replace(state, ticket=str(answer.get("id", "opened")))
    return state
