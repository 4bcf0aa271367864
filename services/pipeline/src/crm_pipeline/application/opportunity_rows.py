"""Opportunity rows: a follower of the event store that keeps one small row per opportunity.

It answers the list of opportunities (by owner, customer and status, in pages ordered
by id) without loading a stream per opportunity: a sales rep's open deals, for instance,
when they leave and their deals are handed over. It reads the pipeline's event store in
position order and keeps, per opportunity, its customer, owner, team, stage, status,
amount and currency in ``opportunity_rows``. Every write is guarded by the stream
sequence it brings the row to and every value it writes is absolute (no increments), so
applying a commit twice changes nothing; the position read so far is kept in a
checkpoint written after the rows (a crash in between re-applies a few commits,
harmlessly). Dropping the rows and the checkpoint rebuilds it from the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING

from crm_contracts import REGISTRY
from crm_contracts.pipeline import (
    OpportunityAmountChanged,
    OpportunityLost,
    OpportunityOpened,
    OpportunityReassigned,
    OpportunityReopened,
    OpportunityStageMoved,
    OpportunityWon,
    Stage,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.application.views import money
from crm_runtime.documents import is_duplicate_key
from crm_runtime.eventstore import Commit, EventStore
from crm_runtime.followers import CheckpointedFollower

ROWS = "opportunity_rows"
CHECKPOINT = "opportunity-rows"
SHOWN = ("customer_id", "owner_id", "team", "stage", "status", "amount", "currency")
"""What a row answers besides its id."""
ROW_EVENTS = frozenset(
    model.event_type
    for model in (
        OpportunityOpened,
        OpportunityStageMoved,
        OpportunityAmountChanged,
        OpportunityWon,
        OpportunityLost,
        OpportunityReopened,
        OpportunityReassigned,
    )
)


@dataclass(frozen=True)
class Page:
    """Rows in id order, and the cursor of the next page (None: this was the last)."""

    rows: list[dict[str, Any]]
    next: str | None


@dataclass(frozen=True)
class Reach:
    """Whose opportunities a caller may list: those owned by ``owner_id`` or, when
    ``team`` is set, those of that team as well."""

    owner_id: str
    team: str | None = None


class OpportunityRows(CheckpointedFollower):
    def __init__(self, database: Any, store: EventStore) -> None:
        super().__init__(database, store, checkpoint=CHECKPOINT)
        self._rows = database[ROWS]

    async def create_indexes(self) -> None:
        for first in ("owner_id", "customer_id", "team"):
            await self._rows.create_index(
                [(first, ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)]
            )
        await self._rows.create_index([("status", ASCENDING), ("_id", ASCENDING)])

    async def apply(self, commit: Commit) -> None:
        """Fold one commit into its opportunity's row (idempotent; other streams are skipped)."""
        events = [
            REGISTRY.parse(stored.metadata.type, stored.metadata.schema_version, stored.data)
            for stored in commit.events
            if stored.metadata.type in ROW_EVENTS
        ]
        if not events:
            return
        sequence = commit.events[-1].metadata.sequence
        changes: dict[str, Any] = {}
        for event in events:
            changes.update(row_changes(event))
        changes["sequence"] = sequence
        if isinstance(events[0], OpportunityOpened):
            try:
                await self._rows.insert_one({"_id": commit.stream_id, **changes})
            except Exception as error:
                if not is_duplicate_key(error):
                    raise
            else:
                return
        await self._rows.update_one(
            {"_id": commit.stream_id, "sequence": {"$lt": sequence}}, {"$set": changes}
        )

    async def page(
        self,
        *,
        owner_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
        reach: Reach | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Rows matching every given filter, by id, after the cursor ``after`` (an id);
        ``reach`` narrows them to what a caller may see (None: everything)."""
        query: dict[str, Any] = {}
        for name, value in (
            ("owner_id", owner_id),
            ("customer_id", customer_id),
            ("status", status),
        ):
            if value is not None:
                query[name] = value
        if after is not None:
            query["_id"] = {"$gt": after}
        if reach is not None:
            visible: list[dict[str, Any]] = [{"owner_id": reach.owner_id}]
            if reach.team is not None:
                visible.append({"team": reach.team})
            query["$or"] = visible
        cursor = self._rows.find(query).sort("_id", ASCENDING).limit(limit + 1)
        found = [row async for row in cursor]
        rows = found[:limit]
        return Page(rows, str(rows[-1]["_id"]) if len(found) > limit else None)

    async def row(self, opportunity_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._rows.find_one({"_id": opportunity_id})
        return found


def row_changes(event: DomainEvent) -> dict[str, Any]:
    """The fields of its row an opportunity event sets, as absolute values."""
    match event:
        case OpportunityOpened():
            return {
                "customer_id": event.customer_id,
                "owner_id": event.owner_id,
                "team": event.team,
                "stage": event.stage.value,
                "status": "open",
                "amount": money(event.amount),
                "currency": event.currency,
            }
        case OpportunityStageMoved():
            return {"stage": event.to_stage.value}
        case OpportunityAmountChanged():
            return {"amount": money(event.amount), "currency": event.currency}
        case OpportunityWon():
            return {
                "stage": Stage.WON.value,
                "status": "won",
                "amount": money(event.amount),
                "owner_id": event.owner_id,
                "team": event.team,
            }
        case OpportunityLost():
            return {
                "stage": Stage.LOST.value,
                "status": "lost",
                "owner_id": event.owner_id,
                "team": event.team,
            }
        case OpportunityReopened():
            return {"stage": event.stage.value, "status": "open"}
        case OpportunityReassigned():
            return {"owner_id": event.owner_id, "team": event.team}
    return {}


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """What the list answers of one row."""
    return {"id": row["_id"], **{name: row.get(name) for name in SHOWN}}
