"""The opportunity rows follower: one row per opportunity, idempotent, rebuilt from history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crm_contracts.pipeline import LeadSource, Stage
from crm_pipeline.application.opportunity_rows import CHECKPOINT, ROWS, Reach
from crm_pipeline.application.streams import execute
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.domain.lead import CaptureLead
from crm_pipeline.domain.opportunity import (
    LoseOpportunity,
    MoveStage,
    OpenOpportunity,
    OpportunityCommand,
    ReassignOpportunity,
    WinOpportunity,
)
from crm_runtime.eventstore import CommandContext
from crm_runtime.followers import CHECKPOINTS


def context(name: str) -> CommandContext:
    return CommandContext(f"cmd_{name}", f"corr_{name}", f"cmd_{name}", "user:m1")


async def run(service: PipelineService, command: OpportunityCommand) -> None:
    deciders = service.deps.deciders
    opportunity_id = command.opportunity_id
    name = f"{type(command).__name__}_{opportunity_id}"  # command ids are unique
    await execute(service.deps, deciders.opportunity, opportunity_id, command, context(name))


def opening(n: int, owner_id: str = "u1", team: str | None = "north") -> OpenOpportunity:
    return OpenOpportunity(
        opportunity_id=f"opp_{n}",
        customer_id=f"cus_{n}",
        title="seats",
        amount=Decimal("100"),
        currency="EUR",
        expected_close_date=date(2027, 3, 31),
        owner_id=owner_id,
        team=team,
    )


async def history(service: PipelineService) -> None:
    """Four deals: one handed over, one won, one lost, one left as opened."""
    for n in range(1, 5):
        await run(service, opening(n))
    await run(service, MoveStage("opp_1", Stage.PROPOSAL))
    await run(service, ReassignOpportunity("opp_1", "u2", "u1 left", "m1", team="south"))
    await run(service, WinOpportunity("opp_2"))
    await run(service, LoseOpportunity("opp_3", "price"))


async def rows(service: PipelineService) -> list[dict[str, Any]]:
    return (await service.opportunity_rows.page(limit=500)).rows


def database(service: PipelineService) -> Any:
    return service.client[service.settings.database]


async def test_a_row_per_opportunity_says_where_it_stands(service: PipelineService) -> None:
    await history(service)
    assert await service.opportunity_rows.catch_up() > 0
    shown = {
        row["_id"]: (row["owner_id"], row["team"], row["stage"], row["status"], row["sequence"])
        for row in await rows(service)
    }
    assert shown == {
        "opp_1": ("u2", "south", "proposal", "open", 3),
        "opp_2": ("u1", "north", "won", "won", 2),
        "opp_3": ("u1", "north", "lost", "lost", 2),
        "opp_4": ("u1", "north", "qualification", "open", 1),
    }
    assert await service.opportunity_rows.lag() == 0


async def test_reading_the_history_again_changes_nothing(service: PipelineService) -> None:
    await history(service)
    await service.opportunity_rows.catch_up()
    before = await rows(service)
    await database(service)[CHECKPOINTS].delete_one({"_id": CHECKPOINT})
    assert await service.opportunity_rows.catch_up() > 0
    assert await rows(service) == before


async def test_the_rows_are_rebuilt_from_the_history(service: PipelineService) -> None:
    await history(service)
    await service.opportunity_rows.catch_up()
    before = await rows(service)
    await database(service)[ROWS].delete_many({})
    await database(service)[CHECKPOINTS].delete_one({"_id": CHECKPOINT})
    await service.opportunity_rows.catch_up()
    assert await rows(service) == before


async def test_an_older_commit_applied_late_does_not_set_a_row_back(
    service: PipelineService,
) -> None:
    await history(service)
    await service.opportunity_rows.catch_up()
    commits = [commit async for commit in service.store.read_all()]
    opened = next(c for c in commits if c.stream_id == "opp_1")
    await service.opportunity_rows.apply(opened)
    row = await service.opportunity_rows.row("opp_1")
    assert row is not None
    assert (row["owner_id"], row["stage"], row["sequence"]) == ("u2", "proposal", 3)


async def test_only_opportunities_have_rows(service: PipelineService) -> None:
    lead = CaptureLead("lead_1", LeadSource.WEB, "Ada", owner_id="u1", team="north")
    await execute(service.deps, service.deps.deciders.lead, "lead_1", lead, context("lead"))
    await run(service, opening(1))
    await service.opportunity_rows.catch_up()
    assert [row["_id"] for row in await rows(service)] == ["opp_1"]


async def test_a_reach_narrows_the_rows_to_an_owner_and_a_team(service: PipelineService) -> None:
    await run(service, opening(1, "u1", "north"))
    await run(service, opening(2, "u2", "north"))
    await run(service, opening(3, "u9", "south"))
    await run(service, opening(4, "u1", None))
    found = service.opportunity_rows
    await found.catch_up()

    async def ids(**query: Any) -> list[str]:
        return [row["_id"] for row in (await found.page(**query)).rows]

    assert await ids(reach=Reach("u1")) == ["opp_1", "opp_4"]
    assert await ids(reach=Reach("u1", "north")) == ["opp_1", "opp_2", "opp_4"]
    assert await ids(reach=Reach("m1", "south")) == ["opp_3"]
    assert await ids(reach=Reach("u1", "north"), owner_id="u9") == []
    assert await ids(reach=Reach("u1", "north"), after="opp_1", limit=1) == ["opp_2"]
