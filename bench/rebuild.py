"""Projection rebuild rate: seed a mixed history of the four contexts, rebuild every read model.

The history (``bench.mix``) is seeded in bulk into the four event stores of an
embedded SQLite store (commits as the services append them, personal fields
sealed), then every read model is rebuilt with ``application.rebuild.rebuild``
into a fresh projections database, as ``crm projections rebuild`` does it (a
new generation beside the serving one, switched when caught up). The raw
ceiling (``raw_rebuild``) reads the same commits and writes one document per
stream with ``insert_many``, in the same run on the same store: once before the rebuild
and once after it, the faster kept. This machine's speed drifts within minutes, and one
run of the ceiling varied from 28 to 40 s at 1,000,000 events; the faster of two, taken
on either side of the rebuild, is the steadier bar (ADR 30). Both run with
Python's collector tuned as ``crm projections rebuild`` tunes it, and paused while they
fold, as ``rebuild`` pauses it (``crm_runtime.collector``). If the rebuild outlasts its
time limit, the rate of the part done is reported and the row says so.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import itertools
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tinymongo

from bench.commits import verify_shape
from bench.mix import DATABASES, by_context, mixed_history
from bench.mix_seed import in_source_order, opener, seed_mix, stores
from bench.raw_rebuild import raw_rebuild
from crm_projections.application.rebuild import HISTORY, Source, rebuild
from crm_projections.application.rebuild_jobs import Job, plan, rebuild_in_jobs
from crm_projections.bootstrap import bootstrap
from crm_projections.config import READ_MODELS, ProjectionsSettings
from crm_runtime.collector import paused, tune_collector
from crm_runtime.documents import open_document_client
from crm_runtime.settings import RuntimeSettings


@dataclass(frozen=True)
class RebuildResult:
    events: int
    customers: int
    commits: int
    seed_seconds: float
    folded: int  # events folded before the end (or the time limit)
    seconds: float  # the whole rebuild (history, catch-up, switch, drop)
    complete: bool
    raw_seconds: float  # the faster of ``raw_runs``
    read_models: int
    jobs: int
    mix: dict[str, int] = field(default_factory=dict)
    raw_runs: list[float] = field(default_factory=list)  # the ceiling before and after
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.folded / self.seconds if self.seconds else 0.0

    @property
    def raw_rate(self) -> float:
        return self.events / self.raw_seconds if self.raw_seconds else 0.0


async def measure_rebuild(
    events: int, limit: float, profile: Path | None = None, jobs: int = 1
) -> RebuildResult:
    """``jobs`` > 1 rebuilds as ``crm projections rebuild --jobs`` does (a process per group
    of read models); a profiled rebuild runs in this process (one job)."""
    scratch = tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)
    try:
        await verify_shape(scratch)
    finally:
        await scratch.close()
    jobs = 1 if profile is not None else jobs
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-rebuild-"))
    settings = ProjectionsSettings(data_dir=folder, embedded_backend="sqlite")
    client = open_document_client(RuntimeSettings(data_dir=folder, embedded_backend="sqlite"))
    try:
        history = mixed_history(events, tag="rebuild")
        started = time.perf_counter()
        seeded = await seed_mix(client, history)
        seed_seconds = time.perf_counter() - started

        collector = gc.get_threshold()
        tune_collector(settings.gc_threshold)  # as ``crm projections rebuild`` does
        raw_runs = [await _ceiling(client, "raw_rebuild")]

        service = bootstrap(settings, document_client=client)
        sources = [
            Source(store, opener(client, context)) for context, store in stores(client).items()
        ]
        events_after = list(itertools.accumulate(len(c.events) for c in in_source_order(history)))
        done = {"commits": 0}
        phases: dict[str, float] = {}
        current = {"phase": ""}
        began = {"at": 0.0}

        def on_phase(phase: str, total: int) -> None:
            now = time.perf_counter()
            if current["phase"]:
                phases[current["phase"]] = round(now - began["at"], 2)
            current["phase"], began["at"] = phase, now

        def on_progress(commits: int, total: int) -> None:
            if current["phase"] == HISTORY:
                done["commits"] = commits

        split = plan(READ_MODELS, jobs)
        history_done = {job.index: 0 for job in split}
        job_phase: dict[int, tuple[str, float]] = {}

        def on_job_phase(job: Job, phase: str, total: int) -> None:
            now = time.perf_counter()
            if job.index in job_phase:
                last, since = job_phase[job.index]
                phases[f"job {job.index + 1}: {last}"] = round(now - since, 2)
            job_phase[job.index] = (phase, now)

        def on_job_progress(job: Job, commits: int, total: int) -> None:
            if job_phase.get(job.index, ("", 0.0))[0] == HISTORY:
                history_done[job.index] = commits
                done["commits"] = min(history_done.values())

        profiler = _profiler(profile)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                if len(split) == 1:
                    await rebuild(
                        service.projectors, sources, on_progress=on_progress, on_phase=on_phase
                    )
                else:
                    await rebuild_in_jobs(
                        settings,
                        split,
                        grace=0.0,
                        on_phase=on_job_phase,
                        on_progress=on_job_progress,
                    )
            complete = True
        except TimeoutError:
            complete = False
        seconds = time.perf_counter() - started
        raw_runs.append(await _ceiling(client, "raw_rebuild_after"))
        gc.set_threshold(*collector)
        gc.unfreeze()
        on_phase("", 0)
        for job in split:
            if job.index in job_phase:
                on_job_phase(job, "", 0)
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        folded = events_after[done["commits"] - 1] if done["commits"] else 0
        return RebuildResult(
            events=seeded,
            customers=sum(1 for c in history if c.context == "contacts" and c.first == 1),
            commits=len(history),
            seed_seconds=round(seed_seconds, 1),
            folded=seeded if complete else folded,
            seconds=seconds,
            complete=complete,
            raw_seconds=min(raw_runs),
            raw_runs=raw_runs,
            read_models=len(service.projectors),
            jobs=len(split),
            mix=by_context(history),
            phases=phases,
        )
    finally:
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)


async def _ceiling(client: Any, target: str) -> float:
    """Seconds of one run of the raw ceiling into the fresh database ``target``, with the
    collector paused as the rebuild's folding phases run it."""
    with paused():
        return await raw_rebuild([client[DATABASES[c]] for c in DATABASES], client[target])


def _profiler(path: Path | None) -> cProfile.Profile | None:
    if path is None:
        return None
    profiler = cProfile.Profile()
    profiler.enable()
    return profiler
