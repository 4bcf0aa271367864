"""Entry point: ``crm-contacts serve`` (HTTP API), ``relay`` (outbox relay), ``consume``
(pipeline events) or ``rebuild-directory`` (the lookups, from the event store)."""

from __future__ import annotations

import asyncio

import typer

from crm_contacts.bootstrap import SERVICE, bootstrap
from crm_contacts.config import ContactsSettings
from crm_runtime.logs import configure_logging
from crm_runtime.process import run_process

cli = typer.Typer(help="The contacts service (customer master data).", no_args_is_help=True)


@cli.command()
def serve() -> None:
    """Run the HTTP API."""
    from crm_contacts.entrypoints.http import create_app

    settings = ContactsSettings()
    run_process(SERVICE, settings, bootstrap, create_app, settings.http_port)


@cli.command()
def relay() -> None:
    """Run the outbox relay that publishes the event store to Kafka."""
    from crm_contacts.entrypoints.relay import create_relay_app

    settings = ContactsSettings()
    run_process(
        f"{SERVICE}-relay", settings, bootstrap, create_relay_app, settings.relay_health_port
    )


@cli.command()
def consume() -> None:
    """Run the Kafka consumer of the pipeline's events (placed orders are purchases)."""
    from crm_contacts.entrypoints.consumer import create_consumer_app

    settings = ContactsSettings()
    run_process(
        f"{SERVICE}-consumer",
        settings,
        bootstrap,
        create_consumer_app,
        settings.consumer_health_port,
    )


@cli.command("rebuild-directory")
def rebuild_directory() -> None:
    """Fold the customer directory (owners, duplicates, search) again from the event store."""
    settings = ContactsSettings()
    configure_logging(SERVICE, settings.log_level)
    service = bootstrap(settings)

    async def rebuild() -> int:
        await service.start()
        try:
            return await service.follower.rebuild()
        finally:
            await service.close()

    commits = asyncio.run(rebuild())
    typer.echo(f"customer directory rebuilt from {commits} commits")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
