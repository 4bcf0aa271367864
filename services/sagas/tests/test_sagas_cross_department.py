"""Requirement handling and a rep's departure through the sagas service: Kafka in (FastStream's
TestKafkaBroker), the decisions and the departure over HTTP, the runner's deadline loop,
the R&D request out on its topic, and the fake services answering commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sagas_testing import NOW, Clock, FakeServices

from crm_contracts import EventMetadata, cloudevents
from crm_contracts.registry import DomainEvent
from crm_contracts.rnd import RequirementScheduled
from crm_contracts.tickets import TicketOpened, TicketResolved
from crm_runtime.testing import ClientFactory, created, ok, problem
from crm_sagas.application.commands import ServiceCommands
from crm_sagas.application.messages import message_id
from crm_sagas.bootstrap import SagasService
from crm_sagas.domain.rep_departure import handover_id_of
from crm_sagas.domain.saga import SagaCommand
from crm_sagas.entrypoints.runner import deadline_loop

TICKET = "tkt_1"
SAGA = "sag_requirement_tkt_1"
DECISION = f"/sagas/{SAGA}/decisions/sales_review"


def record(
    event: DomainEvent, event_id: str, subject: str, at: datetime = NOW
) -> tuple[bytes, dict[str, str], bytes]:
    metadata = EventMetadata(
        id=event_id, type=event.event_type, schema_version=event.schema_version,
        source="/crm/tickets", subject=subject, sequence=1, time=at,
        correlation_id="corr_ticket", causation_id="cmd_open", actor="user:u1",
    )  # fmt: skip
    return cloudevents.encode(metadata, event.model_dump(mode="json"))


def opened(kind: str = "requirement") -> tuple[bytes, dict[str, str], bytes]:
    event = TicketOpened(
        ticket_id=TICKET, customer_id="cus_acme", kind=kind, priority="normal", status="new",
        team="support", channel="email", subject="ERP export", description="Please add it",
        opened_by="u1", opened_at=NOW, first_response_due=NOW + timedelta(hours=4),
        resolution_due=NOW + timedelta(days=3),
    )  # fmt: skip
    return record(event, "evt_opened", TICKET)


def resolved(at: datetime) -> tuple[bytes, dict[str, str], bytes]:
    event = TicketResolved(
        ticket_id=TICKET, customer_id="cus_acme", kind="requirement", priority="normal",
        status="resolved", team="support", resolution="told them", resolved_by="a1",
        opened_at=NOW, resolved_at=NOW, resolution_due=NOW + timedelta(days=3), within_sla=True,
    )  # fmt: skip
    return record(event, "evt_resolved", TICKET, at)


@pytest.fixture
async def kafka(service: SagasService) -> AsyncIterator[tuple[Any, list[KafkaMessage]]]:
    requests: list[KafkaMessage] = []

    @service.broker.subscriber(service.settings.rnd_requests_topic)
    async def capture(message: KafkaMessage) -> None:
        requests.append(message)

    async with TestKafkaBroker(service.broker) as test_broker:
        yield test_broker, requests


class Killed(BaseException):
    """The process dies: nothing after this line of it runs (not an error it handles)."""


def answered(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def send(broker: Any, topic: str, made: tuple[bytes, dict[str, str], bytes]) -> None:
    key, headers, body = made
    await broker.publish(body, topic=topic, key=key, headers=headers)


async def test_a_requirement_waits_for_its_owner_then_goes_to_rnd_and_back_to_service(
    service: SagasService,
    services: FakeServices,
    kafka: tuple[Any, list[KafkaMessage]],
    signed_in: ClientFactory,
    clock: Clock,
) -> None:
    broker, requests = kafka
    services.customer["owner_id"] = "u1"
    settings = service.settings
    await send(broker, settings.tickets_topic, opened("question"))  # no saga for a question
    assert await service.documents.load(SAGA) is None
    await send(broker, settings.tickets_topic, opened())
    await send(broker, settings.tickets_topic, opened())  # redelivered: nothing twice

    saga = ok(await signed_in("sales_manager").get(f"/sagas/{SAGA}"))
    assert saga["state"]["phase"] == "sales_review" and saga["outstanding"] == []
    asks = [s for s in services.effects if s.path.endswith("/interactions")]
    assert len(asks) == 1 and "u1" in asks[0].body["summary"]
    assert DECISION in asks[0].body["summary"]

    # Only the owner among the reps; a confirmation names its value; one decision.
    refused = await signed_in("sales_rep", subject="u2").post(
        DECISION, json={"accepted": True, "reason": "x", "business_value": "high"}
    )
    problem(refused, 403)
    owner = signed_in("sales_rep", subject="u1")
    problem(await owner.post(DECISION, json={"accepted": True, "reason": "worth it"}), 422)
    huge = {"accepted": True, "reason": "x", "business_value": "huge"}
    problem(await owner.post(DECISION, json=huge), 422)
    decided = answered(
        await signed_in("sales_rep", subject="u1").post(
            DECISION,
            json={"accepted": True, "reason": "three accounts", "business_value": "high",
                  "value_note": "unblocks ERP integrations"},
        ),
    )  # fmt: skip
    assert decided["history"][-1]["kind"] == "decided"
    problem(await signed_in("sales_manager").post(
        DECISION, json={"accepted": False, "reason": "no"}), 409)  # fmt: skip

    # The runner takes the decision up at once: the estimate is requested from R&D.
    await deadline_loop(service).check_due()
    (request,) = requests
    headers = dict(request.headers)
    assert headers["ce_type"] == "crm.rnd.RequirementEstimateRequested"
    assert headers["ce_id"] == message_id(SAGA, "request_estimate")
    assert (headers["ce_subject"], headers["ce_correlationid"]) == (TICKET, "corr_ticket")
    assert request.raw_message.key == TICKET.encode()
    _, asked = cloudevents.decode(request.headers, request.body)
    assert asked.model_dump(mode="json") | {} == {
        **asked.model_dump(mode="json"),
        "request_id": f"{SAGA}:request_estimate",
        "requirement_id": TICKET,
        "business_value": "high",
        "confirmed_by": "u1",
    }

    # R&D schedules it: the customer is told, then service resolves and the saga closes.
    clock.advance(hours=5)
    reply = RequirementScheduled(
        request_id=f"{SAGA}:request_estimate", requirement_id=TICKET, estimate_days=6,
        scheduled_for="2026-12-01", delivery_by="2026-12-09", rnd_team="integrations",
    )  # fmt: skip
    key, reply_headers, body = record(reply, "evt_scheduled", TICKET, clock())
    await broker.publish(body, topic=settings.rnd_replies_topic, key=key, headers=reply_headers)
    told = [s for s in services.effects if s.path == f"/tickets/{TICKET}/replies"]
    assert len(told) == 1 and "2026-12-09" in told[0].body["body"]
    clock.advance(hours=1)
    await send(broker, settings.tickets_topic, resolved(clock()))
    done = ok(await signed_in("auditor").get(f"/sagas/{SAGA}"))
    assert (done["status"], done["state"]["result"]) == ("completed", "scheduled_and_closed")
    assert services.effect_paths()[-1] == f"POST /tickets/{TICKET}/close"
    steps = done["state"]["steps"]
    assert steps["rnd_estimate"]["seconds"] == 5 * 3600
    assert steps["follow_up"]["seconds"] == 3600

    times = ok(await signed_in("sales_manager").get("/sagas/requirements/cycle-times"))
    (row,) = times["requirements"]
    assert row["ticket_id"] == TICKET and row["cycle_seconds"] == done["state"]["cycle_seconds"]
    assert times["average_seconds"]["follow_up"] == 3600
    problem(await signed_in("sales_rep").get("/sagas/requirements/cycle-times"), 403)


async def test_a_departure_moves_the_book_and_completes_when_every_service_confirmed(
    service: SagasService, services: FakeServices, signed_in: ClientFactory, span_exporter: Any
) -> None:
    services.script(
        "POST", "/contacts/handovers",
        httpx.Response(201, json={"completed": True, "moved": [
            {"customer_id": "cus_a", "owner_id": "u2"}, {"customer_id": "cus_b", "owner_id": "u3"},
        ], "skipped": []}),
    )  # fmt: skip
    services.script(
        "GET", "/pipeline/opportunities",
        httpx.Response(200, json={"opportunities": [
            {"id": "opp_1", "customer_id": "cus_b", "owner_id": "u1", "status": "open"},
            {"id": "opp_2", "customer_id": "cus_a", "owner_id": "u1", "status": "open"},
        ], "next": None}),
        httpx.Response(200, json={"opportunities": [], "next": None}),
    )  # fmt: skip
    services.script("POST", "/pipeline/opportunities/opp_2/owner", 409)  # won meanwhile
    services.script(
        "GET", "/tickets",
        httpx.Response(200, json={"tickets": [
            {"id": "tkt_9", "customer_id": "cus_a", "assignee_id": "u1", "status": "open"},
        ]}),
        httpx.Response(200, json={"tickets": []}),
    )  # fmt: skip
    admin = signed_in("admin", subject="m1", team="hq")
    body = {"rep_id": "u1", "successor_ids": ["u2", "u3"], "reason": "left", "team": "north"}
    for role in ("sales_rep", "sales_manager", "service"):  # an admin's act (policy)
        problem(await signed_in(role).post("/sagas/rep-departures", json=body), 403)
    own = {**body, "successor_ids": ["u1"]}
    problem(await admin.post("/sagas/rep-departures", json=own), 422)
    answer = await admin.post("/sagas/rep-departures", json=body)
    started = created(answer)
    assert answer.headers["location"] == "/sagas/sag_departure_u1"
    assert started["state"]["team"] == "north" and started["state"]["requested_by"] == "m1"
    assert ok(await admin.post("/sagas/rep-departures", json=body))["id"] == started["id"]
    other = {**body, "successor_ids": ["u2"]}
    problem(await admin.post("/sagas/rep-departures", json=other), 409)
    manager = admin

    await deadline_loop(service).check_due()
    done = ok(await manager.get("/sagas/sag_departure_u1"))
    assert done["status"] == "completed", done
    state = done["state"]
    assert state["opportunities"]["moved"] == {"opp_1": "u3"}
    assert list(state["opportunities"]["skipped"]) == ["opp_2"]
    assert state["tickets"]["moved"] == {"tkt_9": "u2"}
    effects = services.effect_paths()
    assert effects == ["POST /pipeline/opportunities/opp_1/owner", "POST /tickets/tkt_9/assign"]
    (handover,) = [s for s in services.requests if s.path == "/contacts/handovers"]
    assert handover.body["handover_id"] == handover_id_of("sag_departure_u1")
    assert handover.body["team"] == "north"
    assert handover.headers["idempotency-key"] == "sag_departure_u1:hand_over_customers"
    listings = [s for s in services.requests if s.path == "/tickets"]
    assert [s.method for s in listings] == ["GET", "GET"]

    # Every step is a span in the trace of the manager's request, carried to each service.
    trace_id = answer.headers["x-trace-id"]
    steps = [s for s in span_exporter.get_finished_spans() if s.name.startswith("saga ")]
    assert {s.name for s in steps} >= {
        "saga rep_departure hand_over_customers",
        "saga rep_departure reassign_opportunity:opp_1",
        "saga rep_departure reassign_ticket:tkt_9",
    }
    assert {format(s.context.trace_id, "032x") for s in steps} == {trace_id}
    assert all(trace_id in s.headers["traceparent"] for s in services.requests)
    correlation = started["correlation_id"]
    assert {s.headers["x-correlation-id"] for s in services.requests} == {correlation}


async def test_a_runner_killed_after_its_message_went_out_sends_the_same_message_again(
    service: SagasService,
    services: FakeServices,
    kafka: tuple[Any, list[KafkaMessage]],
    signed_in: ClientFactory,
) -> None:
    broker, _ = kafka
    services.customer["owner_id"] = "u1"
    await send(broker, service.settings.tickets_topic, opened())
    confirm = {"accepted": True, "reason": "worth it", "business_value": "medium",
               "value_note": "a B2B need"}  # fmt: skip
    answered(await signed_in("sales_manager").post(DECISION, json=confirm))
    sent: list[dict[str, str]] = []

    async def dies_after_sending(
        topic: str, key: bytes, headers: dict[str, str], body: bytes
    ) -> None:
        sent.append(headers)
        if len(sent) == 1:
            raise Killed("after the broker acknowledged, before the saga recorded it")

    service.runner._commands._messages._publish = dies_after_sending  # the process, as it dies
    loop = deadline_loop(service)
    with pytest.raises(Killed):
        await loop.check_due()
    saga = ok(await signed_in("auditor").get(f"/sagas/{SAGA}"))
    assert saga["outstanding"] == ["request_estimate"]
    await loop.check_due()
    assert [h["ce_id"] for h in sent] == [message_id(SAGA, "request_estimate")] * 2
    saga = ok(await signed_in("auditor").get(f"/sagas/{SAGA}"))
    kept = [e for e in saga["history"] if e.get("step") == "request_estimate"]
    assert [e["kind"] for e in kept] == ["step_succeeded"]
    assert saga["state"]["phase"] == "rnd_estimate" and saga["outstanding"] == []


@pytest.mark.parametrize(
    ("problem_type", "kind"),
    [
        ("urn:crm:problem:version-conflict", "step_failed"),  # raced: sent again, same key
        ("urn:crm:problem:wrong-state", "step_refused"),  # closed meanwhile: the flow reads it
    ],
)
def test_a_version_conflict_is_sent_again_a_wrong_state_is_an_answer(
    problem_type: str, kind: str
) -> None:
    commands = ServiceCommands({}, lambda: "token", lambda: NOW)
    command = SagaCommand("reassign_opportunity:opp_1", "pipeline", "POST", "/x", body={})
    answer = httpx.Response(409, json={"type": problem_type, "status": 409, "detail": "no"})
    assert commands.entry_of(command, answer).kind == kind


async def test_a_cancelled_departure_is_started_anew_under_the_next_id(
    service: SagasService, services: FakeServices, signed_in: ClientFactory
) -> None:
    services.script("POST", "/contacts/handovers", 503, 503, 503, 503, 503)
    admin = signed_in("admin", subject="root", team="hq")
    body = {"rep_id": "u1", "successor_ids": ["u2"], "reason": "left"}
    first = created(await admin.post("/sagas/rep-departures", json=body))
    await deadline_loop(service).check_due()  # contacts is down: the saga waits to retry
    ok(await admin.post(f"/sagas/{first['id']}/cancel", json={"reason": "wrong successor"}))
    fixed = {**body, "successor_ids": ["u3"]}
    second = created(await admin.post("/sagas/rep-departures", json=fixed))
    assert (first["id"], second["id"]) == ("sag_departure_u1", "sag_departure_u1-2")
    assert second["state"]["handover_id"] != first["state"]["handover_id"]


async def test_decisions_on_sagas_that_ask_none_or_do_not_exist(
    service: SagasService, signed_in: ClientFactory
) -> None:
    admin = signed_in("admin", subject="root", team="hq")
    body = {"rep_id": "u1", "successor_ids": ["u2"], "reason": "left"}
    departure = created(await admin.post("/sagas/rep-departures", json=body))["id"]
    decision = {"accepted": False, "reason": "no"}
    problem(await admin.post(f"/sagas/{departure}/decisions/sales_review", json=decision), 409)
    problem(await admin.post("/sagas/sag_nothing/decisions/sales_review", json=decision), 404)
    bad = await admin.post(f"/sagas/{departure}/decisions/sales_review", json={"accepted": 1})
    problem(bad, 422)


async def test_an_rnd_reply_that_breaks_its_contract_is_dead_lettered_with_the_reason(
    service: SagasService,
) -> None:
    dead: list[dict[str, str]] = []

    @service.broker.subscriber(service.settings.dead_letter_topic)
    async def capture(message: KafkaMessage) -> None:
        dead.append(dict(message.headers))

    async with TestKafkaBroker(service.broker) as broker:
        key, headers, _ = record(
            RequirementScheduled(
                request_id=f"{SAGA}:request_estimate", requirement_id=TICKET, estimate_days=3,
                scheduled_for="2026-12-01", delivery_by="2026-12-04", rnd_team="r",
            ),
            "evt_bad", TICKET,
        )  # fmt: skip
        backwards = b'{"request_id":"r","requirement_id":"tkt_1","estimate_days":3,' \
            b'"scheduled_for":"2026-12-04","delivery_by":"2026-12-01","rnd_team":"r"}'  # fmt: skip
        topic = service.settings.rnd_replies_topic
        await broker.publish(backwards, topic=topic, key=key, headers=headers)
    (letter,) = dead
    assert letter["dlt_reason"].startswith("contract violation")
    assert "delivery_by" in letter["dlt_reason"]
    assert await service.documents.load(SAGA) is None


async def test_a_large_book_moves_in_turns_so_other_sagas_are_not_held_up(
    service: SagasService, services: FakeServices, signed_in: ClientFactory
) -> None:
    deals = [
        {"id": f"opp_{n:03}", "customer_id": "cus_a", "owner_id": "u1", "status": "open"}
        for n in range(80)
    ]
    services.script(
        "POST", "/contacts/handovers",
        httpx.Response(201, json={"completed": True, "moved": [], "skipped": []}),
    )  # fmt: skip
    services.script("GET", "/pipeline/opportunities",
                    httpx.Response(200, json={"opportunities": deals, "next": None}))  # fmt: skip
    admin = signed_in("admin", subject="root", team="hq")
    body = {"rep_id": "u1", "successor_ids": ["u2"], "reason": "left"}
    saga_id = created(await admin.post("/sagas/rep-departures", json=body))["id"]
    loop = deadline_loop(service)

    await loop.check_due()  # one turn: fewer steps than the book needs, then due again
    moved = [s for s in services.effects if s.path.endswith("/owner")]
    assert 0 < len(moved) < len(deals)
    assert saga_id in await service.documents.due(service.deps.clock(), 10)
    for _ in range(5):
        await loop.check_due()
    done = ok(await admin.get(f"/sagas/{saga_id}"))
    assert done["status"] == "completed"
    assert len(done["state"]["opportunities"]["moved"]) == len(deals)
