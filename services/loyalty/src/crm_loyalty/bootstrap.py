"""All wiring of the loyalty service in one place; entry points only fetch what it built."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_contracts.loyalty import SOURCE
from crm_loyalty.application.deciders import loyalty_deciders
from crm_loyalty.application.handlers import LoyaltyDependencies
from crm_loyalty.application.roster import MemberRoster
from crm_loyalty.application.streams import Dependencies
from crm_loyalty.config import LoyaltySettings
from crm_runtime.auth import TokenVerifier
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.kafka import build_broker
from crm_runtime.leases import Lease
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher
from crm_runtime.telemetry import build_tracer_provider

SERVICE = "crm-loyalty"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class LoyaltyService:
    settings: LoyaltySettings
    client: Any
    store: EventStore
    deps: LoyaltyDependencies
    tracer_provider: TracerProvider
    metrics: CollectorRegistry
    verifier: TokenVerifier
    roster: MemberRoster
    broker: KafkaBroker

    def relay_lease(self) -> Lease:
        return self._lease("loyalty-outbox-relay", self.settings.relay_lease_seconds)

    def scheduler_lease(self, owner: str | None = None) -> Lease:
        return self._lease("loyalty-scheduler", self.settings.scheduler_lease_seconds, owner)

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
        await self.roster.create_indexes()

    async def close(self) -> None:
        await self.client.close()


def bootstrap(
    settings: LoyaltySettings | None = None,
    *,
    document_client: Any = None,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    id_factory: Callable[[str], str] = new_id,
    verifier: TokenVerifier | None = None,
    broker: KafkaBroker | None = None,
) -> LoyaltyService:
    settings = settings or LoyaltySettings()
    client = document_client or open_document_client(settings, app_name=SERVICE)
    provider = tracer_provider or build_tracer_provider(SERVICE)
    database = client[settings.database]
    store = EventStore(database, source=SOURCE)
    vault = MongoKeyVault(client[settings.keys_database]["data_keys"])
    programme = settings.programme()
    deciders = loyalty_deciders(programme)
    base = Dependencies(
        store=store,
        clock=clock,
        new_id=id_factory,
        tracer=provider.get_tracer("crm.loyalty"),
        sealed=SealedEvents(PersonalDataCipher(vault)),
    )
    roster = MemberRoster(database, store, base, deciders.member, programme)
    deps = LoyaltyDependencies(
        store=base.store,
        clock=base.clock,
        new_id=base.new_id,
        tracer=base.tracer,
        sealed=base.sealed,
        deciders=deciders,
        programme=programme,
        roster=roster,
    )
    service = LoyaltyService(
        settings=settings,
        client=client,
        store=store,
        deps=deps,
        tracer_provider=provider,
        metrics=CollectorRegistry(),
        verifier=verifier or TokenVerifier(settings),
        roster=roster,
        broker=broker
        or build_broker(
            settings.kafka_bootstrap_servers,
            tracer_provider=provider,
            client_id=f"{SERVICE}-consumer",
        ),
    )
    from crm_loyalty.entrypoints.consumer import register_subscribers

    register_subscribers(service)
    return service
