"""``crm projections ...``: operate the read models."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from crm_contracts.contacts import SOURCE as CONTACTS_SOURCE
from crm_contracts.loyalty import SOURCE as LOYALTY_SOURCE
from crm_contracts.pipeline import SOURCE as PIPELINE_SOURCE
from crm_contracts.tickets import SOURCE as TICKETS_SOURCE
from crm_projections.application.rebuild import Source, rebuild
from crm_projections.config import ProjectionsSettings
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher

cli = typer.Typer(help="Operate the read models.", no_args_is_help=True)


class ReadModelName(StrEnum):
    CUSTOMER360 = "customer360"
    RECEIVABLES_BY_REP = "receivables_by_rep"
    FORECAST = "forecast"
    STORES = "stores"
    DEALS = "deals"


@cli.command("rebuild")
def rebuild_command(
    name: Annotated[
        ReadModelName | None,
        typer.Argument(help="The read model to rebuild; all of them when left out."),
    ] = None,
) -> None:
    """Drop read models and rebuild them from the event stores of every context."""
    asyncio.run(_rebuild(ProjectionsSettings(), name))


async def _rebuild(settings: ProjectionsSettings, name: ReadModelName | None = None) -> None:
    from crm_projections.bootstrap import bootstrap

    service = bootstrap(settings)
    projectors = [p for p in service.projectors if name is None or p.name == name.value]
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
    try:
        with Progress(
            TextColumn(" + ".join(p.name for p in projectors)),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("rebuild", total=None)
            totals = await rebuild(
                projectors,
                sources,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        for projector in projectors:
            console.print(
                f"{projector.name} rebuilt: {totals['events']} events read, "
                f"{totals[projector.name]} applied"
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
    sealed = SealedEvents(PersonalDataCipher(vault))
    return Source(EventStore(client[database], source=source), sealed)
