"""The member roster: one row per member, kept from the event store, for two questions.

- The scheduler asks which members have something due: a lot of points to expire,
  a coupon past its validity, a tier review because spend left the rolling window.
- ``GET /loyalty/stores/{id}`` asks how many members a store has, how many are new
  and how many bought more than once (counted from the rows, by home store).

It follows the store in position order like the pipeline's deadlines. For each
member stream a batch touches it loads the member and writes the whole row (only
absolute values), guarded by the stream version, so applying a commit twice, or two
followers racing, changes nothing; the checkpoint is written after the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from crm_contracts.loyalty import PointsReversed
from crm_loyalty.application.streams import Decider, Dependencies, load
from crm_loyalty.domain import member
from crm_loyalty.domain.member import CouponStatus, Member
from crm_loyalty.domain.programme import Programme
from crm_runtime.documents import is_duplicate_key
from crm_runtime.eventstore import Commit, EventStore
from crm_runtime.followers import CheckpointedFollower

ROWS = "members"
CHECKPOINT = "member-roster"
STORE_PREFIX = "store/"
NEW_MEMBER_DAYS = 30
MEMBER_EVENTS = "crm.loyalty."


def row_of(state: Member, programme: Programme, reference: datetime) -> dict[str, Any]:
    """The member's row: who, where, and when something falls due after ``reference``."""
    lots = [lot.expires_at for lot in state.lots if lot.remaining > 0]
    coupons = [c.valid_until for c in state.coupons if c.status is CouponStatus.ACTIVE]
    exits = sorted(
        {e.at + programme.tier_window for e in state.earnings}
        | {b.at + programme.tier_window for b in state.bonuses}
    )
    review = None
    if programme.rank(state.tier) > 0:
        review = next((moment for moment in exits if moment > reference), None)
    due = [moment for moment in (*lots, *coupons, review) if moment is not None]
    return {
        "home_store_id": state.home_store_id,
        "tier": state.tier,
        "enrolled_at": state.enrolled_at,
        "balance": state.balance,
        "orders_paid": len(state.orders),
        "points_expire_at": min(lots, default=None),
        "coupons_expire_at": min(coupons, default=None),
        "tier_review_at": review,
        "due_at": min(due, default=None),
    }


class MemberRoster(CheckpointedFollower):
    def __init__(
        self,
        database: Any,
        store: EventStore,
        deps: Dependencies,
        decider: Decider[member.MemberCommand, member.MemberState],
        programme: Programme,
    ) -> None:
        super().__init__(database, store, checkpoint=CHECKPOINT)
        self._rows = database[ROWS]
        self._deps = deps
        self._decider = decider
        self._programme = programme

    async def create_indexes(self) -> None:
        await self._rows.create_index([("due_at", ASCENDING)])
        await self._rows.create_index([("home_store_id", ASCENDING), ("enrolled_at", ASCENDING)])
        await self._rows.create_index([("home_store_id", ASCENDING), ("orders_paid", ASCENDING)])

    async def apply_batch(self, commits: Sequence[Commit]) -> None:
        """Rewrite the row of every member the batch touched, as of its last commit."""
        touched: dict[str, datetime] = {}
        refunded: set[str] = set()
        for commit in commits:
            if not commit.stream_id.startswith(STORE_PREFIX) and commit.events:
                if any(e.metadata.type == PointsReversed.event_type for e in commit.events):
                    refunded.add(commit.stream_id)  # less spend: review the tier at once
                touched[commit.stream_id] = commit.events[-1].metadata.time
        for stream_id, reference in touched.items():
            loaded = await load(self._deps, self._decider, stream_id)
            if isinstance(loaded.state, Member):
                await self._write(
                    stream_id, loaded.state, loaded.version, reference, now=stream_id in refunded
                )

    async def refresh(self, customer_id: str, reference: datetime) -> None:
        """Rewrite one member's row as of ``reference`` (after the scheduler looked at it)."""
        loaded = await load(self._deps, self._decider, customer_id)
        if isinstance(loaded.state, Member):
            await self._write(customer_id, loaded.state, loaded.version, reference, force=True)

    async def due(self, now: datetime, limit: int) -> list[str]:
        cursor = (
            self._rows.find({"due_at": {"$lte": now}}, projection={"_id": 1})
            .sort("due_at", ASCENDING)
            .limit(limit)
        )
        return [str(row["_id"]) async for row in cursor]

    async def row(self, customer_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._rows.find_one({"_id": customer_id})
        return found

    async def store_counts(self, store_id: str, now: datetime) -> dict[str, int]:
        members = await self._rows.count_documents({"home_store_id": store_id})
        new = await self._rows.count_documents(
            {
                "home_store_id": store_id,
                "enrolled_at": {"$gte": now - timedelta(days=NEW_MEMBER_DAYS)},
            }
        )
        buyers = await self._rows.count_documents(
            {"home_store_id": store_id, "orders_paid": {"$gte": 1}}
        )
        repeat = await self._rows.count_documents(
            {"home_store_id": store_id, "orders_paid": {"$gte": 2}}
        )
        return {
            "members": int(members),
            "new_members_30_days": int(new),
            "purchasers": int(buyers),
            "repeat_purchasers": int(repeat),
        }

    async def _write(
        self,
        customer_id: str,
        state: Member,
        version: int,
        reference: datetime,
        *,
        force: bool = False,
        now: bool = False,
    ) -> None:
        row = {**row_of(state, self._programme, reference), "version": version}
        if now and self._programme.rank(state.tier) > 0:
            row["tier_review_at"] = reference
            row["due_at"] = min(d for d in (row["due_at"], reference) if d is not None)
        try:
            await self._rows.insert_one({"_id": customer_id, **row})
            return
        except Exception as error:
            if not is_duplicate_key(error):
                raise
        guard = {"$lte" if force else "$lt": version}
        await self._rows.update_one({"_id": customer_id, "version": guard}, {"$set": row})
