"""Raw ceilings of the embedded document store (TinyMongo on SQLite, as ``make up`` runs it).

Commit-shaped documents go straight into a ``commits`` collection carrying the
event store's indexes: batched with ``insert_many``, and one at a time with
``insert_one`` (a command writes one commit). Single inserts are timed over the
same range of collection sizes the commands covered, because in this store an
insert costs more the more documents the collection already holds.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_contracts.contacts import SOURCE
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.settings import RuntimeSettings

from bench.commits import commit_document, customer_views, reserve_positions, seed_commits
from bench.histories import customer_histories
from bench.stats import Latencies


@dataclass(frozen=True)
class SingleInserts:
    """Single inserts timed while the collection grew from ``from_size`` documents."""

    from_size: int
    latency: Latencies
    rate: float


@dataclass(frozen=True)
class StoreCeiling:
    batch_docs: int
    batch_rate: float
    singles: tuple[SingleInserts, ...]


async def measure_store(batch_docs: int, ranges: list[tuple[int, int]]) -> StoreCeiling:
    """``ranges``: (documents already in the collection, single inserts to time), in order."""
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-store-"))
    client = open_document_client(RuntimeSettings(data_dir=folder, embedded_backend="sqlite"))
    try:
        batch_db = client["raw_batched"]
        await EventStore(batch_db, source=SOURCE).create_indexes()
        history = customer_histories(batch_docs, 4, tag="batch")
        started = time.perf_counter()
        await seed_commits(batch_db, history)
        batch_rate = batch_docs / (time.perf_counter() - started)

        single_db = client["raw_single"]
        await EventStore(single_db, source=SOURCE).create_indexes()
        singles = [await _single_inserts(single_db, size, count) for size, count in ranges]
        return StoreCeiling(batch_docs, batch_rate, tuple(singles))
    finally:
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)


async def _single_inserts(database: Any, size: int, count: int) -> SingleInserts:
    present = await database["commits"].count_documents({})
    if size > present:
        await seed_commits(database, customer_histories(size - present, 1, tag=f"fill{size}"))
    history = customer_views(customer_histories(count, 1, tag=f"single{size}"))
    position = await reserve_positions(database, count)
    latencies = []
    started = time.perf_counter()
    for offset, (planned, view) in enumerate(history):
        document = commit_document(planned, position + offset, datetime.now(UTC), view)
        before = time.perf_counter()
        await database["commits"].insert_one(document)
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    return SingleInserts(size, Latencies.of(latencies), count / elapsed if elapsed else 0.0)
