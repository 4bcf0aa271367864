"""The scheduled work: expire points (oldest lots first) and coupons, review tiers.

Every interval the holder of a lease catches the member roster up, asks it which
members have something due, and sends ``ExpirePoints``, ``ExpireCoupons`` and
``ReviewTier`` through the handlers. Safe with two replicas, and with a holder that
paused past its lease: each check is a no-op unless due (so twice changes nothing),
and two checks racing on one member collide on the stream version, after which the
loser decides again and finds nothing to do.
"""

from __future__ import annotations

import structlog
from prometheus_client import CollectorRegistry, Counter

from crm_loyalty.application.handlers import LoyaltyDependencies, settle
from crm_loyalty.domain.member import ExpireCoupons, ExpirePoints, MemberCommand, ReviewTier
from crm_runtime.leases import Lease
from crm_runtime.scheduling import LeaderMetrics, LeasedScheduler

CONTEXT = "loyalty"
log = structlog.get_logger("crm.loyalty.scheduler")


class SchedulerMetrics(LeaderMetrics):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry, CONTEXT)
        self.changes = Counter(
            "crm_loyalty_scheduled_changes",
            "Member changes made by the scheduler, by kind (points, coupons, tier).",
            ["kind"],
            registry=registry,
        )


class LoyaltyScheduler(LeasedScheduler):
    def __init__(
        self,
        deps: LoyaltyDependencies,
        lease: Lease,
        metrics: SchedulerMetrics,
        *,
        interval_seconds: float,
        batch_size: int = 200,
    ) -> None:
        super().__init__(
            CONTEXT, lease, metrics, interval_seconds=interval_seconds, new_id=deps.new_id
        )
        self._deps = deps
        self._metrics = metrics
        self._batch = batch_size

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
                    outcome = await settle(self._deps, command, self.command_context())
                except Exception:
                    log.exception("scheduled check failed", customer_id=customer_id, check=kind)
                    continue
                if outcome.changed:
                    changed += 1
                    self._metrics.changes.labels(kind).inc()
            await roster.catch_up()
            await roster.refresh(customer_id, now)
        return changed
