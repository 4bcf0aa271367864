"""What the sagas tests share: events as the sagas see them, given/when/then over a flow,
and fake services that answer commands and honour Idempotency-Key like the real ones."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx

from crm_runtime.testing import NOW as NOW
from crm_runtime.testing import Clock as Clock
from crm_sagas.domain import saga as core
from crm_sagas.domain.onboarding import OnboardingFlow
from crm_sagas.domain.payment_reminder import PaymentReminderFlow
from crm_sagas.domain.rep_departure import RepDepartureFlow, departure_trigger
from crm_sagas.domain.requirement import RequirementFlow
from crm_sagas.domain.saga import Entry, Flow, Saga, SagaCommand, Started, Trigger

MAX_ATTEMPTS = 3
ONBOARDING = OnboardingFlow(home_store_id="sto_main", step_deadline=timedelta(hours=1))
REMINDER = PaymentReminderFlow(coupon_validity=timedelta(days=7))
REQUIREMENT = RequirementFlow(
    review_deadline=timedelta(hours=8), rnd_deadline=timedelta(days=2),
    follow_up_deadline=timedelta(days=3), sales_lead="u_lead", service_lead="a_lead",
)  # fmt: skip
DEPARTURE = RepDepartureFlow(step_deadline=timedelta(minutes=30))


def trigger(type_: str, event_id: str, at: datetime = NOW, **data: Any) -> Trigger:
    subject = str(data.get("opportunity_id") or data.get("order_id"))
    return Trigger(event_id, f"crm.pipeline.{type_}", subject, data, f"corr_{event_id}", at)


def won(opportunity: str = "opp_1", customer: str = "cus_ada", event: str = "evt_won") -> Trigger:
    return trigger(
        "OpportunityWon", event, opportunity_id=opportunity, customer_id=customer,
        owner_id="u1", team="north", from_stage="proposal", amount="48000.00",
        currency="EUR", probability=100,
    )  # fmt: skip


def unpaid(order: str = "ord_1", customer: str = "cus_ada", event: str = "evt_unpaid") -> Trigger:
    return trigger(
        "OrderUnpaidAfter48Hours", event, order_id=order, customer_id=customer, owner_id="u1",
        team="north", balance="120.00", currency="EUR", placed_at="2026-11-22T09:30:00Z",
    )  # fmt: skip


def overdue(order: str = "ord_1", event: str = "evt_overdue") -> Trigger:
    return trigger(
        "ReceivableOverdue", event, order_id=order, customer_id="cus_ada", owner_id="u1",
        due_date="2026-11-23", days_overdue=1, balance="120.00", currency="EUR",
    )  # fmt: skip


def paid(order: str = "ord_1", balance_after: str = "0.00", event: str = "evt_paid") -> Trigger:
    return trigger(
        "PaymentReceived", event, order_id=order, customer_id="cus_ada", payment_id="pay_1",
        amount="120.00", currency="EUR", balance_after=balance_after,
    )  # fmt: skip


def settled(order: str = "ord_1", event: str = "evt_settled") -> Trigger:
    return trigger(
        "ReceivableSettled", event, order_id=order, customer_id="cus_ada", amount="120.00",
        currency="EUR",
    )  # fmt: skip


def ticket_event(
    type_: str, event_id: str, at: datetime = NOW, ticket: str = "tkt_1",
    kind: str = "requirement", **data: Any,
) -> Trigger:  # fmt: skip
    """A ``crm.tickets.<type_>`` event as the sagas see it (no personal fields)."""
    fields = {"ticket_id": ticket, "customer_id": "cus_acme", "kind": kind,
              "priority": "high", "team": "support", **data}  # fmt: skip
    return Trigger(event_id, f"crm.tickets.{type_}", ticket, fields, f"corr_{event_id}", at)


def ticket_opened(
    kind: str = "requirement", ticket: str = "tkt_1", event: str = "evt_opened", at: datetime = NOW
) -> Trigger:
    return ticket_event(
        "TicketOpened", event, at, ticket, kind, status="new", channel="email",
        opened_by="u1", opened_at=at.isoformat(),
    )  # fmt: skip


def ticket_resolved(
    at: datetime = NOW, event: str = "evt_resolved", kind: str = "requirement"
) -> Trigger:
    return ticket_event("TicketResolved", event, at, kind=kind, status="resolved", resolved_by="a1")


def ticket_reopened(at: datetime = NOW, event: str = "evt_reopened") -> Trigger:
    return ticket_event("TicketReopened", event, at, status="reopened", reopened_by="a1")


def ticket_closed(at: datetime = NOW, event: str = "evt_closed") -> Trigger:
    return ticket_event("TicketClosed", event, at, status="closed", closed_by="a1")


def rnd_reply(
    type_: str, event_id: str, at: datetime = NOW, requirement: str = "tkt_1", **data: Any
) -> Trigger:
    """R&D's reply (``crm.rnd.<type_>``) to the estimate request of ``requirement``'s saga."""
    fields = {"request_id": f"sag_requirement_{requirement}:request_estimate",
              "requirement_id": requirement, **data}  # fmt: skip
    return Trigger(event_id, f"crm.rnd.{type_}", requirement, fields, f"corr_{event_id}", at)


def rnd_scheduled(at: datetime = NOW, event: str = "evt_scheduled", **data: Any) -> Trigger:
    plan = {"estimate_days": 8, "scheduled_for": "2026-12-07", "delivery_by": "2026-12-18",
            "rnd_team": "platform", **data}  # fmt: skip
    return rnd_reply("RequirementScheduled", event, at, **plan)


def rnd_declined(
    at: datetime = NOW, event: str = "evt_declined", reason: str = "no capacity this quarter"
) -> Trigger:
    return rnd_reply("RequirementDeclined", event, at, reason=reason)


def departure(
    rep: str = "u1", successors: Sequence[str] = ("u2", "u3"), team: str | None = "north",
    reason: str = "rep left the company", at: datetime = NOW,
) -> Trigger:  # fmt: skip
    """A manager's request that ``rep``'s book be handed over (the departure's trigger)."""
    data = {"rep_id": rep, "successor_ids": list(successors), "reason": reason, "team": team,
            "requested_by": "u_manager"}  # fmt: skip
    return departure_trigger(
        data, event_id=f"cmd_depart_{rep}", correlation_id="corr_depart", at=at
    )


def given(flow: Flow[Any], start: Trigger, *entries: Entry, at: datetime = NOW) -> Saga[Any]:
    """The saga ``start`` started at ``at``, after ``entries``."""
    return core.replay(flow, [Started(at, start), *entries], max_attempts=MAX_ATTEMPTS)


def when(flow: Flow[Any], saga: Saga[Any], entry: Entry) -> tuple[Saga[Any], list[str]]:
    """The saga after ``entry`` and the steps of the commands it then sends."""
    after = core.evolve(flow, saga, entry, max_attempts=MAX_ATTEMPTS)
    commands = core.react(flow, saga, entry, max_attempts=MAX_ATTEMPTS)
    return after, [c.step for c in commands]


def steps(commands: Sequence[SagaCommand]) -> list[str]:
    return [c.step for c in commands]


# --- fake services ---------------------------------------------------------------------------


class Crash(Exception):
    """The runner's process dies while a command is under way (after the service acted)."""


CRASH_AFTER_EFFECT = "crash-after-effect"


@dataclass(frozen=True)
class Sent:
    service: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServices:
    """contacts, loyalty and tickets as the sagas call them. A command with an
    Idempotency-Key already answered gets that answer again and acts once (``effects``)."""

    customer: dict[str, Any] = field(
        default_factory=lambda: {
            "kind": "person", "lifecycle_stage": "prospect", "purchases": 0,
            "purchased_opportunity_ids": [],
        }
    )  # fmt: skip
    member: bool = True
    requests: list[Sent] = field(default_factory=list)
    effects: list[Sent] = field(default_factory=list)
    scripted: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    replays: dict[str, httpx.Response] = field(default_factory=dict)

    def clients(self) -> dict[str, httpx.AsyncClient]:
        return {
            name: httpx.AsyncClient(
                transport=httpx.MockTransport(partial(self._handle, name)),
                base_url=f"http://{name}.test",
            )
            for name in ("contacts", "loyalty", "tickets", "pipeline")
        }

    def script(self, method: str, path: str, *answers: Any) -> None:
        """The next answers to ``method path``: a status (with a problem), a Response, an
        exception to raise, or CRASH_AFTER_EFFECT; then the usual answer again."""
        self.scripted.setdefault((method, path), []).extend(answers)

    def effect_paths(self) -> list[str]:
        return [f"{s.method} {s.path}" for s in self.effects]

    def _handle(self, service: str, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent = Sent(service, request.method, request.url.path, dict(request.headers), body)
        self.requests.append(sent)
        key = request.headers.get("idempotency-key")
        if key and key in self.replays:
            return self.replays[key]
        queue = self.scripted.get((request.method, request.url.path))
        scripted = queue.pop(0) if queue else None
        if isinstance(scripted, Exception):
            raise scripted
        if isinstance(scripted, int):
            problem = {"status": scripted, "title": "Refused", "detail": f"scripted {scripted}"}
            return httpx.Response(scripted, json=problem)
        if isinstance(scripted, httpx.Response):
            return scripted
        answer = self._usual(request, body)
        if request.method != "GET" and answer.status_code < 300:
            self.effects.append(sent)
            if key:
                self.replays[key] = answer
        if scripted == CRASH_AFTER_EFFECT:
            raise Crash(f"killed after {request.method} {request.url.path}")
        return answer

    def _usual(self, request: httpx.Request, body: Any) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path.startswith("/contacts/customers/"):
            return httpx.Response(200, json={"id": path.rsplit("/", 1)[-1], **self.customer})
        if path.endswith("/purchases"):
            purchases = int(self.customer["purchases"]) + 1
            stage = "customer" if purchases == 1 else "repeat_customer"
            return httpx.Response(200, json={"lifecycle_stage": stage, "purchases": purchases})
        if request.method == "GET" and path.startswith("/loyalty/members/"):
            if not self.member:
                return httpx.Response(404, json={"status": 404, "detail": "no member"})
            return httpx.Response(200, json={"tier": "silver", "balance": 0})
        if path == "/tickets":
            return httpx.Response(201, json={"id": f"tkt_{len(self.effects) + 1}", "status": "new"})
        return httpx.Response(201 if request.method == "POST" else 200, json={"id": "x"})
