"""Kafka subscriber of the pipeline's events: a placed order is a purchase of its customer.

``crm.pipeline.OrderPlaced`` becomes ``RecordPurchase`` (actor ``service:contacts``,
causation the event's id, correlation the event's correlation id) with the order's
opportunity; the decider counts a deal once, so redeliveries change nothing, nor does the
order of a deal the onboarding saga recorded as a purchase when it was won. Other
pipeline events are acknowledged and ignored. Acknowledgement comes after processing
(FastStream's default acknowledges first). A message that breaks the contract, or an
order for a customer contacts does not know, can never succeed: it goes to the
dead-letter topic with its reason and is acknowledged. Any other failure is retried by
seeking back, and after ``max_attempts`` it is dead-lettered too
(``crm_runtime.consuming``, the same policy as the projections, docs/adr/0005).
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from crm_contacts.application.purchases import record_purchase
from crm_contacts.domain.customer import CustomerNotFound, CustomerWasErased, RecordPurchase
from crm_contracts import REGISTRY, ContractViolation, EventMetadata, cloudevents
from crm_contracts.pipeline import OrderPlaced
from crm_runtime.consuming import Unprocessable, subscribe
from crm_runtime.consuming import create_consumer_app as consumer_app
from crm_runtime.eventstore import CommandContext

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
        customer_id=event.customer_id,
        order_id=event.order_id,
        at=placed_at,
        opportunity_id=event.opportunity_id,
    )


def register_subscribers(service: ContactsService) -> None:
    settings = service.settings
    handled = Counter(
        "crm_contacts_pipeline_events",
        "Pipeline events seen by the contacts consumer, by outcome.",
        ["outcome"],
        registry=service.metrics,
    )

    async def on_pipeline_event(message: KafkaMessage) -> None:
        try:
            purchase = purchase_of(message.headers, message.body)
        except ContractViolation as violation:
            raise Unprocessable(f"contract violation: {violation}") from violation
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
        try:
            outcome = await record_purchase(service.deps, command, context)
        except CustomerNotFound as unknown:
            raise Unprocessable(f"rejected: {unknown}") from unknown
        except CustomerWasErased:
            handled.labels("erased").inc()  # nothing may be recorded about them any more
            return
        handled.labels("recorded" if outcome.events else "duplicate").inc()

    subscribe(
        service,
        [settings.pipeline_topic],
        on_pipeline_event,
        log=log,
        retried="purchase",
        dead_lettered=lambda *_: handled.labels("dead_lettered").inc(),
    )


def create_consumer_app(service: ContactsService) -> FastAPI:
    """The consumer process: the subscriber in the lifespan, /health and /metrics for probes."""
    return consumer_app("contacts", service, [service.settings.pipeline_topic])
