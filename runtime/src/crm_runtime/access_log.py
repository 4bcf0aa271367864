"""Who read whose unmasked personal data, and when: an append-only audit collection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_runtime.auth import Principal
from crm_runtime.telemetry import current_trace_id


class AccessLog:
    def __init__(self, database: Any, clock: Callable[[], datetime]) -> None:
        self._entries = database["access_log"]
        self._clock = clock

    async def create_indexes(self) -> None:
        await self._entries.create_index([("customer_id", ASCENDING), ("at", ASCENDING)])
        await self._entries.create_index([("actor", ASCENDING), ("at", ASCENDING)])

    async def record(
        self, principal: Principal, action: str, customer_id: str, fields: Sequence[str]
    ) -> None:
        await self._entries.insert_one(
            {
                "at": self._clock(),
                "actor": principal.actor,
                "roles": sorted(principal.roles),
                "action": action,
                "customer_id": customer_id,
                "fields": list(fields),
                "trace_id": current_trace_id(),
            }
        )

    async def entries(
        self, *, customer_id: str | None = None, actor: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if customer_id:
            query["customer_id"] = customer_id
        if actor:
            query["actor"] = actor
        cursor = self._entries.find(query, projection={"_id": 0}).sort("at", DESCENDING)
        return [entry async for entry in cursor.limit(limit)]
