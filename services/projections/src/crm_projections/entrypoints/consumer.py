"""Kafka subscriber of the contexts' topics: decode each CloudEvent, fold it into every read
model this process folds, then acknowledge. The topics share the one handler and consumer
group; a process folding a group of the read models (``CRM_PROJECTIONS_FOLD``) consumes only
the topics of the events they fold, in a consumer group of its own (ADR 22).

Records come in batches (at most ``BATCH_RECORDS``, whatever one fetch returns within
``fetch_max_wait_ms``), folded in order, then acknowledged together: one offset commit per
batch, not one per record (a commit is a broker round trip). The boards the batch's folds
touched are marked pending once per read model before the acknowledgement
(``RowsProjector.hold_marks``), and refreshed once each by the service's settle loop.

A batch is first folded in one pass (``Projector.prepare_batch``): per read model, one
read of the batch's documents, the events folded in memory, one write of the documents
they changed. When that pass cannot decide the batch alone (``BatchUnfit``: an event ahead
of its predecessor, a document another writer changed...) or anything in it fails, the
batch is folded again record by record, where every case has its answer; what the pass
wrote is a duplicate there, which changes nothing.

The discipline is that of ``crm_runtime.consuming``, record by record inside the batch:
acknowledgement after processing; a record that breaks the contract goes to the
dead-letter topic with its reason and the batch goes on; a failure that may pass (store
down, an event ahead of its predecessor) makes the batch fetched again from its first
record (NACK: the records already folded come again as duplicates, which change nothing)
after a growing pause, and after ``max_attempts`` the record is dead-lettered too, so one
bad record never stalls a partition for ever and nothing is dropped silently.

Each record is folded under a span ``<topic> fold`` that continues the producer's trace
(the ``traceparent`` in its headers), with a child ``<read model>.upsert`` per read model
it changes, so a request's trace reaches the read models; FastStream's own span of the
batch links to every producer, and the one pass's writes are spans ``<read model>.write``
of it. The consumer lag is observed after every record.

Each read model folds into its active generation (re-read at most once a second, so a
rebuild's switch is followed without a restart) and records the event's store position
(the optional ``ce_position`` attribute) for its lag (``application.lag``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import structlog
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, SpanKind, Tracer
from prometheus_client import Counter

from crm_contracts import ContractViolation, DomainEvent, EventMetadata, cloudevents
from crm_projections.application.boards import RowsProjector
from crm_projections.application.projector import Applied, BatchUnfit, FoldBatch
from crm_runtime.consuming import ConsumerLag, StillFailing, Unprocessable, retry_pause
from crm_runtime.dead_letters import publish_dead_letter
from crm_runtime.telemetry import context_from_traceparent

if TYPE_CHECKING:
    from crm_projections.bootstrap import ProjectionsService

log = structlog.get_logger("crm.projections.consumer")

BATCH_RECORDS = 500
"""Records folded between two acknowledgements at most."""


@dataclass(frozen=True)
class OneRecord:
    """One record of a batch, as the dead-letter helpers read a message."""

    raw_message: Any
    headers: dict[str, str]
    body: bytes
    consumer: Any = None


class ProjectionConsumer:
    """Folds batches of records into every read model, under the consumer discipline."""

    def __init__(
        self,
        service: ProjectionsService,
        applied: Counter,
        lag: ConsumerLag | None = None,
        *,
        one_pass: bool = True,
        batches: Counter | None = None,
    ) -> None:
        """``one_pass=False`` folds every batch record by record (for comparisons);
        ``batches`` counts the batches by the way they were folded."""
        self._service = service
        self._one_pass = one_pass
        self._batches = batches or Counter(
            "crm_projection_batches", "Batches by fold.", ["fold"], registry=None
        )
        self._applied = applied
        self._lag = lag
        self._tracer: Tracer = service.fold_tracer
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._rows = [p for p in service.folding if isinstance(p, RowsProjector)]

    async def fold_batch(self, records: Sequence[OneRecord]) -> None:
        """Fold the records in order; the boards they touched are marked (once per read
        model) before this returns or raises. Raises only to have the batch fetched again."""
        for projector in self._rows:
            projector.hold_marks()
        try:
            if self._one_pass and await self._fold_in_one_pass(records):
                self._batches.labels("one_pass").inc()
                return
            self._batches.labels("record_by_record").inc()
            for record in records:
                await self._traced(record)
                if self._lag is not None:
                    self._lag.observe(cast(KafkaMessage, record))
        finally:
            for projector in self._rows:  # before the acknowledgement (or the retry)
                await projector.write_marks()

    async def _fold_in_one_pass(self, records: Sequence[OneRecord]) -> bool:
        """Fold the batch in one pass; False (nothing acknowledged, nothing dead-lettered)
        when it must be folded record by record instead."""
        decoded: list[tuple[OneRecord, EventMetadata, DomainEvent, int | None]] = []
        broken: list[tuple[OneRecord, ContractViolation]] = []
        for record in records:
            try:
                metadata, event, position = _decoded(record)
            except ContractViolation as violation:
                broken.append((record, violation))
                continue
            decoded.append((record, metadata, event, position))
        items = [(metadata, event) for _, metadata, event, _ in decoded]
        projectors = self._service.folding
        try:
            batches = [await projector.prepare_batch(items) for projector in projectors]
            outcomes = [self._fold_record(batches, i, r) for i, (r, *_) in enumerate(decoded)]
            for batch in batches:
                with self._tracer.start_as_current_span(f"{batch.projector.name}.write"):
                    await batch.write()
        except BatchUnfit as unfit:
            log.debug("batch folded record by record", reason=str(unfit))
            return False
        except Exception as error:  # the record-by-record fold retries or dead-letters it
            log.info("batch folded record by record", error=f"{type(error).__name__}: {error}")
            return False
        await self._noted_batch(
            [(metadata, position) for _, metadata, _, position in decoded], outcomes
        )
        for record, violation in broken:
            await self._dead_letter(record, f"contract violation: {violation}", violation)
        if self._lag is not None:  # the gauge keeps each partition's last record
            last = {(r.raw_message.topic, r.raw_message.partition): r for r in records}
            for record in last.values():
                self._lag.observe(cast(KafkaMessage, record))
        if self._attempts:  # records that failed before and passed now start afresh
            for record in records:
                raw = record.raw_message
                self._attempts.pop((raw.topic, raw.partition, raw.offset), None)
        return True

    def _fold_record(
        self, batches: list[FoldBatch], index: int, record: OneRecord
    ) -> list[Applied]:
        """One record of the one pass, into every read model in memory, under its spans
        (started with their parent's context, not made current: nothing below them reads it).
        With a no-op tracer (spans go nowhere) the folds run without building them."""
        if isinstance(self._tracer, NoOpTracer):
            return [
                Applied.IGNORED if batch.targets[index] is None else batch.fold(index)
                for batch in batches
            ]
        parent = context_from_traceparent(record.headers.get("traceparent"))
        with self._tracer.start_span(
            f"{record.raw_message.topic} fold",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=_record_attributes(record),
        ) as fold:
            inside = trace.set_span_in_context(fold, parent)
            applied = []
            for batch in batches:
                document_id = batch.targets[index]
                if document_id is None:
                    applied.append(Applied.IGNORED)
                    continue
                projector = batch.projector
                with self._tracer.start_span(
                    f"{projector.name}.upsert",
                    context=inside,
                    attributes={
                        projector.span_attribute: document_id,
                        "crm.event_id": batch.items[index][0].id,
                    },
                ):
                    applied.append(batch.fold(index))
            return applied

    async def _noted_batch(
        self, folded: list[tuple[EventMetadata, int | None]], outcomes: list[list[Applied]]
    ) -> None:
        """``_noted`` for a whole batch at once: the counts added up, the highest position and
        latest time per source, the lag of the last event folded per read model and source."""
        counts: dict[tuple[str, str], int] = {}
        last: dict[tuple[str, str], datetime] = {}
        highest: dict[str, tuple[int, datetime]] = {}  # every read model notes every event
        projectors = self._service.folding
        for (metadata, position), applied in zip(folded, outcomes, strict=True):
            if position is not None:
                seen, moment = highest.get(metadata.source, (position, metadata.time))
                highest[metadata.source] = (max(seen, position), max(moment, metadata.time))
            for projector, outcome in zip(projectors, applied, strict=True):
                key = (projector.name, outcome.value)
                counts[key] = counts.get(key, 0) + 1
                if outcome is not Applied.IGNORED:
                    last[(projector.name, metadata.source)] = metadata.time
        for (name, outcome), count in counts.items():
            self._applied.labels(name, outcome).inc(count)
        for (name, source), moment in last.items():
            self._service.lag.folded(name, source, moment)
        for projector in projectors:
            for source, (position, moment) in highest.items():
                projector.positions.note(projector.generation, source, position, moment)
            await projector.positions.flush_if_due()

    def _noted(
        self, projector: Any, metadata: EventMetadata, position: int | None, outcome: Applied
    ) -> None:
        """What a fold leaves besides its document: the position, the counts, the lag."""
        if position is not None:
            projector.record_position(metadata, position)
        self._applied.labels(projector.name, outcome.value).inc()
        if outcome is not Applied.IGNORED:
            self._service.lag.folded(projector.name, metadata.source, metadata.time)

    async def _fold(
        self, metadata: EventMetadata, event: DomainEvent, position: int | None
    ) -> dict[str, Exception]:
        """Into every read model (the generation each serves from), answering those that
        failed: one failing does not keep the event from the others (each is idempotent:
        the retry of the record changes them no more). Each records the event's store
        position, flushed at most once a second."""
        failures: dict[str, Exception] = {}
        for projector in self._service.folding:
            try:
                outcome = await projector.apply(metadata, event)
            except Exception as error:
                failures[projector.name] = error
                continue
            self._noted(projector, metadata, position, outcome)
            await projector.positions.flush_if_due()
        return failures

    async def _on_event(self, record: OneRecord) -> None:
        try:
            metadata, event, position = _decoded(record)
        except ContractViolation as violation:
            raise Unprocessable(f"contract violation: {violation}") from violation
        failures = await self._fold(metadata, event, position)
        if failures:
            raise StillFailing(next(iter(failures.values())), projections=list(failures))

    async def _dead_letter(self, record: OneRecord, reason: str, cause: Exception) -> None:
        settings = self._service.settings
        raw = record.raw_message
        await publish_dead_letter(
            self._service.broker,
            cast(KafkaMessage, record),
            reason,
            topic=settings.dead_letter_topic,
            group=settings.group_id,
        )
        missed_by = (
            cause.details["projections"]
            if isinstance(cause, StillFailing)
            else [p.name for p in self._service.folding]
        )
        for name in missed_by:
            self._applied.labels(name, "dead_lettered").inc()
        log.warning("dead-lettered", reason=reason, topic=raw.topic, offset=raw.offset)

    async def _traced(self, record: OneRecord) -> None:
        """The record under a span continuing its producer's trace."""
        raw = record.raw_message
        token = otel_context.attach(context_from_traceparent(record.headers.get("traceparent")))
        try:
            with self._tracer.start_as_current_span(
                f"{raw.topic} fold", kind=SpanKind.CONSUMER, attributes=_record_attributes(record)
            ):
                await self._on_record(record)
        finally:
            otel_context.detach(token)

    async def _on_record(self, record: OneRecord) -> None:
        """One record under the discipline: raises only to have the batch fetched again."""
        max_attempts = self._service.settings.max_attempts
        raw = record.raw_message
        where = (raw.topic, raw.partition, raw.offset)
        try:
            await self._on_event(record)
        except Unprocessable as never:
            await self._dead_letter(record, never.reason, never)
        except Exception as failure:
            attempts = self._attempts[where] = self._attempts.get(where, 0) + 1
            error, details = failure, {}
            if isinstance(failure, StillFailing):
                error, details = failure.error, failure.details
            if attempts < max_attempts:
                log.warning(
                    "projection failed; will retry", error=str(error), **details, attempt=attempts
                )
                await asyncio.sleep(retry_pause(attempts))
                if error is failure:
                    raise  # NACKed: the batch is fetched again from its first record
                raise error from None  # the failure it wraps, as if raised by the handler
            self._attempts.pop(where, None)
            reason = f"failed {max_attempts} times: {type(error).__name__}: {error}"
            await self._dead_letter(record, reason, failure)
        self._attempts.pop(where, None)


def _decoded(record: OneRecord) -> tuple[EventMetadata, DomainEvent, int | None]:
    """The record's event and its store position; ContractViolation when it breaks the
    contract."""
    metadata, event, position = cloudevents.decode_record(record.headers, record.body)
    if metadata.time.tzinfo is None:  # the contract's times are UTC; some senders omit "Z"
        metadata = metadata.model_copy(update={"time": metadata.time.replace(tzinfo=UTC)})
    return metadata, event, position


def _record_attributes(record: OneRecord) -> dict[str, Any]:
    """The messaging attributes of a record's span (OpenTelemetry's conventions)."""
    raw = record.raw_message
    return {
        "messaging.system": "kafka",
        "messaging.operation": "process",
        "messaging.destination.name": raw.topic,
        "messaging.kafka.destination.partition": raw.partition,
        "messaging.kafka.message.offset": raw.offset,
        "messaging.kafka.message.key": (raw.key or b"").decode(errors="replace"),
        "cloudevents.event_type": record.headers.get("ce_type", ""),
    }


def register_subscribers(service: ProjectionsService) -> None:
    settings = service.settings
    applied = Counter(
        "crm_projection_events",
        "Events seen by the projections, by outcome.",
        ["projection", "outcome"],
        registry=service.metrics,
    )
    service.lag.install(service.metrics)
    consumer_lag = ConsumerLag(service.metrics, settings.group_id)
    batches = Counter(
        "crm_projection_batches",
        "Batches of records folded, by how: in one pass, or record by record (its fallback).",
        ["fold"],
        registry=service.metrics,
    )
    consumer = ProjectionConsumer(service, applied, consumer_lag, batches=batches)

    @service.broker.subscriber(
        *service.topics,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=BATCH_RECORDS,
        batch_timeout_ms=settings.fetch_max_wait_ms,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        fetch_min_bytes=settings.fetch_min_bytes,
        decoder=_bodies,
    )
    async def on_batch(message: KafkaMessage) -> None:
        await consumer.fold_batch(_records(message))


def _bodies(message: StreamMessage[Any]) -> Any:
    """The batch's bodies as they came. The handler decodes each record itself (``_records``,
    ``_decoded``), so FastStream's default batch decoder, which builds a message and parses
    the JSON of every record for a body nothing reads, is not run."""
    return message.body


def _records(message: KafkaMessage) -> list[OneRecord]:
    """The batch's records with their own headers (as FastStream's parser decoded them)
    and bodies."""
    raw = message.raw_message
    batch = raw if isinstance(raw, tuple | list) else (raw,)
    decoded = message.batch_headers if len(message.batch_headers) == len(batch) else None
    return [
        OneRecord(
            raw_message=record,
            headers=(
                decoded[index]
                if decoded is not None
                else {key: value.decode() for key, value in (record.headers or ())}
            ),
            body=record.value or b"",
            consumer=message.consumer,
        )
        for index, record in enumerate(batch)
    ]
