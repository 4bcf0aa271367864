"""Entry point: ``crm-pipeline serve`` (HTTP API), ``relay`` (outbox relay), ``scheduler``."""

from __future__ import annotations

from collections.abc import Callable

import typer
import uvicorn
from fastapi import FastAPI

from crm_pipeline.bootstrap import SERVICE, PipelineService, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_runtime.logs import configure_logging
from crm_runtime.telemetry import install_global

cli = typer.Typer(
    help="The pipeline service (leads, opportunities, quotes, orders, receivables).",
    no_args_is_help=True,
)


def _run(name: str, create: Callable[[PipelineService], FastAPI], port: int | None = None) -> None:
    settings = PipelineSettings()
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
    from crm_pipeline.entrypoints.http import create_app

    _run(SERVICE, create_app)


@cli.command()
def relay() -> None:
    """Run the outbox relay that publishes the event store to Kafka."""
    from crm_pipeline.entrypoints.relay import create_relay_app

    _run(f"{SERVICE}-relay", create_relay_app, PipelineSettings().relay_health_port)


@cli.command()
def scheduler() -> None:
    """Run the scheduled checks: overdue receivables, orders unpaid after 48 hours."""
    from crm_pipeline.entrypoints.scheduler import create_scheduler_app

    _run(f"{SERVICE}-scheduler", create_scheduler_app, PipelineSettings().scheduler_health_port)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
