"""End to end: the `make up` stack as processes, driven over HTTP and a Kafka consumer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from crm_contracts import cloudevents
from crm_contracts.contacts import (
    CustomerDetailsChanged,
    CustomerErased,
    CustomerOwnerAssigned,
    CustomerRegistered,
)
from tests.support import free_port

pytestmark = pytest.mark.e2e


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    names = ("gateway", "contacts", "relay", "projections", "kafka")
    more = ("pipeline", "pipeline-relay", "scheduler", "consumer")
    ports = {name: free_port() for name in (*names, *more)}
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")}
    env.update(
        CRM_GATEWAY_PORT=str(ports["gateway"]),
        CRM_CONTACTS_PORT=str(ports["contacts"]),
        CRM_CONTACTS_RELAY_PORT=str(ports["relay"]),
        CRM_PROJECTIONS_PORT=str(ports["projections"]),
        CRM_CONTACTS_CONSUMER_PORT=str(ports["consumer"]),
        CRM_PIPELINE_PORT=str(ports["pipeline"]),
        CRM_PIPELINE_RELAY_PORT=str(ports["pipeline-relay"]),
        CRM_PIPELINE_SCHEDULER_PORT=str(ports["scheduler"]),
        CRM_EMBEDDED_KAFKA_PORT=str(ports["kafka"]),
        CRM_DATA_DIR=str(tmp_path_factory.mktemp("crm-data")),
    )
    crm = Path(sys.executable).with_name("crm")
    process = subprocess.Popen(
        [str(crm), "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{ports['gateway']}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"crm up exited early:\n{output}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        pytest.fail("the stack did not become healthy within 90 s")
    info = {
        "process": process,
        "base": base,
        "kafka": f"127.0.0.1:{ports['kafka']}",
        "env": env,
        "manager": token(env, "sales_manager", "m1", "north"),
    }
    yield info
    if process.poll() is None:
        # SIGTERM lets `crm up` stop its children; SIGKILL would orphan them.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def token(env: dict[str, str], role: str, user: str, team: str) -> str:
    """A bearer token minted the way the README tells a newcomer to: ``crm token``."""
    crm = Path(sys.executable).with_name("crm")
    minted = subprocess.run(
        [str(crm), "token", "--role", role, "--user", user, "--team", team],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return minted.stdout.decode().strip()


def client(stack: dict[str, Any], bearer: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=stack["base"],
        timeout=10,
        headers={"Authorization": f"Bearer {bearer or stack['manager']}"},
    )


async def read_topic(bootstrap: str, subject: str, expected: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        "crm.contacts.events",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(20):
            while len(found) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                found += [m for ms in batch.values() for m in ms if m.key == subject.encode()]
    finally:
        await consumer.stop()
    return found


def test_health_names_every_component(stack: dict[str, Any]) -> None:
    body = httpx.get(f"{stack['base']}/health").json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {
        "contacts",
        "contacts-relay",
        "contacts-consumer",
        "pipeline",
        "pipeline-relay",
        "pipeline-scheduler",
        "projections",
        "broker",
        "store",
    }


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
