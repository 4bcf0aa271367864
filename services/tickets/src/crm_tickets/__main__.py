"""Entry point: ``crm-tickets serve`` (HTTP API), ``relay`` (outbox relay), ``scheduler``."""

from __future__ import annotations

import typer

from crm_runtime.process import run_process
from crm_tickets.bootstrap import SERVICE, bootstrap
from crm_tickets.config import TicketsSettings

cli = typer.Typer(
    help="The tickets service (customer service tickets, SLAs, escalation, surveys).",
    no_args_is_help=True,
)


@cli.command()
def serve() -> None:
    """Run the HTTP API."""
    from crm_tickets.entrypoints.http import create_app

    settings = TicketsSettings()
    run_process(SERVICE, settings, bootstrap, create_app, settings.http_port)


@cli.command()
def relay() -> None:
    """Run the outbox relay that publishes the event store to Kafka."""
    from crm_tickets.entrypoints.relay import create_relay_app

    settings = TicketsSettings()
    run_process(
        f"{SERVICE}-relay", settings, bootstrap, create_relay_app, settings.relay_health_port
    )


@cli.command()
def scheduler() -> None:
    """Run the scheduled checks: SLA breaches, flagged and escalated."""
    from crm_tickets.entrypoints.scheduler import create_scheduler_app

    settings = TicketsSettings()
    run_process(
        f"{SERVICE}-scheduler",
        settings,
        bootstrap,
        create_scheduler_app,
        settings.scheduler_health_port,
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
