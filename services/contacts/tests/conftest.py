"""Fixtures of the contacts tests: what differs from the shared ones of the root conftest.py.

There: ``store_client``, ``wiring``, ``client`` and ``signed_in``. Here the clock is the real
one and ids are random, as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from crm_contacts.bootstrap import ContactsService, bootstrap, utc_now
from crm_contacts.config import ContactsSettings
from crm_contacts.entrypoints.http import create_app
from crm_runtime.testing import local_settings, started


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ContactsSettings:
    """The in-memory store and a token signing key of this test's own.

    Parametrise it indirectly with a dict to change settings, e.g. ``{"rate_limit": "3/minute"}``.
    """
    return local_settings(ContactsSettings, tmp_path, getattr(request, "param", None))


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return utc_now


@pytest.fixture
async def service(
    settings: ContactsSettings, wiring: Callable[..., dict[str, Any]]
) -> AsyncIterator[ContactsService]:
    """The contacts service wired by bootstrap, started as its lifespan would."""
    given = wiring("crm-contacts-test", numbered=False)
    async with started(bootstrap(settings, **given)) as service:
        yield service


@pytest.fixture
def app(service: ContactsService) -> FastAPI:
    return create_app(service)


@pytest.fixture
def app_url() -> str:
    return "http://contacts.test"


@pytest.fixture
def home_team() -> str | None:
    return "north"
