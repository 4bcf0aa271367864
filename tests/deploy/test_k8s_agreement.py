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
from crm_contracts.publish import TOPICS as CONTRACT_TOPICS
from crm_loyalty.config import LoyaltySettings
from crm_pipeline.config import PipelineSettings
from crm_projections.config import ProjectionsSettings
from crm_runtime.settings import RuntimeSettings
from crm_sagas.config import SagasSettings
from crm_stack.gateway import GatewaySettings
from crm_tickets.config import TicketsSettings
from tests.deploy.manifests import (
    CALLERS,
    OTEL_NAMES,
    PROCESSES,
    REBUILD_ARGS,
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
    "crm_pipeline": "crm_pipeline.__main__:cli",
    "crm_tickets": "crm_tickets.__main__:cli",
    "crm_loyalty": "crm_loyalty.__main__:cli",
    "crm_sagas": "crm_sagas.__main__:cli",
    "crm_projections": "crm_projections.__main__:cli",
    "crm_stack.cli": "crm_stack.cli:app",
}

# Per module: its bootstrap, and the app factory behind each of its long-running commands.
APP_FACTORIES: dict[str, tuple[str, dict[str, str]]] = {
    "crm_contacts": (
        "crm_contacts.bootstrap:bootstrap",
        {
            "serve": "crm_contacts.entrypoints.http:create_app",
            "relay": "crm_contacts.entrypoints.relay:create_relay_app",
            "consume": "crm_contacts.entrypoints.consumer:create_consumer_app",
        },
    ),
    "crm_pipeline": (
        "crm_pipeline.bootstrap:bootstrap",
        {
            "serve": "crm_pipeline.entrypoints.http:create_app",
            "relay": "crm_pipeline.entrypoints.relay:create_relay_app",
            "scheduler": "crm_pipeline.entrypoints.scheduler:create_scheduler_app",
        },
    ),
    "crm_tickets": (
        "crm_tickets.bootstrap:bootstrap",
        {
            "serve": "crm_tickets.entrypoints.http:create_app",
            "relay": "crm_tickets.entrypoints.relay:create_relay_app",
            "scheduler": "crm_tickets.entrypoints.scheduler:create_scheduler_app",
        },
    ),
    "crm_loyalty": (
        "crm_loyalty.bootstrap:bootstrap",
        {
            "serve": "crm_loyalty.entrypoints.http:create_app",
            "relay": "crm_loyalty.entrypoints.relay:create_relay_app",
            "consume": "crm_loyalty.entrypoints.consumer:create_consumer_app",
            "scheduler": "crm_loyalty.entrypoints.scheduler:create_scheduler_app",
        },
    ),
    "crm_sagas": (
        "crm_sagas.bootstrap:bootstrap",
        {
            "serve": "crm_sagas.entrypoints.http:create_app",
            "run": "crm_sagas.entrypoints.runner:create_runner_app",
        },
    ),
    "crm_projections": (
        "crm_projections.bootstrap:bootstrap",
        {"serve": "crm_projections.entrypoints.http:create_app"},
    ),
}


def _resolve(reference: str) -> Any:
    """``package.module:attribute`` -> the attribute."""
    target, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(target), attribute)


def _command(module: str, args: list[str]) -> Any:
    """Resolve ``python -m module args...`` to the click command it runs (or fail)."""
    command = typer.main.get_command(_resolve(CLI_APPS[module]))
    for word in args:
        subcommands = getattr(command, "commands", {})  # typer vendors its own click
        assert word in subcommands, f"python -m {module} has no command {word!r} ({args})"
        command = subcommands[word]
    return command


def _health_status(args: tuple[str, ...], path: str, data_dir: Path) -> int:
    """GET ``path`` without a token from the app that ``args`` serves, built by the service's
    own factories (its lifespan not run, so no broker or store is needed). A probe gets no
    token, so the answer must be the endpoint's own (200, or 503 when a dependency is down),
    never 401 or 404."""
    from fastapi.testclient import TestClient

    nowhere = f"127.0.0.1:{free_port()}"  # refused at once: the broker check fails fast
    module, command = args
    bootstrap, factories = APP_FACTORIES[module]
    settings = settings_for(module)(
        embedded_backend="memory", data_dir=data_dir, kafka_bootstrap_servers=nowhere
    )
    service = _resolve(bootstrap)(settings)
    app = _resolve(factories[command])(service)
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
        if workload["kind"] == "Deployment":
            (container,) = containers(workload)
            process = PROCESSES[workload["metadata"]["name"]]
            assert tuple(container["args"]) == process.args, process.name
    # every process the gateway checks (and the consumer it does not), and the rebuild; not
    # the gateway: on Kubernetes the Ingress routes
    assert seen == {p.args for p in PROCESSES.values()} | {REBUILD_ARGS}


def test_ports_and_probes_are_the_services_own(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any], tmp_path: Path
) -> None:
    assert {d["metadata"]["name"] for d in of_kind(docs, "Deployment")} == set(PROCESSES)
    for deployment in of_kind(docs, "Deployment"):
        (container,) = containers(deployment)
        process = PROCESSES[deployment["metadata"]["name"]]
        where = f"Deployment/{process.name}"
        settings = settings_from(process.settings, effective_env(docs, container))
        host, port = settings.http_host, getattr(settings, process.port_field)
        health = process.health_path
        assert host not in {"127.0.0.1", "localhost", "::1"}, f"{where} listens on {host}"
        (declared,) = container["ports"]
        assert (declared["name"], declared["containerPort"]) == ("http", port), where
        status = _health_status(process.args, health, tmp_path)
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
    assert set(SETTINGS_BY_MODULE.values()) >= {
        ContactsSettings,
        PipelineSettings,
        TicketsSettings,
        LoyaltySettings,
        SagasSettings,
        ProjectionsSettings,
    }
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


def test_callers_reach_the_apis_through_their_services(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any]
) -> None:
    """The sagas call each API at its Service in the namespace, on the Service's port."""
    assert CALLERS, "no process calls another's API: the sagas are missing"
    for name, callees in CALLERS.items():
        (container,) = containers(named(docs, "Deployment", name))
        settings = settings_from(PROCESSES[name].settings, effective_env(docs, container))
        urls = settings.service_urls()
        assert set(urls) == callees
        for callee, url in urls.items():
            parts = urlsplit(url)
            assert (parts.scheme, parts.hostname) == ("http", callee), f"{name}: {url}"
            service = named(docs, "Service", callee)
            assert [p["port"] for p in service["spec"]["ports"]] == [parts.port], f"{name}: {url}"


# The processes that consume Kafka topics in a consumer group: every *_topic setting of their
# settings class but the dead-letter topic they write to.
KAFKA_CONSUMERS = {
    ("crm_contacts", "consume"),
    ("crm_loyalty", "consume"),
    ("crm_sagas", "run"),
    ("crm_projections", "serve"),
}


def _topic_settings(settings: RuntimeSettings) -> dict[str, str]:
    return {
        name: getattr(settings, name)
        for name in type(settings).model_fields
        if name == "topic" or name.endswith("_topic")
    }


def test_kafka_topics_are_the_topics_the_code_uses(
    docs: tuple[Doc, ...], settings_from: Callable[..., Any]
) -> None:
    """Every topic a settings class names, and every topic of the published contract, is
    declared (and nothing else); each producer's topic has at least the partitions it would
    create; no consumer group has more replicas than a topic it reads has partitions."""
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(docs, "KafkaTopic")}
    # the contract's topics exist whoever uses them: R&D, outside the CRM, reads
    # crm.rnd.requests and writes crm.rnd.replies
    used = set(CONTRACT_TOPICS)
    for cls in set(SETTINGS_BY_MODULE.values()):
        settings = settings_from(cls, {})
        used |= set(_topic_settings(settings).values())
        if "topic_partitions" in type(settings).model_fields:
            # the topic it publishes; without one (the sagas), the topics it creates when
            # missing: the one it reads and its dead letters
            created = (
                [settings.topic]
                if "topic" in type(settings).model_fields
                else list(_topic_settings(settings).values())
            )
            for topic in created:
                assert topics[topic]["partitions"] >= settings.topic_partitions, (cls, topic)
    assert set(topics) == used
    replicas = {d["metadata"]["name"]: d["spec"].get("replicas") for d in workloads(docs)}
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        replicas[hpa["spec"]["scaleTargetRef"]["name"]] = hpa["spec"]["maxReplicas"]
    consumers = [p for p in PROCESSES.values() if p.args in KAFKA_CONSUMERS]
    assert len(consumers) == len(KAFKA_CONSUMERS)
    for process in consumers:
        settings = settings_from(process.settings, {})
        read = {
            topic
            for name, topic in _topic_settings(settings).items()
            if name not in {"topic", "dead_letter_topic"}
        }
        assert read, process.name
        for topic in read:
            assert replicas[process.name] <= topics[topic]["partitions"], (
                f"{process.name}: replicas beyond the partitions of {topic} would sit idle"
            )


@pytest.mark.usefixtures("renderer")
def test_the_rebuild_job_reads_the_histories_from_secrets() -> None:
    """Every event store the rebuild reads (a *_MONGODB_URL setting of the projections) is
    reached with credentials from a Secret."""
    (job,) = of_kind(base(), "CronJob")
    assert job["spec"]["suspend"] is True, "a rebuild runs on demand only"
    (container,) = pod_template(job)["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    stores = {n for n in settings_env_names(ProjectionsSettings) if n.endswith("MONGODB_URL")}
    assert {"CRM_MONGODB_URL", "CRM_CONTACTS_MONGODB_URL"} <= stores
    for name in stores:
        assert name in env and "secretKeyRef" in env[name]["valueFrom"], name
