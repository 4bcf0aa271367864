"""All wiring of the contacts service in one place; entry points only fetch what it built."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

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
from crm_runtime.eventstore import EventStore
from crm_runtime.foundations import ContextLifecycle, Indexed, lay_foundations, new_id, utc_now
from crm_runtime.kafka import build_broker
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import PersonalDataCipher

SERVICE = "crm-contacts"


@dataclass
class ContactsService(ContextLifecycle):
    context: ClassVar[str] = "contacts"
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

    def indexed(self) -> Iterable[Indexed]:
        return (self.store, self.access_log, self.directory)


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
    laid = lay_foundations(
        settings,
        service=SERVICE,
        source=SOURCE,
        document_client=document_client,
        tracer_provider=tracer_provider,
        clock=clock,
        verifier=verifier,
    )
    directory = CustomerDirectory(laid.database)
    deps = Dependencies(
        store=laid.store,
        clock=clock,
        new_id=id_factory,
        tracer=laid.tracer,
        sealed=SealedEvents(PersonalDataCipher(laid.vault)),
        vault=laid.vault,
        directory=directory,
    )
    service = ContactsService(
        settings=settings,
        client=laid.client,
        store=laid.store,
        deps=deps,
        tracer_provider=laid.tracer_provider,
        metrics=laid.metrics,
        access_log=laid.access_log,
        verifier=laid.verifier,
        directory=directory,
        follower=DirectoryFollower(
            deps, laid.database, grace_seconds=settings.directory_gap_grace_seconds
        ),
        broker=broker
        or build_broker(
            settings.kafka_bootstrap_servers,
            tracer_provider=laid.tracer_provider,
            client_id=f"{SERVICE}-consumer",
        ),
    )
    from crm_contacts.entrypoints.consumer import register_subscribers

    register_subscribers(service)
    return service
