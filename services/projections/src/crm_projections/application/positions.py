"""Where each read model is in each source: the last store position folded, and its time.

A source is a context's event store (``contacts``, ``pipeline``, ``tickets``,
``loyalty``: the last part of the events' CloudEvents ``source``). Its position
is the commit's global position in that store, which the relay sends as the
``ce_position`` extension attribute and a rebuild reads from the store itself.
An event without it (a relay older than the attribute) still records its time.

Folds note positions in memory; ``flush`` writes them with ``$max`` (positions
only grow, several replicas may write) to ``read_model_positions``, one document
per read model and generation (``_id`` = ``<name>@g<generation>``), at most once
per ``FLUSH_SECONDS`` on the live path and at the end of each rebuild phase.

Kafka delivers a source's partitions independently, so on the live path the
recorded position is the highest folded: every commit of that store below it
may not be folded yet when another partition is behind (``crm_consumer_lag_events``
shows per partition). A rebuild folds in position order: there it is exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

POSITIONS = "read_model_positions"
FLUSH_SECONDS = 1.0


def source_name(source: str) -> str:
    """``/crm/contacts`` -> ``contacts``."""
    return source.rstrip("/").rsplit("/", 1)[-1]


def positions_id(name: str, generation: int) -> str:
    return f"{name}@g{generation}"


@dataclass(frozen=True)
class SourcePosition:
    position: int | None
    """The last store position folded (None: only events without one were folded)."""
    time: datetime | None
    """When the latest event folded was recorded."""


@dataclass
class _Mark:
    position: int | None = None
    time: datetime | None = None

    def note(self, position: int | None, moment: datetime) -> None:
        if position is not None and (self.position is None or position > self.position):
            self.position = position
        if self.time is None or moment > self.time:
            self.time = moment


class PositionLog:
    """The positions of one read model's generations, noted per fold, flushed in batches."""

    def __init__(
        self,
        positions: Any,
        name: str,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._positions = positions
        self._name = name
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._pending: dict[int, dict[str, _Mark]] = {}
        self._flushed_at = clock()

    def note(self, generation: int, source: str, position: int | None, moment: datetime) -> None:
        marks = self._pending.setdefault(generation, {})
        marks.setdefault(source_name(source), _Mark()).note(position, moment)

    async def flush_if_due(self) -> None:
        if self._pending and self._clock() - self._flushed_at >= self._flush_seconds:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        self._flushed_at = self._clock()
        for generation, marks in pending.items():
            highest: dict[str, Any] = {}
            for source, mark in marks.items():
                if mark.position is not None:
                    highest[f"sources.{source}.position"] = mark.position
                if mark.time is not None:
                    highest[f"sources.{source}.time"] = mark.time
            await self._positions.update_one(
                {"_id": positions_id(self._name, generation)},
                {"$max": highest, "$set": {"name": self._name, "generation": generation}},
                upsert=True,
            )

    async def read(self, generation: int) -> dict[str, SourcePosition]:
        """The flushed positions of one generation, per source."""
        found = await self._positions.find_one({"_id": positions_id(self._name, generation)})
        sources = (found or {}).get("sources") or {}
        return {
            source: SourcePosition(
                int(value["position"]) if value.get("position") is not None else None,
                value.get("time"),
            )
            for source, value in sources.items()
        }

    async def drop(self, generation: int) -> None:
        self._pending.pop(generation, None)
        await self._positions.delete_one({"_id": positions_id(self._name, generation)})
