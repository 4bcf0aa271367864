"""``crm trace``: the causal chain of a correlation, rebuilt from the event stores alone."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from crm_contacts.bootstrap import bootstrap
from crm_contacts.config import ContactsSettings
from crm_contacts.entrypoints.http import create_app
from crm_contracts import EventMetadata
from crm_runtime.auth import mint_token
from crm_runtime.eventstore import CommandContext, EventStore, NewEvent, StoredEvent
from crm_runtime.telemetry import build_tracer_provider
from crm_stack.cli import app
from crm_stack.trace import TracedEvent, causal_tree

T0 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def event(id_: str, caused_by: str, minute: int, context: str = "contacts") -> TracedEvent:
    metadata = EventMetadata(
        id=id_,
        type=f"crm.{context}.Happened",
        schema_version=1,
        source=f"/crm/{context}",
        subject="cus_1",
        sequence=minute + 1,
        time=T0 + timedelta(minutes=minute),
        correlation_id="corr",
        causation_id=caused_by,
        actor="user:u1",
    )
    return TracedEvent(context, StoredEvent(metadata, {}, position=minute + 1))


def shape(events: list[TracedEvent]) -> dict[str, Any]:
    """{cause: {event: {event it caused: ...}}}: the tree without its details."""

    def nodes(children: list[Any]) -> dict[str, Any]:
        return {child.event.id: nodes(child.caused) for child in children}

    return {cause.id: nodes(cause.caused) for cause in causal_tree(events)}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [event("e1", "cmd_1", 0), event("e2", "cmd_1", 0)],
            {"cmd_1": {"e1": {}, "e2": {}}},
            id="one command, two events",
        ),
        pytest.param(
            [event("e3", "cmd_2", 2), event("e1", "cmd_1", 0), event("e2", "e1", 1, "loyalty")],
            {"cmd_1": {"e1": {"e2": {}}}, "cmd_2": {"e3": {}}},
            id="an event caused by an event nests under it; commands in time order",
        ),
        pytest.param(
            [event("e1", "evt_form_submitted", 0), event("e2", "e1", 1), event("e3", "e2", 2)],
            {"evt_form_submitted": {"e1": {"e2": {"e3": {}}}}},
            id="a cause outside the stores is a root too",
        ),
        pytest.param(
            [event("e1", "e2", 0), event("e2", "e1", 1), event("e3", "e3", 2)],
            {"e3": {"e3": {}}, "e2": {"e1": {"e2": {}}}},
            id="causation loops are shown, not lost",
        ),
    ],
)
def test_the_tree_puts_every_event_under_its_cause(
    events: list[TracedEvent], expected: dict[str, Any]
) -> None:
    assert shape(events) == expected


@dataclass
class Seeded:
    data_dir: Path
    correlation_id: str
    trace_id: str
    customer_id: str
    saga_event_id: str


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    """Two commands of one correlation through the contacts API, and a saga's reaction."""
    return asyncio.run(_seed(tmp_path / "store"))


async def _seed(data_dir: Path) -> Seeded:
    settings = ContactsSettings(data_dir=data_dir, embedded_backend="sqlite")
    service = bootstrap(
        settings, tracer_provider=build_tracer_provider("test", exporter=InMemorySpanExporter())
    )
    await service.start()
    token = mint_token(settings, subject="u1", roles=["sales_rep"], team="north")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service)),
        base_url="http://contacts",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        registered = await http.post(
            "/contacts/customers", json={"name": "Grace Hopper", "kind": "person"}
        )
        correlation_id = registered.headers["X-Correlation-Id"]
        customer_id = registered.json()["id"]
        changed = await http.patch(
            f"/contacts/customers/{customer_id}",
            json={"name": "Grace B. Hopper"},
            headers={"X-Correlation-Id": correlation_id},
        )
        assert (registered.status_code, changed.status_code) == (201, 200)
        assert changed.headers["X-Correlation-Id"] == correlation_id
    owner_assigned = (await service.store.load(customer_id))[1].metadata
    # What a saga will do: react to an event with one of its own, caused by that event.
    sagas = EventStore(service.client["crm_sagas"], source="/crm/sagas")
    await sagas.append(
        "welcome_1",
        0,
        [NewEvent("crm.sagas.WelcomeCallScheduled", 1, {})],
        CommandContext("cmd_saga", correlation_id, owner_assigned.id, "service:sagas"),
        now=datetime.now(UTC),
        event_ids=["evt_welcome"],
    )
    await service.close()
    return Seeded(
        data_dir, correlation_id, registered.headers["X-Trace-Id"], customer_id, "evt_welcome"
    )


@pytest.fixture
def crm(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The crm command reading the seeded stores: contacts, and the saga store beside it."""
    from crm_stack import trace

    class SagaSettings(ContactsSettings):
        database: str = "crm_sagas"

    monkeypatch.setattr(
        trace,
        "SOURCES",
        (*trace.SOURCES, trace.EventStoreSource("sagas", SagaSettings, "/crm/sagas")),
    )
    monkeypatch.setenv("CRM_DATA_DIR", str(seeded.data_dir))
    monkeypatch.delenv("CRM_MONGODB_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_the_tree_shows_each_command_and_what_it_caused_across_stores(
    crm: CliRunner, seeded: Seeded
) -> None:
    result = crm.invoke(app, ["trace", seeded.correlation_id])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"correlation {seeded.correlation_id}  4 events from contacts, sagas" in lines[0]
    commands = [line for line in lines if "command cmd_" in line]
    assert len(commands) == 2 and f"command {seeded.correlation_id}" in commands[0]
    text = result.output
    for expected in (
        f"contacts  CustomerRegistered  {seeded.customer_id}@1",
        f"contacts  CustomerOwnerAssigned  {seeded.customer_id}@2",
        f"contacts  CustomerDetailsChanged  {seeded.customer_id}@3",
        "sagas  WelcomeCallScheduled  welcome_1@1",
        "by user:u1  event evt_",
        f"trace {seeded.trace_id}",
        "by service:sagas  event evt_welcome  trace -",
    ):
        assert expected in text, expected
    # The saga's event sits one level below the event that caused it.
    owner_line = next(i for i, line in enumerate(lines) if "CustomerOwnerAssigned" in line)
    saga_line = next(i for i, line in enumerate(lines) if "WelcomeCallScheduled" in line)
    assert saga_line == owner_line + 2
    indent = lines[saga_line].index("20") - lines[owner_line].index("20")
    assert indent == 4


def test_json_output_has_the_events_and_the_tree(crm: CliRunner, seeded: Seeded) -> None:
    result = crm.invoke(app, ["trace", seeded.correlation_id, "--json"])

    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["correlation_ids"] == [seeded.correlation_id]
    assert [e["type"] for e in found["events"]] == [
        "crm.contacts.CustomerRegistered",
        "crm.contacts.CustomerOwnerAssigned",
        "crm.contacts.CustomerDetailsChanged",
        "crm.sagas.WelcomeCallScheduled",
    ]
    first = found["events"][0]
    assert set(first) >= {"id", "time", "context", "type", "subject", "sequence", "actor"}
    assert (first["trace_id"], first["causation_id"]) == (seeded.trace_id, seeded.correlation_id)
    register, change = found["causes"]
    assert (register["id"], register["kind"]) == (seeded.correlation_id, "command")
    owner_assigned = register["caused"][1]
    assert [e["id"] for e in owner_assigned["caused"]] == [seeded.saga_event_id]
    assert [e["sequence"] for e in change["caused"]] == [3]
    assert "data" not in first  # metadata only: payloads may hold personal data


def test_a_trace_id_finds_the_correlation_its_request_appended(
    crm: CliRunner, seeded: Seeded
) -> None:
    result = crm.invoke(app, ["trace", "--trace-id", seeded.trace_id.upper(), "--json"])

    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert (found["trace_id"], found["correlation_ids"]) == (
        seeded.trace_id,
        [seeded.correlation_id],
    )
    assert len(found["events"]) == 4


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["trace", "cmd_nobody"], 1, "no event has correlation id cmd_nobody"),
        (["trace", "--trace-id", "0" * 32], 1, f"no event has trace id {'0' * 32}"),
        (["trace", "--trace-id", "not-a-trace"], 2, "a trace id is 32 hex digits"),
        (["trace"], 2, "give a correlation id, or --trace-id"),
        (["trace", ""], 2, "give a correlation id, or --trace-id"),
        (["trace", "  "], 2, "give a correlation id, or --trace-id"),
    ],
)
def test_nothing_found_is_an_error_that_says_where_it_looked(
    crm: CliRunner, seeded: Seeded, args: list[str], code: int, message: str
) -> None:
    result = crm.invoke(app, args)

    assert result.exit_code == code
    assert message in result.output
    if code == 1:
        assert "contacts: database crm_contacts" in result.output
        assert str(seeded.data_dir) in result.output.replace("\n", "")
