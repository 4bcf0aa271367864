"""``crm projections ...``: operate the read models."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

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

from crm_contracts.contacts import SOURCE as CONTACTS_SOURCE
from crm_contracts.keys import personal_key_field
from crm_contracts.loyalty import SOURCE as LOYALTY_SOURCE
from crm_contracts.pipeline import SOURCE as PIPELINE_SOURCE
from crm_contracts.tickets import SOURCE as TICKETS_SOURCE
from crm_projections.application.generations import SWITCH_GRACE
from crm_projections.application.rebuild import Source, rebuild
from crm_projections.config import ProjectionsSettings
from crm_runtime.collector import tune_collector
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher

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
) -> None:
    """Rebuild read models from the event stores of every context into a new generation
    of collections, while the current one keeps serving; switch when caught up."""
    settings = ProjectionsSettings()
    tune_collector(settings.gc_threshold)
    asyncio.run(_rebuild(settings, name, grace=grace))


async def _rebuild(
    settings: ProjectionsSettings, name: str | None = None, *, grace: float = SWITCH_GRACE
) -> None:
    from crm_projections.bootstrap import bootstrap

    service = bootstrap(settings)
    known = [p.name for p in service.projectors]
    if name is not None and name not in known:
        await service.close()
        raise typer.BadParameter(
            f"{name!r} is not a read model; one of: {', '.join(known)}", param_hint="NAME"
        )
    projectors = [p for p in service.projectors if name is None or p.name == name]
    clients: list[Any] = []
    sources = [
        _source(settings, clients, url, database, source)
        for url, database, source in (
            (settings.contacts_mongodb_url, settings.contacts_database, CONTACTS_SOURCE),
            (settings.pipeline_mongodb_url, settings.pipeline_database, PIPELINE_SOURCE),
            (settings.tickets_mongodb_url, settings.tickets_database, TICKETS_SOURCE),
            (settings.loyalty_mongodb_url, settings.loyalty_database, LOYALTY_SOURCE),
        )
    ]
    console = Console(stderr=True)
    names = " + ".join(p.name for p in projectors)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            tasks: list[TaskID] = []

            def finish_phase() -> None:
                if tasks:
                    total = progress.tasks[-1].total or 1
                    progress.update(tasks[-1], total=total, completed=total)

            def on_phase(phase: str, total: int) -> None:
                finish_phase()
                tasks.append(progress.add_task(f"{names}: {phase}", total=total or None))

            def on_progress(done: int, total: int) -> None:
                progress.update(tasks[-1], completed=done, total=total)

            totals = await rebuild(
                projectors, sources, on_progress=on_progress, on_phase=on_phase, grace=grace
            )
            finish_phase()
        for projector in projectors:
            console.print(
                f"{projector.name} rebuilt: {totals['events']} events read, "
                f"{totals[projector.name]} applied; generation {projector.generation} serves"
            )
    finally:
        for client in clients:
            await client.close()
        await service.close()


def _source(
    settings: ProjectionsSettings, clients: list[Any], url: str | None, database: str, source: str
) -> Source:
    """A context's event store (its own deployment, or ours by default) and its key vault."""
    client = open_document_client(
        settings.model_copy(update={"mongodb_url": url or settings.mongodb_url}),
        app_name="crm-rebuild",
    )
    clients.append(client)
    vault = MongoKeyVault(client[settings.contacts_keys_database]["data_keys"])
    # Whose key opens a context's personal fields is part of its contract.
    sealed = SealedEvents(PersonalDataCipher(vault), key_field=personal_key_field(source))
    return Source(EventStore(client[database], source=source), sealed)
