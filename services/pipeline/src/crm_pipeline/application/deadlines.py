"""Receivable deadlines: a follower of the order streams that knows what falls due when.

It reads the pipeline's event store in position order and keeps one row per
order in ``receivable_deadlines``: owner, due date, when it becomes overdue, when it
was placed, the balance and what was already flagged. An order is due for the unpaid
check once the unpaid window (``CRM_PIPELINE_UNPAID_AFTER``, 48 hours by default) has
passed since it was placed: the window is applied when asking, not stored in the row,
so a changed setting applies to the orders already placed, as the order's decider does.
Every write is guarded by the stream sequence it brings the row to, and every
value it writes is absolute (no increments), so applying a commit twice changes
nothing; the position read so far is kept in a checkpoint document written
after the rows (a crash in between re-applies a few commits, harmlessly).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pymongo import ASCENDING

from crm_contracts import REGISTRY
from crm_contracts.pipeline import (
    OrderPlaced,
    OrderUnpaidAfter48Hours,
    PaymentReceived,
    ReceivableOpened,
    ReceivableOverdue,
    ReceivableSettled,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.application.views import money
from crm_pipeline.domain.order import DEFAULT_UNPAID_AFTER
from crm_runtime.documents import is_duplicate_key
from crm_runtime.eventstore import Commit, EventStore
from crm_runtime.followers import CheckpointedFollower

ROWS = "receivable_deadlines"
CHECKPOINT = "receivable-deadlines"
ORDER_EVENTS = frozenset(
    model.event_type
    for model in (
        OrderPlaced,
        ReceivableOpened,
        PaymentReceived,
        ReceivableSettled,
        ReceivableOverdue,
        OrderUnpaidAfter48Hours,
    )
)


def overdue_from(due_date: date) -> datetime:
    """The first moment a receivable due on ``due_date`` is overdue: the next UTC midnight."""
    return datetime.combine(due_date + timedelta(days=1), time(0), tzinfo=UTC)


class ReceivableDeadlines(CheckpointedFollower):
    def __init__(
        self, database: Any, store: EventStore, *, unpaid_after: timedelta = DEFAULT_UNPAID_AFTER
    ) -> None:
        super().__init__(database, store, checkpoint=CHECKPOINT)
        self._rows = database[ROWS]
        self.unpaid_after = unpaid_after

    async def create_indexes(self) -> None:
        await self._rows.create_index(
            [("open", ASCENDING), ("overdue_flagged", ASCENDING), ("overdue_from", ASCENDING)]
        )
        await self._rows.create_index(
            [("paid_any", ASCENDING), ("unpaid_flagged", ASCENDING), ("placed_at", ASCENDING)]
        )
        await self._rows.create_index([("owner_id", ASCENDING), ("open", ASCENDING)])

    async def apply(self, commit: Commit) -> None:
        """Fold one commit into its order's row (idempotent; other streams are skipped)."""
        events = [
            REGISTRY.parse(stored.metadata.type, stored.metadata.schema_version, stored.data)
            for stored in commit.events
            if stored.metadata.type in ORDER_EVENTS
        ]
        if not events:
            return
        sequence = commit.events[-1].metadata.sequence
        placed, changes = _row_changes(events)
        changes["sequence"] = sequence
        if placed is not None:
            try:
                await self._rows.insert_one({"_id": commit.stream_id, **placed, **changes})
            except Exception as error:
                if not is_duplicate_key(error):
                    raise
            return
        await self._rows.update_one(
            {"_id": commit.stream_id, "sequence": {"$lt": sequence}}, {"$set": changes}
        )

    async def overdue(self, now: datetime, limit: int) -> list[str]:
        """Orders whose receivable is open past its due date and not yet flagged."""
        cursor = (
            self._rows.find(
                {"open": True, "overdue_flagged": False, "overdue_from": {"$lte": now}},
                projection={"_id": 1},
            )
            .sort("overdue_from", ASCENDING)
            .limit(limit)
        )
        return [str(row["_id"]) async for row in cursor]

    async def unpaid(self, now: datetime, limit: int) -> list[str]:
        """Orders with no payment the unpaid window after placing, not yet flagged."""
        placed_by = now - self.unpaid_after
        cursor = (
            self._rows.find(
                {"paid_any": False, "unpaid_flagged": False, "placed_at": {"$lte": placed_by}},
                projection={"_id": 1},
            )
            .sort("placed_at", ASCENDING)
            .limit(limit)
        )
        return [str(row["_id"]) async for row in cursor]

    async def row(self, order_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._rows.find_one({"_id": order_id})
        return found


def _row_changes(events: list[DomainEvent]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    placed: dict[str, Any] | None = None
    changes: dict[str, Any] = {}
    for event in events:
        match event:
            case OrderPlaced():
                placed = {
                    "customer_id": event.customer_id,
                    "owner_id": event.owner_id,
                    "team": event.team,
                    "currency": event.currency,
                    "placed_at": event.placed_at,
                    "paid_any": False,
                    "overdue_flagged": False,
                    "unpaid_flagged": False,
                }
            case ReceivableOpened():
                changes.update(
                    balance=money(event.amount),
                    open=event.amount > 0,
                    due_date=event.due_date.isoformat(),
                    overdue_from=overdue_from(event.due_date),
                )
            case PaymentReceived():
                changes.update(
                    balance=money(event.balance_after), open=event.balance_after > 0, paid_any=True
                )
            case ReceivableSettled():
                changes["open"] = False
            case ReceivableOverdue():
                changes["overdue_flagged"] = True
            case OrderUnpaidAfter48Hours():
                changes["unpaid_flagged"] = True
    return placed, changes
