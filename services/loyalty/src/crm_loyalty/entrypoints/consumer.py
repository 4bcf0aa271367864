"""Kafka subscriber of the pipeline's events: payments earn points, refunds take them back.

``crm.pipeline.PaymentReceived`` becomes ``EarnPoints`` and ``crm.pipeline.PaymentRefunded``
becomes ``ReversePoints`` (actor ``service:loyalty``, causation the event's id,
correlation the event's correlation id), in consumer group ``crm-loyalty``. Exactly
once per payment even when redelivered: the lot's entry id comes from the payment id
and the decider makes a repeat a no-op (the same for a refund id). Payments and
refunds of customers who are not members are acknowledged and ignored; other
pipeline events too. Acknowledgement comes after processing. A record that breaks the
contract, or that the rules refuse (e.g. a currency the programme does not earn in),
can never succeed: it goes to the dead-letter topic with its reason. Other failures
are retried, and after ``max_attempts`` dead-lettered too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from crm_contracts import REGISTRY, ContractViolation, EventMetadata, cloudevents
from crm_contracts.pipeline import PaymentReceived, PaymentRefunded
from crm_loyalty.application.handlers import settle
from crm_loyalty.domain.errors import LoyaltyError, NotFound
from crm_loyalty.domain.member import EarnPoints, MemberCommand, ReversePoints
from crm_runtime.dead_letters import publish_dead_letter
from crm_runtime.eventstore import CommandContext
from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.kafka import ensure_topics, kafka_reachable

if TYPE_CHECKING:
    from crm_loyalty.bootstrap import LoyaltyService

log = structlog.get_logger("crm.loyalty.consumer")
ACTOR = "service:loyalty"
HANDLED = frozenset({PaymentReceived.event_type, PaymentRefunded.event_type})


def command_of(headers: Any, body: bytes) -> tuple[EventMetadata, MemberCommand] | None:
    """The member command a payment or refund record asks for; None for other events.

    Raises ContractViolation for a record that is no CloudEvent, or a payment or refund
    that breaks its schema (other types are not ours to judge).
    """
    metadata = cloudevents.decode_metadata(headers)
    if metadata.type not in HANDLED:
        return None
    _, event = cloudevents.decode(headers, body, REGISTRY)
    match event:
        case PaymentReceived():
            return metadata, EarnPoints(
                customer_id=event.customer_id,
                payment_id=event.payment_id,
                order_id=event.order_id,
                amount=event.amount,
                currency=event.currency,
                at=metadata.time,
            )
        case PaymentRefunded():
            return metadata, ReversePoints(
                customer_id=event.customer_id,
                refund_id=event.refund_id,
                payment_id=event.payment_id,
                order_id=event.order_id,
                amount=event.amount,
                currency=event.currency,
                at=event.refunded_at,
            )
    raise ContractViolation(f"{metadata.type} did not decode as itself")  # pragma: no cover


def register_subscribers(service: LoyaltyService) -> None:
    settings = service.settings
    broker = service.broker
    handled = Counter(
        "crm_loyalty_pipeline_events",
        "Pipeline events seen by the loyalty consumer, by outcome.",
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
            decoded = command_of(message.headers, message.body)
        except ContractViolation as violation:
            await dead_letter(message, f"contract violation: {violation}")
            return
        if decoded is None:
            handled.labels("ignored").inc()
            return
        metadata, command = decoded
        context = CommandContext(
            command_id=f"cmd_{metadata.id}",
            correlation_id=metadata.correlation_id,
            causation_id=metadata.id,
            actor=ACTOR,
        )
        where = (record.topic, record.partition, record.offset)
        try:
            outcome = await settle(service.deps, command, context)
        except NotFound:
            handled.labels("not_a_member").inc()  # payments of non-members earn nothing
            return
        except LoyaltyError as refused:
            await dead_letter(message, f"rejected: {refused}")
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
            log.warning("payment failed; will retry", error=str(error), attempt=attempts[where])
            await asyncio.sleep(min(0.1 * 2 ** attempts[where], 2.0))
            raise
        attempts.pop(where, None)
        handled.labels("applied" if outcome.changed else "duplicate").inc()


def create_consumer_app(service: LoyaltyService) -> FastAPI:
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

    app = FastAPI(title="CRM loyalty consumer", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, "loyalty-consumer")

    @app.get("/health")
    async def health() -> JSONResponse:
        broker_ok = await kafka_reachable(settings.kafka_bootstrap_servers)
        return JSONResponse(
            {
                "status": "ok" if broker_ok else "unavailable",
                "service": "loyalty-consumer",
                "broker": "ok" if broker_ok else "unreachable",
            },
            status_code=200 if broker_ok else 503,
        )

    return app
