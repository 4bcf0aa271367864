"""The embedded stack's HTTP entry: health aggregation and routing errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from crm_stack.gateway import GatewaySettings, create_gateway
from tests.support import free_port


def test_health_says_which_components_are_unreachable() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = GatewaySettings(
        embedded_backend="memory",
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        contacts_url=nowhere,
        contacts_relay_url=nowhere,
        contacts_consumer_url=nowhere,
        projections_url=nowhere,
        pipeline_url=nowhere,
        pipeline_relay_url=nowhere,
        pipeline_scheduler_url=nowhere,
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
        "projections",
        "broker",
    }
    assert body["checks"]["store"] == "ok"


def test_unknown_prefix_is_a_problem_not_a_crash() -> None:
    with TestClient(create_gateway(GatewaySettings(embedded_backend="memory"))) as client:
        answer = client.get("/tickets/1")
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
