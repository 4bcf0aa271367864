"""The Kubernetes manifests agree with the code: commands, ports, probes, variables, routes, topics.

Each expectation is read from the code itself (settings defaults and aliases, the apps'
health endpoints asked without a token, the gateway's routing table, the typer commands),
so a change on either side that the other does not follow fails here.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer

from crm_contacts.config import ContactsSettings
from crm_projections.config import ProjectionsSettings
from crm_runtime.settings import RuntimeSettings
from crm_stack.gateway import GatewaySettings
from tests.deploy.manifests import (
    OTEL_NAMES,
    SETTINGS_BY_MODULE,
    Doc,
    base,
    containers,
    effective_env,
    named,
    of_kind,
    pod_template,
    settings_env_names,
    settings_for,
    workloads,
)
from tests.support import free_port

# The command-line apps behind `python -m <module>`.
CLI_APPS = {
    "crm_contacts": "crm_contacts.__main__:cli",
    "crm_projections": "crm_projections.__main__:cli",
    "crm_stack.cli": "crm_stack.cli:app",
}


def _command(module: str, args: list[str]) -> Any:
    """Resolve ``python -m module args...`` to the click command it runs (or fail)."""
    target, _, attribute = CLI_APPS[module].partition(":")
    command = typer.main.get_command(getattr(importlib.import_module(target), attribute))
    for word in args:
        subcommands = getattr(command, "commands", {})  # typer vendors its own click
        assert word in subcommands, f"python -m {module} has no command {word!r} ({args})"
        command = subcommands[word]
    return command


# Each long-running component: the gateway's name for it (GatewaySettings.health_checks()
# is the code's own list of health endpoints) and the settings field of its port.
LISTENERS = {
    ("crm_contacts", "serve"): ("contacts", "http_port"),
    ("crm_contacts", "relay"): ("contacts-relay", "relay_health_port"),
    ("crm_projections", "serve"): ("projections", "http_port"),
}


def _health_status(args: list[str], path: str, data_dir: Path) -> int:
    """GET ``path`` without a token from the app that ``args`` serves, built by the service's
    own factories (its lifespan not run, so no broker or store is needed). A probe gets no
    token, so the answer must be the endpoint's own (200, or 503 when a dependency is down),
    never 401 or 404."""
    from fastapi.testclient import TestClient

    nowhere = f"127.0.0.1:{free_port()}"  # refused at once: the broker check fails fast
    if args[0] == "crm_contacts":
        from crm_contacts.bootstrap import bootstrap as contacts
        from crm_contacts.entrypoints.http import create_app as contacts_app
        from crm_contacts.entrypoints.relay import create_relay_app

        settings = ContactsSettings(
            embedded_backend="memory", data_dir=data_dir, kafka_bootstrap_servers=nowhere
        )
        service: Any = contacts(settings)
        app = contacts_app(service) if args[1] == "serve" else create_relay_app(service)
    else:
        from crm_projections.bootstrap import bootstrap as projections
        from crm_projections.entrypoints.http import create_app as projections_app

        settings = ProjectionsSettings(
            embedded_backend="memory", data_dir=data_dir, kafka_bootstrap_servers=nowhere
        )
        service = projections(settings)
        app = projections_app(service)
    try:
        return TestClient(app).get(path).status_code
    finally:
        asyncio.run(service.close())


@pytest.mark.usefixtures("renderer")
def test_containers_run_commands_the_code_has() -> None:
    seen = set()
    for workload in workloads(base()):
        for container in containers(workload):
            module, *args = container["args"]
            assert importlib.util.find_spec(module) is not None, module
            _command(module, args)
            seen.add(tuple(container["args"]))
    assert seen == {
        ("crm_contacts", "serve"),
        ("crm_contacts", "relay"),
        ("crm_projections", "serve"),
        ("crm_stack.cli", "projections", "rebuild"),
    }, "the gateway is not deployed on Kubernetes: the Ingress routes"


def test_ports_and_probes_are_the_services_own(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any], tmp_path: Path
) -> None:
    for deployment in of_kind(docs, "Deployment"):
        (container,) = containers(deployment)
        args = container["args"]
        where = f"Deployment/{deployment['metadata']['name']}"
        settings = settings_from(settings_for(args[0]), effective_env(docs, container))
        check_name, port_field = LISTENERS[tuple(args)]
        host, port = settings.http_host, getattr(settings, port_field)
        health = urlsplit(settings_from(GatewaySettings, {}).health_checks()[check_name]).path
        assert host not in {"127.0.0.1", "localhost", "::1"}, f"{where} listens on {host}"
        (declared,) = container["ports"]
        assert (declared["name"], declared["containerPort"]) == ("http", port), where
        status = _health_status(args, health, tmp_path)
        assert status in {200, 503}, f"{where}: GET {health} without a token answers {status}"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert (get["path"], get["port"]) == (health, "http"), f"{where} {probe}"
        service = named(docs, "Service", deployment["metadata"]["name"])
        assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
            (port, "http")
        ], f"Service/{service['metadata']['name']}"


def test_every_variable_is_one_the_code_reads(docs: tuple[Doc, ...]) -> None:
    readers: dict[str, set[str]] = {}  # ConfigMap -> variables its consumers read
    for workload in workloads(docs):
        for container in containers(workload):
            known = settings_env_names(settings_for(container["args"][0])) | OTEL_NAMES
            where = f"{workload['metadata']['name']}/{container['name']}"
            unknown = {e["name"] for e in container.get("env", [])} - known
            assert not unknown, f"{where} sets variables no code reads: {unknown}"
            for source in container.get("envFrom", []):
                readers.setdefault(source["configMapRef"]["name"], set()).update(known)
    for name, known in readers.items():
        unknown = set(named(docs, "ConfigMap", name).get("data", {})) - known
        assert not unknown, f"ConfigMap/{name} holds variables no consumer reads: {unknown}"


def test_settings_env_names_follow_pydantic_settings(settings_from: Callable[..., Any]) -> None:
    """The derivation the test above relies on: aliases win, others get the CRM_ prefix."""
    names = settings_env_names(ContactsSettings)
    assert {"CRM_CONTACTS_PORT", "CRM_MONGODB_URL", "CRM_AUTH_ISSUER"} <= names
    assert "CRM_HTTP_PORT" not in names
    settings = settings_from(
        ContactsSettings, {"CRM_CONTACTS_PORT": "9101", "CRM_HTTP_PORT": "9999"}
    )
    assert settings.http_port == 9101
    assert set(SETTINGS_BY_MODULE.values()) >= {ContactsSettings, ProjectionsSettings}
    assert all(issubclass(cls, RuntimeSettings) for cls in SETTINGS_BY_MODULE.values())


def test_the_ingress_routes_as_the_gateway_does(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any]
) -> None:
    routes = settings_from(GatewaySettings, {}).routes()
    (ingress,) = of_kind(docs, "Ingress")
    for rule in ingress["spec"]["rules"]:
        paths = {p["path"]: p for p in rule["http"]["paths"]}
        assert set(paths) == set(routes)
        for prefix, url in routes.items():
            # Prefix matches /contacts and /contacts/..., as the gateway's _target() does
            assert paths[prefix]["pathType"] == "Prefix"
            backend = paths[prefix]["backend"]["service"]
            service = named(docs, "Service", backend["name"])
            (port,) = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
            assert port["port"] == urlsplit(url).port, f"{prefix} goes to the wrong service"


def test_kafka_topics_are_the_topics_the_code_uses(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any]
) -> None:
    contacts = settings_from(ContactsSettings, {})
    projections = settings_from(ProjectionsSettings, {})
    assert projections.contacts_topic == contacts.topic
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(docs, "KafkaTopic")}
    assert set(topics) == {contacts.topic, projections.dead_letter_topic}
    events = topics[contacts.topic]
    assert events["partitions"] >= contacts.topic_partitions
    consumers = named(docs, "HorizontalPodAutoscaler", "projections")["spec"]["maxReplicas"]
    assert consumers <= events["partitions"], "replicas beyond the partitions would sit idle"


@pytest.mark.usefixtures("renderer")
def test_the_rebuild_job_reads_the_contacts_history_from_a_secret() -> None:
    (job,) = of_kind(base(), "CronJob")
    assert job["spec"]["suspend"] is True, "a rebuild runs on demand only"
    (container,) = pod_template(job)["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    for name in ("CRM_MONGODB_URL", "CRM_CONTACTS_MONGODB_URL"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    assert "CRM_CONTACTS_MONGODB_URL" in settings_env_names(ProjectionsSettings)
