"""Kafka subscriber of every context's topic: decode each CloudEvent, fold it into every read
model, then acknowledge. The topics share the one handler and consumer group.

Acknowledgement comes after processing (FastStream's default acknowledges
first). A message that breaks the contract goes to the dead-letter topic with
its reason and is acknowledged; a failure that may pass (store down, an event
ahead of its predecessor) is retried by seeking back, and after
``max_attempts`` it is dead-lettered too, so one bad record never stalls a
partition for ever and nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter, Gauge

from crm_contracts import ContractViolation, DomainEvent, EventMetadata, cloudevents
from crm_projections.application.projector import Applied
from crm_runtime.dead_letters import publish_dead_letter

if TYPE_CHECKING:
    from crm_projections.bootstrap import ProjectionsService

log = structlog.get_logger("crm.projections.consumer")


def register_subscribers(service: ProjectionsService) -> None:
    settings = service.settings
    broker = service.broker
    applied = Counter(
        "crm_projection_events",
        "Events seen by the projections, by outcome.",
        ["projection", "outcome"],
        registry=service.metrics,
    )
    lag_seconds = Gauge(
        "crm_projection_lag_seconds",
        "Age of the last event folded into the read model.",
        ["projection"],
        registry=service.metrics,
    )
    consumer_lag = Gauge(
        "crm_consumer_lag_events",
        "Records of the partition after the one just handled (broker high watermark - 1 - offset).",
        ["group", "topic", "partition"],
        registry=service.metrics,
    )
    attempts: dict[tuple[str, int, int], int] = {}

    def observe_lag(message: KafkaMessage) -> None:
        """Events behind on this partition, from the high watermark of the last fetch."""
        highwater = getattr(message.consumer, "highwater", None)  # absent in TestKafkaBroker
        record = message.raw_message
        if highwater is None:
            return
        try:
            end = highwater(TopicPartition(record.topic, record.partition))
        except Exception:  # e.g. the partition was revoked meanwhile: a metric never fails a record
            return
        if end is not None:
            consumer_lag.labels(settings.consumer_group, record.topic, str(record.partition)).set(
                max(0, end - 1 - record.offset)
            )

    async def dead_letter(message: KafkaMessage, reason: str, missed_by: list[str]) -> None:
        record = message.raw_message
        await publish_dead_letter(
            broker, message, reason, topic=settings.dead_letter_topic, group=settings.consumer_group
        )
        for name in missed_by:
            applied.labels(name, "dead_lettered").inc()
        log.warning("dead-lettered", reason=reason, topic=record.topic, offset=record.offset)

    async def fold(metadata: EventMetadata, event: DomainEvent) -> dict[str, Exception]:
        """Into every read model, answering those that failed: one failing does not keep the
        event from the others (each is idempotent: the retry of the record changes them no more).
        """
        failures: dict[str, Exception] = {}
        for projector in service.projectors:
            try:
                outcome = await projector.apply(metadata, event)
            except Exception as error:
                failures[projector.name] = error
                continue
            applied.labels(projector.name, outcome.value).inc()
            if outcome is not Applied.IGNORED:
                lag_seconds.labels(projector.name).set(
                    max(0.0, (datetime.now(UTC) - metadata.time).total_seconds())
                )
        return failures

    @broker.subscriber(
        *settings.topics,
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    async def on_event(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            metadata, event = cloudevents.decode(message.headers, message.body)
        except ContractViolation as violation:
            await dead_letter(
                message, f"contract violation: {violation}", [p.name for p in service.projectors]
            )
            observe_lag(message)
            return
        if metadata.time.tzinfo is None:  # the contract's times are UTC; some senders omit "Z"
            metadata = metadata.model_copy(update={"time": metadata.time.replace(tzinfo=UTC)})
        where = (record.topic, record.partition, record.offset)
        failures = await fold(metadata, event)
        if failures:
            error = next(iter(failures.values()))
            attempts[where] = attempts.get(where, 0) + 1
            if attempts[where] >= settings.max_attempts:
                attempts.pop(where, None)
                await dead_letter(
                    message,
                    f"failed {settings.max_attempts} times: {type(error).__name__}: {error}",
                    list(failures),
                )
                observe_lag(message)
                return
            log.warning(
                "projection failed; will retry",
                error=str(error),
                projections=list(failures),
                attempt=attempts[where],
            )
            await asyncio.sleep(min(0.1 * 2 ** attempts[where], 2.0))
            raise error
        attempts.pop(where, None)
        observe_lag(message)
