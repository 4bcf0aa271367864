"""One benchmark run: the stages in order, each bounded in time, failures kept to their stage.

Order: the broker and its raw ceilings, the running system and the
steady-state lag (which need the broker), then the store ceilings (sized by
what the system met) and the rebuild. ``BenchConfig.stages`` picks a subset.
A stage that fails or times out is reported as such and the run goes on; the
broker and every process and temporary folder are gone at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.console import Console

from bench.config import BenchConfig
from bench.kafka_ceiling import KafkaCeiling, measure_kafka
from bench.rebuild import RebuildResult, measure_rebuild
from bench.steady_lag import SteadyLagResult, measure_steady_lag
from bench.store_ceiling import StoreCeiling, measure_store
from bench.system_stage import SystemResult, measure_system
from crm_stack.embedded_broker import embedded_broker

T = TypeVar("T")


@dataclass
class StageOutcome:
    name: str
    status: str
    seconds: float
    traceback: str = ""


@dataclass
class RunResults:
    kafka: KafkaCeiling | None = None
    system: SystemResult = field(default_factory=SystemResult)
    store: StoreCeiling | None = None
    rebuild: RebuildResult | None = None
    steady: SteadyLagResult | None = None
    stages: list[StageOutcome] = field(default_factory=list)


class Run:
    def __init__(self, config: BenchConfig, console: Console) -> None:
        self.config = config
        self.console = console
        self.deadline = time.monotonic() + config.budget_seconds
        self.results = RunResults()

    async def stage(self, name: str, work: Callable[[], Awaitable[T]], limit: float) -> T | None:
        allowed = min(limit, self.deadline - time.monotonic())
        if allowed < 1:
            self.results.stages.append(StageOutcome(name, "skipped: run budget spent", 0.0))
            return None
        started = time.monotonic()
        status, value, trace = "ok", None, ""
        with self.console.status(f"{name} (at most {allowed:.0f} s)..."):
            try:
                async with asyncio.timeout(allowed):
                    value = await work()
            except TimeoutError:
                status = f"timed out after {allowed:.0f} s (partial results kept)"
            except Exception as error:
                status = f"failed: {type(error).__name__}: {str(error)[:300]}"
                trace = traceback.format_exc()
        seconds = time.monotonic() - started
        self.results.stages.append(StageOutcome(name, status, round(seconds, 1), trace))
        colour = "green" if status == "ok" else "red"
        self.console.print(f"[{colour}]{name}[/]: {status} ({seconds:.1f} s)")
        return value

    async def run(self) -> RunResults:
        config, results = self.config, self.results
        wanted = set(config.stages)
        with contextlib.ExitStack() as cleanup:
            bootstrap = None
            if wanted & {"kafka", "system", "lag"}:
                bootstrap = await self.stage(
                    "embedded broker", lambda: _enter(cleanup, embedded_broker()), 30
                )
            if bootstrap is not None and "kafka" in wanted:
                results.kafka = await self.stage(
                    "raw Kafka ceilings",
                    lambda: measure_kafka(
                        bootstrap,
                        config.kafka_records,
                        config.kafka_latency_records,
                        config.kafka_latency_rate,
                    ),
                    60,
                )
            if bootstrap is not None and "system" in wanted:
                await self.stage(
                    "running system (open loop, lag, closed loop, backlog)",
                    lambda: measure_system(bootstrap, config, results.system),
                    self._system_limit(),
                )
            if bootstrap is not None and "lag" in wanted:
                results.steady = await self.stage(
                    f"steady-state lag at {config.steady_rate:g} events/s, "
                    + (
                        f"{config.steady_replicas} projections process(es)"
                        if config.steady_groups == 1
                        else f"{config.steady_groups} projections processes folding groups"
                    ),
                    lambda: measure_steady_lag(
                        bootstrap,
                        config.steady_rate,
                        config.steady_seconds,
                        config.steady_warmup_seconds,
                        config.steady_grace_seconds,
                        config.steady_poll_seconds,
                        config.startup_seconds,
                        config.steady_replicas,
                        config.steady_groups,
                        config.steady_fetch_min_bytes,
                    ),
                    self._steady_limit(),
                )
        if "store" in wanted:
            results.store = await self.stage(
                "raw store ceilings",
                lambda: measure_store(config.store_batch_docs, self._ranges()),
                120,
            )
        if "rebuild" in wanted:
            # seeding takes its own time (about 3,000 events/s); the rebuild reports a
            # partial rate at its own limit: keep both inside the budget
            seeding = 120 + config.rebuild_events / 2_000
            left = self.deadline - time.monotonic() - seeding - 20
            limit = max(5.0, min(config.rebuild_seconds, left))
            results.rebuild = await self.stage(
                "projection rebuild (mixed history, every read model)",
                lambda: measure_rebuild(
                    config.rebuild_events, limit, config.rebuild_profile, config.rebuild_jobs
                ),
                limit + seeding,
            )
        return results

    def _steady_limit(self) -> float:
        c = self.config
        return (
            c.startup_seconds
            + 30  # building and encoding the records
            + c.steady_warmup_seconds
            + c.steady_seconds
            + c.steady_grace_seconds
            + 20
        )

    def _system_limit(self) -> float:
        c = self.config
        return (
            c.startup_seconds
            + c.lag_commands / c.lag_rate
            + c.command_seconds
            + c.closed_loop_seconds
            + 3 * c.grace_seconds
            + 5 * c.settle_seconds
        )

    def _ranges(self) -> list[tuple[int, int]]:
        """Collection sizes and counts of single inserts matching the command phases."""
        system, c = self.results.system, self.config
        opened = system.open_loop
        closed = system.closed_loop
        before_closed = c.warmup_commands + c.open_loop_commands + c.lag_commands
        return [
            (opened.from_commits, opened.load.sent)
            if opened
            else (c.warmup_commands, c.open_loop_commands),
            (closed.from_commits, max(1, closed.load.sent))
            if closed
            else (before_closed, c.closed_loop_commands),
        ]


async def _enter(stack: contextlib.ExitStack, context: contextlib.AbstractContextManager[T]) -> T:
    return await asyncio.to_thread(stack.enter_context, context)


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(x, 2) for x in load]}
