"""Entry point: ``crm-sagas serve`` (HTTP API) and ``crm-sagas run`` (consumer + deadlines)."""

from __future__ import annotations

import typer

from crm_runtime.process import run_process, settings_or_exit
from crm_sagas.bootstrap import SERVICE, bootstrap
from crm_sagas.config import SagasSettings

cli = typer.Typer(
    help="The sagas: onboarding of won deals, reminders of unpaid orders.", no_args_is_help=True
)


def settings() -> SagasSettings:
    """The settings, or a message naming each bad variable and exit status 2."""
    return settings_or_exit(SagasSettings, SERVICE)


@cli.command()
def serve() -> None:
    """Run the HTTP API (GET /sagas, retry, cancel)."""
    from crm_sagas.entrypoints.http import create_app

    loaded = settings()
    run_process(SERVICE, loaded, bootstrap, create_app, loaded.http_port)


@cli.command()
def run() -> None:
    """Run the Kafka consumer of the contexts' events and the deadline loop."""
    from crm_sagas.entrypoints.runner import create_runner_app

    loaded = settings()
    run_process(
        f"{SERVICE}-runner", loaded, bootstrap, create_runner_app, loaded.runner_health_port
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
