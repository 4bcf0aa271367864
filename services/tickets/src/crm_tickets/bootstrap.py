"""All wiring of the tickets service in one place; entry points only fetch what it built."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_contracts.tickets import SOURCE
from crm_runtime.access_log import AccessLog
from crm_runtime.auth import TokenVerifier
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.leases import Lease
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher
from crm_runtime.telemetry import build_tracer_provider
from crm_tickets.application.rows import TicketRows
from crm_tickets.application.sealing import CustomerSealedEvents
from crm_tickets.application.streams import Dependencies
from crm_tickets.config import TicketsSettings

SERVICE = "crm-tickets"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class TicketsService:
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

    def relay_lease(self) -> Lease:
        return self._lease("tickets-outbox-relay", self.settings.relay_lease_seconds)

    def scheduler_lease(self, owner: str | None = None) -> Lease:
        return self._lease("tickets-sla-scheduler", self.settings.scheduler_lease_seconds, owner)

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
        await self.rows.create_indexes()

    async def close(self) -> None:
        await self.client.close()


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
    client = document_client or open_document_client(settings, app_name=SERVICE)
    provider = tracer_provider or build_tracer_provider(SERVICE)
    database = client[settings.database]
    store = EventStore(database, source=SOURCE)
    vault = MongoKeyVault(client[settings.keys_database]["data_keys"])
    deps = Dependencies(
        store=store,
        clock=clock,
        new_id=id_factory,
        tracer=provider.get_tracer("crm.tickets"),
        sealed=CustomerSealedEvents(PersonalDataCipher(vault)),
        sla=settings.sla_policy(),
    )
    return TicketsService(
        settings=settings,
        client=client,
        store=store,
        deps=deps,
        tracer_provider=provider,
        metrics=CollectorRegistry(),
        access_log=AccessLog(database, clock),
        verifier=verifier or TokenVerifier(settings),
        rows=TicketRows(database, store),
        vault=vault,
    )
