"""The simulated R&D system of the embedded default: its decisions (pure), its settings, and
its subscriber through FastStream's TestKafkaBroker (request in, reply out, poison to the
dead letters)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import context as otel_context
from pydantic import ValidationError

from crm_contracts import EventMetadata, cloudevents
from crm_contracts.rnd import (
    RequirementDeclined,
    RequirementEstimateRequested,
    RequirementScheduled,
    reply_event_id,
)
from crm_contracts.tickets import Priority
from crm_runtime.telemetry import context_from_traceparent
from crm_runtime.testing import NOW, Clock, consume, tracer_provider
from crm_sagas.__main__ import cli
from crm_sagas.entrypoints.rnd_simulator import (
    RndSimulator,
    bootstrap_simulator,
    create_simulator_app,
)
from crm_sagas.simulated_rnd import (
    LEAD_DAYS,
    LOW_VALUE_REASON,
    MAX_ESTIMATE_DAYS,
    decide,
    estimate_days,
    wait_before_answering,
)
from crm_sagas.simulated_rnd_config import RndSimulatorSettings

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TODAY = date(2026, 11, 24)
REQUIREMENT_IDS = [f"tkt_{n:032x}" for n in range(200)]


def request(
    *,
    value: str = "high",
    priority: str = "high",
    requirement_id: str = "tkt_1",
    request_id: str = "rrq_1",
) -> RequirementEstimateRequested:
    return RequirementEstimateRequested(
        request_id=request_id, requirement_id=requirement_id, customer_id="cus_ada",
        priority=priority, business_value=value, value_note="Blocks a roll-out to 40 stores.",
        confirmed_by="u1", reply_by=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    )  # fmt: skip


# --- the decision -----------------------------------------------------------------------------


@pytest.mark.parametrize("priority", list(Priority))
def test_an_estimate_depends_on_the_requirement_and_its_priority_only(priority: Priority) -> None:
    estimates = [estimate_days(requirement, priority) for requirement in REQUIREMENT_IDS]
    assert estimates == [estimate_days(requirement, priority) for requirement in REQUIREMENT_IDS]
    if priority in {Priority.URGENT, Priority.HIGH}:
        assert set(estimates) == set(range(2, 16)), "2 to 15 days, every one of them drawn"
    else:
        high = [estimate_days(requirement, Priority.HIGH) for requirement in REQUIREMENT_IDS]
        assert estimates == [min(2 * days, MAX_ESTIMATE_DAYS) for days in high]
        assert min(estimates) == 4 and max(estimates) == MAX_ESTIMATE_DAYS == 20


@pytest.mark.parametrize("priority", list(Priority))
def test_low_value_is_declined_whatever_the_priority(priority: Priority) -> None:
    reply = decide(
        request(value="low", priority=priority), TODAY, capacity_days=60, team="platform"
    )
    assert reply == RequirementDeclined(
        request_id="rrq_1", requirement_id="tkt_1", reason=LOW_VALUE_REASON
    )
    assert reply.reason == "R&D capacity goes to medium and high value requirements this quarter"


@pytest.mark.parametrize(
    ("priority", "lead"),
    [("urgent", 1), ("high", 2), ("normal", 5), ("low", 10)],
)
@pytest.mark.parametrize("value", ["medium", "high"])
def test_worthwhile_work_within_capacity_is_scheduled(priority: str, lead: int, value: str) -> None:
    days = estimate_days("tkt_1", Priority(priority))
    reply = decide(
        request(value=value, priority=priority), TODAY, capacity_days=60, team="platform"
    )
    assert isinstance(reply, RequirementScheduled)
    assert (reply.request_id, reply.requirement_id, reply.rnd_team) == (
        "rrq_1",
        "tkt_1",
        "platform",
    )
    assert reply.estimate_days == days
    assert (
        reply.scheduled_for
        == TODAY + timedelta(days=lead)
        == TODAY + timedelta(days=LEAD_DAYS[Priority(priority)])
    )
    assert reply.delivery_by == reply.scheduled_for + timedelta(days=days)
    assert reply.note and "Simulated" in reply.note
    again = decide(
        request(value=value, priority=priority), TODAY, capacity_days=60, team="platform"
    )
    assert again == reply


def test_an_estimate_beyond_the_capacity_is_declined_and_one_at_it_is_not() -> None:
    days = estimate_days("tkt_1", Priority.HIGH)
    at_capacity = decide(request(), TODAY, capacity_days=days, team="platform")
    assert isinstance(at_capacity, RequirementScheduled)
    beyond = decide(request(), TODAY, capacity_days=days - 1, team="platform")
    assert beyond == RequirementDeclined(
        request_id="rrq_1",
        requirement_id="tkt_1",
        reason=f"Estimated at {days} days, more than the {days - 1} days R&D can give one "
        "requirement this quarter",
    )


def test_low_value_is_declined_for_its_value_even_beyond_capacity() -> None:
    reply = decide(request(value="low"), TODAY, capacity_days=1, team="platform")
    assert isinstance(reply, RequirementDeclined) and reply.reason == LOW_VALUE_REASON


@pytest.mark.parametrize(
    ("sent_seconds_ago", "delay", "wait"),
    [
        (0, 2, 2.0),  # just sent: the whole delay
        (0.5, 2, 1.5),  # fetched a little later: the rest of it
        (2, 2, 0.0),
        (3600, 2, 0.0),  # a backlog or a redelivery: at once
        (-60, 2, 2.0),  # the sender's clock is ahead: never more than the delay
        (0, 0, 0.0),
    ],
)
def test_the_answer_comes_the_delay_after_the_request_was_sent(
    sent_seconds_ago: float, delay: float, wait: float
) -> None:
    sent = NOW - timedelta(seconds=sent_seconds_ago)
    assert wait_before_answering(sent, NOW, timedelta(seconds=delay)) == pytest.approx(wait)


# --- the settings -----------------------------------------------------------------------------


def test_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_RND_SIMULATOR_DELAY", "CRM_RND_SIMULATOR_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = RndSimulatorSettings()
    assert settings.http_port == 8126
    assert settings.delay == timedelta(seconds=2)
    assert settings.capacity_days == 60
    assert (settings.requests_topic, settings.replies_topic) == (
        "crm.rnd.requests",
        "crm.rnd.replies",
    )
    assert settings.consumer_group == "crm-rnd-simulator"
    assert settings.dead_letter_topic == "crm.rnd.simulator.dlt"


@pytest.mark.parametrize(
    ("written", "delay"),
    [("0", timedelta(0)), ("2s", timedelta(seconds=2)), ("0.5", timedelta(seconds=0.5)),
     ("1m", timedelta(minutes=1)), ("PT3S", timedelta(seconds=3))],
)  # fmt: skip
def test_the_delay_is_written_as_operators_write_durations(
    monkeypatch: pytest.MonkeyPatch, written: str, delay: timedelta
) -> None:
    monkeypatch.setenv("CRM_RND_SIMULATOR_DELAY", written)
    assert RndSimulatorSettings().delay == delay


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CRM_RND_SIMULATOR_DELAY", "-PT1S", "zero or a positive duration"),
        ("CRM_RND_SIMULATOR_DELAY", "soon", "duration"),
        ("CRM_RND_SIMULATOR_CAPACITY_DAYS", "0", "greater than or equal to 1"),
    ],
)
def test_bad_settings_say_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=message):
        RndSimulatorSettings()


# --- the subscriber ---------------------------------------------------------------------------


@dataclass
class Captured:
    """What the simulator wrote: replies and dead letters, and the pauses it took."""

    replies: list[KafkaMessage] = field(default_factory=list)
    dead: list[dict[str, str]] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)


@pytest.fixture
def simulator_settings(tmp_path: Any) -> RndSimulatorSettings:
    return RndSimulatorSettings(embedded_backend="memory", data_dir=tmp_path, capacity_days=60)


@pytest.fixture
def captured() -> Captured:
    return Captured()


@pytest.fixture
def simulator(
    simulator_settings: RndSimulatorSettings, clock: Clock, span_exporter: Any, captured: Captured
) -> RndSimulator:
    async def pause(seconds: float) -> None:
        captured.pauses.append(seconds)

    return bootstrap_simulator(
        simulator_settings,
        tracer_provider=tracer_provider("crm-rnd-simulator-test", span_exporter),
        clock=clock,
        sleep=pause,
    )


@pytest.fixture
async def broker(simulator: RndSimulator, captured: Captured) -> AsyncIterator[Any]:
    settings = simulator.settings

    @simulator.broker.subscriber(settings.replies_topic)
    async def reply(message: KafkaMessage) -> None:
        captured.replies.append(message)

    @simulator.broker.subscriber(settings.dead_letter_topic)
    async def dead_letter(message: KafkaMessage) -> None:
        captured.dead.append(dict(message.headers))

    async with TestKafkaBroker(simulator.broker) as test_broker:
        yield test_broker


def request_record(
    made: RequirementEstimateRequested, event_id: str = "evt_request_1", subject: str | None = None
) -> tuple[bytes, dict[str, str], bytes]:
    metadata = EventMetadata(
        id=event_id, type=made.event_type, schema_version=1, source="/crm/sagas",
        subject=subject or made.requirement_id, sequence=1, time=NOW,
        correlation_id="corr_ticket_1", causation_id="evt_value_confirmed",
        actor="service:sagas",
    )  # fmt: skip
    return cloudevents.encode(metadata, made.model_dump(mode="json"))


async def send(
    broker: Any, simulator: RndSimulator, record: tuple[bytes, dict[str, str], bytes]
) -> None:
    """Publish as the sagas' relay does: inside the request's trace."""
    key, headers, body = record
    token = otel_context.attach(context_from_traceparent(TRACEPARENT))
    try:
        await broker.publish(
            body, topic=simulator.settings.requests_topic, key=key, headers=headers
        )
    finally:
        otel_context.detach(token)


def decoded(message: KafkaMessage) -> tuple[EventMetadata, Any]:
    return cloudevents.decode(message.headers, message.body)


async def test_a_request_is_answered_in_its_correlation_and_trace(
    broker: Any, simulator: RndSimulator, captured: Captured, clock: Clock
) -> None:
    await send(broker, simulator, request_record(request(priority="urgent")))
    [message] = captured.replies
    metadata, reply = decoded(message)
    days = estimate_days("tkt_1", Priority.URGENT)
    assert reply == RequirementScheduled(
        request_id="rrq_1", requirement_id="tkt_1", estimate_days=days,
        scheduled_for=date(2026, 11, 25), delivery_by=date(2026, 11, 25) + timedelta(days=days),
        rnd_team="rnd-simulated", note=reply.note,
    )  # fmt: skip
    assert metadata.id == reply_event_id("rrq_1", "crm.rnd.RequirementScheduled")
    assert metadata.correlation_id == "corr_ticket_1"
    assert metadata.causation_id == "evt_request_1"
    assert (metadata.subject, message.raw_message.key) == ("tkt_1", b"tkt_1")
    assert (metadata.source, metadata.actor, metadata.time) == (
        "/rnd",
        "service:rnd-simulator",
        clock.now,
    )
    assert message.headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
    assert captured.pauses == [2.0]  # sent just now: the whole default delay
    assert captured.dead == []
    count = simulator.metrics.get_sample_value
    assert count("crm_rnd_simulator_requests_total", {"outcome": "scheduled"}) == 1


async def test_a_redelivered_request_gets_the_same_reply(
    broker: Any, simulator: RndSimulator, captured: Captured, clock: Clock
) -> None:
    await send(broker, simulator, request_record(request(value="low")))
    clock.advance(minutes=5)
    await send(broker, simulator, request_record(request(value="low"), event_id="evt_again"))
    first, again = (decoded(message) for message in captured.replies)
    assert isinstance(first[1], RequirementDeclined)
    assert first[1] == again[1]
    assert first[0].id == again[0].id == reply_event_id("rrq_1", "crm.rnd.RequirementDeclined")
    assert captured.pauses == [2.0, 0.0]  # the second came five minutes after it was sent


async def test_a_backlog_is_answered_without_waiting_again(
    broker: Any, simulator: RndSimulator, captured: Captured, clock: Clock
) -> None:
    clock.advance(seconds=30)
    for number in range(3):
        made = request(request_id=f"rrq_{number}", requirement_id=f"tkt_{number}")
        await send(broker, simulator, request_record(made, event_id=f"evt_{number}"))
    assert captured.pauses == [0.0, 0.0, 0.0]
    assert [decoded(message)[1].request_id for message in captured.replies] == [
        "rrq_0",
        "rrq_1",
        "rrq_2",
    ]


def reply_on_the_requests_topic() -> tuple[bytes, dict[str, str], bytes]:
    declined = RequirementDeclined(request_id="rrq_1", requirement_id="tkt_1", reason="no")
    metadata = EventMetadata(
        id="evt_reply", type=declined.event_type, schema_version=1, source="/rnd",
        subject="tkt_1", sequence=1, time=NOW, correlation_id="c", causation_id="c",
        actor="service:rnd",
    )  # fmt: skip
    return cloudevents.encode(metadata, declined.model_dump(mode="json"))


def not_a_cloudevent() -> tuple[bytes, dict[str, str], bytes]:
    return b"tkt_1", {"content-type": "application/json"}, b'{"request_id": "rrq_1"}'


def breaking_the_schema() -> tuple[bytes, dict[str, str], bytes]:
    key, headers, _ = request_record(request())
    body = request().model_dump(mode="json") | {"business_value": "priceless"}
    return key, headers, json.dumps(body).encode()


def naming_another_subject() -> tuple[bytes, dict[str, str], bytes]:
    return request_record(request(), subject="tkt_other")


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        (not_a_cloudevent, "contract violation: not a CloudEvents 1.0 message"),
        (reply_on_the_requests_topic, "crm.rnd.RequirementDeclined is no request"),
        (breaking_the_schema, "invalid crm.rnd.RequirementEstimateRequested payload"),
        (naming_another_subject, "ce_subject 'tkt_other' is not the requirement_id 'tkt_1'"),
    ],
)
async def test_poison_goes_to_the_dead_letters_with_the_reason(
    broker: Any,
    simulator: RndSimulator,
    captured: Captured,
    poison: Callable[[], tuple[bytes, dict[str, str], bytes]],
    reason: str,
) -> None:
    await send(broker, simulator, poison())
    assert captured.replies == []
    [letter] = captured.dead
    assert letter["dlt_reason"].startswith("contract violation: ")
    assert reason in letter["dlt_reason"]
    assert letter["dlt_consumer_group"] == "crm-rnd-simulator"
    assert letter["dlt_original_topic"] == "crm.rnd.requests"
    count = simulator.metrics.get_sample_value
    assert count("crm_rnd_simulator_requests_total", {"outcome": "dead_lettered"}) == 1
    # the simulator goes on answering
    await send(broker, simulator, request_record(request()))
    assert len(captured.replies) == 1


# --- the process ------------------------------------------------------------------------------


def test_the_process_answers_health_and_metrics_without_a_token(
    simulator_settings: RndSimulatorSettings, unused_tcp_port: int
) -> None:
    nowhere = simulator_settings.model_copy(
        update={"kafka_bootstrap_servers": f"127.0.0.1:{unused_tcp_port}"}
    )
    app = create_simulator_app(bootstrap_simulator(nowhere))
    http = TestClient(app)  # no lifespan: no broker started
    health = http.get("/health")
    assert health.status_code == 503
    assert health.json() == {
        "status": "unavailable",
        "service": "rnd-simulator",
        "broker": "unreachable",
    }
    assert "crm_rnd_simulator_requests" in http.get("/metrics").text


def test_the_command_line_runs_the_simulator() -> None:
    commands = typer.main.get_command(cli).commands  # type: ignore[attr-defined]
    assert "rnd-simulator" in commands
    assert "simulated R&D" in (commands["rnd-simulator"].help or "")


# --- over the real Kafka protocol -------------------------------------------------------------


@pytest.mark.integration
async def test_the_process_answers_over_the_embedded_broker(
    embedded_kafka: str, tmp_path: Any
) -> None:
    from aiokafka import AIOKafkaProducer

    suffix = uuid.uuid4().hex[:8]
    settings = RndSimulatorSettings(
        embedded_backend="memory", data_dir=tmp_path, kafka_bootstrap_servers=embedded_kafka,
        requests_topic=f"test.rnd.requests.{suffix}", replies_topic=f"test.rnd.replies.{suffix}",
        dead_letter_topic=f"test.rnd.dlt.{suffix}", consumer_group=f"g-{suffix}", delay="0",
    )  # fmt: skip
    app = create_simulator_app(bootstrap_simulator(settings))
    async with app.router.lifespan_context(app):
        producer = AIOKafkaProducer(bootstrap_servers=embedded_kafka)
        await producer.start()
        try:
            key, headers, body = request_record(request(value="medium", priority="normal"))
            await producer.send_and_wait(
                settings.requests_topic, body, key=key,
                headers=[(name, value.encode()) for name, value in headers.items()],
            )  # fmt: skip
        finally:
            await producer.stop()
        [record] = await consume(embedded_kafka, settings.replies_topic, expected=1)
    metadata, reply = cloudevents.decode(record.headers, record.value)
    assert record.key == b"tkt_1"
    assert isinstance(reply, RequirementScheduled)
    assert reply.estimate_days == estimate_days("tkt_1", Priority.NORMAL)
    assert (metadata.correlation_id, metadata.causation_id) == ("corr_ticket_1", "evt_request_1")
