"""What every bounded context's bootstrap builds the same way, and the lifecycle its
service shares: leases of its singleton processes, indexes at start, the client closed.

A context's ``bootstrap`` calls ``lay_foundations`` for the document client, event store,
key vault, tracer, metrics registry, access log and token verifier, then builds its own
dependencies on them; its service dataclass mixes in ``ContextLifecycle``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from crm_runtime.access_log import AccessLog
from crm_runtime.auth import TokenVerifier
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.leases import Lease
from crm_runtime.settings import RuntimeSettings
from crm_runtime.shredding import MongoKeyVault
from crm_runtime.telemetry import build_tracer_provider


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class ContextSettings(Protocol):
    database: str
    keys_database: str


@dataclass(frozen=True)
class Foundations:
    client: Any
    database: Any
    store: EventStore
    vault: MongoKeyVault
    tracer_provider: TracerProvider
    tracer: Tracer
    metrics: CollectorRegistry
    access_log: AccessLog
    verifier: TokenVerifier


def lay_foundations(
    settings: RuntimeSettings,
    *,
    service: str,
    source: str,
    document_client: Any = None,
    tracer_provider: TracerProvider | None = None,
    clock: Callable[[], datetime] = utc_now,
    verifier: TokenVerifier | None = None,
) -> Foundations:
    """The shared pieces of ``service`` (e.g. ``crm-tickets``), whose events come from
    ``source``; the overrides (a client, a tracer provider, a verifier) are used as given."""
    names: Any = settings  # a context's settings add the database names (ContextSettings)
    client = document_client or open_document_client(settings, app_name=service)
    provider = tracer_provider or build_tracer_provider(service)
    database = client[names.database]
    return Foundations(
        client=client,
        database=database,
        store=EventStore(database, source=source),
        vault=MongoKeyVault(client[names.keys_database]["data_keys"]),
        tracer_provider=provider,
        tracer=provider.get_tracer(service.replace("-", ".")),
        metrics=CollectorRegistry(),
        access_log=AccessLog(database, clock),
        verifier=verifier or TokenVerifier(settings),
    )


class LeaseSettings(Protocol):
    database: str
    instance_id: str
    relay_lease_seconds: float


class Indexed(Protocol):
    async def create_indexes(self) -> None: ...


class Clocked(Protocol):
    @property
    def clock(self) -> Callable[[], datetime]: ...


class ContextLifecycle:
    """Mixed into a context's service dataclass, which has ``settings``, ``client`` and
    ``deps`` (with its clock) and names its ``context`` (``"tickets"``)."""

    context: ClassVar[str]
    settings: Any
    client: Any
    deps: Any

    def indexed(self) -> Iterable[Indexed]:
        """What needs its indexes before the service serves (the store, read rows...)."""
        return ()

    def lease(self, name: str, seconds: float, owner: str | None = None) -> Lease:
        """The lease ``name`` for ``seconds``, held by ``owner`` (this instance by default)."""
        settings: LeaseSettings = self.settings
        clocked: Clocked = self.deps
        return Lease(
            self.client[settings.database],
            name,
            owner or settings.instance_id,
            ttl=timedelta(seconds=seconds),
            clock=clocked.clock,
        )

    def relay_lease(self) -> Lease:
        """The one outbox relay of the context publishing at a time."""
        settings: LeaseSettings = self.settings
        return self.lease(f"{self.context}-outbox-relay", settings.relay_lease_seconds)

    async def start(self) -> None:
        for part in self.indexed():
            await part.create_indexes()

    async def close(self) -> None:
        await self.client.close()
