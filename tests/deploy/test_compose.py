"""The Compose file runs what Kubernetes runs, with the settings the code reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from crm_runtime.auth import signing_key_path
from crm_stack.gateway import GatewaySettings
from tests.deploy.manifests import (
    CALLERS,
    COMPOSE_FILE,
    OTEL_NAMES,
    PROCESSES,
    REPO,
    Doc,
    base,
    compose,
    containers,
    named,
    of_kind,
    settings_env_names,
    settings_for,
)

# Every long-running process of the code (as on Kubernetes), and the gateway.
CRM_SERVICES = set(PROCESSES) | {"gateway"}
BACKING_SERVICES = {"kafka", "kafka-init", "mongodb", "mongodb-init", "otel-collector", "jaeger"}
# Services that check bearer tokens (the gateway only routes).
VERIFIERS = set(PROCESSES)


@pytest.fixture(scope="module")
def services() -> dict[str, Doc]:
    return dict(compose()["services"])


def _env(service: Doc) -> dict[str, str]:
    return {name: str(value) for name, value in service.get("environment", {}).items()}


def _healthcheck_url(service: Doc) -> str:
    test = " ".join(service["healthcheck"]["test"])
    (url,) = re.findall(r"https?://[^'\"\s]+", test)
    return url


def test_compose_runs_every_component_and_its_backing_services(services: dict[str, Doc]) -> None:
    assert set(services) == CRM_SERVICES | BACKING_SERVICES
    images = {services[name]["image"] for name in CRM_SERVICES}
    assert len(images) == 1, "one image runs every component"
    for name in CRM_SERVICES:
        build = services[name]["build"]
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == REPO
        assert (REPO / build["dockerfile"]).is_file()


@pytest.mark.usefixtures("renderer")
def test_components_run_the_same_commands_as_on_kubernetes(services: dict[str, Doc]) -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind(base(), "Deployment")}
    assert set(deployments) == CRM_SERVICES - {"gateway"}
    for name, deployment in deployments.items():
        (container,) = containers(deployment)
        assert services[name]["command"] == container["args"], name
    assert services["gateway"]["command"] == ["crm_stack.gateway"]


def test_components_are_hardened_as_on_kubernetes(services: dict[str, Doc]) -> None:
    for name in CRM_SERVICES:
        service = services[name]
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "user" not in service and not service.get("privileged"), name


def test_every_variable_is_one_the_code_reads(services: dict[str, Doc]) -> None:
    for name in CRM_SERVICES:
        module = services[name]["command"][0]
        known = settings_env_names(settings_for(module)) | OTEL_NAMES
        unknown = set(_env(services[name])) - known
        assert not unknown, f"{name} sets variables no code reads: {unknown}"


@pytest.mark.usefixtures("renderer")
def test_ports_and_health_checks_are_those_of_kubernetes(
    services: dict[str, Doc], settings_from: Callable[..., Any]
) -> None:
    docs = base()
    ports = {}
    for name in CRM_SERVICES - {"gateway"}:
        (container,) = containers(named(docs, "Deployment", name))
        (declared,) = container["ports"]
        settings = settings_from(settings_for(container["args"][0]), _env(services[name]))
        assert settings.http_host == "0.0.0.0", f"{name} must listen beyond its container"
        url = urlsplit(_healthcheck_url(services[name]))
        assert url.port == declared["containerPort"], name
        assert url.path == container["readinessProbe"]["httpGet"]["path"], name
        ports[name] = url.port
    gateway = settings_from(GatewaySettings, _env(services["gateway"]))
    assert gateway.host == "0.0.0.0"
    assert services["gateway"]["ports"] == [f"{gateway.port}:{gateway.port}"]
    assert urlsplit(_healthcheck_url(services["gateway"])).port == gateway.port
    # the gateway reaches each service by its Compose name, at the port it listens on
    for url in [*gateway.routes().values(), *gateway.health_checks().values()]:
        parts = urlsplit(url)
        assert parts.hostname in ports and parts.port == ports[parts.hostname], url


def test_callers_reach_the_apis_by_their_compose_names(
    services: dict[str, Doc], settings_from: Callable[..., Any]
) -> None:
    """The sagas call each API at its Compose service, on the port it listens on."""
    for name, callees in CALLERS.items():
        settings = settings_from(settings_for(services[name]["command"][0]), _env(services[name]))
        urls = settings.service_urls()
        assert set(urls) == callees
        for callee, url in urls.items():
            parts = urlsplit(url)
            listening = urlsplit(_healthcheck_url(services[callee])).port
            assert (parts.scheme, parts.hostname, parts.port) == ("http", callee, listening), url


def test_only_the_gateway_is_reachable_from_outside(services: dict[str, Doc]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            if name != "gateway":
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


@pytest.mark.usefixtures("renderer")
def test_kafka_init_creates_the_topics_kubernetes_declares(services: dict[str, Doc]) -> None:
    script = services["kafka-init"]["command"][0]
    created = {
        topic: (int(partitions), int(retention))
        for topic, partitions, retention in re.findall(
            r"^create (\S+) (\d+) (\d+)$", script, re.MULTILINE
        )
    }
    declared = {
        t["spec"]["topicName"]: (t["spec"]["partitions"], t["spec"]["config"]["retention.ms"])
        for t in of_kind(base(), "KafkaTopic")
    }
    assert created == declared


def test_kafka_runs_in_kraft_mode_and_is_what_the_services_address(
    services: dict[str, Doc], settings_from: Callable[..., Any]
) -> None:
    kafka = _env(services["kafka"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in name for name in kafka)
    advertised = dict(
        listener.split("://") for listener in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    internal = advertised[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    init_script = services["kafka-init"]["command"][0]
    assert f"--bootstrap-server {internal}" in init_script
    for name in CRM_SERVICES:
        settings = settings_from(settings_for(services[name]["command"][0]), _env(services[name]))
        assert settings.kafka_bootstrap_servers == internal, name


def test_mongodb_is_a_replica_set_the_services_address(
    services: dict[str, Doc], settings_from: Callable[..., Any]
) -> None:
    mongodb = services["mongodb"]
    assert re.fullmatch(r"mongo:8(\.\d+)*", mongodb["image"])
    command = mongodb["command"]
    replica_set = command[command.index("--replSet") + 1]
    init = services["mongodb-init"]["command"][0]
    assert f'_id: "{replica_set}"' in init and 'host: "mongodb:27017"' in init
    for name in CRM_SERVICES:
        settings = settings_from(settings_for(services[name]["command"][0]), _env(services[name]))
        url = urlsplit(settings.mongodb_url)
        assert (url.hostname, url.port or 27017) == ("mongodb", 27017), name
        assert parse_qs(url.query)["replicaSet"] == [replica_set], name
    for name in CRM_SERVICES - {"gateway"}:
        depends = services[name]["depends_on"]
        for setup in ("kafka-init", "mongodb-init"):
            assert depends[setup]["condition"] == "service_completed_successfully", name


def test_every_verifier_shares_one_signing_key(
    services: dict[str, Doc], settings_from: Callable[..., Any]
) -> None:
    """No issuer in Compose: the embedded key, in one named volume that every verifier mounts."""
    declared_volumes = set(compose()["volumes"])
    keys = set()
    for name in VERIFIERS:
        service = services[name]
        settings = settings_from(settings_for(service["command"][0]), _env(service))
        assert not settings.auth_jwks_url and not settings.auth_issuer.startswith("https://")
        key = signing_key_path(settings)
        mounts = dict(volume.split(":")[:2] for volume in service["volumes"])
        (volume,) = [v for v, path in mounts.items() if key.is_relative_to(Path(path))]
        assert volume in declared_volumes, f"{name} mounts {volume}, not a named volume"
        keys.add((volume, str(key), settings.auth_issuer, settings.auth_audience))
    assert len(keys) == 1, f"the verifiers disagree on the key: {keys}"


def test_traces_go_through_the_collector_to_jaeger(
    services: dict[str, Doc], settings_from: Callable[..., Any]
) -> None:
    collector = yaml.safe_load((COMPOSE_FILE.parent / "otel-collector.yaml").read_text())
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in VERIFIERS:
        env = _env(services[name])
        assert env["OTEL_TRACES_EXPORTER"] == "otlp"
        endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.hostname == "otel-collector"
        assert endpoint.port == int(http.rsplit(":", 1)[1])
    pipeline = collector["service"]["pipelines"]["traces"]
    assert set(pipeline["receivers"]) <= set(collector["receivers"])
    assert set(pipeline["processors"]) <= set(collector["processors"])
    assert set(pipeline["exporters"]) <= set(collector["exporters"])
    for exporter in pipeline["exporters"]:
        host = collector["exporters"][exporter]["endpoint"].split(":")[0]
        assert host in services, f"the collector exports to {host}, no service of this file"


def test_references_resolve(services: dict[str, Doc]) -> None:
    declared_volumes = set(compose()["volumes"])
    for name, service in services.items():
        depends = service.get("depends_on", {})
        if isinstance(depends, list):  # the short form: started, no condition
            depends = {other: {"condition": "service_started"} for other in depends}
        for other, condition in depends.items():
            assert other in services, f"{name} depends on unknown {other}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[other], f"{other} has no healthcheck"
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name} mounts undeclared volume {source}"
            else:
                assert (COMPOSE_FILE.parent / source).exists(), f"{name} mounts missing {source}"
