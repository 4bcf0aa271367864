"""The live fold in one process, without Kafka: how many records/s the projections consumer's
work (decode, fold into all nine read models, mark boards, record positions) takes, and what
settling the marked boards afterwards costs.

The records are those of the steady-state lag (``bench.steady_lag.records``: the realistic
mix, CloudEvents as the relays publish them), folded in send order into a fresh embedded
SQLite store, in batches as the consumer takes them (``--batch`` records between two
writes of the boards' marks). It isolates the consumer's CPU cost from the broker and from
the machine's other load, so a change to the fold can be compared run to run::

    .venv/bin/python -m bench.live_fold 4000
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
from typing import Annotated

import typer

from bench.steady_lag import records
from crm_contracts import cloudevents
from crm_projections.application.boards import RowsProjector
from crm_projections.bootstrap import bootstrap
from crm_projections.config import ProjectionsSettings

cli = typer.Typer(add_completion=False, help=__doc__)


async def measure(count: int, batch: int, profile: Path | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-fold-"))
    service = bootstrap(ProjectionsSettings(data_dir=folder, embedded_backend="sqlite"))
    try:
        await service.start()
        sample, _ = records(count)
        now = datetime.now(UTC).isoformat()
        decoded = []
        for _, _, headers, body in sample:
            listed = {key: value.decode() for key, value in headers} | {"ce_time": now}
            metadata, event = cloudevents.decode(listed, body)
            decoded.append((metadata, event, cloudevents.decode_position(listed)))
        rows = [p for p in service.projectors if isinstance(p, RowsProjector)]
        spent = dict.fromkeys((p.name for p in service.projectors), 0.0)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        for start in range(0, len(decoded), batch):
            for projector in rows:
                projector.hold_marks()
            for metadata, event, position in decoded[start : start + batch]:
                for projector in service.projectors:
                    began = time.perf_counter()
                    await projector.apply(metadata, event)
                    if position is not None:
                        projector.record_position(metadata, position)
                    await projector.positions.flush_if_due()
                    spent[projector.name] += time.perf_counter() - began
            for projector in rows:
                await projector.write_marks()
        folded = time.perf_counter() - started
        began = time.perf_counter()
        settled = sum([await projector.refresh_pending() for projector in rows])
        settling = time.perf_counter() - began
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        print(f"{count:,} records folded in {folded:.2f} s: {count / folded:,.0f} records/s")
        print("seconds per read model: " + ", ".join(f"{k} {v:.2f}" for k, v in spent.items()))
        print(f"then {settled:,} boards settled in {settling:.2f} s")
    finally:
        await service.close()
        shutil.rmtree(folder, ignore_errors=True)


@cli.command()
def main(
    count: Annotated[int, typer.Argument(help="Records of the mix to fold.")] = 4000,
    batch: Annotated[int, typer.Option(help="Records per consumer batch.")] = 500,
    profile: Annotated[Path | None, typer.Option(help="Write a cProfile here.")] = None,
) -> None:
    asyncio.run(measure(count, batch, profile))


if __name__ == "__main__":
    cli()
