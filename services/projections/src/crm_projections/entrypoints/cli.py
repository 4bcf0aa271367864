"""``crm projections ...``: operate the read models."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from crm_contracts.contacts import SOURCE as CONTACTS_SOURCE
from crm_projections.application.rebuild import rebuild_customer360
from crm_projections.config import ProjectionsSettings
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher

cli = typer.Typer(help="Operate the read models.", no_args_is_help=True)


@cli.command()
def rebuild() -> None:
    """Drop the read models and rebuild them from the event stores."""
    asyncio.run(_rebuild(ProjectionsSettings()))


async def _rebuild(settings: ProjectionsSettings) -> None:
    from crm_projections.bootstrap import bootstrap

    service = bootstrap(settings)
    source_settings = settings.model_copy(
        update={"mongodb_url": settings.contacts_mongodb_url or settings.mongodb_url}
    )
    source_client = open_document_client(source_settings, app_name="crm-rebuild")
    contacts = EventStore(source_client[settings.contacts_database], source=CONTACTS_SOURCE)
    vault = MongoKeyVault(source_client[settings.contacts_keys_database]["data_keys"])
    console = Console(stderr=True)
    try:
        with Progress(
            TextColumn("customer360"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("rebuild", total=None)
            totals = await rebuild_customer360(
                service.customer360,
                [contacts],
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
                sealed=SealedEvents(PersonalDataCipher(vault)),
            )
        console.print(
            f"customer360 rebuilt: {totals['events']} events read, {totals['applied']} applied"
        )
    finally:
        await source_client.close()
        await service.close()
