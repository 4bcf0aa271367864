"""The simulated R&D system as a process (``crm-sagas rnd-simulator``): the embedded default's
stand-in for the real R&D system, which replaces it in production (it is not deployed).

It plays R&D's side of ``crm_contracts.rnd``: a subscriber in the consumer group
``crm-rnd-simulator`` reads ``crm.rnd.requests``, waits until ``CRM_RND_SIMULATOR_DELAY``
after each request was sent, and publishes the answer ``crm_sagas.simulated_rnd`` decides to
``crm.rnd.replies``: correlated with the request, caused by it, its id derived from the
request id and the outcome, so a redelivered request is answered with the same reply. The
discipline is ``crm_runtime.consuming``: the request is acknowledged once its reply is
written; a record that is no CloudEvent or breaks the contract goes to
``crm.rnd.simulator.dlt`` with the reason. The broker's telemetry continues the request's
trace (its ``traceparent``) in the consumer span, and the reply's producer span is its
child, so the reply joins the request's trace. ``/health`` and ``/metrics`` as every
process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter

from crm_contracts import ContractViolation, EventMetadata, cloudevents
from crm_contracts.rnd import RequirementEstimateRequested, RequirementScheduled, reply_metadata
from crm_runtime.consuming import Unprocessable, subscribe
from crm_runtime.foundations import utc_now
from crm_runtime.http import install_observability, install_problem_handlers
from crm_runtime.kafka import build_broker, ensure_topics, kafka_reachable
from crm_runtime.telemetry import build_tracer_provider
from crm_sagas.simulated_rnd import decide, wait_before_answering
from crm_sagas.simulated_rnd_config import RndSimulatorSettings

NAME = "rnd-simulator"
SERVICE = "crm-rnd-simulator"
ACTOR = "service:rnd-simulator"
REQUEST_TYPE = RequirementEstimateRequested.event_type

log = structlog.get_logger("crm.rnd_simulator")


@dataclass
class RndSimulator:
    """What the process runs on: no store, only the broker (the state is in the requests)."""

    settings: RndSimulatorSettings
    broker: KafkaBroker
    metrics: CollectorRegistry
    tracer_provider: TracerProvider
    clock: Callable[[], datetime]
    sleep: Callable[[float], Awaitable[None]]

    async def start(self) -> None:
        """Nothing to prepare: the lifespan creates the topics and starts the broker."""

    async def close(self) -> None:
        """Nothing to release besides the broker, which the lifespan stops."""


def bootstrap_simulator(
    settings: RndSimulatorSettings | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    broker: KafkaBroker | None = None,
) -> RndSimulator:
    """All wiring of the simulator; the overrides are for tests."""
    settings = settings or RndSimulatorSettings()
    provider = tracer_provider or build_tracer_provider(SERVICE)
    simulator = RndSimulator(
        settings=settings,
        broker=broker
        or build_broker(
            settings.kafka_bootstrap_servers, tracer_provider=provider, client_id=SERVICE
        ),
        metrics=CollectorRegistry(),
        tracer_provider=provider,
        clock=clock,
        sleep=sleep,
    )
    register_subscriber(simulator)
    return simulator


def read_request(headers: Any, body: bytes) -> tuple[EventMetadata, RequirementEstimateRequested]:
    """The request a record carries, or ContractViolation saying why it is none."""
    metadata = cloudevents.decode_metadata(headers)
    if metadata.type != REQUEST_TYPE:
        raise ContractViolation(f"{metadata.type} is no request; R&D is asked by {REQUEST_TYPE}")
    if metadata.time.tzinfo is None:
        raise ContractViolation(f"ce_time {metadata.time.isoformat()} has no UTC offset")
    _, request = cloudevents.decode(headers, body)
    if not isinstance(request, RequirementEstimateRequested):  # the registry maps the type
        raise ContractViolation(f"{REQUEST_TYPE} decoded as {type(request).__name__}")
    if metadata.subject != request.requirement_id:
        raise ContractViolation(
            f"ce_subject {metadata.subject!r} is not the requirement_id "
            f"{request.requirement_id!r} (the subject and key of a request are its requirement)"
        )
    return metadata, request


def register_subscriber(simulator: RndSimulator) -> None:
    settings = simulator.settings
    answered = Counter(
        "crm_rnd_simulator_requests",
        "Requests the simulated R&D system handled, by outcome.",
        ["outcome"],
        registry=simulator.metrics,
    )

    async def on_request(message: KafkaMessage) -> None:
        try:
            requested, request = read_request(message.headers, message.body)
        except ContractViolation as violation:
            raise Unprocessable(f"contract violation: {violation}") from violation
        await simulator.sleep(
            wait_before_answering(requested.time, simulator.clock(), settings.delay)
        )
        reply = decide(
            request,
            requested.time.date(),
            capacity_days=settings.capacity_days,
            team=settings.team,
        )
        metadata = reply_metadata(requested, reply, at=simulator.clock(), actor=ACTOR)
        key, headers, body = cloudevents.encode(metadata, reply.model_dump(mode="json"))
        await simulator.broker.publish(
            body,
            topic=settings.replies_topic,
            key=key,
            headers=headers,
            correlation_id=metadata.correlation_id,
        )
        outcome = "scheduled" if isinstance(reply, RequirementScheduled) else "declined"
        answered.labels(outcome).inc()
        log.info(
            "answered",
            outcome=outcome,
            request_id=request.request_id,
            requirement_id=request.requirement_id,
            reply_id=metadata.id,
            correlation_id=metadata.correlation_id,
        )

    subscribe(
        simulator,
        [settings.requests_topic],
        on_request,
        log=log,
        retried="answer to an R&D request",
        dead_lettered=lambda *_: answered.labels("dead_lettered").inc(),
    )


def create_simulator_app(simulator: RndSimulator) -> FastAPI:
    settings = simulator.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await simulator.start()
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [settings.requests_topic, settings.replies_topic, settings.dead_letter_topic],
            partitions=settings.topic_partitions,
        )
        await simulator.broker.start()
        log.info(
            "simulating R&D",
            delay_seconds=settings.delay.total_seconds(),
            capacity_days=settings.capacity_days,
        )
        try:
            yield
        finally:
            await simulator.broker.stop()
            await simulator.close()

    app = FastAPI(title="CRM simulated R&D (embedded default only)", lifespan=lifespan)
    install_problem_handlers(app, {})
    install_observability(app, simulator.metrics, NAME)

    @app.get("/health")
    async def health() -> JSONResponse:
        broker_ok = await kafka_reachable(settings.kafka_bootstrap_servers)
        return JSONResponse(
            {
                "status": "ok" if broker_ok else "unavailable",
                "service": NAME,
                "broker": "ok" if broker_ok else "unreachable",
            },
            status_code=200 if broker_ok else 503,
        )

    return app
