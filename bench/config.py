"""What one benchmark run measures, and how long each stage may take."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchConfig:
    """Sizes and rates of one run; every stage stops by itself within its timeout."""

    # raw Kafka ceilings
    kafka_records: int = 20_000
    kafka_latency_records: int = 200
    kafka_latency_rate: float = 100.0
    # the running system (contacts API + outbox relay + projections). The rates are what
    # the embedded store sustains on a 2-core machine; past them latency is queueing only.
    warmup_commands: int = 10
    command_rate: float = 10.0
    command_seconds: float = 10.0
    lag_commands: int = 100
    lag_rate: float = 5.0
    lag_poll_seconds: float = 0.02
    closed_loop_commands: int = 150
    closed_loop_concurrency: int = 4
    closed_loop_seconds: float = 15.0
    backlog_commits: int = 200
    # raw store ceilings
    store_batch_docs: int = 5_000
    # rebuild of every read model from a mixed history of the four contexts (issue #6)
    rebuild_events: int = 1_000_000
    rebuild_seconds: float = 1_800.0  # past it, the rate of the part folded is reported
    rebuild_jobs: int = 2  # processes rebuilding side by side (crm projections rebuild --jobs)
    # steady-state lag of the projections service at a fixed event rate (issue #6)
    steady_rate: float = 2_000.0
    steady_seconds: float = 30.0
    steady_warmup_seconds: float = 5.0
    steady_grace_seconds: float = 60.0
    steady_poll_seconds: float = 0.02
    steady_replicas: int = 1  # projections processes in the consumer group (3 partitions)
    steady_groups: int = 2  # 1: one process folds every read model; 2: two groups of them
    steady_fetch_min_bytes: int = 1  # CRM_PROJECTIONS_FETCH_MIN_BYTES of the projections
    # which stages run (kafka, system, store, rebuild, lag)
    stages: tuple[str, ...] = ("kafka", "system", "store", "rebuild", "lag")
    rebuild_profile: Path | None = None  # cProfile the rebuild into this file
    # bounds (seconds)
    grace_seconds: float = 15.0
    settle_seconds: float = 20.0
    startup_seconds: float = 60.0
    budget_seconds: float = 4_800.0
    results_dir: Path = RESULTS_DIR

    @classmethod
    def quick(cls) -> BenchConfig:
        """A run of a few minutes: the same stages with small sizes."""
        return cls(
            kafka_records=5_000,
            kafka_latency_records=50,
            warmup_commands=5,
            command_seconds=3.0,
            lag_commands=20,
            closed_loop_commands=50,
            closed_loop_seconds=5.0,
            backlog_commits=50,
            store_batch_docs=2_000,
            rebuild_events=20_000,
            rebuild_seconds=120.0,
            steady_seconds=10.0,
            steady_warmup_seconds=2.0,
            steady_grace_seconds=20.0,
            grace_seconds=8.0,
            settle_seconds=8.0,
            budget_seconds=360.0,
        )

    def with_overrides(self, **changes: object) -> BenchConfig:
        """A copy with the options given on the command line (None means not given)."""
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]

    @property
    def open_loop_commands(self) -> int:
        return max(1, round(self.command_rate * self.command_seconds))

    def as_json(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["results_dir"] = str(self.results_dir)
        data["stages"] = list(self.stages)
        data["rebuild_profile"] = str(self.rebuild_profile) if self.rebuild_profile else None
        return data
