"""The customer 360 under security: owner-scoped reads, masking, the access log, erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from customer_events import metadata, registered
from opentelemetry.sdk.trace import TracerProvider

from crm_contracts.contacts import CustomerErased, CustomerOwnerAssigned
from crm_projections.application.projector import Customer360Projector
from crm_projections.application.rebuild import rebuild_customer360
from crm_projections.bootstrap import ProjectionsService
from crm_projections.entrypoints.http import create_app
from crm_runtime.auth import mint_token
from crm_runtime.eventstore import CommandContext, EventStore, NewEvent
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher

PHONE = "+447700900123"
EMAIL = "ada@example.com"


@pytest.fixture
async def ada(service: ProjectionsService) -> str:
    """Ada, owned by rep u1 of team north."""
    first = registered("cus_ada", email=EMAIL, phone=PHONE)
    owner = CustomerOwnerAssigned(customer_id="cus_ada", owner_id="u1", team="north")
    await service.customer360.apply(metadata(first, "cus_ada", 1), first)
    await service.customer360.apply(metadata(owner, "cus_ada", 2), owner)
    return "cus_ada"


@pytest.fixture
async def views(service: ProjectionsService) -> AsyncIterator[Any]:
    transport = httpx.ASGITransport(app=create_app(service, consume=False))

    def as_(role: str, user: str = "u9", team: str | None = "north") -> httpx.AsyncClient:
        token = mint_token(service.settings, subject=user, roles=[role], team=team)
        return httpx.AsyncClient(
            transport=transport,
            base_url="http://projections",
            headers={"Authorization": f"Bearer {token}"},
        )

    yield as_


@pytest.mark.parametrize(
    ("role", "user", "team", "status", "unmasked"),
    [
        ("sales_rep", "u1", "north", 200, False),  # owner
        ("sales_rep", "u2", "north", 200, False),  # same team, read-only
        ("sales_rep", "u3", "south", 403, None),
        ("sales_manager", "m1", "north", 200, True),
        ("sales_manager", "m2", "south", 403, None),
        ("service_agent", "a1", "north", 403, None),  # no ticket assigned
        ("marketing", "k1", None, 200, False),
        ("store_manager", "s1", "north", 403, None),
        ("auditor", "x1", None, 200, False),
        ("admin", "root", None, 200, True),
    ],
)
async def test_who_sees_the_customer_360_and_how_much(
    views: Any, ada: str, role: str, user: str, team: str | None, status: int, unmasked: bool
) -> None:
    async with views(role, user, team) as http:
        answer = await http.get(f"/views/customers/{ada}")
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.headers["content-type"] == "application/problem+json"
        return
    profile = answer.json()["profile"]
    if unmasked:
        assert (profile["phone"], profile["email"]) == (PHONE, EMAIL)
    else:
        assert profile["phone"] == "********0123"
        assert profile["email"] == "a***@example.com"
        assert PHONE not in answer.text and EMAIL not in answer.text
    assert answer.json()["owner"] == {"owner_id": "u1", "team": "north"}


async def test_without_a_token_the_view_is_unauthorised(views: Any, ada: str) -> None:
    transport_client = views("admin")
    async with transport_client as http:
        answer = await http.get(f"/views/customers/{ada}", headers={"Authorization": ""})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_unmasked_reads_are_in_the_access_log_and_masked_ones_are_not(
    views: Any, ada: str
) -> None:
    async with views("sales_rep", "u1") as rep:
        assert (await rep.get(f"/views/customers/{ada}")).status_code == 200
    async with views("sales_manager", "m1") as manager:
        assert (await manager.get(f"/views/customers/{ada}")).status_code == 200
    async with views("auditor", "x1", None) as auditor:
        log = await auditor.get("/views/access-log", params={"customer_id": ada})
    assert log.status_code == 200
    entries = log.json()["entries"]
    assert [(e["actor"], e["customer_id"], e["fields"]) for e in entries] == [
        ("user:m1", ada, ["email", "phone"])
    ]
    async with views("sales_manager", "m1") as manager:
        assert (await manager.get("/views/access-log")).status_code == 403


async def test_an_erased_customer_keeps_no_personal_data_in_the_view(
    service: ProjectionsService, views: Any, ada: str
) -> None:
    erased = CustomerErased(customer_id=ada, request_reference="dsr-1")
    await service.customer360.apply(metadata(erased, ada, 3), erased)
    async with views("admin") as http:
        answer = await http.get(f"/views/customers/{ada}")
    body = answer.json()
    assert body["erased"] is True
    assert body["profile"] == {"name": "[erased]", "kind": "person", "email": None, "phone": None}
    stored = await service.customer360.documents.find_one({"_id": ada})
    assert "Ada" not in str(stored) and PHONE not in str(stored) and EMAIL not in str(stored)


async def test_a_rebuild_after_erasure_cannot_bring_the_data_back(
    memory_client: Any, tracer_provider: TracerProvider
) -> None:
    """The contacts store holds sealed events; after the key is gone, replays show nothing."""
    store = EventStore(memory_client["crm_contacts"], source="/crm/contacts")
    vault = MongoKeyVault(memory_client["crm_keys"]["data_keys"])
    sealed = SealedEvents(PersonalDataCipher(vault))
    now = datetime(2026, 11, 25, tzinfo=UTC)
    event = registered("cus_ada", email=EMAIL, phone=PHONE)
    stored_event = await sealed.seal(
        "cus_ada", NewEvent(event.event_type, 1, event.model_dump(mode="json"))
    )
    context = CommandContext("cmd1", "corr1", "cmd1", "user:u1")
    await store.append("cus_ada", 0, [stored_event], context, now=now, event_ids=["e1"])
    projector = Customer360Projector(memory_client["views"], tracer_provider.get_tracer("t"))

    await rebuild_customer360(projector, [store], sealed=sealed)
    assert (await projector.get("cus_ada"))["profile"]["phone"] == PHONE  # type: ignore[index]

    await vault.destroy("cus_ada", at=now)
    erased = CustomerErased(customer_id="cus_ada")
    await store.append(
        "cus_ada",
        1,
        [NewEvent(erased.event_type, 1, erased.model_dump(mode="json"))],
        context,
        now=now,
        event_ids=["e2"],
    )
    await rebuild_customer360(projector, [store], sealed=sealed)
    rebuilt = await projector.documents.find_one({"_id": "cus_ada"})
    assert rebuilt["profile"] == {
        "name": "[erased]",
        "kind": "person",
        "email": None,
        "phone": None,
    }
    assert PHONE not in str(rebuilt) and EMAIL not in str(rebuilt)
