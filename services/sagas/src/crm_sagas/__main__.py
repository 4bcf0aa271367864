"""Entry point: ``crm-sagas serve`` (HTTP API), ``crm-sagas run`` (consumer + deadlines) and
``crm-sagas rnd-simulator`` (the simulated R&D system of the embedded default)."""

from __future__ import annotations

import typer

from crm_runtime.process import run_process, settings_or_exit
from crm_sagas.bootstrap import SERVICE, bootstrap
from crm_sagas.config import SagasSettings

cli = typer.Typer(
    help="The sagas: processes across departments (onboarding of won deals, reminders of "
    "unpaid orders, requirements through R&D), and the simulated R&D of the embedded default.",
    no_args_is_help=True,
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


@cli.command("rnd-simulator")
def rnd_simulator() -> None:
    """Run the simulated R&D system (embedded default only; a real R&D system replaces it):
    answers crm.rnd.requests on crm.rnd.replies."""
    from crm_sagas.entrypoints import rnd_simulator as simulated
    from crm_sagas.simulated_rnd_config import RndSimulatorSettings

    loaded = settings_or_exit(RndSimulatorSettings, simulated.SERVICE)
    run_process(
        simulated.SERVICE,
        loaded,
        simulated.bootstrap_simulator,
        simulated.create_simulator_app,
        loaded.http_port,
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
