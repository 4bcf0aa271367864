"""The scheduled work: expire points (oldest lots first) and coupons, review tiers.

Every interval the holder of a lease catches the member roster up, asks it which
members have something due, and sends ``ExpirePoints``, ``ExpireCoupons`` and
``ReviewTier`` through the handlers. Safe with two replicas, and with a holder that
paused past its lease: each check is a no-op unless due (so twice changes nothing),
and two checks racing on one member collide on the stream version, after which the
loser decides again and finds nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_loyalty.application.handlers import LoyaltyDependencies, settle
from crm_loyalty.domain.member import ExpireCoupons, ExpirePoints, MemberCommand, ReviewTier
from crm_runtime.eventstore import CommandContext
from crm_runtime.leases import Lease

log = structlog.get_logger("crm.loyalty.scheduler")
ACTOR = "service:loyalty-scheduler"


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.changes = Counter(
            "crm_loyalty_scheduled_changes",
            "Member changes made by the scheduler, by kind (points, coupons, tier).",
            ["kind"],
            registry=registry,
        )
        self.leader = Gauge(
            "crm_loyalty_scheduler_is_leader", "1 while this replica holds the lease.",
            registry=registry,
        )  # fmt: skip
        self.ticks = Counter(
            "crm_loyalty_scheduler_ticks", "Rounds run while holding the lease.", registry=registry
        )


class LoyaltyScheduler:
    def __init__(
        self,
        deps: LoyaltyDependencies,
        lease: Lease,
        metrics: SchedulerMetrics,
        *,
        interval_seconds: float,
        batch_size: int = 200,
    ) -> None:
        self._deps = deps
        self._lease = lease
        self._metrics = metrics
        self._interval = interval_seconds
        self._batch = batch_size

    @property
    def owner(self) -> str:
        return self._lease.owner

    async def check_due(self) -> int:
        """Catch up, then do what is due now; returns the number of changes made."""
        roster = self._deps.roster
        await roster.catch_up()
        now = self._deps.clock()
        changed = 0
        for customer_id in await roster.due(now, self._batch):
            checks: list[tuple[str, MemberCommand]] = [
                ("points", ExpirePoints(customer_id, now)),
                ("coupons", ExpireCoupons(customer_id, now)),
                ("tier", ReviewTier(customer_id, now)),
            ]
            for kind, command in checks:
                try:
                    outcome = await settle(self._deps, command, self._context())
                except Exception:
                    log.exception("scheduled check failed", customer_id=customer_id, check=kind)
                    continue
                if outcome.changed:
                    changed += 1
                    self._metrics.changes.labels(kind).inc()
            await roster.catch_up()
            await roster.refresh(customer_id, now)
        return changed

    async def tick(self) -> bool:
        """One round, only while holding the lease; True when it ran."""
        if not await self._lease.hold():
            self._metrics.leader.set(0)
            return False
        self._metrics.leader.set(1)
        self._metrics.ticks.inc()
        await self.check_due()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        log.info("scheduler started", owner=self.owner, interval_seconds=self._interval)
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    log.exception("scheduled checks failed; retrying next round")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
        finally:
            self._metrics.leader.set(0)
            await self._lease.release()
            log.info("scheduler stopped")

    def _context(self) -> CommandContext:
        command_id = self._deps.new_id("cmd")
        return CommandContext(
            command_id=command_id, correlation_id=command_id, causation_id=command_id, actor=ACTOR
        )
