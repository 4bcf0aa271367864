"""All wiring of the sagas service in one place; entry points only fetch what it built."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_runtime.auth import TokenVerifier, mint_token
from crm_runtime.foundations import ContextLifecycle, Indexed, lay_foundations, new_id, utc_now
from crm_runtime.kafka import build_broker
from crm_runtime.leases import Lease
from crm_sagas.application.commands import ServiceCommands
from crm_sagas.application.documents import SagaDocuments
from crm_sagas.application.runner import RunnerOptions, SagaMetrics, SagaRunner
from crm_sagas.config import SagasSettings
from crm_sagas.domain.onboarding import OnboardingFlow
from crm_sagas.domain.payment_reminder import PaymentReminderFlow
from crm_sagas.domain.rep_departure import RepDepartureFlow
from crm_sagas.domain.requirement import RequirementFlow

SERVICE = "crm-sagas"
SOURCE = "/crm/sagas"
TOKEN_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class SagasDependencies:
    clock: Callable[[], datetime]
    new_id: Callable[[str], str]


@dataclass
class SagasService(ContextLifecycle):
    context: ClassVar[str] = "sagas"
    settings: SagasSettings
    client: Any
    deps: SagasDependencies
    documents: SagaDocuments
    runner: SagaRunner
    tracer_provider: TracerProvider
    metrics: CollectorRegistry
    verifier: TokenVerifier
    broker: KafkaBroker
    service_clients: Mapping[str, httpx.AsyncClient] = field(default_factory=dict)

    def deadline_lease(self, owner: str | None = None) -> Lease:
        return self.lease("sagas-deadlines", self.settings.deadline_lease_seconds, owner)

    def indexed(self) -> Iterable[Indexed]:
        return (self.documents,)

    async def close(self) -> None:
        for http in self.service_clients.values():
            await http.aclose()
        await super().close()


class ServiceToken:
    """The sagas' bearer token: the configured one, or one minted with the embedded key
    (role ``service``, subject ``sagas``) and minted again before it expires."""

    def __init__(self, settings: SagasSettings) -> None:
        self._settings = settings
        self._token: str | None = settings.service_token
        self._renew_at = float("inf") if settings.service_token else 0.0

    def __call__(self) -> str:
        if self._token is None or time.time() >= self._renew_at:
            self._token = mint_token(
                self._settings, subject="sagas", roles=["service"], lifetime=TOKEN_LIFETIME
            )
            self._renew_at = time.time() + TOKEN_LIFETIME.total_seconds() / 2
        return self._token


def bootstrap(
    settings: SagasSettings | None = None,
    *,
    document_client: Any = None,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    id_factory: Callable[[str], str] = new_id,
    verifier: TokenVerifier | None = None,
    broker: KafkaBroker | None = None,
    service_clients: Mapping[str, httpx.AsyncClient] | None = None,
) -> SagasService:
    """``service_clients`` (tests: the services' ASGI apps) replace the clients on the URLs."""
    settings = settings or SagasSettings()
    laid = lay_foundations(
        settings,
        service=SERVICE,
        source=SOURCE,
        document_client=document_client,
        tracer_provider=tracer_provider,
        clock=clock,
        verifier=verifier,
    )
    clients = dict(service_clients) if service_clients is not None else {
        name: httpx.AsyncClient(base_url=url, timeout=settings.command_timeout_seconds)
        for name, url in settings.service_urls().items()
    }  # fmt: skip
    documents = SagaDocuments(laid.database)
    flows = [
        OnboardingFlow(
            settings.default_home_store,
            settings.onboarding_step_deadline,
            home_store_name=settings.default_home_store_name,
            home_store_city=settings.default_home_store_city,
        ),
        PaymentReminderFlow(timedelta(days=settings.unpaid_coupon_days)),
        RequirementFlow(
            review_deadline=settings.requirement_review_deadline,
            rnd_deadline=settings.requirement_rnd_deadline,
            follow_up_deadline=settings.requirement_follow_up_deadline,
            sales_lead=settings.requirement_sales_lead,
            service_lead=settings.requirement_service_lead,
            rnd_requests_topic=settings.rnd_requests_topic,
            events_topic=settings.events_topic,
            opened_from=settings.requirements_from,
        ),
        RepDepartureFlow(settings.departure_step_deadline),
    ]
    broker = broker or build_broker(
        settings.kafka_bootstrap_servers,
        tracer_provider=laid.tracer_provider,
        client_id=f"{SERVICE}-runner",
    )

    async def publish(topic: str, key: bytes, headers: dict[str, str], body: bytes) -> None:
        # Only the runner process (whose broker is started) sends a saga's messages.
        await broker.publish(
            body, topic=topic, key=key, headers=headers,
            correlation_id=headers.get("ce_correlationid"),
        )  # fmt: skip

    runner = SagaRunner(
        documents,
        flows,
        ServiceCommands(clients, ServiceToken(settings), clock, publish),
        clock=clock,
        tracer=laid.tracer,
        metrics=SagaMetrics(laid.metrics),
        options=RunnerOptions(
            max_attempts=settings.command_max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            in_flight_grace_seconds=settings.in_flight_grace_seconds,
        ),
    )
    service = SagasService(
        settings=settings,
        client=laid.client,
        deps=SagasDependencies(clock=clock, new_id=id_factory),
        documents=documents,
        runner=runner,
        tracer_provider=laid.tracer_provider,
        metrics=laid.metrics,
        verifier=laid.verifier,
        broker=broker,
        service_clients=clients,
    )
    from crm_sagas.entrypoints.consumer import register_subscribers

    register_subscribers(service)
    return service
