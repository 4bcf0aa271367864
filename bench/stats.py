"""Latency summaries and the rows of the report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latencies:
    """A latency sample in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latencies:
        if not seconds:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan)
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), max(ms), sum(ms) / len(ms))


@dataclass(frozen=True)
class Measure:
    """One row: a figure of the system beside the raw ceiling it is compared with.

    ``ratio`` is the share of the ceiling reached (1.0 = as fast as the raw path):
    figure / ceiling for rates, ceiling / figure for latencies.
    """

    name: str
    figure: float | None
    unit: str
    ceiling: float | None = None
    ceiling_name: str = ""
    lower_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not _usable(self.figure) or not _usable(self.ceiling):
            return None
        assert self.figure is not None and self.ceiling is not None
        return self.ceiling / self.figure if self.lower_is_better else self.figure / self.ceiling

    def as_json(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0
