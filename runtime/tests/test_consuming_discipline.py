"""The consumer discipline every context shares (``crm_runtime.consuming``), through
FastStream's TestKafkaBroker: a redelivery is publishing the same record again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import structlog
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry

from crm_runtime import consuming
from crm_runtime.consuming import StillFailing, Unprocessable, retry_pause, subscribe


@dataclass
class Settings:
    kafka_bootstrap_servers: str = "127.0.0.1:1"
    consumer_group: str = "crm-test"
    dead_letter_topic: str = "test.dlt"
    fetch_max_wait_ms: int = 100
    max_attempts: int = 3
    topic_partitions: int = 1


@dataclass
class Service:
    settings: Settings = field(default_factory=Settings)
    broker: KafkaBroker = field(default_factory=lambda: KafkaBroker(logger=None))
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    lifecycle: list[str] = field(default_factory=list)

    async def start(self) -> None:
        self.lifecycle.append("started")

    async def close(self) -> None:
        self.lifecycle.append("closed")


@dataclass
class Consumer:
    broker: Any
    handled: list[bytes]
    dead_letters: list[dict[str, str]]
    given_up: list[Exception]

    async def deliver(self, body: bytes) -> None:
        await self.broker.publish(body, topic="test.events", key=b"k")


@pytest.fixture
async def faults() -> dict[bytes, Callable[[], Exception] | None]:
    """What handling a body raises, by body; a body not listed is handled."""
    return {}


@pytest.fixture
async def consumer(faults: dict[bytes, Callable[[], Exception] | None]) -> AsyncIterator[Consumer]:
    service = Service()
    handled: list[bytes] = []
    dead: list[dict[str, str]] = []
    given_up: list[Exception] = []

    async def handle(message: KafkaMessage) -> None:
        fault = faults.get(message.body)
        if fault is not None:
            raise fault()
        handled.append(message.body)

    subscribe(
        service,
        ["test.events"],
        handle,
        log=structlog.get_logger("crm.test.consumer"),
        retried="test record",
        dead_lettered=lambda _, cause: given_up.append(cause),
    )

    @service.broker.subscriber("test.dlt")
    async def capture(message: KafkaMessage) -> None:
        dead.append(dict(message.headers))

    async with TestKafkaBroker(service.broker) as broker:
        yield Consumer(broker, handled, dead, given_up)


async def test_a_handled_record_is_acknowledged_without_a_dead_letter(consumer: Consumer) -> None:
    await consumer.deliver(b"fine")
    assert consumer.handled == [b"fine"]
    assert consumer.dead_letters == []


async def test_an_unprocessable_record_is_dead_lettered_at_once_with_its_reason(
    consumer: Consumer, faults: dict[bytes, Any]
) -> None:
    faults[b"poison"] = lambda: Unprocessable("contract violation: not a CloudEvent")
    await consumer.deliver(b"poison")  # no exception: acknowledged
    [dead] = consumer.dead_letters
    assert dead["dlt_reason"] == "contract violation: not a CloudEvent"
    assert (dead["dlt_consumer_group"], dead["dlt_original_topic"]) == ("crm-test", "test.events")
    assert [type(cause) for cause in consumer.given_up] == [Unprocessable]


async def test_a_failure_is_retried_and_dead_lettered_after_max_attempts(
    consumer: Consumer, faults: dict[bytes, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consuming, "retry_pause", lambda _: 0.0)
    faults[b"flaky"] = lambda: ConnectionError("store down")
    for _ in range(2):
        with pytest.raises(ConnectionError):  # NACKed: the record is fetched again
            await consumer.deliver(b"flaky")
    assert consumer.dead_letters == []
    await consumer.deliver(b"flaky")  # attempt 3 of 3: dead-lettered and acknowledged
    [dead] = consumer.dead_letters
    assert dead["dlt_reason"] == "failed 3 times: ConnectionError: store down"

    with pytest.raises(ConnectionError):  # the budget went with the dead letter
        await consumer.deliver(b"flaky")
    assert len(consumer.dead_letters) == 1


async def test_a_failure_that_passes_is_applied_on_the_retry(
    consumer: Consumer, faults: dict[bytes, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consuming, "retry_pause", lambda _: 0.0)
    faults[b"later"] = lambda: TimeoutError("slow store")
    with pytest.raises(TimeoutError):
        await consumer.deliver(b"later")
    faults[b"later"] = None
    await consumer.deliver(b"later")
    assert consumer.handled == [b"later"]
    assert consumer.dead_letters == []


async def test_a_failure_with_details_raises_and_names_the_error_it_wraps(
    consumer: Consumer, faults: dict[bytes, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consuming, "retry_pause", lambda _: 0.0)
    faults[b"partly"] = lambda: StillFailing(KeyError("row"), projections=["forecast"])
    for _ in range(2):
        with pytest.raises(KeyError):
            await consumer.deliver(b"partly")
    await consumer.deliver(b"partly")
    [dead] = consumer.dead_letters
    assert dead["dlt_reason"] == "failed 3 times: KeyError: 'row'"
    [cause] = consumer.given_up
    assert isinstance(cause, StillFailing) and cause.details == {"projections": ["forecast"]}


@pytest.mark.parametrize(("attempt", "pause"), [(1, 0.2), (2, 0.4), (4, 1.6), (5, 2.0), (9, 2.0)])
def test_the_pause_before_a_retry_doubles_up_to_two_seconds(attempt: int, pause: float) -> None:
    assert retry_pause(attempt) == pytest.approx(pause)


@pytest.mark.parametrize(
    ("reachable", "status", "answer"), [(True, 200, "ok"), (False, 503, "unavailable")]
)
async def test_the_consumer_process_answers_its_health_from_the_broker(
    monkeypatch: pytest.MonkeyPatch, reachable: bool, status: int, answer: str
) -> None:
    async def broker_reachable(_: str) -> bool:
        return reachable

    monkeypatch.setattr(consuming, "kafka_reachable", broker_reachable)
    service = Service()
    app = consuming.create_consumer_app("loyalty", service, ["test.events"])
    assert app.title == "CRM loyalty consumer"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://consumer") as http:
        health = await http.get("/health")
    assert health.status_code == status
    assert health.json() == {
        "status": answer,
        "service": "loyalty-consumer",
        "broker": "ok" if reachable else "unreachable",
    }
