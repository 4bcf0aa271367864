"""Entry point: ``crm-loyalty serve`` (HTTP API), ``relay``, ``consume``, ``scheduler``."""

from __future__ import annotations

import typer

from crm_loyalty.bootstrap import SERVICE, bootstrap
from crm_loyalty.config import LoyaltySettings
from crm_runtime.process import run_process, settings_or_exit

cli = typer.Typer(
    help="The loyalty service (stores, members, tiers, points, coupons).", no_args_is_help=True
)


def settings() -> LoyaltySettings:
    """The settings, or a message naming each bad variable and exit status 2."""
    return settings_or_exit(LoyaltySettings, SERVICE)


@cli.command()
def serve() -> None:
    """Run the HTTP API."""
    from crm_loyalty.entrypoints.http import create_app

    loaded = settings()
    run_process(SERVICE, loaded, bootstrap, create_app, loaded.http_port)


@cli.command()
def relay() -> None:
    """Run the outbox relay that publishes the event store to Kafka."""
    from crm_loyalty.entrypoints.relay import create_relay_app

    loaded = settings()
    run_process(f"{SERVICE}-relay", loaded, bootstrap, create_relay_app, loaded.relay_health_port)


@cli.command()
def consume() -> None:
    """Run the Kafka consumer of the pipeline's payments and refunds and answered surveys."""
    from crm_loyalty.entrypoints.consumer import create_consumer_app

    loaded = settings()
    run_process(
        f"{SERVICE}-consumer", loaded, bootstrap, create_consumer_app, loaded.consumer_health_port
    )


@cli.command()
def scheduler() -> None:
    """Run the scheduler: points and coupon expiry, tier downgrades."""
    from crm_loyalty.entrypoints.scheduler import create_scheduler_app

    loaded = settings()
    run_process(
        f"{SERVICE}-scheduler",
        loaded,
        bootstrap,
        create_scheduler_app,
        loaded.scheduler_health_port,
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
