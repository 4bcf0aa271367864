"""``crm projections ...``: operate the read models."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from crm_projections.application.generations import SWITCH_GRACE
from crm_projections.application.rebuild import rebuild
from crm_projections.application.rebuild_jobs import Job, RebuildFailed, plan, rebuild_in_jobs
from crm_projections.config import READ_MODELS, ProjectionsSettings
from crm_runtime.collector import tune_collector

cli = typer.Typer(help="Operate the read models.", no_args_is_help=True)


@cli.command("rebuild")
def rebuild_command(
    name: Annotated[
        str | None,
        typer.Argument(
            help="The read model to rebuild (customer360, receivables_by_rep, forecast, "
            "stores, deals, ...); all of them when left out.",
            show_default=False,
        ),
    ] = None,
    grace: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds the old generation keeps serving after the switch, so every "
            "process moves to the new one first (more than a second).",
        ),
    ] = SWITCH_GRACE,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes rebuilding side by side, each a group of the read models of about "
            "equal cost; each reads the stores its group folds events of. Up to one per core.",
        ),
    ] = 1,
) -> None:
    """Rebuild read models from the event stores of every context into a new generation
    of collections, while the current one keeps serving; switch when caught up."""
    settings = ProjectionsSettings()
    if name is not None and name not in READ_MODELS:
        raise typer.BadParameter(
            f"{name!r} is not a read model; one of: {', '.join(READ_MODELS)}", param_hint="NAME"
        )
    names = list(READ_MODELS) if name is None else [name]
    tune_collector(settings.gc_threshold)
    if jobs == 1:
        asyncio.run(_rebuild(settings, names, grace=grace))
    else:
        asyncio.run(_rebuild_in_jobs(settings, plan(names, jobs), grace=grace))


class _Bars:
    """A progress bar per phase of each job, on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._current: dict[str, TaskID] = {}

    def phase(self, label: str, phase: str, total: int) -> None:
        self.finish(label)
        self._current[label] = self._progress.add_task(f"{label}: {phase}", total=total or None)

    def advance(self, label: str, done: int, total: int) -> None:
        self._progress.update(self._current[label], completed=done, total=total)

    def finish(self, label: str | None = None) -> None:
        """Show the current phase of ``label`` (of every job when None) as done."""
        done = self._current.values() if label is None else [self._current.get(label)]
        for task in self._progress.tasks:
            if task.id in done:
                total = task.total or 1
                self._progress.update(task.id, total=total, completed=total)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


async def _rebuild(
    settings: ProjectionsSettings, names: list[str], *, grace: float = SWITCH_GRACE
) -> None:
    from crm_projections.bootstrap import bootstrap, open_sources

    service = bootstrap(settings)
    projectors = [p for p in service.projectors if p.name in names]
    sources, clients = open_sources(settings)
    console = Console(stderr=True)
    label = " + ".join(p.name for p in projectors)
    try:
        with _progress(console) as progress:
            bars = _Bars(progress)
            totals = await rebuild(
                projectors,
                sources,
                on_progress=lambda done, total: bars.advance(label, done, total),
                on_phase=lambda phase, total: bars.phase(label, phase, total),
                grace=grace,
            )
            bars.finish()
        for projector in projectors:
            console.print(
                f"{projector.name} rebuilt: {totals['events']} events read, "
                f"{totals[projector.name]} applied; generation {projector.generation} serves"
            )
    finally:
        for client in clients:
            await client.close()
        await service.close()


async def _rebuild_in_jobs(
    settings: ProjectionsSettings, jobs: list[Job], *, grace: float = SWITCH_GRACE
) -> None:
    from crm_projections.bootstrap import bootstrap

    console = Console(stderr=True)
    labels = {job.index: f"job {job.index + 1} ({job.label})" for job in jobs}
    with _progress(console) as progress:
        bars = _Bars(progress)
        try:
            totals = await rebuild_in_jobs(
                settings,
                jobs,
                grace=grace,
                on_phase=lambda job, phase, total: bars.phase(labels[job.index], phase, total),
                on_progress=lambda job, done, total: bars.advance(labels[job.index], done, total),
            )
        except RebuildFailed as error:
            console.print(f"[red]rebuild failed[/red]: {error}")
            raise typer.Exit(1) from None
        bars.finish()
    service = bootstrap(settings)
    try:
        for projector in service.projectors:  # a read model split in parts: all its jobs
            held = [job.index for job in jobs if projector.name in job.read_models]
            if not held:
                continue
            read = sum(totals[index]["events"] for index in held)
            applied = sum(totals[index][projector.name] for index in held)
            console.print(
                f"{projector.name} rebuilt: {read} events read, {applied} applied; "
                f"generation {await projector.refresh_generation()} serves"
            )
    finally:
        await service.close()
