"""Kafka subscriber of the pipeline's and the tickets' events: payments earn points, refunds
take them back, answered surveys earn the survey bonus.

``crm.pipeline.PaymentReceived`` becomes ``EarnPoints``, ``crm.pipeline.PaymentRefunded``
becomes ``ReversePoints`` and ``crm.tickets.SurveyAnswered`` becomes ``AwardBonus`` (reason
``survey_answered``, reference the ticket id, ``survey_bonus_points`` points; none when
that is 0), all with actor ``service:loyalty``, causation the event's id, correlation the
event's correlation id, in consumer group ``crm-loyalty``. Exactly once even when
redelivered: the lot's entry id comes from the payment id (the refund id, the ticket id)
and the decider makes a repeat a no-op. Records of customers who are not members are
acknowledged and ignored; other events too. The consumer discipline is
``crm_runtime.consuming``: acknowledgement after processing; a record that breaks the
contract, or that the rules refuse (e.g. a currency the programme does not earn in),
can never succeed and goes to the dead-letter topic with its reason; other failures are
retried, and after ``max_attempts`` dead-lettered too.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from crm_contracts import REGISTRY, ContractViolation, EventMetadata, cloudevents
from crm_contracts.loyalty import BonusReason
from crm_contracts.pipeline import PaymentReceived, PaymentRefunded
from crm_contracts.tickets import SurveyAnswered
from crm_loyalty.application.handlers import settle
from crm_loyalty.domain.errors import LoyaltyError, NotFound
from crm_loyalty.domain.member import AwardBonus, EarnPoints, MemberCommand, ReversePoints
from crm_runtime.consuming import Unprocessable, subscribe
from crm_runtime.consuming import create_consumer_app as consumer_app
from crm_runtime.eventstore import CommandContext

if TYPE_CHECKING:
    from crm_loyalty.bootstrap import LoyaltyService

log = structlog.get_logger("crm.loyalty.consumer")
ACTOR = "service:loyalty"
PAYMENTS = frozenset({PaymentReceived.event_type, PaymentRefunded.event_type})


def command_of(
    headers: Any, body: bytes, *, survey_bonus_points: int = 0
) -> tuple[EventMetadata, MemberCommand] | None:
    """The member command a payment, refund or answered survey asks for; None for other
    events (and for surveys when the bonus is 0).

    Raises ContractViolation for a record that is no CloudEvent, or one of those types
    that breaks its schema (other types are not ours to judge).
    """
    metadata = cloudevents.decode_metadata(headers)
    handled = PAYMENTS | ({SurveyAnswered.event_type} if survey_bonus_points > 0 else set())
    if metadata.type not in handled:
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
        case SurveyAnswered():
            answered_at = event.answered_at
            return metadata, AwardBonus(
                customer_id=event.customer_id,
                reason=BonusReason.SURVEY_ANSWERED,
                reference=event.ticket_id,
                points=survey_bonus_points,
                at=answered_at if answered_at.tzinfo else answered_at.replace(tzinfo=UTC),
            )
    raise ContractViolation(f"{metadata.type} did not decode as itself")  # pragma: no cover


def register_subscribers(service: LoyaltyService) -> None:
    settings = service.settings
    pipeline_events = Counter(
        "crm_loyalty_pipeline_events",
        "Pipeline events seen by the loyalty consumer, by outcome.",
        ["outcome"],
        registry=service.metrics,
    )
    ticket_events = Counter(
        "crm_loyalty_ticket_events",
        "Ticket events seen by the loyalty consumer, by outcome.",
        ["outcome"],
        registry=service.metrics,
    )

    def tally(message: KafkaMessage) -> Counter:
        topic = message.raw_message.topic
        return ticket_events if topic == settings.tickets_topic else pipeline_events

    async def on_event(message: KafkaMessage) -> None:
        try:
            decoded = command_of(
                message.headers, message.body, survey_bonus_points=settings.survey_bonus_points
            )
        except ContractViolation as violation:
            raise Unprocessable(f"contract violation: {violation}") from violation
        if decoded is None:
            tally(message).labels("ignored").inc()
            return
        metadata, command = decoded
        context = CommandContext(
            command_id=f"cmd_{metadata.id}",
            correlation_id=metadata.correlation_id,
            causation_id=metadata.id,
            actor=ACTOR,
        )
        try:
            outcome = await settle(service.deps, command, context)
        except NotFound:
            tally(message).labels("not_a_member").inc()  # non-members earn nothing
            return
        except LoyaltyError as refused:
            raise Unprocessable(f"rejected: {refused}") from refused
        tally(message).labels("applied" if outcome.changed else "duplicate").inc()

    subscribe(
        service,
        [settings.pipeline_topic, settings.tickets_topic],
        on_event,
        log=log,
        retried="event",
        dead_lettered=lambda message, _: tally(message).labels("dead_lettered").inc(),
    )


def create_consumer_app(service: LoyaltyService) -> FastAPI:
    """The consumer process: the subscriber in the lifespan, /health and /metrics for probes."""
    settings = service.settings
    return consumer_app("loyalty", service, [settings.pipeline_topic, settings.tickets_topic])
