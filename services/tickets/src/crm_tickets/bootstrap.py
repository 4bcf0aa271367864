"""All wiring of the tickets service in one place; entry points only fetch what it built."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_contracts.tickets import SOURCE
from crm_runtime.access_log import AccessLog
from crm_runtime.auth import TokenVerifier
from crm_runtime.eventstore import EventStore
from crm_runtime.foundations import ContextLifecycle, Indexed, lay_foundations, new_id, utc_now
from crm_runtime.leases import Lease
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher
from crm_tickets.application.rows import TicketRows
from crm_tickets.application.sealing import customer_sealed_events
from crm_tickets.application.streams import Dependencies
from crm_tickets.config import TicketsSettings

SERVICE = "crm-tickets"


@dataclass
class TicketsService(ContextLifecycle):
    context: ClassVar[str] = "tickets"
    settings: TicketsSettings
    client: Any
    store: EventStore
    deps: Dependencies
    tracer_provider: TracerProvider
    metrics: CollectorRegistry
    access_log: AccessLog
    verifier: TokenVerifier
    rows: TicketRows
    vault: MongoKeyVault

    def scheduler_lease(self, owner: str | None = None) -> Lease:
        return self.lease("tickets-sla-scheduler", self.settings.scheduler_lease_seconds, owner)

    def indexed(self) -> Iterable[Indexed]:
        return (self.store, self.access_log, self.rows)


def bootstrap(
    settings: TicketsSettings | None = None,
    *,
    document_client: Any = None,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    id_factory: Callable[[str], str] = new_id,
    verifier: TokenVerifier | None = None,
) -> TicketsService:
    settings = settings or TicketsSettings()
    laid = lay_foundations(
        settings,
        service=SERVICE,
        source=SOURCE,
        document_client=document_client,
        tracer_provider=tracer_provider,
        clock=clock,
        verifier=verifier,
    )
    deps = Dependencies(
        store=laid.store,
        clock=clock,
        new_id=id_factory,
        tracer=laid.tracer,
        sealed=customer_sealed_events(PersonalDataCipher(laid.vault)),
        sla=settings.sla_policy(),
    )
    return TicketsService(
        settings=settings,
        client=laid.client,
        store=laid.store,
        deps=deps,
        tracer_provider=laid.tracer_provider,
        metrics=laid.metrics,
        access_log=laid.access_log,
        verifier=laid.verifier,
        rows=TicketRows(laid.database, laid.store),
        vault=laid.vault,
    )
