"""``python -m bench`` (``make bench``): run the benchmark, print the table, write the JSON."""

from __future__ import annotations

import asyncio
import platform
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from bench.config import BenchConfig
from bench.measures import (
    ceiling_measures,
    rebuild_measure,
    steady_measures,
    system_measures,
)
from bench.report import print_report, write_json
from bench.runner import Run, machine

cli = typer.Typer(add_completion=False, help=__doc__)


@cli.command()
def main(
    quick: Annotated[bool, typer.Option(help="Small sizes: a few minutes in all.")] = False,
    rate: Annotated[float | None, typer.Option(help="Open-loop command rate (/s).")] = None,
    seconds: Annotated[float | None, typer.Option(help="Open-loop duration (s).")] = None,
    closed_commands: Annotated[int | None, typer.Option(help="Closed-loop commands.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Closed-loop clients.")] = None,
    lag_commands: Annotated[int | None, typer.Option(help="Commands timed for lag.")] = None,
    lag_rate: Annotated[float | None, typer.Option(help="Rate of the lag commands (/s).")] = None,
    backlog: Annotated[int | None, typer.Option(help="Commits of the drain backlog.")] = None,
    rebuild_events: Annotated[int | None, typer.Option(help="Events to rebuild from.")] = None,
    rebuild_seconds: Annotated[float | None, typer.Option(help="Rebuild time limit.")] = None,
    rebuild_profile: Annotated[
        Path | None, typer.Option(help="cProfile the rebuild into this file (one job).")
    ] = None,
    rebuild_jobs: Annotated[
        int | None,
        typer.Option(min=1, help="Processes rebuilding side by side (default 2)."),
    ] = None,
    steady_rate: Annotated[
        float | None, typer.Option(help="Events/s of the steady-state lag.")
    ] = None,
    steady_seconds: Annotated[
        float | None, typer.Option(help="Measured seconds of the steady-state lag.")
    ] = None,
    steady_replicas: Annotated[
        int | None,
        typer.Option(help="Projections processes in the consumer group for the steady lag."),
    ] = None,
    steady_groups: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=2,
            help="Projections processes folding groups of the read models for the steady "
            "lag: 2 (default) splits them in two processes, 1 folds all in one.",
        ),
    ] = None,
    steady_fetch_min_bytes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CRM_PROJECTIONS_FETCH_MIN_BYTES of the projections processes for the steady "
            "lag (default 1, the service's default).",
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(help="Stages to run, comma-separated: kafka,system,store,rebuild,lag."),
    ] = None,
    kafka_records: Annotated[int | None, typer.Option(help="Records for raw Kafka.")] = None,
    budget: Annotated[float | None, typer.Option(help="Whole-run time limit (s).")] = None,
    results: Annotated[Path | None, typer.Option(help="Folder of the JSON results.")] = None,
) -> None:
    """Measure the CRM beside raw ceilings taken in the same run (see bench/README.md)."""
    base = BenchConfig.quick() if quick else BenchConfig()
    config = base.with_overrides(
        command_rate=rate,
        command_seconds=seconds,
        closed_loop_commands=closed_commands,
        closed_loop_concurrency=concurrency,
        lag_commands=lag_commands,
        lag_rate=lag_rate,
        backlog_commits=backlog,
        rebuild_events=rebuild_events,
        rebuild_seconds=rebuild_seconds,
        rebuild_profile=rebuild_profile,
        rebuild_jobs=rebuild_jobs,
        steady_rate=steady_rate,
        steady_seconds=steady_seconds,
        steady_replicas=steady_replicas,
        steady_groups=steady_groups,
        steady_fetch_min_bytes=steady_fetch_min_bytes,
        stages=tuple(x.strip() for x in only.split(",") if x.strip()) if only else None,
        kafka_records=kafka_records,
        budget_seconds=budget,
        results_dir=results,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # so every finally block runs on SIGTERM too
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # a log or a pipe: do not wrap the table at 80 columns
    started_at, started, load_before = datetime.now(UTC), time.monotonic(), machine()
    try:
        outcome = asyncio.run(Run(config, console).run())
    except KeyboardInterrupt:
        console.print(
            "[red]interrupted[/]: the broker, the services and the temporary stores "
            "are stopped and removed; no results written"
        )
        raise typer.Exit(130) from None
    wall = time.monotonic() - started

    rows = [
        *system_measures(config, outcome.system, outcome.kafka, outcome.store),
        *steady_measures(config, outcome.steady, outcome.kafka),
        rebuild_measure(config, outcome.rebuild),
    ]
    ceilings = ceiling_measures(outcome.kafka, outcome.store)
    title = (
        f"CRM benchmark {started_at:%Y-%m-%d %H:%M} UTC, {'quick' if quick else 'default'} run, "
        f"{wall:.0f} s, load average {load_before['loadavg_1_5_15'][0]} at the start"
    )
    print_report(console, rows, ceilings, title)
    record = {
        "started_at": started_at.isoformat(),
        "wall_seconds": round(wall, 1),
        "mode": "quick" if quick else "default",
        "config": config.as_json(),
        "machine": {"before": load_before, "after": machine(), "python": platform.python_version()},
        "stages": outcome.stages,
        "measures": [row.as_json() for row in rows],
        "ceilings": [row.as_json() for row in ceilings],
        "details": {
            "kafka": outcome.kafka,
            "system": outcome.system,
            "store": outcome.store,
            "rebuild": outcome.rebuild,
            "steady_lag": outcome.steady,
        },
    }
    path = write_json(config.results_dir, started_at, record)
    console.print(f"results: {path}")
    if any(stage.status != "ok" for stage in outcome.stages):
        raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


if __name__ == "__main__":
    cli()
