"""Rebuilding every read model from both event stores folds what the live consumer built."""

from __future__ import annotations

import asyncio
import re
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from customer_events import (
    NOW,
    changed,
    drafted,
    interaction,
    opened,
    paid,
    placed,
    registered,
    won,
)
from typer.testing import CliRunner

from crm_contracts import DomainEvent, cloudevents
from crm_contracts import contacts as c
from crm_contracts import pipeline as p
from crm_projections.__main__ import cli
from crm_projections.application.boards import RowsProjector
from crm_projections.application.generations import collection_name
from crm_projections.application.projector import Applied
from crm_projections.application.rebuild import Source, rebuild
from crm_projections.application.rebuild_jobs import (
    CONTEXTS,
    FOLD_COST,
    PART_COST,
    READS,
    Job,
    RebuildFailed,
    plan,
    rebuild_in_jobs,
)
from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import READ_MODELS, ProjectionsSettings
from crm_projections.domain.streams import folded_contexts
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import CommandContext, EventStore, NewEvent
from crm_runtime.personal_data import SealedEvents
from crm_runtime.settings import RuntimeSettings
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher

_ids = count(1)


async def append(
    store: EventStore, sealed: SealedEvents, stream: str, expected: int, *events: DomainEvent
) -> None:
    command = f"cmd-{next(_ids)}"
    await store.append(
        stream,
        expected,
        [
            await sealed.seal(
                stream, NewEvent(e.event_type, e.schema_version, e.model_dump(mode="json"))
            )
            for e in events
        ],
        CommandContext(command, command, command, "user:u1"),
        now=NOW,
        event_ids=[f"evt-{next(_ids)}" for _ in events],
    )


async def seed(client: Any) -> tuple[Source, Source]:
    """Both contexts' histories, personal fields sealed as the services store them."""
    sealed = SealedEvents(PersonalDataCipher(MongoKeyVault(client["crm_keys"]["data_keys"])))
    contacts = EventStore(client["crm_contacts"], source=c.SOURCE)
    pipeline = EventStore(client["crm_pipeline"], source=p.SOURCE)
    for store in (contacts, pipeline):
        await store.create_indexes()
    lead = p.LeadCaptured(
        lead_id="lead_1", source=p.LeadSource.WEB, name="Ada Lovelace", owner_id="u1"
    )
    await append(pipeline, sealed, "lead_1", 0, lead)
    await append(pipeline, sealed, "opp_1", 0, opened("opp_1", "cus_a"))
    await append(contacts, sealed, "cus_a", 0, registered("cus_a", "Ada Lovelace"))
    await append(pipeline, sealed, "quo_1", 0, drafted("quo_1", "opp_1", "cus_a"))
    await append(pipeline, sealed, "quo_1", 1, p.QuoteSent(quote_id="quo_1"))
    await append(pipeline, sealed, "ord_1", 0, *placed("ord_1", "cus_a", "21600.00"))
    await append(
        contacts, sealed, "cus_a", 1, interaction("cus_a", 1, summary="Wants two machines")
    )
    await append(pipeline, sealed, "ord_1", 2, paid("ord_1", "cus_a", "600.00", "21000.00"))
    await append(pipeline, sealed, "opp_1", 1, won("opp_1", "cus_a"))
    await append(
        contacts,
        sealed,
        "cus_b",
        0,
        registered("cus_b", "Grace Hopper"),
        changed("cus_b", phone="+15550100"),
    )
    return Source(contacts, sealed), Source(pipeline, sealed)


async def live(service: ProjectionsService, sources: list[Source]) -> None:
    """What the consumer does, each event through its Kafka encoding, into every read model."""
    for source in sources:
        async for commit in source.store.read_all():
            for stored in commit.events:
                revealed = await source.sealed.reveal(stored) if source.sealed else stored
                _, headers, body = cloudevents.encode(revealed.metadata, revealed.data)
                metadata, event = cloudevents.decode(headers, body)
                for projector in service.projectors:
                    assert await projector.apply(metadata, event) is not Applied.DUPLICATE


async def snapshot(service: ProjectionsService) -> dict[str, list[dict[str, Any]]]:
    """Every read model's collections in the generation it serves from, by plain name, its
    pending boards refreshed first (as a read of them does)."""
    database = service.client["crm_projections"]
    found: dict[str, list[dict[str, Any]]] = {}
    for projector in service.projectors:
        await projector.refresh_generation()
        boards = projector.boards_collection if isinstance(projector, RowsProjector) else None
        if isinstance(projector, RowsProjector):
            await projector.refresh_pending()
        for name in projector.collection_names():
            if name != boards:
                docs = [d async for d in database[name].find({})]
                found[re.sub(r"__g[0-9]+$", "", name)] = sorted(docs, key=lambda d: str(d["_id"]))
        if isinstance(projector, RowsProjector):
            # A board's revision counts its refreshes (one per event live, one per board in a
            # rebuild); its content is what must agree.
            cursor = database[projector.boards_collection].find(
                {"board": {"$in": sorted(projector.boards)}}
            )
            found[f"boards of {projector.name}"] = sorted(
                [{k: v for k, v in b.items() if k != "revision"} async for b in cursor],
                key=lambda b: str(b["_id"]),
            )
    return found


async def seed_folder(store: RuntimeSettings, *, vault_lost: bool = False) -> None:
    """``seed`` into the embedded store's files (``vault_lost``: then its data keys lost)."""
    client = open_document_client(store)
    try:
        await seed(client)
        if vault_lost:
            await client["crm_keys"]["data_keys"].delete_many({})
    finally:
        await client.close()


async def test_a_rebuild_of_both_stores_reproduces_what_the_live_path_built(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await live(projections, [pipeline, contacts])  # the pipeline topic was faster
    built = await snapshot(projections)
    view = await projections.customer360.get("cus_a")
    assert view is not None
    assert (view["profile"]["name"], view["revenue_won"]) == ("Ada Lovelace", {"EUR": "48000.00"})
    assert view["receivables"]["open_balance"] == {"EUR": "21000.00"}
    assert view["latest_interactions"][0]["summary"] == "Wants two machines"
    assert [r["_id"] for r in built["stream_customers"]] == [
        "pipeline:opp_1",
        "pipeline:ord_1",
        "pipeline:quo_1",
    ]
    await memory_client["crm_projections"]["forecast"].delete_many({})
    await memory_client["crm_projections"]["customer360"].replace_one(
        {"_id": "cus_b"}, {"_id": "cus_b"}
    )

    progress: list[tuple[int, int]] = []
    totals = await rebuild(
        projections.projectors,
        [contacts, pipeline],
        on_progress=lambda d, t: progress.append((d, t)),
    )

    assert await snapshot(projections) == built
    expected = {
        "events": 12,
        "customer360": 11,
        "receivables_by_rep": 3,
        "forecast": 2,
        "stores": 0,
        "deals": 3,
    }
    assert {name: totals[name] for name in expected} == expected  # and the read models added since
    assert set(totals) == {"events", *(p.name for p in projections.projectors)}
    assert progress[-1] == (10, 10)


async def test_rebuilding_one_read_model_leaves_the_others_alone(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await live(projections, [contacts, pipeline])
    await projections.receivables.documents.delete_many({})
    before = await snapshot(projections)

    await rebuild([projections.forecast], [contacts, pipeline])

    assert await snapshot(projections) == before
    assert await projections.receivables.get("u1") is None


def test_crm_projections_rebuild_names_one_read_model_or_rebuilds_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RuntimeSettings(data_dir=tmp_path, embedded_backend="sqlite")

    async def read(collection: str, read_model: str) -> list[dict[str, Any]]:
        """The collection in the generation the read model serves from."""
        client = open_document_client(store)
        try:
            database = client["crm_projections"]
            found = await database["read_models"].find_one({"_id": read_model})
            name = collection_name(collection, found["active"] if found else 0)
            return [d async for d in database[name].find({})]
        finally:
            await client.close()

    asyncio.run(seed_folder(store))
    env = {
        "CRM_DATA_DIR": str(tmp_path),
        "CRM_EMBEDDED_BACKEND": "sqlite",
        "COLUMNS": "200",
        "CRM_PROJECTIONS_GC_THRESHOLD": "0",  # the collector of the test process stays as it is
    }
    one = CliRunner().invoke(cli, ["rebuild", "forecast", "--grace", "0"], env=env)
    assert one.exit_code == 0, one.output
    # the forecast folds no contacts event: the contacts store is not read
    assert "forecast rebuilt: 8 events read, 2 applied; generation 1 serves" in one.output
    for phase in ("history", "catch-up", "switch", "after switch", "final catch-up"):
        assert f"forecast: {phase}" in one.output
    assert [row["_id"] for row in asyncio.run(read("forecast", "forecast"))] == ["opp_1"]
    assert asyncio.run(read("customer360", "customer360")) == []

    every = CliRunner().invoke(cli, ["rebuild", "--grace", "0"], env=env)
    assert every.exit_code == 0, every.output
    assert "customer360 rebuilt: 12 events read, 11 applied; generation 1 serves" in every.output
    assert "receivables_by_rep rebuilt: 12 events read, 3 applied" in every.output
    assert "forecast rebuilt: 12 events read, 2 applied; generation 2 serves" in every.output
    customers = asyncio.run(read("customer360", "customer360"))
    assert sorted(d["_id"] for d in customers) == ["cus_a", "cus_b"]
    unknown = CliRunner().invoke(cli, ["rebuild", "leaderboard"], env=env)
    assert unknown.exit_code == 2
    assert "not a read model" in unknown.output


def test_a_rebuild_in_two_jobs_builds_what_one_process_builds(tmp_path: Path) -> None:
    env = {
        "CRM_DATA_DIR": str(tmp_path),
        "CRM_EMBEDDED_BACKEND": "sqlite",
        "COLUMNS": "200",
        "CRM_PROJECTIONS_GC_THRESHOLD": "0",
    }
    store = RuntimeSettings(data_dir=tmp_path, embedded_backend="sqlite")
    settings = ProjectionsSettings(data_dir=tmp_path, embedded_backend="sqlite")

    async def served() -> dict[str, list[dict[str, Any]]]:
        client = open_document_client(store)
        service = bootstrap(settings, document_client=client)
        try:
            return await snapshot(service)
        finally:
            await service.close()

    asyncio.run(seed_folder(store))
    alone = CliRunner().invoke(cli, ["rebuild", "--grace", "0"], env=env)
    assert alone.exit_code == 0, alone.output
    in_one = asyncio.run(served())

    split = CliRunner().invoke(cli, ["rebuild", "--grace", "0", "--jobs", "2"], env=env)

    assert split.exit_code == 0, split.output
    assert asyncio.run(served()) == in_one
    for job in plan(READ_MODELS, 2):
        label = f"job {job.index + 1} ({job.label})"
        for phase in ("history", "catch-up", "switch", "after switch", "final catch-up"):
            assert f"{label}: {phase}" in split.output
    assert "customer360 rebuilt: 12 events read, 11 applied; generation 2 serves" in split.output
    assert "forecast rebuilt: 8 events read, 2 applied; generation 2 serves" in split.output


def test_a_job_that_fails_says_why_and_leaves_its_old_generation_serving(
    tmp_path: Path,
) -> None:
    store = RuntimeSettings(data_dir=tmp_path, embedded_backend="sqlite")
    settings = ProjectionsSettings(data_dir=tmp_path, embedded_backend="sqlite")

    async def generations() -> dict[str, Any]:
        client = open_document_client(store)
        try:
            database = client["crm_projections"]
            found = [d async for d in database["read_models"].find({})]
            names = await database.list_collection_names()
            return {
                "active": {d["_id"]: d.get("active", 0) for d in found},
                "built": sorted(n for n in names if re.search(r"__g[1-9][0-9]*$", n)),
                "parts": sorted(n for n in names if "__part_" in n),
            }
        finally:
            await client.close()

    asyncio.run(seed_folder(store, vault_lost=True))
    jobs = plan(["forecast", "customer360"], 2)
    assert [job.label for job in jobs] == [
        "customer360 (contacts, loyalty)",
        "customer360 (pipeline, tickets) + forecast",
    ]

    # The 360 opens the customers' sealed names, whose keys are lost; the forecast opens
    # nothing sealed (it folds no event with a personal field).
    with pytest.raises(RebuildFailed) as failed:
        asyncio.run(rebuild_in_jobs(settings, jobs, grace=0))

    assert list(failed.value.failures) == [0]
    assert "SealBroken" in str(failed.value) and "not erased" in str(failed.value)
    assert str(failed.value).startswith("job 1: ")
    after = asyncio.run(generations())
    assert after["active"] == {"customer360": 0, "forecast": 1}
    assert after["built"] == ["forecast__g1"]  # the 360's unfinished generation is gone
    assert after["parts"] == []  # and the part the other job folded of it
    env = {"CRM_DATA_DIR": str(tmp_path), "CRM_EMBEDDED_BACKEND": "sqlite", "COLUMNS": "200"}
    cli_run = CliRunner().invoke(cli, ["rebuild", "customer360", "--jobs", "3"], env=env)
    assert cli_run.exit_code == 1
    assert "rebuild failed: job 1: SealBroken" in cli_run.output


def covered(jobs: list[Job]) -> dict[str, list[tuple[str, ...]]]:
    """Per read model, the contexts each job folding it folds of it (all, when whole)."""
    held: dict[str, list[tuple[str, ...]]] = {}
    for job in jobs:
        parts = {part.read_model: part for part in job.parts}
        for name in job.read_models:
            whole = tuple(c for c in CONTEXTS if c in READS[name])
            held.setdefault(name, []).append(parts[name].contexts if name in parts else whole)
    return held


def assert_every_context_folded_once(jobs: list[Job], names: list[str] | tuple[str, ...]) -> None:
    held = covered(jobs)
    assert sorted(held) == sorted(set(names))
    for name, shares in held.items():
        contexts = [c for share in shares for c in share]
        assert sorted(contexts) == sorted(READS[name]), name
        split = [part for job in jobs for part in job.parts if part.read_model == name]
        if len(shares) > 1:  # split: one part per job, one owner, each knowing all parts
            assert PART_COST.get(name) and len(split) == len(shares)
            assert [part.owner for part in split].count(True) == 1
            assert all(set(part.every) == set(shares) for part in split)
            owner = next(part for part in split if part.owner)
            assert min(CONTEXTS.index(c) for c in owner.contexts) == min(
                CONTEXTS.index(c) for c in contexts
            )
        else:
            assert split == []


def test_jobs_share_the_read_models_by_cost_each_in_fold_order(
    projections: ProjectionsService,
) -> None:
    assert {p.name: folded_contexts(p.model) for p in projections.projectors} == READS
    assert set(FOLD_COST) == set(READ_MODELS)
    for name, costs in PART_COST.items():  # a part's costs add up to the whole's
        assert set(costs) == READS[name]
        assert sum(costs.values()) == pytest.approx(FOLD_COST[name])
    two = plan(READ_MODELS, 2)
    assert_every_context_folded_once(two, READ_MODELS)
    # the 360 reads every store and costs most: it is split by context, each job reading
    # half the stores (the customer rows go with the contacts, the tickets with the tickets)
    assert [job.label for job in two] == [
        "customer360 (contacts, loyalty) + stores + members + customer_rows",
        "customer360 (pipeline, tickets) + receivables_by_rep + forecast + deals + tickets"
        " + order_rows",
    ]
    for jobs in (1, 2, 3, 5, 20):
        split = plan(READ_MODELS, jobs)
        assert 1 <= len(split) <= jobs
        assert [j.index for j in split] == list(range(len(split)))
        assert all(
            list(j.read_models) == sorted(j.read_models, key=READ_MODELS.index) for j in split
        )
        assert_every_context_folded_once(split, READ_MODELS)
        assert plan(READ_MODELS, jobs) == split  # the same every time
    assert [job.read_models for job in plan(["forecast", "forecast"], 4)] == [("forecast",)]
    assert [job.read_models for job in plan(READ_MODELS, 1)] == [READ_MODELS]
    assert plan(READ_MODELS, 1)[0].parts == ()  # one job: nothing to combine
    with pytest.raises(ValueError, match="at least one job"):
        plan(READ_MODELS, 0)
    with pytest.raises(ValueError, match="not read models: leaderboard"):
        plan(["leaderboard"], 2)


def test_many_read_models_are_placed_one_by_one_into_the_cheapest_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("crm_projections.application.rebuild_jobs.PLANNED", 0)
    split = plan(READ_MODELS, 2)
    assert_every_context_folded_once(split, READ_MODELS)
    assert len(split) == 2
    assert "customer360" in split[0].read_models
