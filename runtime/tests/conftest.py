"""The store contract suite runs against every document store we support."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import NO_DOCKER, docker_available


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    if not docker_available():
        pytest.skip(NO_DOCKER)
    from testcontainers.mongodb import MongoDbContainer

    with MongoDbContainer("mongo:8.0") as container:
        yield container.get_connection_url()


@pytest.fixture(params=["embedded-sqlite", "embedded-memory", "mongodb"])
async def document_client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A PyMongo-shaped async client on each store; a fresh database name per test."""
    if request.param == "mongodb":
        from pymongo import AsyncMongoClient

        client: Any = AsyncMongoClient(request.getfixturevalue("mongodb_url"), tz_aware=True)
    else:
        from crm_runtime.documents import open_document_client
        from crm_runtime.settings import RuntimeSettings

        backend = request.param.removeprefix("embedded-")
        settings = RuntimeSettings(embedded_backend=backend, data_dir=tmp_path / "store")
        client = open_document_client(settings)
    yield client
    await client.close()


@pytest.fixture
def database(document_client: Any, request: pytest.FixtureRequest) -> Any:
    name = "t_" + "".join(ch for ch in request.node.name if ch.isalnum())[-50:]
    return document_client[name]
