"""Seed a mixed history into the four contexts' event stores, in bulk.

Each commit is written in the document shape ``EventStore.append`` writes
(``bench.commits.commit_document`` for contacts, checked against the real
service by ``verify_shape``), with ``insert_many`` in batches, positions taken
from each store's own counter, personal fields sealed through ``SealedEvents``
as the services seal them: with the key of the stream's subject (one per
customer), except tickets, sealed with their customer's key (the contract's
``PERSONAL_KEY_FIELD``), which ``crm projections rebuild`` opens them with.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from bench.commits import ACTOR, TRACEPARENT, reserve_positions
from bench.mix import CONTEXTS, DATABASES, MixCommit
from bench.sealing import KEYS_COLLECTION, KEYS_DATABASE, Sealer
from crm_contracts import REGISTRY
from crm_contracts.registry import personal_fields
from crm_contracts.tickets import PERSONAL_KEY_FIELD as TICKETS_KEY_FIELD
from crm_runtime.eventstore import EventStore, NewEvent
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher

BATCH = 500


def stores(client: Any) -> dict[str, EventStore]:
    return {
        context: EventStore(client[DATABASES[context]], source=source)
        for context, source in CONTEXTS.items()
    }


def key_field(context: str) -> str | None:
    """Whose key seals a context's personal fields: the stream's subject, except where the
    contract says the events name it (tickets: the customer's)."""
    return TICKETS_KEY_FIELD if context == "tickets" else None


def opener(client: Any, context: str) -> SealedEvents:
    """What ``crm projections rebuild`` opens a context's sealed fields with."""
    vault = MongoKeyVault(client[KEYS_DATABASE][KEYS_COLLECTION])
    return SealedEvents(PersonalDataCipher(vault), key_field=key_field(context))


async def seed_mix(client: Any, history: Sequence[MixCommit]) -> int:
    """Write ``history`` into the four event stores of ``client``; answers events written."""
    for store in stores(client).values():
        await store.create_indexes()
    personal = {
        commit.stream_id
        for commit in history
        if any(personal_fields(REGISTRY.model_for(e.event_type)) for e in commit.events)
    }
    sealer = Sealer(client)
    keys = {commit.stream_id for commit in history if commit.context == "contacts"}
    await sealer.create_keys(sorted(keys | {s for s in personal if not s.startswith("tkt_")}))
    sealers = {
        context: sealer.keyed_by(field) if (field := key_field(context)) else sealer.events
        for context in CONTEXTS
    }
    counts = {context: 0 for context in CONTEXTS}
    for commit in history:
        counts[commit.context] += 1
    next_position = {
        context: await reserve_positions(client[DATABASES[context]], count)
        for context, count in counts.items()
        if count
    }
    written = 0
    pending: dict[str, list[dict[str, Any]]] = {context: [] for context in CONTEXTS}
    for commit in history:
        position = next_position[commit.context]
        next_position[commit.context] += 1
        sealed = sealers[commit.context] if commit.stream_id in personal else None
        document = await _document(commit, position, sealed)
        batch = pending[commit.context]
        batch.append(document)
        written += len(commit.events)
        if len(batch) >= BATCH:
            await client[DATABASES[commit.context]]["commits"].insert_many(batch)
            batch.clear()
    for context, batch in pending.items():
        if batch:
            await client[DATABASES[context]]["commits"].insert_many(batch)
    return written


async def _document(
    commit: MixCommit, position: int, sealed: SealedEvents | None
) -> dict[str, Any]:
    command_id = f"cmd_mix{position:012d}{commit.context[:2]}"
    data = []
    for event in commit.events:
        new = NewEvent(event.event_type, event.schema_version, event.model_dump(mode="json"))
        if sealed is not None:
            new = await sealed.seal(commit.stream_id, new)
        data.append(dict(new.data))
    return {
        "_id": f"{commit.stream_id}@{commit.first}",
        "stream_id": commit.stream_id,
        "first": commit.first,
        "last": commit.first + len(commit.events) - 1,
        "position": position,
        "published": True,
        "recorded_at": commit.time,
        "correlation_id": command_id,
        "traceparent": TRACEPARENT,
        "idempotency_key": f"auto:{command_id}",
        "request_fingerprint": None,
        "result": {},
        "events": [
            {
                "id": f"evt_{command_id}{offset:02d}",
                "type": event.event_type,
                "schema_version": event.schema_version,
                "sequence": commit.first + offset,
                "time": commit.time,
                "data": payload,
                "source": CONTEXTS[commit.context],
                "correlation_id": command_id,
                "causation_id": command_id,
                "actor": ACTOR,
            }
            for offset, (event, payload) in enumerate(zip(commit.events, data, strict=True))
        ],
    }


def in_source_order(history: Sequence[MixCommit]) -> Iterator[MixCommit]:
    """The commits in the order a rebuild folds them: store by store, each by position."""
    for context in CONTEXTS:
        yield from (commit for commit in history if commit.context == context)
