"""Kafka subscriber of every context's topic: decode each CloudEvent, fold it into every read
model, then acknowledge. The topics share the one handler and consumer group.

The consumer discipline is ``crm_runtime.consuming``: acknowledgement after processing; a
message that breaks the contract goes to the dead-letter topic with its reason and is
acknowledged; a failure that may pass (store down, an event ahead of its predecessor) is
retried by seeking back, and after ``max_attempts`` it is dead-lettered too, so one bad
record never stalls a partition for ever and nothing is dropped silently.

Each read model folds into its active generation (re-read at most once a second, so a
rebuild's switch is followed without a restart) and records the event's store position
(the optional ``ce_position`` attribute) for its lag (``application.lag``).
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

import structlog
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

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
    service.lag.install(service.metrics)

    async def fold(
        metadata: EventMetadata, event: DomainEvent, position: int | None
    ) -> dict[str, Exception]:
        """Into every read model (the generation each serves from), answering those that
        failed: one failing does not keep the event from the others (each is idempotent:
        the retry of the record changes them no more). Each records the event's store
        position, flushed at most once a second."""
        failures: dict[str, Exception] = {}
        for projector in service.projectors:
            try:
                outcome = await projector.apply(metadata, event)
            except Exception as error:
                failures[projector.name] = error
                continue
            if position is not None:
                projector.record_position(metadata, position)
            applied.labels(projector.name, outcome.value).inc()
            if outcome is not Applied.IGNORED:
                service.lag.folded(projector.name, metadata.source, metadata.time)
            await projector.positions.flush_if_due()
        return failures

    async def on_event(message: KafkaMessage) -> None:
        try:
            metadata, event = cloudevents.decode(message.headers, message.body)
            position = cloudevents.decode_position(message.headers)
        except ContractViolation as violation:
            raise Unprocessable(f"contract violation: {violation}") from violation
        if metadata.time.tzinfo is None:  # the contract's times are UTC; some senders omit "Z"
            metadata = metadata.model_copy(update={"time": metadata.time.replace(tzinfo=UTC)})
        failures = await fold(metadata, event, position)
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
