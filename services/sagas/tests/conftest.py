"""Fixtures of the sagas tests: what differs from the shared ones of the root conftest.py.

There: ``clock`` (moved by hand), ``store_client``, ``wiring``, ``client`` and ``signed_in``.
Here the sagas call fake services (``services``) unless a test wires the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sagas_testing import MAX_ATTEMPTS, FakeServices

from crm_runtime.testing import UNLIMITED, local_settings, started
from crm_sagas.bootstrap import SagasService, bootstrap
from crm_sagas.config import SagasSettings
from crm_sagas.entrypoints.http import create_app


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> SagasSettings:
    """In-memory store, a signing key of this test's own; parametrise indirectly to change."""
    return local_settings(
        SagasSettings, tmp_path, getattr(request, "param", None),
        rate_limit=UNLIMITED, command_max_attempts=MAX_ATTEMPTS, retry_base_seconds=1,
        in_flight_grace_seconds=30, unpaid_coupon_days=7, onboarding_step_deadline="1h",
    )  # fmt: skip


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
async def service(
    settings: SagasSettings, wiring: Callable[..., dict[str, Any]], services: FakeServices
) -> AsyncIterator[SagasService]:
    wired = wiring("crm-sagas-test")
    async with started(bootstrap(settings, **wired, service_clients=services.clients())) as sagas:
        yield sagas


@pytest.fixture
def app(service: SagasService) -> FastAPI:
    return create_app(service)


@pytest.fixture
def app_url() -> str:
    return "http://sagas.test"


@pytest.fixture
def home_team() -> str | None:
    return None
