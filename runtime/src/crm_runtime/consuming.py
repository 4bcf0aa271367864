"""The discipline every Kafka consumer of the CRM keeps (docs/adr/0005), around a context's
own decoding and handler.

Acknowledgement comes after processing (FastStream's default acknowledges first, which
loses work on a crash). A record that can never succeed (it breaks the contract, or the
rules refuse it) raises ``Unprocessable``: it goes to the dead-letter topic with its
reason and is acknowledged. Any other failure may pass (store down, an event ahead of
its predecessor): the record is retried by seeking back, with a growing pause, and after
``max_attempts`` it is dead-lettered too, so one bad record never stalls a partition for
ever and nothing is dropped silently. ``crm_consumer_lag_events`` says how many records
of the partition are behind the one just finished.

``create_consumer_app`` is the consumer process of a context: the subscriber runs in the
lifespan, ``/health`` answers whether the broker is reachable, ``/metrics`` is scraped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from aiokafka import TopicPartition
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry, Gauge

from crm_runtime.dead_letters import publish_dead_letter
from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.kafka import ensure_topics, kafka_reachable

RecordHandler = Callable[[KafkaMessage], Awaitable[None]]


class Unprocessable(Exception):
    """The record can never succeed: dead-letter it with this reason and go on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StillFailing(Exception):
    """A failure that may pass, with what the retry log should say besides the error
    (e.g. which read models failed); ``error`` is what the dead-letter reason names."""

    def __init__(self, error: Exception, **details: Any) -> None:
        super().__init__(str(error))
        self.error = error
        self.details = details


class ConsumingSettings(Protocol):
    kafka_bootstrap_servers: str
    consumer_group: str
    dead_letter_topic: str
    fetch_max_wait_ms: int
    max_attempts: int


class ConsumingService(Protocol):
    """What a context's bootstrap provides to subscribe its handler."""

    @property
    def settings(self) -> ConsumingSettings: ...
    @property
    def broker(self) -> KafkaBroker: ...
    @property
    def metrics(self) -> CollectorRegistry: ...


class ConsumerProcessSettings(ConsumingSettings, Protocol):
    topic_partitions: int


class ConsumerProcessService(Protocol):
    """What a context's bootstrap provides to run its consumer as a process of its own."""

    @property
    def settings(self) -> ConsumerProcessSettings: ...
    @property
    def broker(self) -> KafkaBroker: ...
    @property
    def metrics(self) -> CollectorRegistry: ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...


def subscribe(
    service: ConsumingService,
    topics: Sequence[str],
    handle: RecordHandler,
    *,
    log: Any,
    retried: str,
    dead_lettered: Callable[[KafkaMessage, Exception], None],
) -> None:
    """Subscribe ``handle`` to ``topics`` in the context's consumer group, under the policy.

    ``retried`` names what failed in the retry log (``"payment failed; will retry"``);
    ``dead_lettered`` counts a record given up on, with the exception that made it so.
    """
    settings = service.settings
    broker = service.broker
    lag = ConsumerLag(service.metrics, settings.consumer_group)
    attempts: dict[tuple[str, int, int], int] = {}

    async def dead_letter(message: KafkaMessage, reason: str, cause: Exception) -> None:
        record = message.raw_message
        await publish_dead_letter(
            broker, message, reason, topic=settings.dead_letter_topic, group=settings.consumer_group
        )
        dead_lettered(message, cause)
        log.warning("dead-lettered", reason=reason, topic=record.topic, offset=record.offset)

    @broker.subscriber(
        *topics,
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    async def on_record(message: KafkaMessage) -> None:
        record = message.raw_message
        where = (record.topic, record.partition, record.offset)
        try:
            await handle(message)
        except Unprocessable as never:
            await dead_letter(message, never.reason, never)
        except Exception as failure:
            attempts[where] = attempts.get(where, 0) + 1
            error, details = failure, {}
            if isinstance(failure, StillFailing):
                error, details = failure.error, failure.details
            if attempts[where] < settings.max_attempts:
                log.warning(
                    f"{retried} failed; will retry",
                    error=str(error),
                    **details,
                    attempt=attempts[where],
                )
                await asyncio.sleep(retry_pause(attempts[where]))
                if error is failure:
                    raise  # NACKed: the record is fetched again
                raise error from None  # the failure it wraps, as if raised by the handler
            attempts.pop(where, None)
            reason = f"failed {settings.max_attempts} times: {type(error).__name__}: {error}"
            await dead_letter(message, reason, failure)
        attempts.pop(where, None)
        lag.observe(message)


def retry_pause(attempt: int) -> float:
    """Seconds to wait before the record is fetched again: doubling from 0.2, at most 2."""
    return float(min(0.1 * 2**attempt, 2.0))


class ConsumerLag:
    """``crm_consumer_lag_events``: records of the partition after the one just handled."""

    def __init__(self, registry: CollectorRegistry, group: str) -> None:
        self._group = group
        self._gauge = Gauge(
            "crm_consumer_lag_events",
            "Records of the partition after the one just handled "
            "(broker high watermark - 1 - offset).",
            ["group", "topic", "partition"],
            registry=registry,
        )

    def observe(self, message: KafkaMessage) -> None:
        """From the high watermark of the last fetch; a metric never fails a record."""
        highwater = getattr(message.consumer, "highwater", None)  # absent in TestKafkaBroker
        record = message.raw_message
        if highwater is None:
            return
        try:
            end = highwater(TopicPartition(record.topic, record.partition))
        except Exception:  # e.g. the partition was revoked meanwhile
            return
        if end is not None:
            self._gauge.labels(self._group, record.topic, str(record.partition)).set(
                max(0, end - 1 - record.offset)
            )


def create_consumer_app(
    context: str, service: ConsumerProcessService, topics: Sequence[str]
) -> FastAPI:
    """The consumer process of ``context`` (e.g. ``loyalty``): the subscriber in the lifespan,
    /health (is the broker reachable) and /metrics for probes."""
    settings = service.settings
    name = f"{context}-consumer"

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [*topics, settings.dead_letter_topic],
            partitions=settings.topic_partitions,
        )
        await service.broker.start()
        try:
            yield
        finally:
            await service.broker.stop()
            await service.close()

    app = FastAPI(title=f"CRM {context} consumer", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, service.metrics, name)

    @app.get("/health")
    async def health() -> JSONResponse:
        broker_ok = await kafka_reachable(settings.kafka_bootstrap_servers)
        return JSONResponse(
            {
                "status": "ok" if broker_ok else "unavailable",
                "service": name,
                "broker": "ok" if broker_ok else "unreachable",
            },
            status_code=200 if broker_ok else 503,
        )

    return app
