"""Output of a run: one rich table on the terminal, and the full record as JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.stats import Measure

CEILING_NOTES = (
    "ratio = share of the ceiling reached, 1.00 = as fast as the raw path "
    "(figure/ceiling for rates, ceiling/figure for latencies); every ceiling is "
    "measured in this run, on this machine.",
    "raw insert_one: one commit document at a time into a fresh embedded SQLite commits "
    "collection with the event store's indexes, over the same collection sizes the "
    "commands met.",
    "raw produce-to-consume: our CloudEvents records through the same embedded broker "
    "with plain aiokafka, no store, no relay, no projection.",
    "raw produce/consume rate: plain aiokafka, default producer settings (as FastStream "
    "uses), 3 partitions, records encoded before timing.",
    "raw read + batched write: the same commits of the four event stores read in "
    "position order, one document per stream written with insert_many; no decryption, "
    "no domain logic, no per-event read-modify-write.",
    "steady-state lag: records produced open loop at the rate, probes (registrations and "
    "orders placed) timed from their scheduled send to their row in customer_rows or "
    "order_rows (the last read model of each group folded); target p99 < 1 s.",
)


def table(measures: Sequence[Measure], ceilings: Sequence[Measure], title: str) -> Table:
    grid = Table(title=title, title_justify="left")
    grid.add_column("measure")
    grid.add_column("figure", justify="right")
    grid.add_column("ceiling", justify="right")
    grid.add_column("ceiling is")
    grid.add_column("ratio", justify="right")
    for row in measures:
        ceiling = f"{_number(row.ceiling)} {row.unit}" if row.ceiling_name else ""
        figure = f"{_number(row.figure)} {row.unit}"
        grid.add_row(row.name, figure, ceiling, row.ceiling_name, _ratio(row.ratio))
    grid.add_section()
    for row in ceilings:
        grid.add_row(f"[dim]ceiling:[/] {row.name}", f"{_number(row.figure)} {row.unit}")
    return grid


def print_report(
    console: Console, measures: Sequence[Measure], ceilings: Sequence[Measure], title: str
) -> None:
    console.print(table(measures, ceilings, title))
    for row in [*measures, *ceilings]:
        if row.note:
            console.print(f"  [dim]{row.name}:[/] {row.note}")
    for note in CEILING_NOTES:
        console.print(f"  [dim]- {note}[/]")


def write_json(folder: Path, started: datetime, record: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(_clean(record), indent=2, default=str) + "\n")
    return path


def _clean(value: Any) -> Any:
    """JSON without NaN, dataclasses as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _clean(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "n/a"
    if ratio >= 0.1:
        return f"{ratio:.2f}"
    return f"{ratio:.2g} (1/{1 / ratio:,.0f})"
