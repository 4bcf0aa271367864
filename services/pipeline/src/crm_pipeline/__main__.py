"""Entry point: ``crm-pipeline serve`` (HTTP API), ``relay`` (outbox relay), ``scheduler``."""

from __future__ import annotations

import typer

from crm_pipeline.bootstrap import SERVICE, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_runtime.process import run_process

cli = typer.Typer(
    help="The pipeline service (leads, opportunities, quotes, orders, receivables).",
    no_args_is_help=True,
)


@cli.command()
def serve() -> None:
    """Run the HTTP API."""
    from crm_pipeline.entrypoints.http import create_app

    settings = PipelineSettings()
    run_process(SERVICE, settings, bootstrap, create_app, settings.http_port)


@cli.command()
def relay() -> None:
    """Run the outbox relay that publishes the event store to Kafka."""
    from crm_pipeline.entrypoints.relay import create_relay_app

    settings = PipelineSettings()
    run_process(
        f"{SERVICE}-relay", settings, bootstrap, create_relay_app, settings.relay_health_port
    )


@cli.command()
def scheduler() -> None:
    """Run the scheduled checks: overdue receivables, unpaid orders (CRM_PIPELINE_UNPAID_AFTER)."""
    from crm_pipeline.entrypoints.scheduler import create_scheduler_app

    settings = PipelineSettings()
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
