"""Ticket rows: a follower of the event store that keeps one small row per ticket.

It serves two questions without scanning every stream: the list endpoint (by
customer, assignee, team and status) and the scheduler (which deadlines are due
and not yet flagged). It reads the tickets' event store in position order; every
write is guarded by the stream sequence it brings the row to and writes absolute
values, so applying a commit twice changes nothing; the position read so far is
kept in a checkpoint written after the rows (a crash in between re-applies a few
commits, harmlessly). Personal text is never copied here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_contracts import REGISTRY
from crm_contracts.tickets import (
    SlaBreached,
    SlaTarget,
    TicketCustomerResponded,
    TicketEvent,
    TicketOpened,
    TicketPriorityChanged,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketStatus,
)
from crm_runtime.documents import is_duplicate_key
from crm_runtime.eventstore import Commit, EventStore
from crm_runtime.followers import CheckpointedFollower

ROWS = "ticket_rows"
CHECKPOINT = "ticket-rows"
CLOCK_RUNS = [TicketStatus.NEW.value, TicketStatus.OPEN.value, TicketStatus.REOPENED.value]
"""Statuses in which the resolution clock runs (waiting on the customer pauses it)."""
AWAITING_ANSWER = [*CLOCK_RUNS, TicketStatus.WAITING_ON_CUSTOMER.value]


class TicketRows(CheckpointedFollower):
    def __init__(self, database: Any, store: EventStore) -> None:
        super().__init__(database, store, checkpoint=CHECKPOINT)
        self._rows = database[ROWS]

    async def create_indexes(self) -> None:
        await self._rows.create_index([("customer_id", ASCENDING), ("opened_at", ASCENDING)])
        await self._rows.create_index([("assignee_id", ASCENDING), ("status", ASCENDING)])
        await self._rows.create_index([("team", ASCENDING), ("status", ASCENDING)])
        await self._rows.create_index(
            [("first_response_pending", ASCENDING), ("first_response_due", ASCENDING)]
        )
        await self._rows.create_index([("status", ASCENDING), ("resolution_due", ASCENDING)])

    async def apply(self, commit: Commit) -> None:
        """Fold one commit into its ticket's row (idempotent)."""
        events = [
            REGISTRY.parse(stored.metadata.type, stored.metadata.schema_version, stored.data)
            for stored in commit.events
        ]
        tickets = [event for event in events if isinstance(event, TicketEvent)]
        if not tickets:
            return
        sequence = commit.events[-1].metadata.sequence
        changes: dict[str, Any] = {"sequence": sequence}
        opened: dict[str, Any] | None = None
        for event in tickets:
            changes.update(
                customer_id=event.customer_id,
                kind=event.kind.value,
                priority=event.priority.value,
                status=event.status.value,
                team=event.team,
                assignee_id=event.assignee_id,
            )
            changes.update(_changes_of(event))
            if isinstance(event, TicketOpened):
                opened = {
                    "opened_at": event.opened_at,
                    "first_response_pending": True,
                    "first_response_breached": False,
                    "resolution_breached": False,
                }
        if opened is not None:
            try:
                await self._rows.insert_one({"_id": commit.stream_id, **opened, **changes})
            except Exception as error:
                if not is_duplicate_key(error):
                    raise
            else:
                return
        await self._rows.update_one(
            {"_id": commit.stream_id, "sequence": {"$lt": sequence}}, {"$set": changes}
        )

    async def due(self, target: SlaTarget, now: datetime, limit: int) -> list[str]:
        """Tickets whose ``target`` deadline passed unmet and is not flagged yet."""
        if target is SlaTarget.FIRST_RESPONSE:
            query: dict[str, Any] = {
                "first_response_pending": True,
                "first_response_breached": False,
                "status": {"$in": AWAITING_ANSWER},
                "first_response_due": {"$lte": now},
            }
        else:
            query = {
                "resolution_breached": False,
                "status": {"$in": CLOCK_RUNS},
                "resolution_due": {"$lte": now},
            }
        field = f"{target.value}_due"
        cursor = self._rows.find(query, projection={"_id": 1}).sort(field, ASCENDING).limit(limit)
        return [str(row["_id"]) async for row in cursor]

    async def search(
        self,
        *,
        customer_id: str | None = None,
        assignee_id: str | None = None,
        team: str | None = None,
        statuses: Sequence[str] | None = None,
        visible_to: tuple[str, str | None] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Rows matching every given filter, newest first; ``visible_to`` = (user, team)."""
        query: dict[str, Any] = {}
        for name, value in (
            ("customer_id", customer_id),
            ("assignee_id", assignee_id),
            ("team", team),
        ):
            if value is not None:
                query[name] = value
        if statuses:
            query["status"] = statuses[0] if len(statuses) == 1 else {"$in": list(statuses)}
        if visible_to is not None:
            user, user_team = visible_to
            reach: list[dict[str, Any]] = [{"assignee_id": user}]
            if user_team is not None:
                reach.append({"team": user_team})
            query["$or"] = reach
        cursor = self._rows.find(query).sort("opened_at", DESCENDING).limit(limit)
        return [row async for row in cursor]

    async def row(self, ticket_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._rows.find_one({"_id": ticket_id})
        return found


def _changes_of(event: TicketEvent) -> dict[str, Any]:
    match event:
        case TicketOpened() | TicketPriorityChanged():
            return {
                "first_response_due": event.first_response_due,
                "resolution_due": event.resolution_due,
            }
        case TicketReplied() if event.first_response:
            return {"first_response_pending": False}
        case TicketCustomerResponded() | TicketResolved():
            return {"resolution_due": event.resolution_due}
        case TicketReopened():
            return {"resolution_due": event.resolution_due, "resolution_breached": False}
        case SlaBreached():
            return {f"{event.target.value}_breached": True}
    return {}
