"""Running one process of a bounded context (its API, relay, consumer or scheduler):
logging under the process's name, the context bootstrapped, telemetry installed, the app
served by uvicorn on the process's port until SIGTERM."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol, TypeVar

import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from crm_runtime.logs import configure_logging
from crm_runtime.telemetry import install_global


class ServedSettings(Protocol):
    log_level: str
    http_host: str


class Traced(Protocol):
    @property
    def tracer_provider(self) -> TracerProvider: ...


SettingsT = TypeVar("SettingsT", bound=ServedSettings)
ServiceT = TypeVar("ServiceT", bound=Traced)
Loaded = TypeVar("Loaded", bound=BaseSettings)


def run_process(
    name: str,
    settings: SettingsT,
    bootstrap: Callable[[SettingsT], ServiceT],
    create: Callable[[ServiceT], FastAPI],
    port: int,
) -> None:
    """Serve the app ``create`` makes of the bootstrapped service, as process ``name``
    (e.g. ``crm-tickets-relay``), on ``settings.http_host`` and ``port``."""
    configure_logging(name, settings.log_level)
    service = bootstrap(settings)
    install_global(service.tracer_provider)
    uvicorn.run(
        create(service),
        host=settings.http_host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


def settings_or_exit(settings_type: type[Loaded], program: str) -> Loaded:
    """The settings, or a clear message naming each bad variable and exit status 2."""
    try:
        return settings_type()
    except ValidationError as error:
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"])
            print(f"{program}: bad setting {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
