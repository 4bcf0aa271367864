"""Kafka subscriber of the pipeline's events: a placed order is a purchase of its customer.

``crm.pipeline.OrderPlaced`` becomes ``RecordPurchase`` (actor ``service:contacts``,
causation the event's id, correlation the event's correlation id); the decider counts
an order once, so redeliveries change nothing. Other pipeline events are acknowledged
and ignored. Acknowledgement comes after processing (FastStream's default acknowledges
first). A message that breaks the contract, or an order for a customer contacts does
not know, can never succeed: it goes to the dead-letter topic with its reason and is
acknowledged. Any other failure is retried by seeking back, and after ``max_attempts``
it is dead-lettered too (the same policy as the projections, docs/adr/0005).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from crm_contacts.application.purchases import record_purchase
from crm_contacts.domain.customer import CustomerNotFound, CustomerWasErased, RecordPurchase
from crm_contracts import REGISTRY, ContractViolation, EventMetadata, cloudevents
from crm_contracts.pipeline import OrderPlaced
from crm_runtime.dead_letters import publish_dead_letter
from crm_runtime.eventstore import CommandContext
from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.kafka import ensure_topics, kafka_reachable

if TYPE_CHECKING:
    from crm_contacts.bootstrap import ContactsService

log = structlog.get_logger("crm.contacts.consumer")
ACTOR = "service:contacts"


def purchase_of(headers: Any, body: bytes) -> tuple[EventMetadata, RecordPurchase] | None:
    """The purchase an OrderPlaced record reports; None for any other pipeline event.

    Raises ContractViolation for a record that is no CloudEvent or an OrderPlaced that
    breaks its schema. Only OrderPlaced payloads are validated: the other types are not
    ours to judge.
    """
    metadata = cloudevents.decode_metadata(headers)
    if metadata.type != OrderPlaced.event_type:
        return None
    _, event = cloudevents.decode(headers, body, REGISTRY)
    if not isinstance(event, OrderPlaced):  # pragma: no cover - the registry maps the type
        raise ContractViolation(f"{metadata.type} did not decode as an OrderPlaced")
    placed_at = event.placed_at if event.placed_at.tzinfo else event.placed_at.replace(tzinfo=UTC)
    return metadata, RecordPurchase(
        customer_id=event.customer_id, order_id=event.order_id, at=placed_at
    )


def register_subscribers(service: ContactsService) -> None:
    settings = service.settings
    broker = service.broker
    handled = Counter(
        "crm_contacts_pipeline_events",
        "Pipeline events seen by the contacts consumer, by outcome.",
        ["outcome"],
        registry=service.metrics,
    )
    attempts: dict[tuple[str, int, int], int] = {}

    async def dead_letter(message: KafkaMessage, reason: str) -> None:
        record = message.raw_message
        await publish_dead_letter(
            broker, message, reason, topic=settings.dead_letter_topic, group=settings.consumer_group
        )
        handled.labels("dead_lettered").inc()
        log.warning("dead-lettered", reason=reason, topic=record.topic, offset=record.offset)

    @broker.subscriber(
        settings.pipeline_topic,
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    async def on_pipeline_event(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            purchase = purchase_of(message.headers, message.body)
        except ContractViolation as violation:
            await dead_letter(message, f"contract violation: {violation}")
            return
        if purchase is None:
            handled.labels("ignored").inc()
            return
        metadata, command = purchase
        context = CommandContext(
            command_id=service.deps.new_id("cmd"),
            correlation_id=metadata.correlation_id,
            causation_id=metadata.id,
            actor=ACTOR,
        )
        where = (record.topic, record.partition, record.offset)
        try:
            outcome = await record_purchase(service.deps, command, context)
        except CustomerNotFound as unknown:
            await dead_letter(message, f"rejected: {unknown}")
            return
        except CustomerWasErased:
            handled.labels("erased").inc()  # nothing may be recorded about them any more
            return
        except Exception as error:
            attempts[where] = attempts.get(where, 0) + 1
            if attempts[where] >= settings.max_attempts:
                attempts.pop(where, None)
                await dead_letter(
                    message,
                    f"failed {settings.max_attempts} times: {type(error).__name__}: {error}",
                )
                return
            log.warning("purchase failed; will retry", error=str(error), attempt=attempts[where])
            await asyncio.sleep(min(0.1 * 2 ** attempts[where], 2.0))
            raise
        attempts.pop(where, None)
        handled.labels("recorded" if outcome.events else "duplicate").inc()


def create_consumer_app(service: ContactsService) -> FastAPI:
    """The consumer process: the subscriber in the lifespan, /health and /metrics for probes."""
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [settings.pipeline_topic, settings.dead_letter_topic],
            partitions=settings.topic_partitions,
        )
        await service.broker.start()
        try:
            yield
        finally:
            await service.broker.stop()
            await service.close()

    app = FastAPI(title="CRM contacts consumer", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, "contacts-consumer")

    @app.get("/health")
    async def health() -> JSONResponse:
        broker_ok = await kafka_reachable(settings.kafka_bootstrap_servers)
        return JSONResponse(
            {
                "status": "ok" if broker_ok else "unavailable",
                "service": "contacts-consumer",
                "broker": "ok" if broker_ok else "unreachable",
            },
            status_code=200 if broker_ok else 503,
        )

    return app
