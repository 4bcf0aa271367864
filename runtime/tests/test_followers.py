"""The checkpointed follower: every commit once per catch-up, a checkpoint that only moves on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_runtime.eventstore import CommandContext, Commit, EventStore, NewEvent
from crm_runtime.followers import CheckpointedFollower


class Tally(CheckpointedFollower):
    """Counts the commits of each stream; records where its checkpoint stood at each one."""

    def __init__(self, database: Any, store: EventStore, *, fail_at: int | None = None) -> None:
        super().__init__(database, store, checkpoint="tally")
        self.applied: list[int] = []
        self.checkpoint_seen: list[int] = []
        self.fail_at = fail_at
        self.gate: asyncio.Event | None = None

    async def apply(self, commit: Commit) -> None:
        if commit.position == self.fail_at:
            raise ConnectionError("rows went away")
        if self.gate is not None:
            await self.gate.wait()
        self.checkpoint_seen.append(await self.position())
        self.applied.append(commit.position)


class Batches(CheckpointedFollower):
    def __init__(self, database: Any, store: EventStore) -> None:
        super().__init__(database, store, checkpoint="batches")
        self.batches: list[tuple[list[int], int]] = []

    async def apply_batch(self, commits: Sequence[Commit]) -> None:
        self.batches.append(([c.position for c in commits], await self.position()))


@pytest.fixture
async def store(database: Any) -> EventStore:
    store = EventStore(database, source="/crm/test")
    await store.create_indexes()
    return store


async def seed(store: EventStore, commits: int, first: int = 0) -> None:
    for n in range(first, first + commits):
        await store.append(
            f"s{n}",
            0,
            [NewEvent("crm.test.Happened", 1, {"n": n})],
            CommandContext(f"c{n}", "corr", f"c{n}", "test"),
            now=datetime.now(UTC),
            event_ids=[f"e{n}"],
        )


async def test_a_catch_up_applies_every_new_commit_in_order(
    database: Any, store: EventStore
) -> None:
    await seed(store, 5)
    tally = Tally(database, store)
    assert (await tally.position(), await tally.lag()) == (0, 5)

    assert await tally.catch_up(batch=2) == 5
    assert tally.applied == [1, 2, 3, 4, 5]
    assert tally.checkpoint_seen == [0, 0, 2, 2, 4]  # saved after each full batch
    assert (await tally.position(), await tally.lag()) == (5, 0)

    assert await tally.catch_up(batch=2) == 0
    await seed(store, 2, first=5)
    assert await tally.lag() == 2
    assert await tally.catch_up(batch=2) == 2
    assert tally.applied == [1, 2, 3, 4, 5, 6, 7]


async def test_a_failure_resumes_from_the_last_saved_batch(
    database: Any, store: EventStore
) -> None:
    await seed(store, 5)
    failing = Tally(database, store, fail_at=4)
    with pytest.raises(ConnectionError):
        await failing.catch_up(batch=2)
    assert await failing.position() == 2  # commit 3 was applied, but not checkpointed

    recovered = Tally(database, store)
    assert await recovered.catch_up(batch=2) == 3
    assert recovered.applied == [3, 4, 5]  # commit 3 again: a follower's writes are idempotent


async def test_the_checkpoint_never_moves_back(database: Any, store: EventStore) -> None:
    await seed(store, 4)
    slow, fast = Tally(database, store), Tally(database, store)
    slow.gate = asyncio.Event()
    behind = asyncio.create_task(slow.catch_up(batch=2))
    await asyncio.sleep(0.05)  # the slow one has read from position 0 and waits on commit 1

    assert await fast.catch_up(batch=2) == 4
    slow.gate.set()
    assert await behind == 4
    assert slow.checkpoint_seen[2:] == [4, 4]  # its save at 2 left the checkpoint at 4
    assert await slow.position() == 4


async def test_a_batch_follower_sees_each_batch_once_before_its_checkpoint(
    database: Any, store: EventStore
) -> None:
    await seed(store, 5)
    batches = Batches(database, store)
    assert await batches.catch_up(batch=2) == 5
    assert batches.batches == [([1, 2], 0), ([3, 4], 2), ([5], 4)]
    assert await batches.position() == 5


async def test_followers_keep_their_own_checkpoints(database: Any, store: EventStore) -> None:
    await seed(store, 3)
    await Tally(database, store).catch_up()
    assert await Batches(database, store).position() == 0


async def test_a_follower_that_folds_nothing_says_so(database: Any, store: EventStore) -> None:
    await seed(store, 1)
    with pytest.raises(NotImplementedError, match="CheckpointedFollower"):
        await CheckpointedFollower(database, store, checkpoint="none").catch_up()
