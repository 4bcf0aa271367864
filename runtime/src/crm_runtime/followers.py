"""A follower of an event store that remembers how far it has read, in a checkpoint.

A read model kept beside the write side (the pipeline's receivable deadlines, the
tickets' rows, the loyalty roster) reads the store in position order, folds each
batch of commits into its rows, and then records the position it reached in the
``checkpoints`` collection. The checkpoint is written after the rows, so a crash in
between re-applies a few commits: what a follower writes must be idempotent (absolute
values guarded by the stream's sequence). The checkpoint never moves backwards, so two
followers racing on one checkpoint leave it at the furthest of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_runtime.documents import is_duplicate_key
from crm_runtime.eventstore import Commit, EventStore

CHECKPOINTS = "checkpoints"


class CheckpointedFollower:
    """Subclasses fold commits one at a time (``apply``) or a batch at a time (``apply_batch``)."""

    def __init__(self, database: Any, store: EventStore, *, checkpoint: str) -> None:
        self._checkpoints = database[CHECKPOINTS]
        self._checkpoint = checkpoint
        self._store = store

    async def position(self) -> int:
        doc = await self._checkpoints.find_one({"_id": self._checkpoint})
        return int(doc["position"]) if doc else 0

    async def lag(self) -> int:
        """Commits appended to the store that the follower has not read yet (gaps included)."""
        return max(await self._store.head_position() - await self.position(), 0)

    async def catch_up(self, batch: int = 500) -> int:
        """Apply every commit after the checkpoint; returns how many were read."""
        read = 0
        pending: list[Commit] = []
        async for commit in self._store.read_all(await self.position(), batch=batch):
            pending.append(commit)
            read += 1
            if len(pending) == batch:
                await self._advance(pending)
                pending = []
        if pending:
            await self._advance(pending)
        return read

    async def apply_batch(self, commits: Sequence[Commit]) -> None:
        """Fold commits read together, in position order; by default one at a time."""
        for commit in commits:
            await self.apply(commit)

    async def apply(self, commit: Commit) -> None:
        raise NotImplementedError(f"{type(self).__name__} folds neither commits nor batches")

    async def _advance(self, commits: Sequence[Commit]) -> None:
        await self.apply_batch(commits)
        await self._save(commits[-1].position)

    async def _save(self, position: int) -> None:
        try:
            await self._checkpoints.insert_one({"_id": self._checkpoint, "position": position})
        except Exception as error:
            if not is_duplicate_key(error):
                raise
            await self._checkpoints.update_one(
                {"_id": self._checkpoint, "position": {"$lt": position}},
                {"$set": {"position": position}},
            )
