"""Processes of the embedded default only (``manifests.EMBEDDED_ONLY``): `crm up` runs them,
nothing deploys them, and they still agree with the code like every other process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crm_sagas.entrypoints.rnd_simulator import bootstrap_simulator, create_simulator_app
from crm_stack.launcher import SERVICES, ServiceProcess
from tests.deploy.manifests import (
    EMBEDDED_ONLY,
    PROCESSES,
    Doc,
    base,
    compose,
    containers,
    of_kind,
    workloads,
)
from tests.support import free_port

LAUNCHED: dict[str, ServiceProcess] = {p.name: p for p in SERVICES if p.name != "gateway"}
"""What `crm up` runs besides the broker and the gateway (which Compose runs, and the
Ingress replaces on Kubernetes)."""

# The app each embedded-only process serves, built as its command builds it.
APPS = {
    "rnd-simulator": lambda settings: create_simulator_app(bootstrap_simulator(settings)),
}


def test_every_process_of_crm_up_is_deployed_or_embedded_only_for_a_reason() -> None:
    assert set(LAUNCHED) == set(PROCESSES) | set(EMBEDDED_ONLY)
    assert not set(PROCESSES) & set(EMBEDDED_ONLY)
    for name, embedded in EMBEDDED_ONLY.items():
        assert len(embedded.reason) > 20, f"{name}: say why it is not deployed"
    assert set(APPS) == set(EMBEDDED_ONLY)


@pytest.mark.usefixtures("renderer")
def test_kubernetes_runs_no_embedded_only_process() -> None:
    docs = base()
    commands = {LAUNCHED[name].command for name in EMBEDDED_ONLY}
    for workload in workloads(docs):
        assert workload["metadata"]["name"] not in EMBEDDED_ONLY
        for container in containers(workload):
            assert tuple(container["args"]) not in commands, workload["metadata"]["name"]
    names = {doc["metadata"]["name"] for doc in docs}
    assert not names & set(EMBEDDED_ONLY)


def test_compose_runs_no_embedded_only_process() -> None:
    services: dict[str, Doc] = compose()["services"]
    commands = {LAUNCHED[name].command for name in EMBEDDED_ONLY}
    assert not set(services) & set(EMBEDDED_ONLY)
    for name, service in services.items():
        assert tuple(service.get("command") or ()) not in commands, name


@pytest.mark.usefixtures("renderer")
def test_no_topic_is_declared_for_an_embedded_only_process_alone() -> None:
    """The simulator's dead letters exist only where it runs; the topics it shares with the
    CRM (the R&D exchange) are the contract's and declared for the real R&D system."""
    declared = {t["spec"]["topicName"] for t in of_kind(base(), "KafkaTopic")}
    for name, embedded in EMBEDDED_ONLY.items():
        settings = embedded.settings.model_construct()
        dead_letters = getattr(settings, "dead_letter_topic", None)
        assert dead_letters is None or dead_letters not in declared, name


@pytest.mark.parametrize("name", sorted(EMBEDDED_ONLY))
def test_crm_up_starts_it_where_its_settings_listen_and_probes_its_health(
    name: str, tmp_path: Path, settings_from: Callable[..., Any]
) -> None:
    launched, embedded = LAUNCHED[name], EMBEDDED_ONLY[name]
    port_fields = [
        field
        for field, info in embedded.settings.model_fields.items()
        if info.alias == launched.port_variable
    ]
    assert len(port_fields) == 1, f"{name}: no settings field reads {launched.port_variable}"
    assert embedded.settings.model_fields[port_fields[0]].default == launched.default_port
    # as `crm up` starts it (its port in its variable), with a broker that is not there: the
    # probe must get the endpoint's own answer (503 at once), not a 401 or a 404
    settings = settings_from(
        embedded.settings,
        {
            launched.port_variable: "9126",
            "CRM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "CRM_DATA_DIR": str(tmp_path),
        },
    )
    assert getattr(settings, port_fields[0]) == 9126
    answer = TestClient(APPS[name](settings)).get(launched.health_path)
    assert answer.status_code == 503, answer.text
    assert answer.json()["broker"] == "unreachable"
