"""The event store: append-only streams in a MongoDB collection, one document per commit.

A commit holds the events one command produced for one stream. Its ``_id`` is
``<stream>@<first sequence>``, so two writers racing from the same version
collide on the primary key and one gets ``WrongExpectedVersion``; a commit is
one document, so it is atomic on any MongoDB deployment without transactions.
Each commit takes a global ``position`` from a counter, which orders the relay
and rebuilds. See docs/adr/0001-event-store.md.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from crm_contracts import EventMetadata
from crm_runtime.documents import is_duplicate_key


class WrongExpectedVersion(Exception):
    """The stream moved on since the caller read it (optimistic concurrency)."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual}, the command expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key came with a different request."""


@dataclass(frozen=True)
class NewEvent:
    """An event decided by an aggregate, not yet stored."""

    type: str
    schema_version: int
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CommandContext:
    """Why and by whom a command runs: copied onto every event it appends."""

    command_id: str
    correlation_id: str
    causation_id: str
    actor: str
    traceparent: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    metadata: EventMetadata
    data: Mapping[str, Any]
    position: int
    traceparent: str | None = None


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key with a fingerprint of the request it came with."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class Commit:
    id: str
    stream_id: str
    position: int
    events: tuple[StoredEvent, ...]
    result: Mapping[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.events[-1].metadata.sequence if self.events else 0


class EventStore:
    """Streams of one bounded context, kept in ``<database>.commits``."""

    def __init__(self, database: Any, *, source: str) -> None:
        self._commits = database["commits"]
        self._counters = database["counters"]
        self._source = source

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of this context's events (``/crm/contacts``...)."""
        return self._source

    async def create_indexes(self) -> None:
        await self._commits.create_index([("stream_id", ASCENDING), ("first", ASCENDING)])
        await self._commits.create_index([("position", ASCENDING)], unique=True)
        await self._commits.create_index([("published", ASCENDING), ("position", ASCENDING)])
        await self._commits.create_index([("idempotency_key", ASCENDING)], unique=True)
        await self._commits.create_index([("correlation_id", ASCENDING)])
        await self._commits.create_index([("traceparent", ASCENDING)])

    async def version_of(self, stream_id: str) -> int:
        head = await self._commits.find_one(
            {"stream_id": stream_id}, sort=[("first", DESCENDING)], projection={"last": 1}
        )
        return int(head["last"]) if head else 0

    async def load(self, stream_id: str) -> list[StoredEvent]:
        cursor = self._commits.find({"stream_id": stream_id}).sort("first", ASCENDING)
        return [event async for doc in cursor for event in _events_of(doc)]

    async def find_by_idempotency_key(self, idempotency: Idempotency) -> Commit | None:
        doc = await self._commits.find_one({"idempotency_key": idempotency.key})
        if doc is None:
            return None
        if doc.get("request_fingerprint") != idempotency.fingerprint:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {idempotency.key!r} was already used for a different request"
            )
        return _commit_of(doc)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        context: CommandContext,
        *,
        now: datetime,
        event_ids: Sequence[str],
        idempotency: Idempotency | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> Commit:
        """Append events after ``expected_version``, or raise WrongExpectedVersion."""
        if not events:
            raise ValueError("a commit needs at least one event")
        actual = await self.version_of(stream_id)
        if actual != expected_version:
            raise WrongExpectedVersion(stream_id, expected_version, actual)
        position = await self._next_position()
        first = expected_version + 1
        doc = {
            "_id": f"{stream_id}@{first}",
            "stream_id": stream_id,
            "first": first,
            "last": expected_version + len(events),
            "position": position,
            "published": False,
            "recorded_at": now,
            "correlation_id": context.correlation_id,
            "traceparent": context.traceparent,
            "idempotency_key": idempotency.key if idempotency else f"auto:{context.command_id}",
            "request_fingerprint": idempotency.fingerprint if idempotency else None,
            "result": dict(result or {}),
            "events": [
                {
                    "id": event_id,
                    "type": event.type,
                    "schema_version": event.schema_version,
                    "sequence": first + offset,
                    "time": now,
                    "data": dict(event.data),
                    "source": self._source,
                    "correlation_id": context.correlation_id,
                    "causation_id": context.causation_id,
                    "actor": context.actor,
                }
                for offset, (event, event_id) in enumerate(zip(events, event_ids, strict=True))
            ],
        }
        try:
            await self._commits.insert_one(doc)
        except Exception as error:
            if not is_duplicate_key(error):
                raise
            if idempotency is not None:
                previous = await self.find_by_idempotency_key(idempotency)
                if previous is not None:
                    return previous
            raise WrongExpectedVersion(
                stream_id, expected_version, await self.version_of(stream_id)
            ) from error
        return _commit_of(doc)

    async def unpublished(self, limit: int) -> list[Commit]:
        cursor = self._commits.find({"published": False}).sort("position", ASCENDING).limit(limit)
        return [_commit_of(doc) async for doc in cursor]

    async def mark_published(self, commit_ids: Sequence[str]) -> None:
        if commit_ids:
            await self._commits.update_many(
                {"_id": {"$in": list(commit_ids)}}, {"$set": {"published": True}}
            )

    async def count_unpublished(self) -> int:
        return int(await self._commits.count_documents({"published": False}))

    async def read_all(self, after_position: int = 0, batch: int = 1000) -> AsyncIterator[Commit]:
        """Every commit in position order, fetched in batches (for rebuilds)."""
        position = after_position
        while True:
            cursor = (
                self._commits.find({"position": {"$gt": position}})
                .sort("position", ASCENDING)
                .limit(batch)
            )
            docs = await cursor.to_list(length=batch)
            if not docs:
                return
            for doc in docs:
                yield _commit_of(doc)
            position = int(docs[-1]["position"])

    async def head_position(self) -> int:
        last = await self._commits.find_one(
            sort=[("position", DESCENDING)], projection={"position": 1}
        )
        return int(last["position"]) if last else 0

    async def by_correlation(self, correlation_id: str) -> list[StoredEvent]:
        cursor = self._commits.find({"correlation_id": correlation_id}).sort("position", ASCENDING)
        return [event async for doc in cursor for event in _events_of(doc)]

    async def correlations_of_trace(self, trace_id: str) -> list[str]:
        """Correlation ids of the commits appended under the trace ``trace_id`` (32 hex digits).

        A prefix match on the stored W3C traceparent (``00-<trace id>-...``), which
        MongoDB answers from the traceparent index.
        """
        if not re.fullmatch(r"[0-9a-f]{32}", trace_id):
            raise ValueError(f"a trace id is 32 lowercase hex digits, not {trace_id!r}")
        cursor = self._commits.find(
            {"traceparent": {"$regex": f"^00-{trace_id}-"}}, projection={"correlation_id": 1}
        ).sort("position", ASCENDING)
        found = [str(doc["correlation_id"]) async for doc in cursor]
        return list(dict.fromkeys(found))

    async def _next_position(self) -> int:
        counter = await self._counters.find_one_and_update(
            {"_id": "position"},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(counter["value"])


def _events_of(doc: Mapping[str, Any]) -> list[StoredEvent]:
    return [
        StoredEvent(
            metadata=EventMetadata(
                id=event["id"],
                type=event["type"],
                schema_version=event["schema_version"],
                source=event["source"],
                subject=doc["stream_id"],
                sequence=event["sequence"],
                time=event["time"],
                correlation_id=event["correlation_id"],
                causation_id=event["causation_id"],
                actor=event["actor"],
            ),
            data=event["data"],
            position=int(doc["position"]),
            traceparent=doc.get("traceparent"),
        )
        for event in doc["events"]
    ]


def _commit_of(doc: Mapping[str, Any]) -> Commit:
    return Commit(
        id=str(doc["_id"]),
        stream_id=doc["stream_id"],
        position=int(doc["position"]),
        events=tuple(_events_of(doc)),
        result=doc.get("result") or {},
    )
