"""The event store's promises, on every document store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest

from crm_runtime.eventstore import (
    CommandContext,
    EventStore,
    Idempotency,
    IdempotencyKeyReused,
    NewEvent,
    WrongExpectedVersion,
)

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
_ids = count(1)


def ctx(command_id: str | None = None, correlation: str = "corr-1") -> CommandContext:
    command_id = command_id or f"cmd-{next(_ids)}"
    return CommandContext(command_id, correlation, command_id, "user:u1", None)


def events(*names: str) -> list[NewEvent]:
    return [NewEvent("crm.test.Happened", 1, {"name": name}) for name in names]


async def append(store: EventStore, stream: str, expected: int, *names: str, **kw: Any) -> Any:
    return await store.append(
        stream,
        expected,
        events(*names),
        kw.pop("context", ctx()),
        now=NOW,
        event_ids=[f"evt-{next(_ids)}" for _ in names],
        **kw,
    )


@pytest.fixture
async def store(database: Any) -> EventStore:
    store = EventStore(database, source="/crm/test")
    await store.create_indexes()
    return store


async def test_appended_events_load_in_sequence_with_their_metadata(store: EventStore) -> None:
    await append(store, "s1", 0, "a", "b")
    await append(store, "s1", 2, "c")
    loaded = await store.load("s1")
    assert [e.data["name"] for e in loaded] == ["a", "b", "c"]
    assert [e.metadata.sequence for e in loaded] == [1, 2, 3]
    first = loaded[0].metadata
    assert (first.subject, first.source, first.actor, first.correlation_id) == (
        "s1",
        "/crm/test",
        "user:u1",
        "corr-1",
    )
    assert first.time == NOW
    assert await store.version_of("s1") == 3
    assert await store.version_of("other") == 0


@pytest.mark.parametrize("expected", [0, 1, 3])
async def test_a_stale_expected_version_is_refused(store: EventStore, expected: int) -> None:
    await append(store, "s1", 0, "a", "b")
    with pytest.raises(WrongExpectedVersion) as refused:
        await append(store, "s1", expected, "c")
    assert refused.value.actual == 2
    assert len(await store.load("s1")) == 2


async def test_racing_writers_from_the_same_version_one_wins(store: EventStore) -> None:
    await append(store, "s1", 0, "a")
    results = await asyncio.gather(
        *(append(store, "s1", 1, f"w{i}") for i in range(5)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, WrongExpectedVersion)]
    assert len(winners) == 1
    assert len(losers) == 4
    assert [e.metadata.sequence for e in await store.load("s1")] == [1, 2]


async def test_idempotency_key_finds_the_first_commit_and_refuses_other_requests(
    store: EventStore,
) -> None:
    key = Idempotency("u1:k1", "fingerprint-1")
    first = await append(store, "s1", 0, "a", idempotency=key, result={"answer": 42})
    found = await store.find_by_idempotency_key(key)
    assert found is not None
    assert (found.id, found.result) == (first.id, {"answer": 42})
    with pytest.raises(IdempotencyKeyReused):
        await store.find_by_idempotency_key(Idempotency("u1:k1", "fingerprint-2"))
    assert await store.find_by_idempotency_key(Idempotency("u1:other", "f")) is None


async def test_racing_retries_with_one_idempotency_key_append_once(store: EventStore) -> None:
    key = Idempotency("u1:k2", "same")
    results = await asyncio.gather(
        *(append(store, f"new-{i}", 0, "a", idempotency=key, result={"i": i}) for i in range(3)),
        return_exceptions=True,
    )
    commits = [r for r in results if not isinstance(r, BaseException)]
    assert commits, results
    assert len({c.id for c in commits}) == 1
    assert await store.head_position() >= 1
    assert len([c async for c in store.read_all()]) == 1


async def test_outbox_lists_unpublished_commits_in_position_order(store: EventStore) -> None:
    await append(store, "a", 0, "a1")
    await append(store, "b", 0, "b1")
    await append(store, "a", 1, "a2")
    pending = await store.unpublished(limit=10)
    assert [c.stream_id for c in pending] == ["a", "b", "a"]
    assert [c.position for c in pending] == sorted(c.position for c in pending)
    await store.mark_published([pending[0].id, pending[1].id])
    assert [c.id for c in await store.unpublished(limit=10)] == [pending[2].id]
    assert await store.count_unpublished() == 1


async def test_read_all_pages_through_every_commit_once(store: EventStore) -> None:
    for i in range(7):
        await append(store, f"s{i % 3}", i // 3, f"e{i}")
    seen = [c.position async for c in store.read_all(batch=2)]
    assert seen == sorted(seen)
    assert len(seen) == 7 == len(set(seen))
    assert await store.head_position() == seen[-1]


async def test_events_of_one_request_are_found_by_correlation(store: EventStore) -> None:
    await append(store, "a", 0, "x", context=ctx(correlation="incident-7"))
    await append(store, "b", 0, "y", context=ctx(correlation="other"))
    await append(store, "c", 0, "z", context=ctx(correlation="incident-7"))
    chain = await store.by_correlation("incident-7")
    assert [e.metadata.subject for e in chain] == ["a", "c"]
