"""Fixtures of the tickets tests: what differs from the shared ones of the root conftest.py.

There: ``clock`` (moved by hand), ``store_client``, ``wiring``, ``client`` and ``signed_in``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from tickets_testing import LEAD, TEAM

from crm_runtime.testing import UNLIMITED, local_settings, started
from crm_tickets.bootstrap import TicketsService, bootstrap
from crm_tickets.config import TicketsSettings
from crm_tickets.entrypoints.http import create_app


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> TicketsSettings:
    """The in-memory store and a token signing key of this test's own.

    Parametrise it indirectly with a dict to change settings, e.g. ``{"team_leads": {...}}``.
    """
    overrides = getattr(request, "param", None)
    return local_settings(
        TicketsSettings, tmp_path, overrides, rate_limit=UNLIMITED, team_leads={TEAM: LEAD}
    )


@pytest.fixture
async def service(
    settings: TicketsSettings, wiring: Callable[..., dict[str, Any]]
) -> AsyncIterator[TicketsService]:
    """The tickets service wired by bootstrap, started as its lifespan would."""
    async with started(bootstrap(settings, **wiring("crm-tickets-test"))) as service:
        yield service


@pytest.fixture
def app(service: TicketsService) -> FastAPI:
    return create_app(service)


@pytest.fixture
def app_url() -> str:
    return "http://tickets.test"


@pytest.fixture
def home_team() -> str | None:
    return TEAM
