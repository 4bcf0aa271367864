"""Generations of a read model: blue/green by collection (docs/adr/0016).

A read model lives in one *generation* of collections at a time. Generation 0 is
the plain names (``customer360``, ``stream_customers``, the shared ``boards``),
so a deployment that never rebuilt keeps its data; generation ``n`` adds the
suffix ``__g<n>`` (``customer360__g3``, ``stream_customers__g3``) and a rows
projector's boards move to a collection of its own (``deal_rows_boards__g3``).

The ``read_models`` collection records, per read model (``_id`` = its name), the
generation that serves (``active``), the one a rebuild is building
(``building``, with a ``heartbeat`` the rebuild keeps fresh), the one it
replaced and has not dropped yet (``previous``) and the highest allocated
(``last``). A switch is one compare-and-set of that document, so it is atomic on
any store. Processes learn the active generation from it, re-read at most once
per ``REFRESH_SECONDS`` (``ActiveGeneration``); a rebuild keeps the old
generation ``SWITCH_GRACE`` seconds after the switch so nobody reads a dropped
collection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_runtime.documents import is_duplicate_key

READ_MODELS = "read_models"
REFRESH_SECONDS = 1.0
"""How long a process keeps answering from the generation it last read."""
SWITCH_GRACE = 3.0
"""Seconds a rebuild waits after a switch before its last catch-up and dropping the old
generation: longer than REFRESH_SECONDS, so every process has moved to the new one."""
STALE_AFTER = timedelta(seconds=60)
"""A building generation whose heartbeat is older than this was left by an interrupted
rebuild: the next rebuild drops it."""


def collection_name(base: str, generation: int) -> str:
    """The name of ``base`` in ``generation`` (0: the plain name)."""
    return base if generation == 0 else f"{base}__g{generation}"


class RebuildInProgress(Exception):
    """Another rebuild of the read model is running (its heartbeat is fresh)."""


class SwitchRefused(Exception):
    """The read model's record changed under the rebuild (another rebuild took over)."""


class ActiveGeneration:
    """The generation one read model serves from, as this process last read it."""

    def __init__(
        self,
        read_models: Any,
        name: str,
        *,
        refresh_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_models = read_models
        self._name = name
        self._refresh_seconds = REFRESH_SECONDS if refresh_seconds is None else refresh_seconds
        self._clock = clock
        self._generation = 0
        self._read_at: float | None = None

    @property
    def generation(self) -> int:
        """The last generation read (0 before the first read): never waits."""
        return self._generation

    async def current(self) -> int:
        """The active generation, re-read when the last read is older than the refresh."""
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh_seconds:
            found = await self._read_models.find_one({"_id": self._name}, projection={"active": 1})
            self._generation = int(found.get("active", 0)) if found else 0
            self._read_at = now
        return self._generation

    def switched(self, generation: int) -> None:
        """This process switched the read model itself: no need to wait for the re-read."""
        self._generation = generation
        self._read_at = self._clock()


@dataclass(frozen=True)
class Started:
    """A rebuild's new generation, and the generations of earlier runs left to drop."""

    generation: int
    active: int
    leftovers: tuple[int, ...]


class ReadModels:
    """The ``read_models`` collection, as rebuilds change it."""

    def __init__(
        self, read_models: Any, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._read_models = read_models
        self._now = now

    async def record(self, name: str) -> dict[str, Any]:
        found = await self._read_models.find_one({"_id": name})
        return found or {"_id": name, "active": 0, "building": None, "previous": None, "last": 0}

    async def begin(self, name: str) -> Started:
        """Allocate the generation a rebuild builds into. A building generation whose
        heartbeat went stale (an interrupted rebuild) and a previous generation a switch
        left behind are answered as leftovers, to be dropped; a fresh heartbeat means
        another rebuild is running: ``RebuildInProgress``."""
        for _ in range(20):
            found = await self._read_models.find_one({"_id": name})
            now = self._now()
            if found is None:
                try:
                    await self._read_models.insert_one(
                        {
                            "_id": name,
                            "active": 0,
                            "building": 1,
                            "previous": None,
                            "last": 1,
                            "heartbeat": now,
                        }
                    )
                except Exception as error:
                    if not is_duplicate_key(error):
                        raise
                    continue
                return Started(1, 0, ())
            active = int(found.get("active", 0))
            building = found.get("building")
            if building is not None and _fresh(found.get("heartbeat"), now):
                raise RebuildInProgress(
                    f"{name} generation {building} is being built (heartbeat "
                    f"{found.get('heartbeat')}); wait for it, or retry after {STALE_AFTER}"
                )
            leftovers = tuple(
                sorted(
                    {
                        int(g)
                        for g in (building, found.get("previous"))
                        if g is not None and int(g) != active
                    }
                )
            )
            last = int(found.get("last", active))
            generation = max(last, active) + 1
            claimed = await self._read_models.update_one(
                {"_id": name, "last": found.get("last"), "building": building},
                {"$set": {"building": generation, "last": generation, "heartbeat": now}},
            )
            if claimed.matched_count:
                return Started(generation, active, leftovers)
        raise RebuildInProgress(f"{name}: the read model record kept changing")

    async def heartbeat(self, name: str, generation: int) -> None:
        await self._read_models.update_one(
            {"_id": name, "building": generation}, {"$set": {"heartbeat": self._now()}}
        )

    async def switch(self, name: str, active: int, generation: int) -> None:
        """Make ``generation`` the active one, in one compare-and-set: refused when the
        record moved since ``begin`` (another rebuild took the read model over)."""
        switched = await self._read_models.update_one(
            {"_id": name, "active": active, "building": generation},
            {
                "$set": {
                    "active": generation,
                    "building": None,
                    "previous": active,
                    "switched_at": self._now(),
                }
            },
        )
        if not switched.matched_count:
            raise SwitchRefused(f"{name}: the record changed while generation {generation} built")

    async def abandon(self, name: str, generation: int) -> None:
        """A failed rebuild's generation was dropped: it is no longer being built."""
        await self._read_models.update_one(
            {"_id": name, "building": generation}, {"$set": {"building": None}}
        )

    async def retired(self, name: str, generation: int) -> None:
        """The generation a switch replaced was dropped."""
        await self._read_models.update_one(
            {"_id": name, "previous": generation}, {"$set": {"previous": None}}
        )


def _fresh(heartbeat: Any, now: datetime) -> bool:
    if not isinstance(heartbeat, datetime):
        return False
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    return now - heartbeat < STALE_AFTER
