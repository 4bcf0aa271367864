"""Fixtures shared by every test: the embedded broker, stores, tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from crm_runtime.settings import RuntimeSettings


@pytest.fixture(scope="session")
def embedded_kafka() -> Iterator[str]:
    """A Tansu broker (the embedded default) on a free loopback port, for the whole session."""
    from crm_stack.embedded_broker import embedded_broker

    with embedded_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def memory_settings() -> RuntimeSettings:
    return RuntimeSettings(embedded_backend="memory")


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "store", embedded_backend="sqlite")


@pytest.fixture
def span_exporter():  # type: ignore[no-untyped-def]
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


@pytest.fixture
async def memory_client() -> AsyncIterator[object]:
    import tinymongo

    client = tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)
    yield client
    await client.close()
