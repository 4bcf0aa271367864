"""The deadline loop: leader-only rounds that wake the sagas that are due.

A saga is due when its deadline passed (a step took too long, the coupon's end came
unpaid), when the pause after a failed command ended, or when a command stayed unanswered
past the grace period (the process that sent it died). Every round the holder of the
lease asks the ``sagas`` collection for due sagas (indexed on status and ``due_at``) and
advances each. Safe with two replicas, even when both run a round at once: a deadline is
recorded compare-and-set on the saga's revision (the loser reads again and finds it
passed), an answer only while its step is outstanding, and a command sent twice carries
one Idempotency-Key, which the owning service answers once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry, Gauge

from crm_runtime.foundations import new_id
from crm_runtime.leases import Lease
from crm_runtime.scheduling import LeaderMetrics, LeasedScheduler
from crm_sagas.application.runner import TURN, SagaRunner
from crm_sagas.domain.saga import Status

CONTEXT = "sagas"
log = structlog.get_logger("crm.sagas.deadlines")


class DeadlineLoop(LeasedScheduler):
    def __init__(
        self,
        runner: SagaRunner,
        lease: Lease,
        registry: CollectorRegistry,
        *,
        clock: Callable[[], datetime],
        interval_seconds: float,
        batch_size: int = 100,
    ) -> None:
        super().__init__(
            CONTEXT, lease, LeaderMetrics(registry, CONTEXT),
            interval_seconds=interval_seconds, new_id=new_id,
        )  # fmt: skip
        self._runner = runner
        self._clock = clock
        self._batch = batch_size
        self._states = Gauge(
            "crm_saga_states",
            "Sagas by type and status, counted by the deadline loop's leader each round.",
            ["type", "status"],
            registry=registry,
        )

    async def check_due(self) -> int:
        """Advance every saga due now; answers how many it woke."""
        woken = 0
        for saga_id in await self._runner.documents.due(self._clock(), self._batch):
            try:
                await self._runner.advance(saga_id, max_rounds=TURN)
            except Exception:
                log.exception("saga could not advance; next round", saga_id=saga_id)
                continue
            woken += 1
        await self.count_states()
        return woken

    async def count_states(self) -> None:
        """Refresh the saga-states gauge (one indexed count per type and status)."""
        for type_ in self._runner.flows:
            for status in Status:
                count = await self._runner.documents.count(type_=type_, status=status.value)
                self._states.labels(type_, status.value).set(count)
