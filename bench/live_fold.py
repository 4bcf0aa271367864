"""The live fold in one process, without Kafka: how many records/s the projections consumer's
work (decode, fold into all nine read models, mark boards, record positions, spans) takes,
and what settling the marked boards afterwards costs.

The records are those of the steady-state lag (``bench.steady_lag.records``: the realistic
mix, CloudEvents as the relays publish them), handed in send order to the service's own
``ProjectionConsumer.fold_batch`` in batches as the consumer takes them (``--batch``
records), into a fresh embedded SQLite store. ``--record-by-record`` folds each batch the
way the consumer falls back to (every record into every read model, one store round trip
each), for comparison. It isolates the consumer's CPU cost from the broker and from the
machine's other load, so a change to the fold can be compared run to run::

    .venv/bin/python -m bench.live_fold 4000
    .venv/bin/python -m bench.live_fold 4000 --record-by-record
    .venv/bin/python -m bench.live_fold 4000 --profile /tmp/fold.prof

It is a development tool, not a stage of ``make bench``: the lag stage measures the same
work through the broker, as the service runs it.
"""

from __future__ import annotations

import asyncio
import cProfile
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import typer
from prometheus_client import Counter

from bench.steady_lag import records
from crm_projections.application.boards import RowsProjector
from crm_projections.bootstrap import bootstrap
from crm_projections.config import ProjectionsSettings
from crm_projections.entrypoints.consumer import OneRecord, ProjectionConsumer

cli = typer.Typer(add_completion=False, help=__doc__)


async def measure(count: int, batch: int, profile: Path | None, one_pass: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-fold-"))
    service = bootstrap(ProjectionsSettings(data_dir=folder, embedded_backend="sqlite"))
    try:
        await service.start()
        sample, _ = records(count)
        now = datetime.now(UTC).isoformat()
        prepared = [
            OneRecord(
                raw_message=SimpleNamespace(topic=topic, partition=0, offset=offset, key=key),
                headers={k: v.decode() for k, v in headers} | {"ce_time": now},
                body=body,
            )
            for offset, (topic, key, headers, body) in enumerate(sample)
        ]
        counts = Counter("events", "Events by outcome.", ["projection", "outcome"], registry=None)
        consumer = ProjectionConsumer(service, counts, one_pass=one_pass)
        rows = [p for p in service.projectors if isinstance(p, RowsProjector)]
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(prepared), batch):
            await consumer.fold_batch(prepared[start : start + batch])
        folded, cpu = time.perf_counter() - started, time.process_time() - cpu
        began = time.perf_counter()
        settled = sum([await projector.refresh_pending() for projector in rows])
        settling = time.perf_counter() - began
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        way = "in one pass per batch" if one_pass else "record by record"
        print(
            f"{count:,} records folded {way} in {folded:.2f} s: {count / folded:,.0f} records/s"
            f" ({1000 * cpu / count:.3f} ms of CPU per record)"
        )
        print(f"then {settled:,} boards settled in {settling:.2f} s")
    finally:
        await service.close()
        shutil.rmtree(folder, ignore_errors=True)


@cli.command()
def main(
    count: Annotated[int, typer.Argument(help="Records of the mix to fold.")] = 4000,
    batch: Annotated[int, typer.Option(help="Records per consumer batch.")] = 500,
    profile: Annotated[Path | None, typer.Option(help="Write a cProfile here.")] = None,
    record_by_record: Annotated[
        bool, typer.Option(help="Fold as the consumer's fallback does, for comparison.")
    ] = False,
) -> None:
    asyncio.run(measure(count, batch, profile, not record_by_record))


if __name__ == "__main__":
    cli()
