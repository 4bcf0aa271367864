"""The running system, phase by phase: warm-up, open loop, lag, closed loop, backlog drain.

One set of processes (contacts API, outbox relay, projections) serves every
phase, as in production where the relay and projections run beside the API.
Between phases the harness waits until everything is published and projected.
The store grows phase by phase; each result records how many commits the
store held when its phase began, and the raw store ceiling is measured over
the same sizes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench.client import CrmClient
from bench.config import BenchConfig
from bench.drain import DrainResult, measure_drain, settle
from bench.lag import LagResult, measure_lag
from bench.load import LoadResult, Send, closed_loop, open_loop
from bench.system import RunningSystem, running_system

COMPONENTS = ("contacts", "contacts-relay", "projections")


@dataclass(frozen=True)
class Phase:
    """Commits in the store when the phase began, and what the phase measured."""

    from_commits: int
    load: LoadResult


@dataclass
class SystemResult:
    """Filled phase by phase: what finished stays here if a later phase times out."""

    lag: LagResult | None = None
    lag_from_commits: int = 0
    open_loop: Phase | None = None
    closed_loop: Phase | None = None
    drain: DrainResult | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)  # settling waits included


async def measure_system(bootstrap: str, config: BenchConfig, result: SystemResult) -> None:
    clock = _PhaseClock(result)
    async with (
        running_system(bootstrap, COMPONENTS, config.startup_seconds) as system,
        CrmClient(system, config.grace_seconds) as client,
    ):
        clock.lap("startup")
        warmup = _numbered(client, 0)
        await closed_loop(warmup, config.warmup_commands, 1, config.grace_seconds)
        await settle(system, config.settle_seconds)
        clock.lap("warm-up")

        size = await _commits(system)
        load = await open_loop(
            _numbered(client, 100_000),
            config.open_loop_commands,
            config.command_rate,
            config.grace_seconds,
        )
        result.open_loop = Phase(size, load)
        await settle(system, config.settle_seconds)
        clock.lap("open loop")

        result.lag_from_commits = await _commits(system)
        result.lag = await measure_lag(
            client,
            system.projections_db["customer360"],
            config.lag_commands,
            config.lag_rate,
            config.lag_poll_seconds,
            config.grace_seconds,
            first=200_000,
        )
        await settle(system, config.settle_seconds)
        clock.lap("lag")

        size = await _commits(system)
        load = await closed_loop(
            _numbered(client, 300_000),
            config.closed_loop_commands,
            config.closed_loop_concurrency,
            config.closed_loop_seconds,
        )
        result.closed_loop = Phase(size, load)
        await settle(system, config.settle_seconds)
        clock.lap("closed loop")

        result.drain = await measure_drain(system, config.backlog_commits, config.settle_seconds)
        clock.lap("backlog")


def _numbered(client: CrmClient, offset: int) -> Send:
    async def send(index: int) -> None:
        await client.register(offset + index)

    return send


async def _commits(system: RunningSystem) -> int:
    return int(await system.contacts_db["commits"].count_documents({}))


class _PhaseClock:
    def __init__(self, result: SystemResult) -> None:
        self._result = result
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self._result.phase_seconds[phase] = round(now - self._last, 1)
        self._last = now
