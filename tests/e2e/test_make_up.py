"""End to end: the `make up` stack as processes, driven over HTTP and a Kafka consumer."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from stack_tools import alive, children_of, client, read_topic, token

from crm_contracts import cloudevents
from crm_contracts.contacts import (
    CustomerDetailsChanged,
    CustomerErased,
    CustomerOwnerAssigned,
    CustomerRegistered,
)
from crm_stack.launcher import SERVICES
from tests.deploy.manifests import EMBEDDED_ONLY

pytestmark = pytest.mark.e2e


def test_health_names_every_component(stack: dict[str, Any]) -> None:
    body = httpx.get(f"{stack['base']}/health").json()
    assert body["status"] == "ok"
    # The embedded-only stand-ins (the simulated R&D) are no part of a deployment's health.
    every_process = {service.name for service in SERVICES} - {"gateway"} - set(EMBEDDED_ONLY)
    assert set(body["checks"]) == every_process | {"broker", "store"}
    assert {"tickets-scheduler", "loyalty-consumer"} <= every_process


def test_register_read_back_change_and_see_the_events(stack: dict[str, Any]) -> None:
    http = client(stack)
    created = http.post(
        "/contacts/customers",
        json={"name": "Katherine Johnson", "kind": "person", "email": "kj@example.com"},
        headers={"Idempotency-Key": "e2e-1"},
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    started = time.monotonic()
    while (view := http.get(f"/views/customers/{customer_id}")).status_code != 200:
        assert time.monotonic() - started < 5, "the read model did not catch up within 5 s"
        time.sleep(0.02)
    assert view.json()["profile"]["name"] == "Katherine Johnson"

    again = http.post(
        "/contacts/customers",
        json={"name": "Katherine Johnson", "kind": "person", "email": "kj@example.com"},
        headers={"Idempotency-Key": "e2e-1"},
    )
    assert again.json()["id"] == customer_id

    changed = http.patch(
        f"/contacts/customers/{customer_id}",
        json={"phone": "+49 30 901820"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    stale = http.patch(
        f"/contacts/customers/{customer_id}",
        json={"name": "K. Johnson"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    deadline = time.monotonic() + 5
    while http.get(f"/views/customers/{customer_id}").json()["profile"]["phone"] != "+4930901820":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    records = asyncio.run(read_topic(stack["kafka"], customer_id, expected=3))
    decoded = [cloudevents.decode(r.headers, r.value) for r in records]
    assert [type(event) for _, event in decoded] == [
        CustomerRegistered,
        CustomerOwnerAssigned,
        CustomerDetailsChanged,
    ]
    assert [metadata.sequence for metadata, _ in decoded] == [1, 2, 3]
    # Sealed at rest, plaintext for subscribers; the actor is the caller.
    assert decoded[0][1].name == "Katherine Johnson"  # type: ignore[attr-defined]
    assert {metadata.actor for metadata, _ in decoded} == {"user:m1"}
    assert all(dict(r.headers).get("traceparent") for r in records)


def test_rebuild_reproduces_the_read_model(stack: dict[str, Any]) -> None:
    http = client(stack)
    customer_id = http.post(
        "/contacts/customers", json={"name": "Dorothy Vaughan", "kind": "person"}
    ).json()["id"]
    deadline = time.monotonic() + 5
    while (before := http.get(f"/views/customers/{customer_id}")).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    crm = Path(sys.executable).with_name("crm")
    rebuilt = subprocess.run(
        [str(crm), "projections", "rebuild"],
        env=stack["env"],
        capture_output=True,
        timeout=120,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr.decode()
    assert b"customer360 rebuilt" in rebuilt.stderr
    after = http.get(f"/views/customers/{customer_id}")
    assert after.status_code == 200
    assert after.json()["profile"] == before.json()["profile"]
    assert after.json()["streams"] == before.json()["streams"]


def test_a_rep_sees_masked_details_and_an_erasure_reaches_view_and_topic(
    stack: dict[str, Any],
) -> None:
    manager = client(stack)
    rep = client(stack, token(stack["env"], "sales_rep", "r1", "north"))
    admin = client(stack, token(stack["env"], "admin", "root", "hq"))
    created = rep.post(
        "/contacts/customers",
        json={"name": "Mary Jackson", "kind": "person", "phone": "+49 30 901820"},
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    assert created.json()["phone"] == "******1820"
    assert manager.get(f"/contacts/customers/{customer_id}").json()["phone"] == "+4930901820"
    other_team = client(stack, token(stack["env"], "sales_rep", "r2", "south"))
    assert other_team.get(f"/contacts/customers/{customer_id}").status_code == 403

    erased = admin.post(f"/contacts/customers/{customer_id}/erasure", json={})
    assert erased.status_code == 200, erased.text
    assert manager.get(f"/contacts/customers/{customer_id}").status_code == 410
    deadline = time.monotonic() + 5
    while not (view := admin.get(f"/views/customers/{customer_id}").json()).get("erased"):
        assert time.monotonic() < deadline, view
        time.sleep(0.05)
    assert view["profile"]["name"] == "[erased]" and view["profile"]["phone"] is None
    records = asyncio.run(read_topic(stack["kafka"], customer_id, expected=3))
    assert isinstance(cloudevents.decode(records[-1].headers, records[-1].value)[1], CustomerErased)


def test_sigterm_stops_everything_within_ten_seconds(stack: dict[str, Any]) -> None:
    process: subprocess.Popen[bytes] = stack["process"]
    children = children_of(process.pid)
    assert len(children) >= 5
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    assert time.monotonic() - started < 10
    assert process.returncode == 0
    time.sleep(0.2)
    assert [pid for pid in children if alive(pid)] == []
