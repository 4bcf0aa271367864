"""All wiring of the pipeline service in one place; entry points only fetch what it built."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_contracts.pipeline import SOURCE
from crm_pipeline.application.deadlines import ReceivableDeadlines
from crm_pipeline.application.deciders import pipeline_deciders
from crm_pipeline.application.handlers import PipelineDependencies
from crm_pipeline.application.opportunity_rows import OpportunityRows
from crm_pipeline.config import PipelineSettings
from crm_pipeline.domain.opportunity import probability_table
from crm_runtime.access_log import AccessLog
from crm_runtime.auth import TokenVerifier
from crm_runtime.eventstore import EventStore
from crm_runtime.foundations import ContextLifecycle, Indexed, lay_foundations, new_id, utc_now
from crm_runtime.leases import Lease
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import PersonalDataCipher

SERVICE = "crm-pipeline"


@dataclass
class PipelineService(ContextLifecycle):
    context: ClassVar[str] = "pipeline"
    settings: PipelineSettings
    client: Any
    store: EventStore
    deps: PipelineDependencies
    tracer_provider: TracerProvider
    metrics: CollectorRegistry
    access_log: AccessLog
    verifier: TokenVerifier
    deadlines: ReceivableDeadlines
    opportunity_rows: OpportunityRows

    def scheduler_lease(self, owner: str | None = None) -> Lease:
        return self.lease(
            "pipeline-deadline-scheduler", self.settings.scheduler_lease_seconds, owner
        )

    def indexed(self) -> Iterable[Indexed]:
        return (self.store, self.access_log, self.deadlines, self.opportunity_rows)


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
    laid = lay_foundations(
        settings,
        service=SERVICE,
        source=SOURCE,
        document_client=document_client,
        tracer_provider=tracer_provider,
        clock=clock,
        verifier=verifier,
    )
    deps = PipelineDependencies(
        store=laid.store,
        clock=clock,
        new_id=id_factory,
        tracer=laid.tracer,
        sealed=SealedEvents(PersonalDataCipher(laid.vault)),
        deciders=pipeline_deciders(
            probability_table(settings.stage_probabilities), unpaid_after=settings.unpaid_after
        ),
        payment_terms_days=settings.payment_terms_days,
    )
    return PipelineService(
        settings=settings,
        client=laid.client,
        store=laid.store,
        deps=deps,
        tracer_provider=laid.tracer_provider,
        metrics=laid.metrics,
        access_log=laid.access_log,
        verifier=laid.verifier,
        deadlines=ReceivableDeadlines(
            laid.database, laid.store, unpaid_after=settings.unpaid_after
        ),
        opportunity_rows=OpportunityRows(laid.database, laid.store),
    )
