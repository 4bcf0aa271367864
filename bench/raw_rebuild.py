"""The rebuild's ceiling: read the same commits, write equivalent documents in batches.

No domain logic, no decryption, no per-event read-modify-write: the commits
are read in position order with the same batched query ``EventStore.read_all``
runs, each customer's events are merged into one document of the customer 360
shape with plain dict updates, and the documents are written with
``insert_many``. What remains is the store's own read and write cost.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING

READ_BATCH, WRITE_BATCH = 1000, 500


async def raw_rebuild(source: Any, target: Any) -> float:
    """Seconds to read every commit of ``source`` and write the documents into ``target``."""
    started = time.perf_counter()
    documents: dict[str, dict[str, Any]] = {}
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
        await target["customer360"].insert_many(values[start : start + WRITE_BATCH])
    return time.perf_counter() - started


def _merge(documents: dict[str, dict[str, Any]], commit: dict[str, Any]) -> None:
    stream = commit["stream_id"]
    document = documents.setdefault(
        stream, {"_id": stream, "customer_id": stream, "streams": {}, "revision": 0, "profile": {}}
    )
    for event in commit["events"]:
        data = event["data"]
        document["streams"][f"contacts:{stream}"] = event["sequence"]
        document["revision"] += 1
        document["updated_at"] = event["time"]
        document["last_event_id"] = event["id"]
        if "owner_id" in data:
            document["owner"] = {"owner_id": data["owner_id"], "team": data.get("team")}
            continue
        if event["sequence"] == 1:
            document["registered_at"] = event["time"]
        fields = ("name", "kind", "email", "phone")
        document["profile"].update({f: data[f] for f in fields if data.get(f) is not None})
        document["profile"].update(dict.fromkeys(data.get("cleared", ())))
