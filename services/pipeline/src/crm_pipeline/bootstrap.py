"""All wiring of the pipeline service in one place; entry points only fetch what it built."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_contracts.pipeline import SOURCE
from crm_pipeline.application.deadlines import ReceivableDeadlines
from crm_pipeline.application.deciders import pipeline_deciders
from crm_pipeline.application.handlers import PipelineDependencies
from crm_pipeline.config import PipelineSettings
from crm_pipeline.domain.opportunity import probability_table
from crm_runtime.access_log import AccessLog
from crm_runtime.auth import TokenVerifier
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.leases import Lease
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher
from crm_runtime.telemetry import build_tracer_provider

SERVICE = "crm-pipeline"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class PipelineService:
    settings: PipelineSettings
    client: Any
    store: EventStore
    deps: PipelineDependencies
    tracer_provider: TracerProvider
    metrics: CollectorRegistry
    access_log: AccessLog
    verifier: TokenVerifier
    deadlines: ReceivableDeadlines

    def relay_lease(self) -> Lease:
        return self._lease("pipeline-outbox-relay", self.settings.relay_lease_seconds)

    def scheduler_lease(self, owner: str | None = None) -> Lease:
        return self._lease(
            "pipeline-deadline-scheduler", self.settings.scheduler_lease_seconds, owner
        )

    def _lease(self, name: str, seconds: float, owner: str | None = None) -> Lease:
        return Lease(
            self.client[self.settings.database],
            name,
            owner or self.settings.instance_id,
            ttl=timedelta(seconds=seconds),
            clock=self.deps.clock,
        )

    async def start(self) -> None:
        await self.store.create_indexes()
        await self.access_log.create_indexes()
        await self.deadlines.create_indexes()

    async def close(self) -> None:
        await self.client.close()


def bootstrap(
    settings: PipelineSettings | None = None,
    *,
    document_client: Any = None,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    id_factory: Callable[[str], str] = new_id,
    verifier: TokenVerifier | None = None,
) -> PipelineService:
    settings = settings or PipelineSettings()
    client = document_client or open_document_client(settings, app_name=SERVICE)
    provider = tracer_provider or build_tracer_provider(SERVICE)
    database = client[settings.database]
    store = EventStore(database, source=SOURCE)
    vault = MongoKeyVault(client[settings.keys_database]["data_keys"])
    deps = PipelineDependencies(
        store=store,
        clock=clock,
        new_id=id_factory,
        tracer=provider.get_tracer("crm.pipeline"),
        sealed=SealedEvents(PersonalDataCipher(vault)),
        deciders=pipeline_deciders(probability_table(settings.stage_probabilities)),
        payment_terms_days=settings.payment_terms_days,
    )
    return PipelineService(
        settings=settings,
        client=client,
        store=store,
        deps=deps,
        tracer_provider=provider,
        metrics=CollectorRegistry(),
        access_log=AccessLog(database, clock),
        verifier=verifier or TokenVerifier(settings),
        deadlines=ReceivableDeadlines(database, store),
    )
