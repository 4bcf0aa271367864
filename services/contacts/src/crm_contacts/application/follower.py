"""The directory follower: reads the event store by position and refreshes the entries of
the customers whose streams moved, so the directory heals whatever a request that crashed
between its append and its own refresh left behind (docs/adr/0010).

Positions are taken before a commit is written, so a commit can become visible after a
later position did, and a writer that loses a race leaves its position unused for good.
The checkpoint therefore never passes a missing position until it has been missing for
``grace_seconds``; entries are versioned, so refreshing a customer again is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog

from crm_contacts.application import handlers
from crm_contacts.application.handlers import Dependencies
from crm_contacts.domain.customer import Unregistered
from crm_runtime.documents import is_duplicate_key

log = structlog.get_logger("crm.contacts.directory")
CHECKPOINT = "customer_directory"


class DirectoryFollower:
    def __init__(
        self,
        deps: Dependencies,
        database: Any,
        *,
        grace_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deps = deps
        self._checkpoints = database["checkpoints"]
        self._grace = grace_seconds
        self._monotonic = monotonic
        self._missing_since: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def position(self) -> int:
        doc = await self._checkpoints.find_one({"_id": CHECKPOINT})
        return int(doc["position"]) if doc else 0

    async def catch_up(self, *, batch: int = 500) -> int:
        """Refresh every customer whose stream moved since the checkpoint; the commits read."""
        async with self._lock:
            start = await self.position()
            position, streams, read = start, set(), 0
            async for commit in self._deps.store.read_all(after_position=start, batch=batch):
                if commit.position > position + 1 and not self._given_up(position + 1):
                    break  # a commit before this one may still appear: wait for it
                streams.add(commit.stream_id)
                position, read = commit.position, read + 1
            for stream_id in sorted(streams):
                state = await handlers.load_state(self._deps, stream_id)
                if not isinstance(state, Unregistered):
                    await self._deps.directory.refresh(state)
            if position > start:
                await self._save(start, position)
            return read

    async def rebuild(self) -> int:
        """Drop the directory and fold it again from the whole store."""
        await self._deps.directory.clear()
        await self._checkpoints.delete_one({"_id": CHECKPOINT})
        grace, self._grace = self._grace, 0.0
        try:
            return await self.catch_up()
        finally:
            self._grace = grace

    async def follow(self, stop: asyncio.Event, every_seconds: float) -> None:
        """Catch up every ``every_seconds`` until ``stop`` is set (the API runs this)."""
        while not stop.is_set():
            try:
                await self.catch_up()
            except Exception:  # the store may be down: try again next round
                log.exception("directory catch-up failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_seconds)

    def _given_up(self, missing: int) -> bool:
        first_seen = self._missing_since.setdefault(missing, self._monotonic())
        if self._monotonic() - first_seen < self._grace:
            return False
        del self._missing_since[missing]
        return True

    async def _save(self, start: int, position: int) -> None:
        if start == 0 and await self._checkpoints.find_one({"_id": CHECKPOINT}) is None:
            try:
                await self._checkpoints.insert_one({"_id": CHECKPOINT, "position": position})
                return
            except Exception as error:
                if not is_duplicate_key(error):
                    raise
        # Only forward: a slower follower on another replica never moves it back.
        await self._checkpoints.update_one(
            {"_id": CHECKPOINT, "position": {"$lt": position}}, {"$set": {"position": position}}
        )
