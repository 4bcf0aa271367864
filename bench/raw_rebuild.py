"""The rebuild's ceiling: read the same commits, write equivalent documents in batches.

No domain logic, no decryption, no per-event read-modify-write: every store's
commits are read in position order with the same batched query
``EventStore.read_all`` runs, each stream's events are merged into one
document with plain dict updates (its data, its sequence, its last event's id
and time), and the documents are written with ``insert_many``. What remains is
the store's own read and write cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING

READ_BATCH, WRITE_BATCH = 1000, 500


async def raw_rebuild(sources: Sequence[Any], target: Any) -> float:
    """Seconds to read every commit of the ``sources`` databases and write the documents
    into ``target``."""
    started = time.perf_counter()
    documents: dict[str, dict[str, Any]] = {}
    for source in sources:
        position = 0
        while True:
            cursor = (
                source["commits"]
                .find({"position": {"$gt": position}})
                .sort("position", ASCENDING)
                .limit(READ_BATCH)
            )
            commits = await cursor.to_list(length=READ_BATCH)
            if not commits:
                break
            for commit in commits:
                _merge(documents, commit)
            position = int(commits[-1]["position"])
    values = list(documents.values())
    for start in range(0, len(values), WRITE_BATCH):
        await target["streams"].insert_many(values[start : start + WRITE_BATCH])
    return time.perf_counter() - started


def _merge(documents: dict[str, dict[str, Any]], commit: dict[str, Any]) -> None:
    stream = commit["stream_id"]
    document = documents.setdefault(stream, {"_id": stream, "revision": 0, "data": {}})
    for event in commit["events"]:
        document["revision"] += 1
        document["sequence"] = event["sequence"]
        document["updated_at"] = event["time"]
        document["last_event_id"] = event["id"]
        document["data"].update(event["data"])
