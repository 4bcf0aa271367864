"""Commit documents with exactly the shape ``EventStore.append`` writes, for bulk seeding.

Appending one commit at a time is the path under test, not the way to seed a
large history quickly, so seeds are written with ``insert_many``. Before each
seed, ``verify_shape`` appends one commit through the real ``EventStore`` and
compares the documents field by field, so the seed cannot drift from the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument

from crm_contracts.contacts import SOURCE
from crm_runtime.eventstore import CommandContext, EventStore, NewEvent

from bench.histories import PlannedEvent, customer_histories

ACTOR = "anonymous"
VIEW_FIELDS = ("kind", "name", "email", "phone")


def commit_document(
    planned: PlannedEvent, position: int, now: datetime, view: dict[str, Any]
) -> dict[str, Any]:
    """The document ``EventStore.append`` writes for a one-event commit without idempotency.

    ``view`` is the customer as the command answered it, stored as the commit's result.
    """
    number = f"{position:012d}{planned.sequence:04d}"
    command_id = f"cmd_bench{number}"
    return {
        "_id": f"{planned.stream_id}@{planned.sequence}",
        "stream_id": planned.stream_id,
        "first": planned.sequence,
        "last": planned.sequence,
        "position": position,
        "published": False,
        "recorded_at": now,
        "correlation_id": command_id,
        "traceparent": None,
        "idempotency_key": f"auto:{command_id}",
        "request_fingerprint": None,
        "result": {"customer": view},
        "events": [
            {
                "id": f"evt_bench{number}",
                "type": planned.event.event_type,
                "schema_version": planned.event.schema_version,
                "sequence": planned.sequence,
                "time": now,
                "data": planned.event.model_dump(mode="json"),
                "source": SOURCE,
                "correlation_id": command_id,
                "causation_id": command_id,
                "actor": ACTOR,
            }
        ],
    }


async def reserve_positions(database: Any, count: int) -> int:
    """Take ``count`` global positions from the event store's counter; returns the first."""
    counter = await database["counters"].find_one_and_update(
        {"_id": "position"},
        {"$inc": {"value": count}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return int(counter["value"]) - count + 1


async def seed_commits(database: Any, history: Sequence[PlannedEvent], batch: int = 500) -> int:
    """Insert one commit per planned event, reserving positions from the store's counter."""
    if not history:
        return 0
    first = await reserve_positions(database, len(history))
    now = datetime.now(UTC)
    views = customer_views(history)
    documents = [commit_document(p, first + i, now, v) for i, (p, v) in enumerate(views)]
    for start in range(0, len(documents), batch):
        await database["commits"].insert_many(documents[start : start + batch])
    return len(documents)


def customer_views(history: Sequence[PlannedEvent]) -> list[tuple[PlannedEvent, dict[str, Any]]]:
    """Each planned event with the customer view after it (what the API answers)."""
    current: dict[str, dict[str, Any]] = {}
    views = []
    for planned in history:
        data = planned.event.model_dump(mode="json")
        view = dict(current.get(planned.stream_id, {"id": planned.stream_id}))
        view.update({k: v for k, v in data.items() if k in VIEW_FIELDS and v is not None})
        view.update(dict.fromkeys(data.get("cleared", ())))
        view["version"] = planned.sequence
        current[planned.stream_id] = view
        views.append((planned, view))
    return views


async def verify_shape() -> None:
    """Raise if a seeded commit differs in shape from one the real event store writes."""
    import tinymongo

    client = tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)
    try:
        database = client["shape_check"]
        store = EventStore(database, source=SOURCE)
        planned, view = customer_views(customer_histories(1, 1, tag="shape"))[0]
        now = datetime.now(UTC)
        await store.append(
            planned.stream_id,
            0,
            [NewEvent(planned.event.event_type, 1, planned.event.model_dump(mode="json"))],
            CommandContext("cmd_x", "cmd_x", "cmd_x", ACTOR),
            now=now,
            event_ids=["evt_x"],
            result={"customer": view},
        )
        written = await database["commits"].find_one({})
        _compare(written, commit_document(planned, 1, now, view), "commit")
    finally:
        await client.close()


def _compare(real: Any, seeded: Any, path: str) -> None:
    if isinstance(real, dict) and isinstance(seeded, dict):
        if set(real) != set(seeded):
            raise AssertionError(f"{path}: store writes {sorted(real)}, seed {sorted(seeded)}")
        for key in real:
            _compare(real[key], seeded[key], f"{path}.{key}")
    elif isinstance(real, list) and isinstance(seeded, list):
        if len(real) != len(seeded):
            raise AssertionError(f"{path}: {len(real)} items in the store, {len(seeded)} seeded")
        for index, (a, b) in enumerate(zip(real, seeded, strict=True)):
            _compare(a, b, f"{path}[{index}]")
    elif type(real) is not type(seeded):
        raise AssertionError(f"{path}: store writes {type(real)}, seed {type(seeded)}")
