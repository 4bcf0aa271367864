"""What every context's bootstrap builds the same way (``crm_runtime.foundations``), and the
lifecycle its service shares: leases by name, indexes at start, the client closed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from crm_runtime.foundations import ContextLifecycle, Indexed, lay_foundations, new_id
from crm_runtime.settings import RuntimeSettings
from crm_runtime.testing import memory_document_client

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class Settings(RuntimeSettings):
    database: str = "crm_test"
    keys_database: str = "crm_test_keys"
    relay_lease_seconds: float = 10.0


@dataclass
class Deps:
    clock: Any = lambda: NOW


@dataclass
class Indexes:
    created: list[str]
    name: str

    async def create_indexes(self) -> None:
        self.created.append(self.name)


@dataclass
class Client:
    inner: Any
    closed: bool = False

    def __getitem__(self, name: str) -> Any:
        return self.inner[name]

    async def close(self) -> None:
        self.closed = True


@dataclass
class Orders(ContextLifecycle):
    context: ClassVar[str] = "orders"
    settings: Settings
    client: Any
    deps: Deps = field(default_factory=Deps)
    created: list[str] = field(default_factory=list)

    def indexed(self) -> Iterable[Indexed]:
        return (Indexes(self.created, "store"), Indexes(self.created, "rows"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(embedded_backend="memory", data_dir=tmp_path, instance_id="replica-a")


def test_the_foundations_share_one_database_and_name_the_tracer_after_the_service(
    settings: Settings,
) -> None:
    client = memory_document_client()
    laid = lay_foundations(
        settings, service="crm-orders", source="/crm/orders", document_client=client
    )
    assert laid.client is client
    assert laid.database.name == "crm_test"
    assert laid.tracer.instrumentation_info.name == "crm.orders"  # type: ignore[attr-defined]
    assert laid.metrics is not lay_foundations(settings, service="crm-orders", source="/x").metrics


def test_given_overrides_are_used_as_they_are(settings: Settings) -> None:
    verifier: Any = object()
    provider: Any = type("Provider", (), {"get_tracer": lambda self, name: name})()
    laid = lay_foundations(
        settings,
        service="crm-orders",
        source="/crm/orders",
        document_client=memory_document_client(),
        tracer_provider=provider,
        verifier=verifier,
    )
    assert (laid.verifier, laid.tracer_provider, laid.tracer) == (verifier, provider, "crm.orders")


async def test_the_relay_lease_is_named_after_the_context_and_held_by_one_replica(
    settings: Settings,
) -> None:
    client = memory_document_client()
    first = Orders(settings, client)
    other = Orders(settings.model_copy(update={"instance_id": "replica-b"}), client)
    assert first.relay_lease().owner == "replica-a"
    assert await first.relay_lease().acquire() is True
    assert await other.relay_lease().acquire() is False
    assert await other.lease("orders-scheduler", 5, owner="replica-b").acquire() is True
    [held] = await client["crm_test"]["leases"].find({"_id": "orders-outbox-relay"}).to_list(None)
    assert held["owner"] == "replica-a"


async def test_start_creates_the_indexes_of_every_part_and_close_closes_the_client(
    settings: Settings,
) -> None:
    service = Orders(settings, Client(memory_document_client()))
    await service.start()
    await service.close()
    assert service.created == ["store", "rows"]
    assert service.client.closed is True


def test_new_ids_carry_their_prefix_and_never_repeat() -> None:
    ids = {new_id("cmd") for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("cmd_") for i in ids)
