"""Blue/green rebuilds: the active generation serves while the next one builds beside it,
events folded live meanwhile are in the new one after the switch, and a rebuild that fails
or dies leaves the active one serving (docs/adr/0016)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from customer_events import NOW, changed, registered
from opentelemetry.sdk.trace import TracerProvider
from test_projections_rebuild import append, seed

from crm_contracts import DomainEvent, cloudevents
from crm_projections.application import generations
from crm_projections.application.generations import RebuildInProgress
from crm_projections.application.projector import Projector
from crm_projections.application.rebuild import (
    AFTER_SWITCH,
    CATCH_UP,
    DROP,
    FINAL_CATCH_UP,
    GRACE,
    HISTORY,
    SWITCH,
    Source,
    rebuild,
)
from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_runtime.eventstore import Commit, EventStore

MONTH = "month:2026-11"


@pytest.fixture(autouse=True)
def processes_reread_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving process re-reads the active generation at each fold and query here (a
    second, in production), so what it serves is what the record says."""
    monkeypatch.setattr(generations, "REFRESH_SECONDS", 0.0)


def wired(client: Any, tracer_provider: TracerProvider, tmp_path: Path) -> ProjectionsService:
    settings = ProjectionsSettings(embedded_backend="memory", data_dir=tmp_path)
    return bootstrap(settings, document_client=client, tracer_provider=tracer_provider)


@pytest.fixture
def serving(
    processes_reread_at_once: None,
    memory_client: Any,
    tracer_provider: TracerProvider,
    tmp_path: Path,
) -> ProjectionsService:
    """The projections service that consumes and answers: a process of its own."""
    return wired(memory_client, tracer_provider, tmp_path)


@pytest.fixture
def rebuilding(
    processes_reread_at_once: None,
    memory_client: Any,
    tracer_provider: TracerProvider,
    tmp_path: Path,
) -> ProjectionsService:
    """What ``crm projections rebuild`` wires: another process on the same database."""
    return wired(memory_client, tracer_provider, tmp_path)


async def consume(
    projectors: Sequence[Projector], source: Source, after: int = 0
) -> AsyncIterator[int]:
    """What the consumer does with each commit after ``after``: the events through their
    Kafka encoding (with the relay's ``ce_position``) into every read model; yields the
    positions folded."""
    async for commit in source.store.read_all(after):
        for stored in commit.events:
            revealed = await source.sealed.reveal(stored) if source.sealed else stored
            _, headers, body = cloudevents.encode(
                revealed.metadata, revealed.data, position=commit.position
            )
            metadata, event = cloudevents.decode(headers, body)
            for projector in projectors:
                await projector.apply(
                    metadata, event, position=cloudevents.decode_position(headers)
                )
        yield commit.position


async def consume_all(projectors: Sequence[Projector], *sources: Source) -> None:
    for source in sources:
        async for _ in consume(projectors, source):
            pass


async def fold_last(projectors: Sequence[Projector], source: Source) -> None:
    """The consumer folds the newest commit of ``source``."""
    head = await source.store.head_position()
    async for _ in consume(projectors, source, head - 1):
        pass


async def appended(source: Source, stream: str, *events: DomainEvent) -> None:
    await append(
        source.store,
        source.sealed,  # type: ignore[arg-type]
        stream,
        await source.store.version_of(stream),
        *events,
    )


async def follow(service: ProjectionsService) -> set[int]:
    """What the serving process does every second (``ProjectionLag.run``): re-read the
    active generation of every read model; answers the generations it serves from."""
    return {await projector.refresh_generation() for projector in service.projectors}


async def collections(client: Any) -> set[str]:
    return set(await client["crm_projections"].list_collection_names())


async def test_the_old_generation_serves_until_the_switch_and_processes_follow_it(
    serving: ProjectionsService, rebuilding: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await consume_all(serving.projectors, contacts, pipeline)
    customer = await serving.customer360.get("cus_a")
    board = await serving.deals.board("sales", MONTH)
    assert customer is not None
    assert board["all"]["deals"] == 1
    looked: list[str] = []

    async def look(phase: str, _: int) -> None:
        """Queries in the serving process, as each phase starts."""
        expected = 0 if phase in (HISTORY, CATCH_UP, SWITCH) else 1
        assert await follow(serving) == {expected}, phase
        assert await serving.customer360.get("cus_a") == customer, phase
        assert await serving.deals.board("sales", MONTH) == board, phase
        if phase == HISTORY:
            assert "customer360__g1" in await collections(memory_client)
        looked.append(phase)

    async def midway(done: int, total: int) -> None:
        if done == 1:  # one commit in the new generation; nothing to see of it yet
            assert await serving.customer360.get("cus_a") == customer
            deferred = memory_client["crm_projections"]["deal_rows_boards__g1"]
            assert await deferred.count_documents({}) == 0  # board refreshes wait for the end

    await rebuild(rebuilding.projectors, [contacts, pipeline], on_phase=look, on_progress=midway)

    assert looked == [HISTORY, CATCH_UP, SWITCH, AFTER_SWITCH, GRACE, FINAL_CATCH_UP, DROP]
    # No restart: the serving process answers from the new generation, with the same views.
    assert await follow(serving) == {1}
    assert await serving.customer360.get("cus_a") == customer
    assert await serving.deals.board("sales", MONTH) == board
    names = await collections(memory_client)
    assert {"customer360__g1", "stream_customers__g1", "deal_rows__g1"} <= names
    assert "deal_rows_boards__g1" in names
    assert not {"customer360", "stream_customers", "deal_rows", "forecast"} & names
    # The shared generation-0 boards lost the deals' boards with their rows.
    assert await memory_client["crm_projections"]["boards"].count_documents({}) == 0
    record = await memory_client["crm_projections"]["read_models"].find_one({"_id": "deals"})
    assert (record["active"], record["building"], record["previous"]) == (1, None, None)


async def test_events_folded_live_during_a_rebuild_are_in_the_new_generation(
    serving: ProjectionsService, rebuilding: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await consume_all(serving.projectors, contacts, pipeline)
    late: list[str] = []

    async def meanwhile(done: int, _: int) -> None:
        if done == 1 and not late:
            # During the history: appended and folded live into the active generation.
            await appended(contacts, "cus_a", changed("cus_a", name="Ada King"))
            await fold_last(serving.projectors, contacts)
            late.append("history")

    async def around_the_switch(phase: str, _: int) -> None:
        if phase == SWITCH:
            # After the catch-up, before the switch: only the old generation has it.
            await appended(contacts, "cus_b", changed("cus_b", name="Grace B. Hopper"))
            await fold_last(serving.projectors, contacts)
        elif phase == GRACE:
            # A consumer that has not seen the switch yet folds into the old generation...
            await appended(contacts, "cus_a", changed("cus_a", phone="+15550199"))
            await fold_last([p.at(0) for p in serving.projectors], contacts)
            # ...and one that has, into the new one.
            await appended(contacts, "cus_c", registered("cus_c", "Katherine Johnson"))
            await fold_last(serving.projectors, contacts)
            late.append("grace")

    await rebuild(
        rebuilding.projectors,
        [contacts, pipeline],
        on_progress=meanwhile,
        on_phase=around_the_switch,
    )

    assert late == ["history", "grace"]
    assert serving.customer360.generation == 1
    ada = await serving.customer360.get("cus_a")
    grace = await serving.customer360.get("cus_b")
    katherine = await serving.customer360.get("cus_c")
    assert ada is not None and grace is not None and katherine is not None
    assert (ada["profile"]["name"], ada["profile"]["phone"]) == ("Ada King", "+15550199")
    assert grace["profile"]["name"] == "Grace B. Hopper"
    assert katherine["profile"]["name"] == "Katherine Johnson"
    # Every commit of the store, exactly once per stream sequence.
    stored = await serving.customer360.documents.find_one({"_id": "cus_a"})
    assert stored["streams"]["contacts:cus_a"] == await contacts.store.version_of("cus_a") == 4
    # The old generation is gone, even what the late consumer wrote there.
    assert "customer360" not in await collections(memory_client)


class Failing(EventStore):
    """An event store that breaks after ``commits`` commits of a read (a store going down)."""

    def __init__(self, store: EventStore, commits: int) -> None:
        self.__dict__.update(store.__dict__)
        self._left = commits

    async def read_all(self, after_position: int = 0, batch: int = 1000) -> AsyncIterator[Commit]:
        async for commit in super().read_all(after_position, batch):
            if self._left == 0:
                raise ConnectionError("event store unreachable")
            self._left -= 1
            yield commit


async def test_a_failed_rebuild_leaves_the_active_generation_serving(
    serving: ProjectionsService, rebuilding: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await consume_all(serving.projectors, contacts, pipeline)
    before = await serving.customer360.get("cus_a")
    breaking = Source(Failing(pipeline.store, commits=3), pipeline.sealed)

    with pytest.raises(ConnectionError):
        await rebuild(rebuilding.projectors, [contacts, breaking])

    assert await serving.customer360.refresh_generation() == 0
    assert await serving.customer360.get("cus_a") == before
    names = await collections(memory_client)
    assert "customer360" in names
    assert not any("__g" in name for name in names)  # the half-built generation is dropped
    record = await memory_client["crm_projections"]["read_models"].find_one({"_id": "customer360"})
    assert (record["active"], record["building"]) == (0, None)

    await rebuild(rebuilding.projectors, [contacts, pipeline])
    assert await serving.customer360.refresh_generation() == 2
    assert await serving.customer360.get("cus_a") == before


async def test_a_rebuild_killed_outright_is_cleared_by_the_next_one(
    serving: ProjectionsService, rebuilding: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await consume_all(serving.projectors, contacts, pipeline)
    before = await serving.customer360.get("cus_a")
    projector = rebuilding.customer360
    # A rebuild that began, folded a little and was killed: nothing ran its clean-up.
    started = await projector.read_models.begin(projector.name)
    await consume_all([projector.at(started.generation)], contacts)
    assert "customer360__g1" in await collections(memory_client)
    assert await serving.customer360.get("cus_a") == before

    # Its heartbeat is fresh: it may still be running.
    with pytest.raises(RebuildInProgress):
        await rebuild([projector], [contacts, pipeline])

    await memory_client["crm_projections"]["read_models"].update_one(
        {"_id": projector.name}, {"$set": {"heartbeat": NOW - timedelta(days=1)}}
    )
    await rebuild([projector], [contacts, pipeline])

    names = await collections(memory_client)
    assert "customer360__g1" not in names
    assert "customer360__g2" in names
    assert await serving.customer360.refresh_generation() == 2
    assert await serving.customer360.get("cus_a") == before


async def test_a_rebuild_records_each_source_position_in_the_new_generation(
    rebuilding: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)

    await rebuild([rebuilding.forecast], [contacts, pipeline])

    positions = await rebuilding.forecast.positions.read(rebuilding.forecast.generation)
    # the forecast folds no contacts event: the rebuild does not read that store, and the
    # lag of the forecast counts only the pipeline's (``folded_contexts``)
    assert {name: found.position for name, found in positions.items()} == {
        "pipeline": await pipeline.store.head_position(),
    }
    assert positions["pipeline"].time == NOW
    stored = [d async for d in memory_client["crm_projections"]["read_model_positions"].find({})]
    assert [d["_id"] for d in stored] == ["forecast@g1"]
