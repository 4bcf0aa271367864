"""Entry point: ``crm-loyalty serve`` (HTTP API), ``relay``, ``consume``, ``scheduler``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from crm_loyalty.bootstrap import SERVICE, LoyaltyService, bootstrap
from crm_loyalty.config import LoyaltySettings
from crm_runtime.logs import configure_logging
from crm_runtime.telemetry import install_global

cli = typer.Typer(
    help="The loyalty service (stores, members, tiers, points, coupons).", no_args_is_help=True
)


def settings_or_exit() -> LoyaltySettings:
    """The settings, or a clear message naming each bad variable and exit status 2."""
    try:
        return LoyaltySettings()
    except ValidationError as error:
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"])
            print(f"crm-loyalty: bad setting {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def _run(name: str, create: Callable[[LoyaltyService], FastAPI], port: str) -> None:
    settings = settings_or_exit()
    configure_logging(name, settings.log_level)
    service = bootstrap(settings)
    install_global(service.tracer_provider)
    uvicorn.run(
        create(service),
        host=settings.http_host,
        port=getattr(settings, port),
        log_config=None,
        timeout_graceful_shutdown=5,
    )


@cli.command()
def serve() -> None:
    """Run the HTTP API."""
    from crm_loyalty.entrypoints.http import create_app

    _run(SERVICE, create_app, "http_port")


@cli.command()
def relay() -> None:
    """Run the outbox relay that publishes the event store to Kafka."""
    from crm_loyalty.entrypoints.relay import create_relay_app

    _run(f"{SERVICE}-relay", create_relay_app, "relay_health_port")


@cli.command()
def consume() -> None:
    """Run the Kafka consumer of the pipeline's payments and refunds."""
    from crm_loyalty.entrypoints.consumer import create_consumer_app

    _run(f"{SERVICE}-consumer", create_consumer_app, "consumer_health_port")


@cli.command()
def scheduler() -> None:
    """Run the scheduler: points and coupon expiry, tier downgrades."""
    from crm_loyalty.entrypoints.scheduler import create_scheduler_app

    _run(f"{SERVICE}-scheduler", create_scheduler_app, "scheduler_health_port")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
