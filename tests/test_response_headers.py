"""Every answer names its trace (X-Trace-Id); every answer to a command names its correlation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_contacts.bootstrap import ContactsService, bootstrap
from crm_contacts.config import ContactsSettings
from crm_contacts.entrypoints.http import create_app
from crm_projections.bootstrap import bootstrap as bootstrap_projections
from crm_projections.config import ProjectionsSettings
from crm_projections.entrypoints.http import create_app as create_views_app
from crm_runtime.auth import mint_token
from crm_runtime.telemetry import build_tracer_provider
from crm_runtime.testing import memory_document_client

CUSTOMERS = "/contacts/customers"
ADA = {"name": "Ada Lovelace", "kind": "person", "email": "ada@example.com"}
TRACE_ID = re.compile(r"[0-9a-f]{32}")
Caller = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def contacts(tmp_path: Path) -> AsyncIterator[ContactsService]:
    service = bootstrap(
        ContactsSettings(
            embedded_backend="memory", data_dir=tmp_path, max_body_bytes=512, rate_limit="8/minute"
        ),
        document_client=memory_document_client(),
        tracer_provider=build_tracer_provider("test", exporter=InMemorySpanExporter()),
    )
    await service.start()
    yield service
    await service.close()


@pytest.fixture
async def caller(contacts: ContactsService) -> AsyncIterator[Caller]:
    """``caller(role, subject=...)``: a client of the contacts API; no role, no token."""
    transport = httpx.ASGITransport(app=create_app(contacts), raise_app_exceptions=False)
    opened: list[httpx.AsyncClient] = []

    def open_client(role: str | None = None, subject: str = "u1") -> httpx.AsyncClient:
        headers = {}
        if role:
            token = mint_token(contacts.settings, subject=subject, roles=[role], team="north")
            headers["Authorization"] = f"Bearer {token}"
        client = httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.aclose()


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 100):
        yield body[start : start + 100]


async def failing(*_: Any, **__: Any) -> Any:
    raise RuntimeError("the store went away")


Scenario = Callable[[Caller, ContactsService, str], Awaitable[httpx.Response]]

SCENARIOS: dict[str, tuple[int, Scenario]] = {
    "401 no token": (401, lambda c, s, cid: c().patch(f"{CUSTOMERS}/{cid}", json={})),
    "403 forbidden": (
        403,
        lambda c, s, cid: c("marketing").patch(f"{CUSTOMERS}/{cid}", json={"name": "B"}),
    ),
    "404 unknown customer": (404, lambda c, s, cid: c("sales_rep").get(f"{CUSTOMERS}/cus_no")),
    "404 unknown route": (404, lambda c, s, cid: c("sales_rep").get("/contacts/nothing")),
    "409 stale If-Match": (
        409,
        lambda c, s, cid: c("sales_rep").patch(
            f"{CUSTOMERS}/{cid}", json={"name": "B"}, headers={"If-Match": '"1"'}
        ),
    ),
    "422 invalid body": (
        422,
        lambda c, s, cid: c("sales_rep").post(CUSTOMERS, json={**ADA, "kind": "robot"}),
    ),
    "413 declared length": (
        413,
        lambda c, s, cid: c("sales_rep").post(CUSTOMERS, json={**ADA, "name": "x" * 600}),
    ),
    "413 streamed": (
        413,
        lambda c, s, cid: c("sales_rep").post(
            CUSTOMERS, content=chunks(b"{" + b" " * 600 + b"}"), headers={"content-type": "json"}
        ),
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_every_problem_answer_carries_its_trace_id_in_header_and_body(
    caller: Caller, contacts: ContactsService, name: str
) -> None:
    status, scenario = SCENARIOS[name]
    customer = (await caller("sales_rep").post(CUSTOMERS, json=ADA)).json()

    answer = await scenario(caller, contacts, customer["id"])

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert TRACE_ID.fullmatch(answer.headers["X-Trace-Id"])
    assert answer.json()["trace_id"] == answer.headers["X-Trace-Id"]


async def test_429_carries_its_trace_id(caller: Caller) -> None:
    client = caller("sales_rep")
    answers = [await client.get(f"{CUSTOMERS}/cus_no") for _ in range(9)]

    assert answers[-1].status_code == 429
    assert answers[-1].json()["trace_id"] == answers[-1].headers["X-Trace-Id"]


async def test_an_unexpected_error_is_a_500_with_its_trace_id_and_is_counted(
    caller: Caller, contacts: ContactsService
) -> None:
    contacts.store.load = failing  # type: ignore[method-assign]

    with structlog.testing.capture_logs() as logs:
        answer = await caller("sales_rep").get(f"{CUSTOMERS}/cus_1")

    assert [entry["event"] for entry in logs] == ["unhandled error"]
    assert answer.status_code == 500
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["trace_id"] == answer.headers["X-Trace-Id"]
    assert "the store went away" not in answer.text
    metrics = (await caller().get("/metrics")).text
    assert (
        'crm_http_requests_total{method="GET",route="/contacts/customers/{customer_id}",'
        'service="contacts",status="500"} 1.0'
    ) in metrics


async def test_the_views_answer_their_trace_id_too(tmp_path: Path) -> None:
    service = bootstrap_projections(
        ProjectionsSettings(embedded_backend="memory", data_dir=tmp_path),
        document_client=memory_document_client(),
        tracer_provider=build_tracer_provider("test", exporter=InMemorySpanExporter()),
    )
    transport = httpx.ASGITransport(app=create_views_app(service, consume=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/views/customers/cus_1")
    await service.close()

    assert answer.status_code == 401
    assert answer.json()["trace_id"] == answer.headers["X-Trace-Id"]


# --- X-Correlation-Id ------------------------------------------------------------------------


async def test_a_command_answers_the_correlation_id_its_events_carry(
    caller: Caller, contacts: ContactsService
) -> None:
    client = caller("sales_rep")
    registered = await client.post(CUSTOMERS, json=ADA)
    customer_id = registered.json()["id"]
    changed = await client.patch(
        f"{CUSTOMERS}/{customer_id}",
        json={"name": "Ada King"},
        headers={"X-Correlation-Id": "onboarding-42"},
    )

    assert (registered.status_code, changed.status_code) == (201, 200)
    own = registered.headers["X-Correlation-Id"]
    assert own.startswith("cmd_")
    assert changed.headers["X-Correlation-Id"] == "onboarding-42"
    assert [e.metadata.sequence for e in await contacts.store.by_correlation(own)] == [1, 2]
    assert [e.metadata.sequence for e in await contacts.store.by_correlation("onboarding-42")] == [
        3
    ]


async def test_a_replayed_command_answers_the_correlation_of_the_first(caller: Caller) -> None:
    client = caller("sales_rep")
    key = {"Idempotency-Key": "signup-1"}
    first = await client.post(CUSTOMERS, json=ADA, headers=key)
    again = await client.post(CUSTOMERS, json=ADA, headers={**key, "X-Correlation-Id": "retry"})

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Correlation-Id"] == first.headers["X-Correlation-Id"]


@pytest.mark.parametrize(
    "name", ["401 no token", "403 forbidden", "409 stale If-Match", "422 invalid body"]
)
async def test_refused_commands_answer_a_correlation_id_too(
    caller: Caller, contacts: ContactsService, name: str
) -> None:
    status, scenario = SCENARIOS[name]
    customer = (await caller("sales_rep").post(CUSTOMERS, json=ADA)).json()

    answer = await scenario(caller, contacts, customer["id"])

    assert answer.status_code == status
    assert answer.headers["X-Correlation-Id"].startswith("cmd_")
    assert await contacts.store.by_correlation(answer.headers["X-Correlation-Id"]) == []


async def test_a_command_that_fails_unexpectedly_answers_its_correlation_id(
    caller: Caller, contacts: ContactsService
) -> None:
    contacts.store.append = failing  # type: ignore[method-assign]

    with structlog.testing.capture_logs() as logs:
        answer = await caller("sales_rep").post(
            CUSTOMERS, json=ADA, headers={"X-Correlation-Id": "c-500"}
        )

    assert logs[0]["correlation_id"] == "c-500"
    assert answer.status_code == 500
    assert answer.headers["X-Correlation-Id"] == "c-500"


async def test_log_lines_written_during_a_command_name_its_correlation(
    caller: Caller, contacts: ContactsService
) -> None:
    customer = (await caller("sales_rep").post(CUSTOMERS, json=ADA)).json()

    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        answer = await caller("marketing").patch(
            f"{CUSTOMERS}/{customer['id']}", json={"name": "B"}, headers={"X-Correlation-Id": "c-1"}
        )

    assert answer.status_code == 403
    assert [(entry["event"], entry["correlation_id"]) for entry in logs] == [("forbidden", "c-1")]


async def test_queries_answer_no_correlation_id(caller: Caller) -> None:
    answer = await caller("sales_rep").get(f"{CUSTOMERS}/cus_no")

    assert "X-Correlation-Id" not in answer.headers
