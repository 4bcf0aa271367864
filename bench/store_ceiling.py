"""Raw ceilings of the embedded document store (SQLite, as ``make up`` runs it).

Commit documents as the contacts service writes them (built and sealed before
timing starts) go straight into a ``commits`` collection carrying the event
store's indexes: batched with ``insert_many``, and one at a time with
``insert_one``, since a command writes one commit. Single inserts are timed
over the same ranges of collection size the commands ran at, because in this
store an insert costs more the more documents the collection already holds.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.commits import commit_documents
from bench.histories import customer_histories
from bench.stats import Latencies
from crm_contracts.contacts import SOURCE
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.settings import RuntimeSettings

BATCH = 500


@dataclass(frozen=True)
class SingleInserts:
    """``count`` single inserts timed while the collection grew from ``from_size`` documents."""

    from_size: int
    count: int
    latency: Latencies
    rate: float


@dataclass(frozen=True)
class StoreCeiling:
    batch_docs: int
    batch_rate: float
    singles: tuple[SingleInserts, ...]


async def measure_store(batch_docs: int, ranges: list[tuple[int, int]]) -> StoreCeiling:
    """``ranges``: (documents already in the collection, single inserts to time), ascending."""
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-store-"))
    client = open_document_client(RuntimeSettings(data_dir=folder, embedded_backend="sqlite"))
    try:
        documents = await _documents(client, "raw_batched", batch_docs, "batch")
        commits = client["raw_batched"]["commits"]
        started = time.perf_counter()
        for start in range(0, len(documents), BATCH):
            await commits.insert_many(documents[start : start + BATCH])
        batch_rate = len(documents) / (time.perf_counter() - started)
        singles = [await _single_inserts(client, size, count) for size, count in ranges]
        return StoreCeiling(len(documents), batch_rate, tuple(singles))
    finally:
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)


async def _documents(client: Any, database: str, count: int, tag: str) -> list[dict[str, Any]]:
    await EventStore(client[database], source=SOURCE).create_indexes()
    history = customer_histories(count, 1, tag=tag)
    return await commit_documents(client, history, database)


async def _single_inserts(client: Any, size: int, count: int) -> SingleInserts:
    commits = client["raw_single"]["commits"]
    present = await commits.count_documents({})
    if size > present:
        filler = await _documents(client, "raw_single", size - present, f"fill{size}")
        for start in range(0, len(filler), BATCH):
            await commits.insert_many(filler[start : start + BATCH])
    documents = await _documents(client, "raw_single", count, f"single{size}")
    latencies = []
    started = time.perf_counter()
    for document in documents:
        before = time.perf_counter()
        await commits.insert_one(document)
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    return SingleInserts(size, count, Latencies.of(latencies), count / elapsed if elapsed else 0.0)
