"""The projector on an in-memory document store: exactly once per stream sequence, rebuildable."""

from __future__ import annotations

import asyncio
from itertools import count
from typing import Any

import pytest
from customer_events import NOW, LeadScored, changed, metadata, payload, registered
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_contracts import DomainEvent, cloudevents
from crm_contracts.contacts import SOURCE
from crm_projections.application.projector import Applied, Customer360Projector, OutOfOrder
from crm_projections.application.rebuild import rebuild_customer360
from crm_runtime.eventstore import CommandContext, EventStore, NewEvent


async def stored(projector: Customer360Projector, customer_id: str) -> dict[str, Any] | None:
    document: dict[str, Any] | None = await projector.documents.find_one({"_id": customer_id})
    return document


async def all_documents(projector: Customer360Projector) -> list[dict[str, Any]]:
    documents = [doc async for doc in projector.documents.find({})]
    return sorted(documents, key=lambda doc: str(doc["_id"]))


async def test_a_registration_is_applied_and_readable(projector: Customer360Projector) -> None:
    event = registered("cus_1", "Ada Lovelace", phone=None)
    envelope = metadata(event, "cus_1", 1)
    assert await projector.apply(envelope, event) is Applied.APPLIED
    view = await projector.get("cus_1")
    assert view is not None
    assert view["profile"] == {
        "name": "Ada Lovelace",
        "kind": "person",
        "email": "ada@example.com",
        "phone": None,
    }
    assert (view["owner"], view["erased"], view["lifecycle_stage"]) == (None, False, "prospect")
    assert view["registered_at"] == view["updated_at"] == envelope.time
    assert (view["last_event_id"], view["streams"]) == ("evt-cus_1-1", {"contacts:cus_1": 1})
    assert await projector.get("cus_unknown") is None


async def test_the_same_event_twice_is_a_duplicate_and_changes_nothing(
    projector: Customer360Projector,
) -> None:
    first, second = registered("cus_1"), changed("cus_1", name="Ada King")
    await projector.apply(metadata(first, "cus_1", 1), first)
    assert await projector.apply(metadata(second, "cus_1", 2), second) is Applied.APPLIED
    before = await stored(projector, "cus_1")

    again = changed("cus_1", name="Someone Else")  # a redelivery is recognised by its position
    assert await projector.apply(metadata(again, "cus_1", 2), again) is Applied.DUPLICATE
    assert await projector.apply(metadata(first, "cus_1", 1), first) is Applied.DUPLICATE
    after = await stored(projector, "cus_1")
    assert after == before
    assert after is not None
    assert (after["revision"], after["profile"]["name"]) == (2, "Ada King")


async def test_an_event_ahead_of_its_predecessor_is_out_of_order(
    projector: Customer360Projector,
) -> None:
    first = registered("cus_1")
    await projector.apply(metadata(first, "cus_1", 1), first)
    before = await stored(projector, "cus_1")
    later = changed("cus_1", name="Ada King")
    with pytest.raises(OutOfOrder, match="sequence 3"):
        await projector.apply(metadata(later, "cus_1", 3), later)
    assert await stored(projector, "cus_1") == before


async def test_a_change_before_any_registration_is_out_of_order(
    projector: Customer360Projector,
) -> None:
    event = changed("cus_1", name="Ada King")
    with pytest.raises(OutOfOrder):
        await projector.apply(metadata(event, "cus_1", 2), event)
    assert await projector.documents.count_documents({}) == 0


async def test_events_of_other_models_are_ignored(projector: Customer360Projector) -> None:
    event = LeadScored(lead_id="lead_1", score=7)
    assert await projector.apply(metadata(event, "lead_1", 1), event) is Applied.IGNORED
    assert await projector.documents.count_documents({}) == 0


async def test_racing_deliveries_apply_each_event_once(projector: Customer360Projector) -> None:
    first = registered("cus_1")
    outcomes = await asyncio.gather(
        *(projector.apply(metadata(first, "cus_1", 1), first) for _ in range(3))
    )
    assert sorted(o.value for o in outcomes) == ["applied", "duplicate", "duplicate"]

    # Two streams moving the same document at once: both land, none overwrites the other.
    from_contacts = changed("cus_1", name="Ada King")
    from_support = changed("cus_1", phone="+4930901820")
    await asyncio.gather(
        projector.apply(metadata(from_contacts, "cus_1", 2), from_contacts),
        projector.apply(metadata(from_support, "cus_1", 1, source="/crm/support"), from_support),
    )
    document = await stored(projector, "cus_1")
    assert document is not None
    assert document["revision"] == 3
    assert document["streams"] == {"contacts:cus_1": 2, "support:cus_1": 1}
    assert (document["profile"]["name"], document["profile"]["phone"]) == (
        "Ada King",
        "+4930901820",
    )


async def test_each_write_is_traced_with_the_customer_and_event(
    projector: Customer360Projector, span_exporter: InMemorySpanExporter
) -> None:
    event = registered("cus_1")
    await projector.apply(metadata(event, "cus_1", 1, event_id="evt-42"), event)
    (span,) = [s for s in span_exporter.get_finished_spans() if s.name == "customer360.upsert"]
    assert span.attributes is not None
    assert dict(span.attributes) == {"crm.customer_id": "cus_1", "crm.event_id": "evt-42"}


# Rebuild: the history in the event stores folds to what the live consumer built.

_ids = count(1)


async def append(store: EventStore, stream_id: str, expected: int, *events: DomainEvent) -> None:
    command = f"cmd-{next(_ids)}"
    await store.append(
        stream_id,
        expected,
        [NewEvent(e.event_type, e.schema_version, payload(e)) for e in events],
        CommandContext(command, command, command, "user:u1"),
        now=NOW,
        event_ids=[f"evt-{next(_ids)}" for _ in events],
    )


async def live(projector: Customer360Projector, stores: list[EventStore]) -> None:
    """What the consumer does: every event through its Kafka encoding, then apply."""
    for store in stores:
        async for commit in store.read_all():
            for event in commit.events:
                _, headers, body = cloudevents.encode(event.metadata, event.data)
                assert await projector.apply(*cloudevents.decode(headers, body)) is Applied.APPLIED


@pytest.fixture
async def contacts(memory_client: Any) -> EventStore:
    store = EventStore(memory_client["crm_contacts"], source=SOURCE)
    await store.create_indexes()
    await append(store, "cus_a", 0, registered("cus_a", "Ada Lovelace"))
    await append(
        store,
        "cus_b",
        0,
        registered("cus_b", "Grace Hopper", email=None),
        changed("cus_b", email="grace@example.com"),
    )
    await append(store, "cus_a", 1, changed("cus_a", cleared=("phone",)))
    await append(store, "cus_b", 2, changed("cus_b", name="Grace Brewster Hopper"))
    return store


async def test_rebuild_reproduces_what_the_live_path_built(
    projector: Customer360Projector, contacts: EventStore
) -> None:
    await live(projector, [contacts])
    built = await all_documents(projector)
    assert [doc["revision"] for doc in built] == [2, 3]
    # The read model drifts (lost, tampered with); the rebuild restores it from the history.
    await projector.documents.delete_one({"_id": "cus_a"})
    tampered = {**built[1], "profile": {"name": "Mallory"}, "revision": 9}
    await projector.documents.replace_one({"_id": "cus_b"}, tampered)

    progress: list[tuple[int, int]] = []
    totals = await rebuild_customer360(
        projector, [contacts], on_progress=lambda done, total: progress.append((done, total))
    )

    assert await all_documents(projector) == built
    assert totals == {"events": 5, "applied": 5}
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]


async def test_rebuild_folds_every_source_and_counts_progress_over_all(
    projector: Customer360Projector, contacts: EventStore, memory_client: Any
) -> None:
    support = EventStore(memory_client["crm_support"], source="/crm/support")
    await support.create_indexes()
    await append(support, "cus_a", 0, changed("cus_a", phone="+15550100"))
    await live(projector, [contacts, support])
    built = await all_documents(projector)

    progress: list[tuple[int, int]] = []
    totals = await rebuild_customer360(
        projector, [contacts, support], on_progress=lambda d, t: progress.append((d, t))
    )

    assert await all_documents(projector) == built
    assert built[0]["streams"] == {"contacts:cus_a": 2, "support:cus_a": 1}
    assert built[0]["profile"]["phone"] == "+15550100"
    assert totals == {"events": 6, "applied": 6}
    assert [done for done, _ in progress] == [1, 2, 3, 4, 5]
    assert {total for _, total in progress} == {5}


async def test_rebuild_of_an_empty_history_empties_the_read_model(
    projector: Customer360Projector, memory_client: Any
) -> None:
    event = registered("cus_1")
    await projector.apply(metadata(event, "cus_1", 1), event)
    empty = EventStore(memory_client["crm_empty"], source=SOURCE)
    totals = await rebuild_customer360(projector, [empty])
    assert totals == {"events": 0, "applied": 0}
    assert await projector.documents.count_documents({}) == 0


async def test_the_360_indexes_of_an_earlier_version_are_made_sparse(
    projector: Customer360Projector, memory_client: Any
) -> None:
    # given a 360 collection with the indexes an earlier version made, none sparse
    documents = memory_client["crm_projections"]["customer360"]
    await documents.create_index([("churn_signals.signal", 1)])
    await documents.create_index([("loyalty.home_store_id", 1), ("loyalty.purchases", 1)])
    await documents.insert_one({"_id": "cus_1", "lifecycle_stage": "customer"})

    # when the projector declares its indexes, twice (every start does)
    await projector.create_indexes()
    await projector.create_indexes()

    # then each is on the same keys, sparse where its clause asks for a value
    indexes = {
        tuple(field for field, _ in index["key"]): bool(index.get("sparse"))
        for index in (await documents.index_information()).values()
    }
    assert indexes == {
        ("_id",): False,
        ("lifecycle_stage", "last_interaction_at"): False,
        ("churn_signals.signal",): True,
        ("service_signals.signal",): True,
        ("last_csat.csat",): True,
        ("previous_csat.csat", "last_csat.csat"): True,
        ("loyalty.home_store_id", "loyalty.enrolled_at"): True,
        ("loyalty.home_store_id", "loyalty.purchases"): True,
    }


async def test_two_processes_making_the_360_indexes_sparse_at_once_both_start(
    memory_client: Any, tracer_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_runtime.embedded_store import EmbeddedCollection

    # given the non-sparse index of an earlier version
    documents = memory_client["crm_projections"]["customer360"]
    await documents.create_index([("churn_signals.signal", 1)])
    projector = Customer360Projector(
        memory_client["crm_projections"], tracer_provider.get_tracer("t")
    )
    # when a process read the indexes, and another dropped the old one before this one could
    existing = await documents.index_information()
    await documents.drop_index("churn_signals.signal_1")

    async def as_read_before(self: EmbeddedCollection) -> dict[str, Any]:
        return existing

    with monkeypatch.context() as patched:
        patched.setattr(EmbeddedCollection, "index_information", as_read_before)
        await projector.create_indexes()

    # then it starts, and the sparse index is there
    found = await documents.index_information()
    assert found["churn_signals.signal_1"].get("sparse") is True
