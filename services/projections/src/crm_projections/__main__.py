"""Entry point: ``crm-projections serve`` (consumer + query API) or ``rebuild``."""

from __future__ import annotations

import typer
import uvicorn

from crm_projections.bootstrap import SERVICE, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_projections.entrypoints.cli import cli as operations
from crm_runtime.collector import tune_collector
from crm_runtime.logs import configure_logging
from crm_runtime.telemetry import install_global

cli = typer.Typer(help="The projections service (read models).", no_args_is_help=True)
cli.registered_commands.extend(operations.registered_commands)


@cli.command()
def serve() -> None:
    """Run the Kafka consumer and the query API."""
    from crm_projections.entrypoints.http import create_app

    settings = ProjectionsSettings()
    configure_logging(SERVICE, settings.log_level)
    service = bootstrap(settings)
    install_global(service.tracer_provider)
    tune_collector(settings.gc_threshold)
    uvicorn.run(
        create_app(service),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
