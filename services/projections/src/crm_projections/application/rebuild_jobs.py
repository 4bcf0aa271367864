"""A rebuild split between processes, each rebuilding a group of the read models (ADR 23).

Every read model is rebuilt on its own generation and switched on its own
(``application.rebuild``), so groups of them can be rebuilt side by side: each
job is a process of its own (``multiprocessing``'s spawn start method: a clean
interpreter, nothing of the parent's event loop or connections), which reads the
stores its group folds events of and folds only its group's read models. The
Python work (opening, parsing, folding), not the store, is the rebuild's cost, so on
N cores N jobs rebuild in about the time of the heaviest job. Two jobs that fold the
same context each read its store.

A read model whose documents combine from parts (``ReadModel.combine``: the customer
360, whose sections each come from one kind of stream) may be split by context between
jobs (``rebuild.Part``, ADR 27): each folds its contexts' history, and the job with the
first context owns it, combining the other parts before it catches up and switches. The
360 reads every store; split, no store is read for it twice.

Groups are made by ``plan`` from measured costs (``READ_COST`` per store read,
``FOLD_COST`` per read model). A job reports its phases and progress to the parent
through a queue (progress at most every ``REPORT_SECONDS``); a job that fails abandons
its own unswitched generations (``rebuild`` does) and reports why; a job that dies
outright is noticed by its exit code. The parent fails when any job did, after all
have stopped: read models already switched stay switched (each is a complete rebuild),
the others go on serving their old generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from crm_projections.application.rebuild import Part, reason_of
from crm_projections.config import READ_MODELS, ProjectionsSettings
from crm_projections.domain import (
    customer360,
    customer_rows,
    deal_rows,
    forecast,
    member_rows,
    order_rows,
    receivables,
    stores,
    ticket_rows,
)
from crm_projections.domain.streams import folded_contexts

log = structlog.get_logger("crm.projections.rebuild")

READS: dict[str, frozenset[str]] = {
    model.name: folded_contexts(model)
    for model in (
        customer360.MODEL,
        receivables.MODEL,
        forecast.MODEL,
        stores.MODEL,
        deal_rows.MODEL,
        ticket_rows.MODEL,
        member_rows.MODEL,
        customer_rows.MODEL,
        order_rows.MODEL,
    )
}
"""The contexts whose events each read model folds (``streams.folded_contexts``): a job
reads, opens and parses the events of these stores only."""
READ_COST: dict[str, float] = {"contacts": 1.7, "pipeline": 0.8, "tickets": 1.0, "loyalty": 0.3}
FOLD_COST: dict[str, float] = {
    "customer360": 3.4,
    "customer_rows": 1.8,
    "receivables_by_rep": 0.3,
    "forecast": 0.5,
    "stores": 0.1,
    "deals": 1.1,
    "tickets": 0.7,
    "members": 1.0,
    "order_rows": 0.9,
}
"""CPU-seconds a rebuild of 100,000 events of the bench's mix spends reading, opening and
parsing each context's events (``READ_COST``), and folding each read model (``FOLD_COST``),
fitted to rebuilds of each read model alone and of groups of them (2026-12-07, ADR 27).
Only their ratios matter."""
PART_COST: dict[str, dict[str, float]] = {
    "customer360": {"contacts": 1.1, "pipeline": 1.2, "tickets": 0.5, "loyalty": 0.6},
}
"""For a read model whose documents combine from parts (``ReadModel.combine``): what folding
the events of each context costs, as ``FOLD_COST`` (they add up to it)."""
COMBINE_COST = 0.3
"""What the job that owns a split read model spends reading and combining each other part."""
CONTEXTS = tuple(READ_COST)
"""The contexts in a fixed order: the job folding a split read model's first context owns it."""
PLANNED = 5_000
"""Up to this many groupings, ``plan`` tries every one; beyond, it places the read models
(and parts) one by one."""
REPORT_SECONDS = 0.2
POLL_SECONDS = 0.2
STOP_SECONDS = 30.0
"""How long a job is given to stop (its generations abandoned) once the parent stops."""


class RebuildFailed(RuntimeError):
    """One or more jobs of a rebuild failed; ``failures`` maps each job to its reason."""

    def __init__(self, failures: dict[int, str]) -> None:
        super().__init__(
            "; ".join(f"job {job + 1}: {reason.strip()}" for job, reason in failures.items())
        )
        self.failures = failures


@dataclass(frozen=True)
class Job:
    """One process of a rebuild: its number, the read models it rebuilds (in fold order)
    and, of those split between jobs, the part it folds (``parts``)."""

    index: int
    read_models: tuple[str, ...]
    parts: tuple[Part, ...] = ()

    @property
    def label(self) -> str:
        """``customer360 (contacts, tickets) + customer_rows``: what the job rebuilds."""
        parts = {part.read_model: part for part in self.parts}
        return " + ".join(
            f"{name} ({', '.join(parts[name].contexts)})" if name in parts else name
            for name in self.read_models
        )


def plan(read_models: Sequence[str], jobs: int) -> list[Job]:
    """At most ``jobs`` groups of ``read_models``, none empty, each in fold order
    (``READ_MODELS``): the grouping whose heaviest job costs least, the CPU of all jobs
    counted a little too (two jobs that read the same store each read it). A job's cost is
    its stores' ``READ_COST`` plus its read models' ``FOLD_COST``. A read model of
    ``PART_COST`` may be split by context between jobs: each job folds the events of its
    contexts in the history phase, and the job with the first context (``CONTEXTS``) owns
    it (``Part``), combining the others' parts (``COMBINE_COST`` each). Deterministic: the
    same names, the same groups."""
    if jobs < 1:
        raise ValueError(f"a rebuild needs at least one job, not {jobs}")
    unknown = [name for name in read_models if name not in READ_MODELS]
    if unknown:
        raise ValueError(f"not read models: {', '.join(unknown)}")
    chosen = sorted(dict.fromkeys(read_models), key=READ_MODELS.index)
    items = [
        share
        for name in chosen
        for share in (
            [_share(name, c) for c in CONTEXTS if c in READS[name]]
            if name in PART_COST and jobs > 1
            else [name]
        )
    ]
    if _grouping_count(len(items), jobs) <= PLANNED:
        groups = min(_groupings(items, jobs), key=_score)
    else:
        groups = _placed(items, jobs)
    ordered = sorted(
        (sorted(g, key=_order) for g in groups if g), key=lambda g: [_order(i) for i in g]
    )
    return _jobs(ordered)


def _share(name: str, context: str) -> str:
    return f"{name}@{context}"


def _split(item: str) -> tuple[str, str | None]:
    name, _, context = item.partition("@")
    return name, context or None


def _order(item: str) -> tuple[int, int]:
    name, context = _split(item)
    return READ_MODELS.index(name), -1 if context is None else CONTEXTS.index(context)


def _jobs(groups: list[list[str]]) -> list[Job]:
    """The jobs of ``groups`` of items: a read model whose shares all fell in one group is
    rebuilt whole there; one whose shares fell in several is a ``Part`` in each."""
    split = _split_between(groups)
    jobs = []
    for index, group in enumerate(groups):
        names = tuple(dict.fromkeys(_split(item)[0] for item in group))
        parts = []
        for name in names:
            if name in split:
                held = dict(split[name])
                every = tuple(held.values())
                owner = _owner(split[name]) == index
                parts.append(Part(name, held[index], owner=owner, every=every))
        jobs.append(Job(index, names, tuple(parts)))
    return jobs


def _split_between(groups: list[list[str]]) -> dict[str, list[tuple[int, tuple[str, ...]]]]:
    """The read models whose shares fell in more than one group: per group holding some,
    its index and the contexts it holds (in ``CONTEXTS`` order)."""
    held: dict[str, dict[int, list[str]]] = {}
    for index, group in enumerate(groups):
        for item in group:
            name, context = _split(item)
            if context is not None:
                held.setdefault(name, {}).setdefault(index, []).append(context)
    return {
        name: [(index, tuple(sorted(cs, key=CONTEXTS.index))) for index, cs in by.items()]
        for name, by in held.items()
        if len(by) > 1
    }


def _owner(held: list[tuple[int, tuple[str, ...]]]) -> int:
    """Of the groups holding parts of one read model, the one with its first context."""
    return min(held, key=lambda h: min(CONTEXTS.index(c) for c in h[1]))[0]


def _cost(group: Sequence[str], combined: Sequence[str] = ()) -> float:
    """``group``'s cost; ``combined``: a split read model's name for each part of it the
    group combines into its own."""
    contexts: set[str] = set()
    folds = 0.0
    for item in group:
        name, context = _split(item)
        if context is None:
            contexts |= READS[name]
            folds += FOLD_COST[name]
        else:
            contexts.add(context)
            folds += PART_COST[name][context]
    return sum(READ_COST[c] for c in contexts) + folds + COMBINE_COST * len(combined)


def _score(groups: list[list[str]]) -> tuple[float, int]:
    owners: dict[int, list[str]] = {}
    for name, held in _split_between(groups).items():
        owners.setdefault(_owner(held), []).extend([name] * (len(held) - 1))
    costs = [_cost(group, owners.get(index, [])) for index, group in enumerate(groups)]
    return (round(max(costs) + 0.1 * sum(costs), 6), len(groups))


def _grouping_count(items: int, jobs: int) -> int:
    """How many ways ``_groupings`` has: the partitions of ``items`` into at most ``jobs``
    blocks (Stirling numbers of the second kind, summed)."""
    row = [1] + [0] * jobs  # S(0, k)
    for _ in range(items):
        row = [0] + [k * row[k] + row[k - 1] for k in range(1, jobs + 1)]
    return sum(row) if items else 1


def _groupings(names: list[str], jobs: int) -> Iterator[list[list[str]]]:
    """Every way to split ``names`` into at most ``jobs`` non-empty groups, each once."""
    if not names:
        yield []
        return
    first, rest = names[0], names[1:]
    for grouping in _groupings(rest, jobs):
        for index in range(len(grouping)):
            yield [*grouping[:index], [first, *grouping[index]], *grouping[index + 1 :]]
        if len(grouping) < jobs:
            yield [[first], *grouping]


def _placed(names: list[str], jobs: int) -> list[list[str]]:
    """Each read model (or part), heaviest first, into the group it makes least costly."""
    groups: list[list[str]] = [[] for _ in range(jobs)]
    for name in sorted(names, key=lambda n: (-_cost([n]), _order(n))):
        best = min(range(jobs), key=lambda g: (_cost([*groups[g], name]), g))
        groups[best].append(name)
    return [group for group in groups if group]


async def rebuild_in_jobs(
    settings: ProjectionsSettings,
    jobs: Sequence[Job],
    *,
    grace: float,
    on_phase: Callable[[Job, str, int], Any] = lambda job, phase, total: None,
    on_progress: Callable[[Job, int, int], Any] = lambda job, done, total: None,
) -> dict[int, dict[str, int]]:
    """Run each of ``jobs`` in a process of its own, with ``settings`` (as given, not read
    again from the environment); answers, per job, what ``rebuild`` answered there (the
    events read and, per read model, the events applied). Raises ``RebuildFailed`` when
    any job failed."""
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    run = uuid.uuid4().hex[:12]
    processes = {
        job.index: context.Process(
            target=_run_job,
            args=(settings, job, grace, reports, run),
            name=f"crm-rebuild-{job.index + 1}",
            daemon=True,
        )
        for job in jobs
    }
    by_index = {job.index: job for job in jobs}
    totals: dict[int, dict[str, int]] = {}
    failures: dict[int, str] = {}
    finished: set[int] = set()
    waiting = _waiting_on(jobs)
    for process in processes.values():
        process.start()
    stopped = False
    try:
        while len(finished) < len(processes):
            for index in sorted(failures):  # the owner of its part would wait for ever
                for owner in sorted(waiting.get(index, set()) - finished - failures.keys()):
                    failures[owner] = f"stopped: job {index + 1}, folding a part of it, failed"
                    processes[owner].terminate()
            report = await asyncio.to_thread(_next_report, reports)
            if report is None:
                for index, process in processes.items():
                    if index not in finished and process.exitcode is not None:
                        await asyncio.to_thread(_drain, reports, totals, failures)
                        if index not in totals and index not in failures:
                            failures[index] = f"the process exited with {process.exitcode}"
                        finished.add(index)
                continue
            kind, index, *values = report
            job = by_index[index]
            if kind == "phase":
                on_phase(job, values[0], values[1])
            elif kind == "progress":
                on_progress(job, values[0], values[1])
            elif kind == "done":
                totals[index] = values[0]
                finished.add(index)
            elif kind == "failed":
                failures.setdefault(index, values[0])
                finished.add(index)
        stopped = True
    finally:
        for process in processes.values():
            if not stopped and process.is_alive():
                process.terminate()  # the job abandons its generations (``_run_job``)
        for process in processes.values():
            await asyncio.to_thread(process.join, STOP_SECONDS)
        reports.close()
    if failures:
        raise RebuildFailed(dict(sorted(failures.items())))
    return dict(sorted(totals.items()))


def _waiting_on(jobs: Sequence[Job]) -> dict[int, set[int]]:
    """Per job, the jobs owning a read model it folds a part of: they wait for that part."""
    owners = {part.read_model: job.index for job in jobs for part in job.parts if part.owner}
    return {
        job.index: {
            owners[p.read_model] for p in job.parts if not p.owner and p.read_model in owners
        }
        for job in jobs
    }


def _next_report(reports: Any) -> tuple[Any, ...] | None:
    try:
        report: tuple[Any, ...] = reports.get(timeout=POLL_SECONDS)
        return report
    except queue.Empty:
        return None


def _drain(reports: Any, totals: dict[int, dict[str, int]], failures: dict[int, str]) -> None:
    """What a job that exited still left in the queue: its outcome, if it sent one."""
    while True:
        try:
            kind, index, *values = reports.get_nowait()
        except queue.Empty:
            return
        if kind == "done":
            totals[index] = values[0]
        elif kind == "failed":
            failures.setdefault(index, values[0])


def _run_job(settings: ProjectionsSettings, job: Job, grace: float, reports: Any, run: str) -> None:
    """A job's process: rebuild its group, report how it went."""
    from crm_runtime.collector import tune_collector

    signal.signal(signal.SIGTERM, _stop)
    tune_collector(settings.gc_threshold)
    try:
        totals = asyncio.run(_job(settings, job, grace, reports, run))
    except BaseException as error:  # reported, then the process ends with an error
        log.exception("rebuild job failed", job=job.index + 1, read_models=job.read_models)
        reports.put(("failed", job.index, reason_of(error)))
        raise SystemExit(1) from None
    reports.put(("done", job.index, totals))


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM in a job: stop as Ctrl-C would, so ``rebuild`` abandons what it built."""
    raise KeyboardInterrupt


async def _job(
    settings: ProjectionsSettings, job: Job, grace: float, reports: Any, run: str
) -> dict[str, int]:
    from crm_projections.application.rebuild import rebuild
    from crm_projections.bootstrap import SERVICE, fold_tracer, open_sources, projectors
    from crm_runtime.documents import open_document_client
    from crm_runtime.telemetry import build_tracer_provider

    provider = build_tracer_provider(SERVICE)
    client = open_document_client(settings, app_name="crm-rebuild")
    chosen = [
        projector
        for projector in projectors(settings, client, fold_tracer(provider, given=False)).values()
        if projector.name in job.read_models
    ]
    sources, clients = open_sources(settings)
    last = {"at": 0.0}

    def on_phase(phase: str, total: int) -> None:
        reports.put(("phase", job.index, phase, total))
        last["at"] = 0.0

    def on_progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last["at"] >= REPORT_SECONDS:
            last["at"] = now
            reports.put(("progress", job.index, done, total))

    try:
        return await rebuild(
            chosen,
            sources,
            on_progress=on_progress,
            on_phase=on_phase,
            grace=grace,
            parts=job.parts,
            run=run,
        )
    finally:
        for opened in [*clients, client]:
            with contextlib.suppress(Exception):
                await opened.close()
        provider.shutdown()  # the spans of the phases after the switch, when exported
