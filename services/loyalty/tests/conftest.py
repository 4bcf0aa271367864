"""Fixtures of the loyalty tests: what differs from the shared ones of the root conftest.py.

There: ``clock`` (moved by hand), ``store_client``, ``wiring``, ``client`` and ``signed_in``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from crm_loyalty.bootstrap import LoyaltyService, bootstrap
from crm_loyalty.config import LoyaltySettings
from crm_loyalty.entrypoints.http import create_app
from crm_runtime.testing import UNLIMITED, local_settings, started


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> LoyaltySettings:
    """In-memory store, a signing key of this test's own; parametrise indirectly to change."""
    overrides = getattr(request, "param", None)
    return local_settings(LoyaltySettings, tmp_path, overrides, rate_limit=UNLIMITED)


@pytest.fixture
async def service(
    settings: LoyaltySettings, wiring: Callable[..., dict[str, Any]]
) -> AsyncIterator[LoyaltyService]:
    async with started(bootstrap(settings, **wiring("crm-loyalty-test"))) as service:
        yield service


@pytest.fixture
def app(service: LoyaltyService) -> FastAPI:
    return create_app(service)


@pytest.fixture
def app_url() -> str:
    return "http://loyalty.test"


@pytest.fixture
def home_team() -> str | None:
    """Callers work at this store unless a test says otherwise."""
    return "sto_mitte"
