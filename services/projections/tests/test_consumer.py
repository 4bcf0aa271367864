"""The Kafka consumer as a component, in memory with FastStream's TestKafkaBroker.

Under TestKafkaBroker a handler's error reaches the publisher instead of making
the broker seek back and redeliver, and every record has partition 0 and offset
0; so a redelivery is written here as publishing the same record again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from customer_events import (
    Record,
    changed,
    metadata,
    opened,
    paid,
    payload,
    pipeline,
    placed,
    registered,
)
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from crm_contracts import DomainEvent, EventMetadata, cloudevents
from crm_contracts import pipeline as p
from crm_projections.application.projector import OutOfOrder
from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_projections.domain import kpi_boards
from crm_projections.entrypoints.consumer import OneRecord, ProjectionConsumer


@dataclass(frozen=True)
class DeadLetter:
    key: bytes
    headers: dict[str, str]
    body: bytes


@dataclass
class Kafka:
    broker: KafkaBroker
    service: ProjectionsService
    dead_letters: list[DeadLetter] = field(default_factory=list)

    async def publish(
        self, record: tuple[bytes, dict[str, str], bytes], *, topic: str | None = None
    ) -> None:
        key, headers, body = record
        await self.broker.publish(
            body, topic=topic or self.service.settings.contacts_topic, key=key, headers=headers
        )

    async def publish_pipeline(self, records: list[Record]) -> None:
        for envelope, event in records:
            await self.publish(record(event, envelope), topic=self.service.settings.pipeline_topic)

    def count(self, outcome: str, projection: str = "customer360") -> float:
        labels = {"projection": projection, "outcome": outcome}
        value = self.service.metrics.get_sample_value("crm_projection_events_total", labels)
        return value or 0.0


async def running(service: ProjectionsService) -> AsyncIterator[Kafka]:
    dead_letters: list[DeadLetter] = []

    @service.broker.subscriber(service.settings.dead_letter_topic)
    async def capture(message: KafkaMessage) -> None:
        dead_letters.append(
            DeadLetter(message.raw_message.key, dict(message.headers), message.body)
        )

    async with TestKafkaBroker(service.broker) as broker:
        yield Kafka(broker, service, dead_letters)


@pytest.fixture
async def kafka(service: ProjectionsService) -> AsyncIterator[Kafka]:
    async for harness in running(service):
        yield harness


def record(event: DomainEvent, envelope: EventMetadata) -> tuple[bytes, dict[str, str], bytes]:
    return cloudevents.encode(envelope, payload(event))


async def document(kafka: Kafka, customer_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await kafka.service.customer360.documents.find_one(
        {"_id": customer_id}
    )
    return found


async def test_an_event_on_the_contacts_topic_builds_the_customer_360(kafka: Kafka) -> None:
    first = registered("cus_1", "Ada Lovelace")
    second = changed("cus_1", name="Ada King", cleared=("phone",))
    await kafka.publish(record(first, metadata(first, "cus_1", 1)))
    await kafka.publish(record(second, metadata(second, "cus_1", 2)))

    view = await kafka.service.customer360.get("cus_1")
    assert view is not None
    assert view["profile"] == {
        "name": "Ada King",
        "kind": "person",
        "email": "ada@example.com",
        "phone": None,
    }
    assert view["streams"] == {"contacts:cus_1": 2}
    assert kafka.count("applied") == 2
    assert kafka.dead_letters == []


async def test_a_redelivered_event_is_applied_once(kafka: Kafka) -> None:
    event = registered("cus_1")
    message = record(event, metadata(event, "cus_1", 1))
    await kafka.publish(message)
    await kafka.publish(message)

    stored = await document(kafka, "cus_1")
    assert stored is not None
    assert stored["revision"] == 1
    assert (kafka.count("applied"), kafka.count("duplicate")) == (1, 1)
    assert kafka.dead_letters == []


def without(*names: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda headers: {k: v for k, v in headers.items() if k not in names}


def replacing(**values: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda headers: {**headers, **values}


def same(headers: dict[str, str]) -> dict[str, str]:
    return headers


@pytest.mark.parametrize(
    ("edit_headers", "body", "reason"),
    [
        (
            lambda _: {"content-type": "application/json"},
            None,
            "not a CloudEvents 1.0 message",
        ),
        (without("ce_id", "ce_sequence"), None, "missing CloudEvents headers: ce_id, ce_sequence"),
        (replacing(ce_sequence="first"), None, "invalid CloudEvents attributes"),
        (
            replacing(ce_type="crm.contacts.CustomerTeleported"),
            None,
            "unknown event type 'crm.contacts.CustomerTeleported'",
        ),
        (replacing(ce_schemaversion="2"), None, "version 2 is newer than this consumer knows"),
        (replacing(**{"content-type": "application/xml"}), None, "unsupported content-type"),
        (same, b'["cus_1"]', "body is not a JSON object"),
        (
            same,
            b'{"customer_id": "cus_1", "kind": "person"}',
            "invalid crm.contacts.CustomerRegistered payload",
        ),
    ],
    ids=[
        "no-cloudevents-headers",
        "missing-headers",
        "invalid-sequence",
        "unknown-type",
        "newer-schema",
        "wrong-content-type",
        "body-not-an-object",
        "invalid-payload",
    ],
)
async def test_a_poison_message_goes_to_the_dead_letter_topic_with_its_reason(
    kafka: Kafka,
    edit_headers: Callable[[dict[str, str]], dict[str, str]],
    body: bytes | None,
    reason: str,
) -> None:
    event = registered("cus_1")
    key, headers, valid_body = record(event, metadata(event, "cus_1", 1))
    poison = (key, edit_headers(headers), body or valid_body)

    await kafka.publish(poison)  # acknowledged: no error reaches the broker

    (dead,) = kafka.dead_letters
    assert dead.headers["dlt_reason"].startswith("contract violation: ")
    assert reason in dead.headers["dlt_reason"]
    assert dead.headers["dlt_original_topic"] == kafka.service.settings.contacts_topic
    assert dead.headers["dlt_consumer_group"] == "crm-projections"
    assert {"dlt_original_partition", "dlt_original_offset", "dlt_failed_at"} <= set(dead.headers)
    assert (dead.key, dead.body) == (key, poison[2])
    assert {k: v for k, v in dead.headers.items() if k.startswith("ce_")} == {
        k: v for k, v in poison[1].items() if k.startswith("ce_")
    }
    assert await kafka.service.customer360.documents.count_documents({}) == 0
    assert kafka.count("dead_lettered") == 1


async def test_a_message_that_keeps_failing_is_dead_lettered_after_max_attempts(
    kafka: Kafka,
) -> None:
    first = registered("cus_1")
    await kafka.publish(record(first, metadata(first, "cus_1", 1)))
    ahead = changed("cus_1", name="Ada King")
    message = record(ahead, metadata(ahead, "cus_1", 3))  # sequence 2 never came

    with pytest.raises(OutOfOrder):  # NACKed: the broker will deliver it again
        await kafka.publish(message)
    assert kafka.dead_letters == []
    await kafka.publish(message)  # attempt 2 of max_attempts=2: dead-lettered and acknowledged

    (dead,) = kafka.dead_letters
    assert dead.headers["dlt_reason"].startswith("failed 2 times: OutOfOrder: ")
    assert "sequence 3" in dead.headers["dlt_reason"]
    assert (dead.key, dead.body, dead.headers["ce_sequence"]) == (b"cus_1", message[2], "3")
    stored = await document(kafka, "cus_1")
    assert stored is not None
    assert (stored["revision"], stored["profile"]["name"]) == (1, "Ada Lovelace")

    # The attempts were forgotten with the dead letter: a later failure gets a fresh budget.
    with pytest.raises(OutOfOrder):
        await kafka.publish(message)
    assert len(kafka.dead_letters) == 1


async def test_the_retry_budget_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, memory_client: Any, tracer_provider: Any
) -> None:
    monkeypatch.setenv("CRM_PROJECTIONS_MAX_ATTEMPTS", "3")
    settings = ProjectionsSettings(embedded_backend="memory")
    assert settings.max_attempts == 3
    service = bootstrap(settings, document_client=memory_client, tracer_provider=tracer_provider)
    ahead = changed("cus_1", name="Ada King")
    message = record(ahead, metadata(ahead, "cus_1", 2))
    async for kafka in running(service):
        for _ in range(2):
            with pytest.raises(OutOfOrder):
                await kafka.publish(message)
        assert kafka.dead_letters == []
        await kafka.publish(message)
        (dead,) = kafka.dead_letters
        assert dead.headers["dlt_reason"].startswith("failed 3 times: OutOfOrder")


def test_the_fetch_waits_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, memory_client: Any, tracer_provider: Any
) -> None:
    """The broker holds a fetch until ``fetch_min_bytes`` of records or ``fetch_max_wait_ms``
    (FastStream hands both to the aiokafka consumer it builds)."""
    monkeypatch.setenv("CRM_PROJECTIONS_FETCH_MIN_BYTES", "32768")
    monkeypatch.setenv("CRM_PROJECTIONS_FETCH_MAX_WAIT_MS", "50")
    settings = ProjectionsSettings(embedded_backend="memory")
    service = bootstrap(settings, document_client=memory_client, tracer_provider=tracer_provider)
    (subscriber,) = service.broker.subscribers
    consumer_options = subscriber._connection_args  # what AIOKafkaConsumer is given
    assert consumer_options["fetch_min_bytes"] == 32768
    assert consumer_options["fetch_max_wait_ms"] == 50
    monkeypatch.setenv("CRM_PROJECTIONS_FETCH_MIN_BYTES", "0")
    with pytest.raises(ValueError, match="CRM_PROJECTIONS_FETCH_MIN_BYTES"):
        ProjectionsSettings(embedded_backend="memory")


def store_down_once(monkeypatch: pytest.MonkeyPatch, projector: Any) -> None:
    """The read model's store unreachable for one delivery: the batch's one pass fails to
    read, and so does the fold of the record on its own; the next delivery finds it up."""
    apply, prepare = projector.apply, projector.prepare_batch
    failures = [ConnectionError("document store unreachable")]

    async def prepare_while_down(items: Any) -> Any:
        if failures:
            raise ConnectionError("document store unreachable")
        return await prepare(items)

    async def apply_while_down(envelope: EventMetadata, event: DomainEvent) -> Any:
        if failures:
            raise failures.pop()
        return await apply(envelope, event)

    monkeypatch.setattr(projector, "prepare_batch", prepare_while_down)
    monkeypatch.setattr(projector, "apply", apply_while_down)


async def test_a_passing_failure_is_retried_and_then_applied(
    kafka: Kafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_down_once(monkeypatch, kafka.service.customer360)
    event = registered("cus_1")
    message = record(event, metadata(event, "cus_1", 1))
    with pytest.raises(ConnectionError):
        await kafka.publish(message)
    await kafka.publish(message)

    stored = await document(kafka, "cus_1")
    assert stored is not None
    assert stored["revision"] == 1
    assert kafka.dead_letters == []
    assert kafka.count("applied") == 1


async def test_an_event_time_without_offset_is_read_as_utc_and_not_retried_for_ever(
    kafka: Kafka,
) -> None:
    event = registered("cus_1")
    key, headers, body = record(event, metadata(event, "cus_1", 1))
    naive = (key, {**headers, "ce_time": "2020-01-02T03:04:05"}, body)

    await kafka.publish(naive)
    await kafka.publish(naive)

    stored = await document(kafka, "cus_1")
    assert stored is not None
    assert stored["revision"] == 1
    assert stored["updated_at"] == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert kafka.dead_letters == []
    lag = kafka.service.metrics.get_sample_value(
        "crm_projection_lag_seconds", {"projection": "customer360", "source": "contacts"}
    )
    assert lag is not None
    assert lag > 0


# The pipeline topic: the same handler, the same acknowledgement and dead letters.


async def test_events_on_the_pipeline_topic_build_every_read_model(kafka: Kafka) -> None:
    await kafka.publish_pipeline(
        [
            *pipeline("opp_1", opened("opp_1", "cus_1", amount="1000.00", probability=10)),
            *pipeline(
                "ord_1",
                *placed("ord_1", "cus_1", "300.00"),
                paid("ord_1", "cus_1", "100.00", "200.00"),
            ),
        ]
    )
    service = kafka.service
    view = await service.customer360.get("cus_1")
    assert view is not None
    assert [o["opportunity_id"] for o in view["open_opportunities"]] == ["opp_1"]
    assert view["receivables"]["open_balance"] == {"EUR": "200.00"}
    rep = await service.receivables.get("u1")
    assert rep is not None
    assert rep["open_total"] == {"EUR": "200.00"}
    forecast = await service.forecast.summary("2027-Q1", {})
    assert forecast["totals"] == {"EUR": {"weighted": "100.00", "amount": "1000.00", "count": 1}}
    assert (kafka.count("applied"), kafka.count("applied", "receivables_by_rep")) == (4, 3)
    assert (kafka.count("applied", "forecast"), kafka.count("ignored", "forecast")) == (1, 3)
    assert kafka.dead_letters == []


async def test_lead_events_are_acknowledged_and_folded_nowhere(kafka: Kafka) -> None:
    lead = p.LeadCaptured(lead_id="lead_1", source=p.LeadSource.WEB, name="Ada", owner_id="u1")
    await kafka.publish_pipeline(pipeline("lead_1", lead))
    assert kafka.count("ignored") == 1
    assert await kafka.service.customer360.documents.count_documents({}) == 0
    assert kafka.dead_letters == []


async def test_a_poison_message_on_the_pipeline_topic_is_dead_lettered(kafka: Kafka) -> None:
    ((envelope, event),) = pipeline("opp_1", opened("opp_1", "cus_1"))
    key, headers, _ = record(event, envelope)
    topic = kafka.service.settings.pipeline_topic
    await kafka.publish((key, headers, b'{"opportunity_id": "opp_1", "amount": 1.5}'), topic=topic)

    (dead,) = kafka.dead_letters
    assert dead.headers["dlt_reason"].startswith(
        "contract violation: invalid crm.pipeline.OpportunityOpened payload"
    )
    assert dead.headers["dlt_original_topic"] == "crm.pipeline.events"
    assert [kafka.count("dead_lettered", name) for name in ("customer360", "forecast")] == [1, 1]


async def test_an_event_of_a_stream_never_introduced_is_retried_then_dead_lettered(
    kafka: Kafka,
) -> None:
    ((envelope, event),) = pipeline("quo_1", p.QuoteSent(quote_id="quo_1"), first=2)
    message = record(event, envelope)
    topic = kafka.service.settings.pipeline_topic

    with pytest.raises(OutOfOrder):
        await kafka.publish(message, topic=topic)
    await kafka.publish(message, topic=topic)

    (dead,) = kafka.dead_letters
    assert dead.headers["dlt_reason"].startswith(
        "failed 2 times: OutOfOrder: crm.pipeline.QuoteSent"
    )
    assert "stream pipeline:quo_1" in dead.headers["dlt_reason"]
    assert kafka.count("dead_lettered") == 1
    assert kafka.count("dead_lettered", "forecast") == 0  # not one of its streams: ignored


async def test_one_read_model_failing_does_not_keep_the_event_from_the_others(
    kafka: Kafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    receivables = kafka.service.receivables
    store_down_once(monkeypatch, receivables)
    first, _ = pipeline("ord_1", *placed("ord_1", "cus_1"))
    with pytest.raises(ConnectionError):
        await kafka.publish_pipeline([first])
    assert await kafka.service.customer360.get("cus_1") is not None
    assert await receivables.get("u1") is None

    await kafka.publish_pipeline([first])  # the redelivery

    assert await receivables.get("u1") is not None
    assert (kafka.count("applied"), kafka.count("duplicate")) == (1, 1)
    assert kafka.count("applied", "receivables_by_rep") == 1


# --- batches: what one fetch returns is folded in order and acknowledged together -----------


def batch_of(topic: str, *records: tuple[bytes, dict[str, str], bytes]) -> list[OneRecord]:
    return [
        OneRecord(
            raw_message=SimpleNamespace(topic=topic, partition=0, offset=offset, key=key),
            headers=headers,
            body=body,
        )
        for offset, (key, headers, body) in enumerate(records)
    ]


def batch_consumer(service: ProjectionsService) -> ProjectionConsumer:
    """A consumer of its own beside the one registered with the broker (its counts are
    registered nowhere, so the service's metrics do not clash)."""
    counts = Counter("events", "Events by outcome.", ["projection", "outcome"], registry=None)
    return ProjectionConsumer(service, counts)


async def pending_marks(service: ProjectionsService) -> list[dict[str, Any]]:
    pending = service.client["crm_projections"]["customer_rows_boards_pending"]
    return [mark async for mark in pending.find({})]


async def test_a_batch_is_folded_in_order_with_its_poison_dead_lettered_and_one_mark(
    kafka: Kafka,
) -> None:
    first, second, other = (
        registered("cus_1"),
        changed("cus_1", name="Ada King"),
        registered("cus_2"),
    )
    key, headers, _ = record(first, metadata(first, "cus_1", 1))
    topic = kafka.service.settings.contacts_topic
    records = batch_of(
        topic,
        record(first, metadata(first, "cus_1", 1)),
        (key, headers, b'["cus_1"]'),
        record(second, metadata(second, "cus_1", 2)),
        record(other, metadata(other, "cus_2", 1)),
    )

    await batch_consumer(kafka.service).fold_batch(records)

    stored = await document(kafka, "cus_1")
    assert stored is not None and stored["profile"]["name"] == "Ada King"
    assert await document(kafka, "cus_2") is not None
    (dead,) = kafka.dead_letters
    assert dead.headers["dlt_original_offset"] == "1"
    (mark,) = await pending_marks(kafka.service)  # both registrations' boards, in one mark
    assert mark["boards"] == sorted(mark["boards"]) and mark["boards"]
    board = await kafka.service.customer_rows.board(kpi_boards.CUSTOMERS, "month:2026-11")
    assert board["registered"] == 2


async def test_a_batch_that_fails_midway_marks_what_it_folded_and_is_fetched_again(
    kafka: Kafka,
) -> None:
    first, ahead = registered("cus_1"), changed("cus_1", name="Ada King")
    topic = kafka.service.settings.contacts_topic
    records = batch_of(
        topic,
        record(first, metadata(first, "cus_1", 1)),
        record(ahead, metadata(ahead, "cus_1", 3)),  # sequence 2 has not come
    )
    consumer = batch_consumer(kafka.service)

    with pytest.raises(OutOfOrder):  # NACKed: the whole batch comes again
        await consumer.fold_batch(records)
    assert len(await pending_marks(kafka.service)) == 1  # the registration's boards

    await consumer.fold_batch(records)  # attempt 2 of max_attempts=2: dead-lettered

    (dead,) = kafka.dead_letters
    assert dead.headers["dlt_reason"].startswith("failed 2 times: OutOfOrder: ")
    stored = await document(kafka, "cus_1")
    assert stored is not None and stored["revision"] == 1
    # the registration came again as a duplicate: its boards marked again, counted once
    assert len(await pending_marks(kafka.service)) == 2
    board = await kafka.service.customer_rows.board(kpi_boards.CUSTOMERS, "month:2026-11")
    assert board["registered"] == 1
