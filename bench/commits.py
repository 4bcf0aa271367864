"""Commit documents with exactly the shape the contacts service appends, for bulk seeding.

Appending one commit at a time is the path under test, not a way to seed a
large history quickly, so seeds are written with ``insert_many``. Before each
seed, ``verify_shape`` runs one real registration through the contacts
handlers and compares that commit with the harness's, field by field (names,
types, which fields are sealed), so the seed cannot drift from the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument

from bench.histories import PlannedCommit, customer_histories
from bench.sealing import Sealer
from crm_contacts.config import ContactsSettings
from crm_contracts.contacts import SOURCE
from crm_runtime.shredding import PersonalDataCipher

ACTOR = "user:bench-writer"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CONTACTS_DATABASE: str = ContactsSettings.model_fields["database"].default


def commit_document(
    planned: PlannedCommit,
    sealed: tuple[list[dict[str, Any]], dict[str, Any]],
    position: int,
    now: datetime,
) -> dict[str, Any]:
    """What ``EventStore.append`` writes for ``planned`` (no Idempotency-Key)."""
    data, view = sealed
    command_id = f"cmd_bench{position:012d}"
    return {
        "_id": f"{planned.stream_id}@{planned.first}",
        "stream_id": planned.stream_id,
        "first": planned.first,
        "last": planned.first + len(planned.events) - 1,
        "position": position,
        "published": False,
        "recorded_at": now,
        "correlation_id": command_id,
        "traceparent": TRACEPARENT,
        "idempotency_key": f"auto:{command_id}",
        "request_fingerprint": None,
        "result": {"customer": view},
        "events": [
            {
                "id": f"evt_bench{position:012d}{offset:02d}",
                "type": event.event_type,
                "schema_version": event.schema_version,
                "sequence": planned.first + offset,
                "time": now,
                "data": payload,
                "source": SOURCE,
                "correlation_id": command_id,
                "causation_id": command_id,
                "actor": ACTOR,
            }
            for offset, (event, payload) in enumerate(zip(planned.events, data, strict=True))
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


async def commit_documents(
    store: Any, history: Sequence[PlannedCommit], database: str = CONTACTS_DATABASE
) -> list[dict[str, Any]]:
    """The commits of ``history``, sealed, with positions reserved in ``store[database]``."""
    sealer = Sealer(store)
    await sealer.create_keys(c.stream_id for c in history)
    first = await reserve_positions(store[database], len(history))
    now = datetime.now(UTC)
    return [
        commit_document(planned, await sealer.seal(planned), first + index, now)
        for index, planned in enumerate(history)
    ]


async def seed_commits(store: Any, history: Sequence[PlannedCommit], batch: int = 500) -> int:
    """Append ``history`` to the contacts event store in ``store``; returns events written."""
    if not history:
        return 0
    documents = await commit_documents(store, history)
    for start in range(0, len(documents), batch):
        await store[CONTACTS_DATABASE]["commits"].insert_many(documents[start : start + batch])
    return sum(len(c.events) for c in history)


async def verify_shape(scratch: Any) -> None:
    """Raise if a seeded commit differs in shape from one the contacts service appends.

    ``scratch``: an empty document client (memory backend) for one real registration.
    """
    from crm_contacts.application import handlers
    from crm_contacts.bootstrap import bootstrap
    from crm_contacts.domain.customer import RegisterCustomer
    from crm_runtime.eventstore import CommandContext

    planned = customer_histories(1, 1, tag="shape")[0]
    registered = planned.events[0]
    service = bootstrap(ContactsSettings(), document_client=scratch)
    command = RegisterCustomer(**{**registered.model_dump(), **_owner(planned)})
    context = CommandContext("cmd_x", "cmd_x", "cmd_x", ACTOR)
    await handlers.execute(service.deps, command, context, expected_version=0)
    real = await scratch[CONTACTS_DATABASE]["commits"].find_one({})
    seeded = commit_document(planned, await Sealer(scratch).seal(planned), 1, datetime.now(UTC))
    _compare(real, seeded, "commit")


def _owner(planned: PlannedCommit) -> dict[str, Any]:
    return {"owner_id": planned.view.get("owner_id"), "team": planned.view.get("team")}


def _compare(real: Any, seeded: Any, path: str) -> None:
    if isinstance(real, dict) and isinstance(seeded, dict):
        if set(real) != set(seeded):
            raise AssertionError(f"{path}: service writes {sorted(real)}, seed {sorted(seeded)}")
        for key in real:
            _compare(real[key], seeded[key], f"{path}.{key}")
    elif isinstance(real, list) and isinstance(seeded, list):
        if len(real) != len(seeded):
            raise AssertionError(
                f"{path}: {len(real)} items from the service, {len(seeded)} seeded"
            )
        for index, (a, b) in enumerate(zip(real, seeded, strict=True)):
            _compare(a, b, f"{path}[{index}]")
    elif type(real) is not type(seeded):
        raise AssertionError(f"{path}: service writes {type(real)}, seed {type(seeded)}")
    elif PersonalDataCipher.is_sealed(real) != PersonalDataCipher.is_sealed(seeded):
        raise AssertionError(f"{path}: sealed in one and not in the other")
