"""A read model rebuilt in parts (``rebuild.Part``): the jobs of one run fold different
contexts of the customer 360, the owner combines them, catches up and switches.

The jobs run here as coroutines of one process (``rebuild_in_jobs`` runs them as
processes: ``test_projections_rebuild``), so the order of their steps can be chosen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from customer_events import paid, placed
from test_projections_rebuild import append, seed, snapshot

from crm_contracts import pipeline as p
from crm_projections.application.positions import POSITIONS, positions_id
from crm_projections.application.projector import PARTS
from crm_projections.application.rebuild import Part, Source, rebuild
from crm_projections.bootstrap import ProjectionsService
from crm_runtime.eventstore import Commit, EventStore

EVERY = (("contacts",), ("pipeline",))
OWNER = Part("customer360", ("contacts",), owner=True, every=EVERY)
HELPER = Part("customer360", ("pipeline",), owner=False, every=EVERY)


async def leftovers(client: Any) -> dict[str, list[Any]]:
    database = client["crm_projections"]
    names = await database.list_collection_names()
    return {
        "parts": sorted(n for n in names if "__part_" in n),
        "said": [d["_id"] async for d in database[PARTS].find({})],
    }


async def the_360(projections: ProjectionsService) -> dict[str, list[dict[str, Any]]]:
    found = await snapshot(projections)
    return {name: found[name] for name in ("customer360", "stream_customers")}


async def test_an_owner_combines_a_part_and_catches_up_what_was_appended_after_it(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    sources = [contacts, pipeline]
    helped = await rebuild([projections.customer360], sources, parts=[HELPER], run="r1")
    # the part reads the pipeline alone; its events of the 360 (all but the lead's) go in
    assert (helped["events"], helped["customer360"]) == (8, 7)
    assert (await leftovers(memory_client))["parts"] == [
        "customer360__part_r1_pipeline",
        "stream_customers__part_r1_pipeline",
    ]
    # appended after the part read its heads: the owner's catch-up folds them
    await append(pipeline.store, pipeline.sealed, "ord_2", 0, *placed("ord_2", "cus_b", "500.00"))
    await append(pipeline.store, pipeline.sealed, "ord_2", 2, paid("ord_2", "cus_b", "500.00", "0"))

    owned = await rebuild([projections.customer360], sources, parts=[OWNER], run="r1")

    # the contacts, then the pipeline from where the part stopped: only what was appended
    assert (owned["events"], owned["customer360"]) == (4 + 3, 4 + 3)
    split = await the_360(projections)
    assert await leftovers(memory_client) == {"parts": [], "said": []}
    positions = await memory_client["crm_projections"][POSITIONS].find_one(
        {"_id": positions_id("customer360", projections.customer360.generation)}
    )
    assert positions is not None
    assert positions["sources"]["pipeline"]["position"] == await pipeline.store.head_position()
    assert positions["sources"]["contacts"]["position"] == await contacts.store.head_position()
    await rebuild([projections.customer360], sources)  # whole, in one job
    assert await the_360(projections) == split
    view = await projections.customer360.get("cus_b")
    assert view is not None and view["orders"]["count"] == 1


class Broken(EventStore):
    """A store that fails on being read."""

    async def read_all(self, after_position: int = 0, **kwargs: Any) -> AsyncIterator[Commit]:
        raise RuntimeError("the disk is gone")
        yield  # pragma: no cover - a generator


async def test_an_owner_whose_part_failed_says_why_and_the_old_generation_serves(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await rebuild([projections.customer360], [contacts, pipeline])
    before = await the_360(projections)
    generation = projections.customer360.generation
    broken = Source(Broken(memory_client["crm_pipeline"], source=p.SOURCE), pipeline.sealed)

    owner, helper = await asyncio.gather(
        rebuild([projections.customer360], [contacts, pipeline], parts=[OWNER], run="r2"),
        rebuild([projections.customer360], [contacts, broken], parts=[HELPER], run="r2"),
        return_exceptions=True,
    )

    assert isinstance(helper, RuntimeError) and str(helper) == "the disk is gone"
    assert isinstance(owner, RuntimeError)
    assert str(owner) == "customer360: part pipeline failed: RuntimeError: the disk is gone"
    record = await projections.customer360.read_models.record("customer360")
    assert (record["active"], record["building"]) == (generation, None)
    assert await the_360(projections) == before
    assert (await leftovers(memory_client))["parts"] == []


async def test_a_part_written_after_its_owner_gave_up_drops_itself(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    await projections.customer360.abandon_parts("r3")

    await rebuild([projections.customer360], [contacts, pipeline], parts=[HELPER], run="r3")

    assert (await leftovers(memory_client))["parts"] == []


def test_only_a_read_model_that_combines_parts_is_rebuilt_in_parts(
    projections: ProjectionsService,
) -> None:
    with pytest.raises(ValueError, match="forecast cannot be rebuilt in parts"):
        projections.forecast.part("r4", "pipeline")


async def test_a_rebuild_in_parts_needs_the_name_of_its_run(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    with pytest.raises(ValueError, match="needs the name of its run"):
        await rebuild([projections.customer360], [contacts, pipeline], parts=[OWNER])


async def test_the_next_rebuild_drops_the_parts_a_killed_run_left(
    projections: ProjectionsService, memory_client: Any
) -> None:
    contacts, pipeline = await seed(memory_client)
    sources = [contacts, pipeline]
    await rebuild([projections.customer360], sources, parts=[HELPER], run="killed")
    assert (await leftovers(memory_client))["said"] == ["customer360:killed:pipeline"]

    # the owner of another run keeps only its own run's parts
    await rebuild([projections.customer360], sources, parts=[HELPER], run="r5")
    await rebuild([projections.customer360], sources, parts=[OWNER], run="r5")
    assert await leftovers(memory_client) == {"parts": [], "said": []}
    await rebuild([projections.customer360], sources, parts=[HELPER], run="killed")
    await rebuild([projections.customer360], sources)  # a whole rebuild keeps none
    assert await leftovers(memory_client) == {"parts": [], "said": []}
