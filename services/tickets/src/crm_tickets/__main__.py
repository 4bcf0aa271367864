"""Entry point: ``crm-tickets serve`` (HTTP API), ``relay`` (outbox relay), ``scheduler``."""

from __future__ import annotations

from collections.abc import Callable

import typer
import uvicorn
from fastapi import FastAPI

from crm_runtime.logs import configure_logging
from crm_runtime.telemetry import install_global
from crm_tickets.bootstrap import SERVICE, TicketsService, bootstrap
from crm_tickets.config import TicketsSettings

cli = typer.Typer(
    help="The tickets service (customer service tickets, SLAs, escalation, surveys).",
    no_args_is_help=True,
)


def _run(name: str, create: Callable[[TicketsService], FastAPI], port: int | None = None) -> None:
    settings = TicketsSettings()
    configure_logging(name, settings.log_level)
    service = bootstrap(settings)
    install_global(service.tracer_provider)
    uvicorn.run(
        create(service),
        host=settings.http_host,
        port=port if port is not None else settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


@cli.command()
def serve() -> None:
    """Run the HTTP API."""
    from crm_tickets.entrypoints.http import create_app

    _run(SERVICE, create_app)


@cli.command()
def relay() -> None:
    """Run the outbox relay that publishes the event store to Kafka."""
    from crm_tickets.entrypoints.relay import create_relay_app

    _run(f"{SERVICE}-relay", create_relay_app, TicketsSettings().relay_health_port)


@cli.command()
def scheduler() -> None:
    """Run the scheduled checks: SLA breaches, flagged and escalated."""
    from crm_tickets.entrypoints.scheduler import create_scheduler_app

    _run(f"{SERVICE}-scheduler", create_scheduler_app, TicketsSettings().scheduler_health_port)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
