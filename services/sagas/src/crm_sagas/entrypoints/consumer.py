"""Kafka subscriber of the contexts' events the sagas start on or wait for.

``crm.pipeline.OpportunityWon`` starts an onboarding saga; ``OrderUnpaidAfter48Hours`` and
``ReceivableOverdue`` start a payment reminder; ``PaymentReceived`` and
``ReceivableSettled`` tell a waiting payment reminder that the order was paid. A ticket of
kind ``requirement`` opened (tickets topic) starts a requirement saga, which then waits for
R&D's reply (``crm.rnd.replies``) and the ticket resolved, reopened or closed. Personal
fields of an event (a ticket's subject and description) are not kept by the saga. Consumer
group ``crm-sagas``; the discipline is ``crm_runtime.consuming``: acknowledged after the
saga recorded the event (and sent what it could), a record that breaks its contract goes to
``crm.sagas.dlt`` with the reason, any other failure (the store down) is retried and after
``max_attempts`` dead-lettered too. A command that fails does not fail the record: the saga
has recorded it and the deadline loop sends it again. Redelivery changes nothing twice:
saga ids derive from the event (the opportunity, the order) and an event already in a
saga's history is not recorded again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from crm_contracts import REGISTRY, ContractViolation, cloudevents
from crm_contracts.registry import personal_fields
from crm_runtime.consuming import Unprocessable, subscribe
from crm_runtime.telemetry import current_traceparent
from crm_sagas.domain import onboarding, payment_reminder, requirement
from crm_sagas.domain.saga import Trigger

if TYPE_CHECKING:
    from crm_sagas.bootstrap import SagasService

log = structlog.get_logger("crm.sagas.consumer")
HANDLED = frozenset(
    {
        onboarding.WON,
        payment_reminder.UNPAID,
        payment_reminder.OVERDUE,
        payment_reminder.PAID,
        payment_reminder.SETTLED,
        requirement.OPENED,
        requirement.RESOLVED,
        requirement.REOPENED,
        requirement.CLOSED,
        requirement.SCHEDULED,
        requirement.DECLINED,
    }
)


def trigger_of(headers: Any, body: bytes) -> Trigger | None:
    """The event as a saga sees it; None for types no saga handles.

    Raises ContractViolation for a record that is no CloudEvent, or a handled type that
    breaks its schema.
    """
    metadata = cloudevents.decode_metadata(headers)
    if metadata.type not in HANDLED:
        return None
    _, event = cloudevents.decode(headers, body, REGISTRY)
    return Trigger(
        event_id=metadata.id,
        type=metadata.type,
        subject=metadata.subject,
        data=event.model_dump(mode="json", exclude=set(personal_fields(type(event)))),
        correlation_id=metadata.correlation_id,
        at=metadata.time,
    )


def register_subscribers(service: SagasService) -> None:
    settings = service.settings
    handled = Counter(
        "crm_sagas_events",
        "Events seen by the sagas' consumer, by outcome.",
        ["outcome"],
        registry=service.metrics,
    )

    async def on_event(message: KafkaMessage) -> None:
        try:
            trigger = trigger_of(message.headers, message.body)
        except ContractViolation as violation:
            raise Unprocessable(f"contract violation: {violation}") from violation
        if trigger is None:
            handled.labels("ignored").inc()
            return
        touched = await service.runner.observe(trigger, current_traceparent())
        handled.labels("applied" if touched else "no_saga").inc()

    subscribe(
        service,
        [settings.pipeline_topic, settings.tickets_topic, settings.rnd_replies_topic],
        on_event,
        log=log,
        retried="saga event",
        dead_lettered=lambda *_: handled.labels("dead_lettered").inc(),
    )
