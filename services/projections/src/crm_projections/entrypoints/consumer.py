"""Kafka subscriber of every context's topic: decode each CloudEvent, fold it into every read
model, then acknowledge. The topics share the one handler and consumer group.

The consumer discipline is ``crm_runtime.consuming``: acknowledgement after processing; a
message that breaks the contract goes to the dead-letter topic with its reason and is
acknowledged; a failure that may pass (store down, an event ahead of its predecessor) is
retried by seeking back, and after ``max_attempts`` it is dead-lettered too, so one bad
record never stalls a partition for ever and nothing is dropped silently.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter, Gauge

from crm_contracts import ContractViolation, DomainEvent, EventMetadata, cloudevents
from crm_projections.application.projector import Applied
from crm_runtime.consuming import StillFailing, Unprocessable, subscribe

if TYPE_CHECKING:
    from crm_projections.bootstrap import ProjectionsService

log = structlog.get_logger("crm.projections.consumer")


def register_subscribers(service: ProjectionsService) -> None:
    settings = service.settings
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

    async def on_event(message: KafkaMessage) -> None:
        try:
            metadata, event = cloudevents.decode(message.headers, message.body)
        except ContractViolation as violation:
            raise Unprocessable(f"contract violation: {violation}") from violation
        if metadata.time.tzinfo is None:  # the contract's times are UTC; some senders omit "Z"
            metadata = metadata.model_copy(update={"time": metadata.time.replace(tzinfo=UTC)})
        failures = await fold(metadata, event)
        if failures:
            raise StillFailing(next(iter(failures.values())), projections=list(failures))

    def dead_lettered(_: KafkaMessage, cause: Exception) -> None:
        missed_by = (
            cause.details["projections"]
            if isinstance(cause, StillFailing)
            else [p.name for p in service.projectors]
        )
        for name in missed_by:
            applied.labels(name, "dead_lettered").inc()

    subscribe(
        service,
        settings.topics,
        on_event,
        log=log,
        retried="projection",
        dead_lettered=dead_lettered,
    )
