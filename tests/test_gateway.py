"""The embedded stack's HTTP entry: health aggregation and routing errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from crm_stack.gateway import GatewaySettings, create_gateway
from tests.support import free_port


def test_health_says_which_components_are_unreachable() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    backing = {"mongodb_url", "auth_jwks_url"}
    every_url = {
        name: nowhere
        for name in GatewaySettings.model_fields
        if name.endswith("_url") and name not in backing
    }
    settings = GatewaySettings(
        embedded_backend="memory",
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        **every_url,
    )
    with TestClient(create_gateway(settings)) as client:
        answer = client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert set(body["failing"]) == {
        "contacts",
        "contacts-relay",
        "contacts-consumer",
        "pipeline",
        "pipeline-relay",
        "pipeline-scheduler",
        "tickets",
        "tickets-relay",
        "tickets-scheduler",
        "loyalty",
        "loyalty-relay",
        "loyalty-consumer",
        "loyalty-scheduler",
        "sagas",
        "sagas-runner",
        "projections",
        "broker",
    }
    assert body["checks"]["store"] == "ok"


def test_unknown_prefix_is_a_problem_not_a_crash() -> None:
    with TestClient(create_gateway(GatewaySettings(embedded_backend="memory"))) as client:
        answer = client.get("/billing/1")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "/contacts" in answer.json()["detail"]


def test_unreachable_upstream_is_a_bad_gateway_problem() -> None:
    settings = GatewaySettings(
        embedded_backend="memory", contacts_url=f"http://127.0.0.1:{free_port()}"
    )
    with TestClient(create_gateway(settings)) as client:
        answer = client.get("/contacts/customers/x")
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
