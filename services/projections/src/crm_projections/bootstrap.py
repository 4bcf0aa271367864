"""All wiring of the projections service; entry points only fetch what it built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracer, Tracer
from prometheus_client import CollectorRegistry

from crm_contracts.contacts import SOURCE as CONTACTS_SOURCE
from crm_contracts.keys import personal_key_field
from crm_contracts.loyalty import SOURCE as LOYALTY_SOURCE
from crm_contracts.pipeline import SOURCE as PIPELINE_SOURCE
from crm_contracts.tickets import SOURCE as TICKETS_SOURCE
from crm_projections.application.analytics import (
    customers_projector,
    deals_projector,
    members_projector,
    orders_projector,
    tickets_projector,
)
from crm_projections.application.boards import RowsProjector
from crm_projections.application.lag import ProjectionLag
from crm_projections.application.projector import (
    Customer360Projector,
    ForecastProjector,
    Projector,
    ReceivablesProjector,
    StoresProjector,
)
from crm_projections.application.rebuild import Source
from crm_projections.config import ProjectionsSettings
from crm_projections.domain.streams import folded_contexts
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.leases import Lease
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher
from crm_runtime.telemetry import build_tracer_provider, spans_exported

if TYPE_CHECKING:  # built by ``bootstrap`` only: a rebuild job does without (``projectors``)
    from faststream.kafka import KafkaBroker

    from crm_runtime.access_log import AccessLog
    from crm_runtime.auth import TokenVerifier

SERVICE = "crm-projections"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ProjectionsService:
    settings: ProjectionsSettings
    client: Any
    customer360: Customer360Projector
    receivables: ReceivablesProjector
    forecast: ForecastProjector
    stores: StoresProjector
    deals: RowsProjector
    tickets: RowsProjector
    members: RowsProjector
    customer_rows: RowsProjector
    order_rows: RowsProjector
    broker: KafkaBroker
    tracer_provider: TracerProvider
    fold_tracer: Tracer
    """The tracer of the per-event spans (``fold_tracer``)."""
    metrics: CollectorRegistry
    access_log: AccessLog
    verifier: TokenVerifier
    lag: ProjectionLag

    @property
    def projectors(self) -> list[Projector]:
        """Every read model, in the order an event is folded into them."""
        return [
            self.customer360,
            self.receivables,
            self.forecast,
            self.stores,
            self.deals,
            self.tickets,
            self.members,
            self.customer_rows,
            self.order_rows,
        ]

    @property
    def folding(self) -> list[Projector]:
        """The read models this process folds (``CRM_PROJECTIONS_FOLD``; all by default)."""
        folded = self.settings.folded
        return [projector for projector in self.projectors if projector.name in folded]

    @property
    def topics(self) -> list[str]:
        """The topics this process consumes: those of the contexts whose events its read
        models fold (``folded_contexts``). A group that folds no contacts event does not fetch
        and decode the contacts records."""
        contexts = {c for projector in self.folding for c in folded_contexts(projector.model)}
        return [topic for c, topic in self.settings.topic_of.items() if c in contexts]

    def settle_lease(self) -> Lease:
        """The one replica refreshing the boards marked pending at a time, among the
        processes folding the same read models."""
        return Lease(
            self.client[self.settings.database],
            "projections-settle" + self.settings.fold_suffix,
            self.settings.instance_id,
            ttl=timedelta(seconds=self.settings.settle_lease_seconds),
            clock=utc_now,
        )

    async def start(self) -> None:
        await self.access_log.create_indexes()
        for projector in self.projectors:
            await projector.create_indexes()

    async def close(self) -> None:
        await self.lag.close()
        await self.client.close()


def fold_tracer(provider: TracerProvider, *, given: bool) -> Tracer:
    """The tracer of the spans made per event folded (``<topic> fold``, ``<read model>.upsert``,
    the writes and board refreshes): the provider's when it exports spans (or was ``given``,
    as tests do), else a no-op one. Built for every event into nine read models, spans that
    go nowhere would cost about a fifth of the consumer's CPU. The no-op tracer still
    continues each record's trace context, so logs written during a fold carry its trace id;
    the HTTP and Kafka spans of the service come from the provider either way."""
    if given or spans_exported():
        return provider.get_tracer("crm.projections")
    return NoOpTracer()


def projectors(settings: ProjectionsSettings, client: Any, tracer: Tracer) -> dict[str, Projector]:
    """Every read model's projector, each on its database (``database_of``), in the order an
    event is folded into them, keyed by its ``ProjectionsService`` field: the part of the
    service a rebuild job needs, without the broker, the consumer or the HTTP pieces (whose
    imports would double the time a job takes to start)."""

    def of(read_model: str) -> Any:
        return client[settings.database_of(read_model)]

    customer360 = Customer360Projector(of("customer360"), tracer)
    return {
        "customer360": customer360,
        "receivables": ReceivablesProjector(of("receivables_by_rep"), tracer),
        "forecast": ForecastProjector(of("forecast"), tracer),
        "stores": StoresProjector(of("stores"), tracer, customer360),
        "deals": deals_projector(of("deals"), tracer),
        "tickets": tickets_projector(of("tickets"), tracer),
        "members": members_projector(of("members"), tracer),
        "customer_rows": customers_projector(of("customer_rows"), tracer),
        "order_rows": orders_projector(of("order_rows"), tracer),
    }


def bootstrap(
    settings: ProjectionsSettings | None = None,
    *,
    document_client: Any = None,
    tracer_provider: TracerProvider | None = None,
    broker: KafkaBroker | None = None,
    verifier: TokenVerifier | None = None,
) -> ProjectionsService:
    from crm_projections.entrypoints.consumer import register_subscribers
    from crm_runtime.access_log import AccessLog
    from crm_runtime.auth import TokenVerifier
    from crm_runtime.kafka import build_broker

    settings = settings or ProjectionsSettings()
    client = document_client or open_document_client(settings, app_name=SERVICE)
    provider = tracer_provider or build_tracer_provider(SERVICE)
    tracer = fold_tracer(provider, given=tracer_provider is not None)
    database = client[settings.database]
    service = ProjectionsService(
        settings=settings,
        client=client,
        **projectors(settings, client, tracer),
        broker=broker
        or build_broker(
            settings.kafka_bootstrap_servers, tracer_provider=provider, client_id=SERVICE
        ),
        tracer_provider=provider,
        fold_tracer=tracer,
        metrics=CollectorRegistry(),
        access_log=AccessLog(database, utc_now),
        verifier=verifier or TokenVerifier(settings),
        lag=ProjectionLag.of_settings(settings, client),
    )
    register_subscribers(service)
    return service


def open_sources(settings: ProjectionsSettings) -> tuple[list[Source], list[Any]]:
    """Where a rebuild reads the history: each context's event store (in its own deployment
    when ``CRM_<CONTEXT>_MONGODB_URL`` names one, ours by default) with the key vault that
    opens its sealed personal fields; and the clients opened, for the caller to close."""
    sources: list[Source] = []
    clients: list[Any] = []
    for url, database, source in (
        (settings.contacts_mongodb_url, settings.contacts_database, CONTACTS_SOURCE),
        (settings.pipeline_mongodb_url, settings.pipeline_database, PIPELINE_SOURCE),
        (settings.tickets_mongodb_url, settings.tickets_database, TICKETS_SOURCE),
        (settings.loyalty_mongodb_url, settings.loyalty_database, LOYALTY_SOURCE),
    ):
        client = open_document_client(
            settings.model_copy(update={"mongodb_url": url or settings.mongodb_url}),
            app_name="crm-rebuild",
        )
        clients.append(client)
        vault = MongoKeyVault(client[settings.contacts_keys_database]["data_keys"])
        # Whose key opens a context's personal fields is part of its contract.
        sealed = SealedEvents(PersonalDataCipher(vault), key_field=personal_key_field(source))
        sources.append(Source(EventStore(client[database], source=source), sealed))
    return sources, clients
