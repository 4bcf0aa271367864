"""All wiring of the contacts service in one place; entry points only fetch what it built."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_contacts.application.directory import CustomerDirectory
from crm_contacts.application.follower import DirectoryFollower
from crm_contacts.application.handlers import Dependencies
from crm_contacts.config import ContactsSettings
from crm_contracts.contacts import SOURCE
from crm_runtime.access_log import AccessLog
from crm_runtime.auth import TokenVerifier
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.kafka import build_broker
from crm_runtime.leases import Lease
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher
from crm_runtime.telemetry import build_tracer_provider

SERVICE = "crm-contacts"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class ContactsService:
    settings: ContactsSettings
    client: Any
    store: EventStore
    deps: Dependencies
    tracer_provider: TracerProvider
    metrics: CollectorRegistry
    access_log: AccessLog
    verifier: TokenVerifier
    directory: CustomerDirectory
    follower: DirectoryFollower
    broker: KafkaBroker

    def relay_lease(self) -> Lease:
        return Lease(
            self.client[self.settings.database],
            "contacts-outbox-relay",
            self.settings.instance_id,
            ttl=timedelta(seconds=self.settings.relay_lease_seconds),
            clock=self.deps.clock,
        )

    async def start(self) -> None:
        await self.store.create_indexes()
        await self.access_log.create_indexes()
        await self.directory.create_indexes()

    async def close(self) -> None:
        await self.client.close()


def bootstrap(
    settings: ContactsSettings | None = None,
    *,
    document_client: Any = None,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    id_factory: Callable[[str], str] = new_id,
    verifier: TokenVerifier | None = None,
    broker: KafkaBroker | None = None,
) -> ContactsService:
    settings = settings or ContactsSettings()
    client = document_client or open_document_client(settings, app_name=SERVICE)
    provider = tracer_provider or build_tracer_provider(SERVICE)
    database = client[settings.database]
    store = EventStore(database, source=SOURCE)
    vault = MongoKeyVault(client[settings.keys_database]["data_keys"])
    directory = CustomerDirectory(database)
    deps = Dependencies(
        store=store,
        clock=clock,
        new_id=id_factory,
        tracer=provider.get_tracer("crm.contacts"),
        sealed=SealedEvents(PersonalDataCipher(vault)),
        vault=vault,
        directory=directory,
    )
    service = ContactsService(
        settings=settings,
        client=client,
        store=store,
        deps=deps,
        tracer_provider=provider,
        metrics=CollectorRegistry(),
        access_log=AccessLog(database, clock),
        verifier=verifier or TokenVerifier(settings),
        directory=directory,
        follower=DirectoryFollower(
            deps, database, grace_seconds=settings.directory_gap_grace_seconds
        ),
        broker=broker
        or build_broker(
            settings.kafka_bootstrap_servers,
            tracer_provider=provider,
            client_id=f"{SERVICE}-consumer",
        ),
    )
    from crm_contacts.entrypoints.consumer import register_subscribers

    register_subscribers(service)
    return service
