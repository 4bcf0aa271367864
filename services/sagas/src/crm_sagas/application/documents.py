"""The ``sagas`` collection: one document per saga, written compare-and-set on its revision.

A document holds the saga's history (the source of its state), a view of the state for
the API, its status, the pending deadline, when it is next due (``due_at``: the deadline,
the end of a retry pause, or a grace period for commands in flight; indexed with the
status so the deadline loop finds due sagas without a scan), the correlation id and the
traceparent of the event that started it. Writes name the revision they read; a write
that lost a race changes nothing and the writer reads again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_runtime.documents import is_duplicate_key


class SagaDocuments:
    def __init__(self, database: Any) -> None:
        self._sagas = database["sagas"]

    async def create_indexes(self) -> None:
        await self._sagas.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self._sagas.create_index(
            [("type", ASCENDING), ("status", ASCENDING), ("started_at", DESCENDING)]
        )

    async def insert(self, document: Mapping[str, Any]) -> bool:
        """False when a saga with that id exists already (a redelivered start)."""
        try:
            await self._sagas.insert_one(dict(document))
        except Exception as error:
            if is_duplicate_key(error):
                return False
            raise
        return True

    async def load(self, saga_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._sagas.find_one({"_id": saga_id})
        return found

    async def replace(self, document: Mapping[str, Any], revision: int) -> bool:
        """Write ``document`` if the stored one is still at ``revision``; False if not."""
        result = await self._sagas.replace_one({"_id": document["_id"], "revision": revision},
                                               dict(document))  # fmt: skip
        return bool(result.matched_count)

    async def due_again(self, saga_id: str, revision: int, at: datetime) -> None:
        """Make the saga due at ``at`` (it has more to send than one turn took), unless it
        was written since ``revision`` (that write set its own ``due_at``)."""
        await self._sagas.update_one(
            {"_id": saga_id, "revision": revision}, {"$set": {"due_at": at}}
        )

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of running sagas due at ``now``, the longest due first."""
        cursor = (
            self._sagas.find({"status": "running", "due_at": {"$lte": now}}, {"_id": 1})
            .sort("due_at", ASCENDING)
            .limit(limit)
        )
        return [str(doc["_id"]) async for doc in cursor]

    async def count(self, *, type_: str, status: str) -> int:
        """Sagas of one type in one status (the type-status index answers it)."""
        return int(await self._sagas.count_documents({"type": type_, "status": status}))

    async def search(
        self, *, type_: str | None, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if type_ is not None:
            query["type"] = type_
        if status is not None:
            query["status"] = status
        cursor = self._sagas.find(query).sort("started_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]
