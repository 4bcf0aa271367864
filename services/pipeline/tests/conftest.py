"""Fixtures of the pipeline tests: what differs from the shared ones of the root conftest.py.

There: ``clock`` (moved by hand), ``store_client``, ``wiring``, ``client`` and ``signed_in``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from crm_pipeline.bootstrap import PipelineService, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_pipeline.entrypoints.http import create_app
from crm_runtime.testing import UNLIMITED, local_settings, started


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> PipelineSettings:
    """The in-memory store and a token signing key of this test's own.

    Parametrise it indirectly with a dict to change settings, e.g. ``{"payment_terms_days": 14}``.
    """
    overrides = getattr(request, "param", None)
    return local_settings(PipelineSettings, tmp_path, overrides, rate_limit=UNLIMITED)


@pytest.fixture
async def service(
    settings: PipelineSettings, wiring: Callable[..., dict[str, Any]]
) -> AsyncIterator[PipelineService]:
    """The pipeline service wired by bootstrap, started as its lifespan would."""
    async with started(bootstrap(settings, **wiring("crm-pipeline-test"))) as service:
        yield service


@pytest.fixture
def app(service: PipelineService) -> FastAPI:
    return create_app(service)


@pytest.fixture
def app_url() -> str:
    return "http://pipeline.test"


@pytest.fixture
def home_team() -> str | None:
    return "north"
