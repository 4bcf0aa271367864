"""Property-based fuzz of the views API: no 5xx, problems are problem+json, no leak when masked
(contact details and interaction summaries), over every view."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from customer_events import interaction, metadata, opened, pipeline, placed, registered
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_contracts.contacts import CustomerOwnerAssigned
from crm_projections.bootstrap import bootstrap
from crm_projections.config import ProjectionsSettings
from crm_projections.entrypoints.http import create_app
from crm_runtime.auth import mint_token
from crm_runtime.telemetry import build_tracer_provider
from crm_runtime.testing import memory_document_client

PHONE = "+447700900123"
EMAIL = "ada@example.com"
SUMMARY = "Ada wants two machines"
ROLES = [
    "sales_rep",
    "sales_manager",
    "service_agent",
    "marketing",
    "store_manager",
    "admin",
    "auditor",
    "service",
    "nobody",
]
MASKED = {"sales_rep", "marketing", "auditor"}
SALES = [
    *pipeline("ord_1", *placed("ord_1", "cus_ada")),
    *pipeline("opp_1", opened("opp_1", "cus_ada")),
]

paths = st.one_of(
    st.just("/views/customers/cus_ada"),
    st.text(min_size=0, max_size=40).map(lambda s: f"/views/customers/{quote(s, safe='')}"),
    st.just("/views/access-log"),
    st.sampled_from(["/views/receivables", "/views/receivables/u1", "/views/forecast"]),
    st.text(min_size=0, max_size=40).map(lambda s: f"/views/receivables/{quote(s, safe='')}"),
)
queries = st.dictionaries(
    st.sampled_from(["customer_id", "actor", "limit", "x", "period", "owner_id", "team"]),
    st.one_of(
        st.text(max_size=30),
        st.integers(-10, 5000).map(str),
        st.sampled_from(["2027-Q1", "2027-03", "2027", "u1", "north", "south"]),
    ),
    max_size=3,
)
authorizations = st.one_of(
    st.sampled_from(ROLES).map(lambda role: ("role", role)),
    st.text(max_size=60).map(lambda raw: ("raw", raw)),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(path=paths, query=queries, auth=authorizations, method=st.sampled_from(["GET", "POST"]))
def test_the_views_never_fail_and_never_leak_to_masked_roles(
    tmp_path: Path, path: str, query: dict[str, str], auth: tuple[str, str], method: str
) -> None:
    asyncio.run(_exercise(tmp_path, path, query, auth, method))


async def _exercise(
    tmp_path: Path, path: str, query: dict[str, str], auth: tuple[str, str], method: str
) -> None:
    service = bootstrap(
        ProjectionsSettings(embedded_backend="memory", data_dir=tmp_path),
        document_client=memory_document_client(),
        tracer_provider=build_tracer_provider("fuzz"),
    )
    first = registered("cus_ada", email=EMAIL, phone=PHONE)
    owner = CustomerOwnerAssigned(customer_id="cus_ada", owner_id="u1", team="north")
    talk = interaction("cus_ada", 1, summary=SUMMARY)
    for sequence, event in enumerate((first, owner, talk), start=1):
        await service.customer360.apply(metadata(event, "cus_ada", sequence), event)
    for envelope, event in SALES:
        for projector in service.projectors:
            await projector.apply(envelope, event)
    kind, value = auth
    headers: dict[str, Any] = {}
    if kind == "role":
        token = mint_token(service.settings, subject="u1", roles=[value], team="north")
        headers["Authorization"] = f"Bearer {token}"
    elif value.isascii() and value.isprintable():
        headers["Authorization"] = value
    transport = httpx.ASGITransport(app=create_app(service, consume=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://views") as http:
        answer = await http.request(method, path, params=query, headers=headers)
    await service.close()
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
    if kind == "role" and value in MASKED:
        assert PHONE not in answer.text and EMAIL not in answer.text
        assert SUMMARY not in answer.text
