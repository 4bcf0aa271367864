"""All wiring of the loyalty service in one place; entry points only fetch what it built."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

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
from crm_runtime.eventstore import EventStore
from crm_runtime.foundations import ContextLifecycle, Indexed, lay_foundations, new_id, utc_now
from crm_runtime.kafka import build_broker
from crm_runtime.leases import Lease
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import PersonalDataCipher

SERVICE = "crm-loyalty"


@dataclass
class LoyaltyService(ContextLifecycle):
    context: ClassVar[str] = "loyalty"
    settings: LoyaltySettings
    client: Any
    store: EventStore
    deps: LoyaltyDependencies
    tracer_provider: TracerProvider
    metrics: CollectorRegistry
    verifier: TokenVerifier
    roster: MemberRoster
    broker: KafkaBroker

    def scheduler_lease(self, owner: str | None = None) -> Lease:
        return self.lease("loyalty-scheduler", self.settings.scheduler_lease_seconds, owner)

    def indexed(self) -> Iterable[Indexed]:
        return (self.store, self.roster)


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
    laid = lay_foundations(
        settings,
        service=SERVICE,
        source=SOURCE,
        document_client=document_client,
        tracer_provider=tracer_provider,
        clock=clock,
        verifier=verifier,
    )
    programme = settings.programme()
    deciders = loyalty_deciders(programme)
    base = Dependencies(
        store=laid.store,
        clock=clock,
        new_id=id_factory,
        tracer=laid.tracer,
        sealed=SealedEvents(PersonalDataCipher(laid.vault)),
    )
    roster = MemberRoster(laid.database, laid.store, base, deciders.member, programme)
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
        client=laid.client,
        store=laid.store,
        deps=deps,
        tracer_provider=laid.tracer_provider,
        metrics=laid.metrics,
        verifier=laid.verifier,
        roster=roster,
        broker=broker
        or build_broker(
            settings.kafka_bootstrap_servers,
            tracer_provider=laid.tracer_provider,
            client_id=f"{SERVICE}-consumer",
        ),
    )
    from crm_loyalty.entrypoints.consumer import register_subscribers

    register_subscribers(service)
    return service
