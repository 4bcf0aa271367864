"""The customer 360 under security: owner-scoped reads, masking, the access log, erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from customer_events import (
    interaction,
    metadata,
    opened,
    paid,
    pipeline,
    placed,
    registered,
)
from opentelemetry.sdk.trace import TracerProvider

from crm_contracts.contacts import (
    CustomerErased,
    CustomerMergedInto,
    CustomerOwnerAssigned,
    CustomersMerged,
)
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


async def fold_all(service: ProjectionsService, envelope: Any, event: Any) -> None:
    """Into every read model, as the consumer does."""
    for projector in service.projectors:
        await projector.apply(envelope, event)


@pytest.fixture
async def ada(service: ProjectionsService) -> str:
    """Ada, owned by rep u1 of team north."""
    first = registered("cus_ada", email=EMAIL, phone=PHONE)
    owner = CustomerOwnerAssigned(customer_id="cus_ada", owner_id="u1", team="north")
    await fold_all(service, metadata(first, "cus_ada", 1), first)
    await fold_all(service, metadata(owner, "cus_ada", 2), owner)
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
    await fold_all(service, metadata(erased, ada, 3), erased)
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


# Interaction summaries are personal data: masked like the contact details.

SUMMARY = "Ada wants two machines for her cafe"


@pytest.fixture
async def ada_talked(service: ProjectionsService, ada: str) -> str:
    event = interaction(ada, 1, summary=SUMMARY)
    await fold_all(service, metadata(event, ada, 3), event)
    return ada


@pytest.mark.parametrize(
    ("role", "user", "team", "shown"),
    [
        ("sales_rep", "u1", "north", "***"),
        ("marketing", "k1", None, "***"),
        ("auditor", "x1", None, "***"),
        ("sales_manager", "m1", "north", SUMMARY),
        ("admin", "root", None, SUMMARY),
    ],
)
async def test_interaction_summaries_are_hidden_from_masked_roles(
    views: Any, ada_talked: str, role: str, user: str, team: str | None, shown: str
) -> None:
    async with views(role, user, team) as http:
        answer = await http.get(f"/views/customers/{ada_talked}")
    assert answer.status_code == 200
    (entry,) = answer.json()["latest_interactions"]
    assert (entry["interaction_id"], entry["kind"], entry["summary"]) == ("int_01", "call", shown)
    if shown == "***":
        assert SUMMARY not in answer.text


async def test_reading_interaction_summaries_unmasked_is_in_the_access_log(
    views: Any, ada_talked: str
) -> None:
    async with views("sales_manager", "m1") as manager:
        assert (await manager.get(f"/views/customers/{ada_talked}")).status_code == 200
    async with views("auditor", "x1", None) as auditor:
        log = await auditor.get("/views/access-log", params={"customer_id": ada_talked})
    assert [e["fields"] for e in log.json()["entries"]] == [
        ["email", "phone", "interaction_summaries"]
    ]


async def test_an_erasure_drops_the_interaction_summaries_from_the_view(
    service: ProjectionsService, views: Any, ada_talked: str
) -> None:
    erased = CustomerErased(customer_id=ada_talked)
    await fold_all(service, metadata(erased, ada_talked, 4), erased)
    async with views("admin") as http:
        answer = await http.get(f"/views/customers/{ada_talked}")
    assert [i["summary"] for i in answer.json()["latest_interactions"]] == [None]
    stored = await service.customer360.documents.find_one({"_id": ada_talked})
    assert SUMMARY not in str(stored)


# Merges are read through: a duplicate answers its survivor, which shows the duplicate's sales.

DUPLICATE_SUMMARY = "Ada (as A. Lovelace) asked for a discount"


@pytest.fixture
async def ada_merged(service: ProjectionsService, ada_talked: str) -> str:
    """cus_dup (rep u3, south) ordered, paid part of it, talked, then was merged into Ada."""
    duplicate = "cus_dup"
    history = [
        (metadata(event, duplicate, number), event)
        for number, event in enumerate(
            [
                registered(duplicate, "A. Lovelace", email=None, phone=None),
                CustomerOwnerAssigned(customer_id=duplicate, owner_id="u3", team="south"),
                interaction(duplicate, 2, summary=DUPLICATE_SUMMARY),
                CustomerMergedInto(customer_id=duplicate, survivor_id=ada_talked),
            ],
            start=1,
        )
    ]
    history += pipeline(
        "ord_dup",
        *placed("ord_dup", duplicate, "300.00", owner_id="u3", team="south"),
        paid("ord_dup", duplicate, "100.50", "199.50"),
    )
    merged = CustomersMerged(customer_id=ada_talked, merged_id=duplicate)
    history.append((metadata(merged, ada_talked, 4), merged))
    history += pipeline("ord_ada", *placed("ord_ada", ada_talked, "0.25"))
    for envelope, event in history:
        for projector in service.projectors:
            await projector.apply(envelope, event)
    return duplicate


async def test_the_survivors_view_shows_what_the_duplicate_ordered_and_paid(
    service: ProjectionsService, views: Any, ada_merged: str
) -> None:
    async with views("admin") as http:
        answer = await http.get("/views/customers/cus_ada")
    assert answer.status_code == 200, answer.text
    assert "content-location" not in answer.headers
    body = answer.json()
    assert (body["customer_id"], body["merged_from"]) == ("cus_ada", [ada_merged])
    assert body["owner"] == {"owner_id": "u1", "team": "north"}
    assert body["profile"]["name"] == "Ada Lovelace"
    assert body["orders"]["count"] == 2
    assert {(r["order_id"], r["balance"]) for r in body["receivables"]["items"]} == {
        ("ord_dup", "199.50"),
        ("ord_ada", "0.25"),
    }
    assert body["receivables"]["open_balance"] == {"EUR": "199.75"}
    assert [i["summary"] for i in body["latest_interactions"]] == [DUPLICATE_SUMMARY, SUMMARY]
    stored = await service.customer360.documents.find_one({"_id": "cus_ada"})
    assert stored["order_count"] == 1  # the stored document is still its own streams' fold


@pytest.mark.parametrize(
    ("role", "user", "team", "status"),
    [
        ("sales_rep", "u1", "north", 200),  # the survivor's owner
        ("sales_rep", "u3", "south", 403),  # the duplicate's owner: the survivor's is not theirs
        ("sales_manager", "m1", "north", 200),
    ],
)
async def test_the_duplicates_id_answers_the_survivor_authorised_on_the_survivor(
    views: Any, ada_merged: str, role: str, user: str, team: str, status: int
) -> None:
    async with views(role, user, team) as http:
        answer = await http.get(f"/views/customers/{ada_merged}")
    assert answer.status_code == status, answer.text
    if status != 200:
        return
    assert answer.headers["content-location"] == "/views/customers/cus_ada"
    body = answer.json()
    assert (body["customer_id"], body["orders"]["count"]) == ("cus_ada", 2)
    summaries = [i["summary"] for i in body["latest_interactions"]]
    if role == "sales_rep":
        assert summaries == ["***", "***"]
        assert DUPLICATE_SUMMARY not in answer.text
    else:
        assert summaries == [DUPLICATE_SUMMARY, SUMMARY]


async def test_an_unmasked_read_through_a_duplicate_is_logged_for_the_survivor(
    views: Any, ada_merged: str
) -> None:
    async with views("sales_manager", "m1") as manager:
        assert (await manager.get(f"/views/customers/{ada_merged}")).status_code == 200
    async with views("auditor", "x1", None) as auditor:
        log = await auditor.get("/views/access-log")
    assert [(e["customer_id"], e["fields"]) for e in log.json()["entries"]] == [
        ("cus_ada", ["email", "phone", "interaction_summaries"])
    ]


async def test_a_merge_cycle_answers_without_looping(
    service: ProjectionsService, views: Any
) -> None:
    for one, other in (("cus_a", "cus_b"), ("cus_b", "cus_a")):
        history = [
            registered(one),
            CustomerOwnerAssigned(customer_id=one, owner_id="u1", team="north"),
            CustomerMergedInto(customer_id=one, survivor_id=other),
            CustomersMerged(customer_id=one, merged_id=other),
        ]
        for number, event in enumerate(history, start=1):
            await fold_all(service, metadata(event, one, number), event)
    async with views("admin") as http:
        answer = await http.get("/views/customers/cus_a")
    assert answer.status_code == 200
    assert answer.headers["content-location"] == "/views/customers/cus_b"
    assert answer.json()["merged_from"] == ["cus_a"]


# Money owed and the forecast: reps their own, managers their team's.


@pytest.fixture
async def sales(service: ProjectionsService) -> None:
    """Receivables and open opportunities of u1 and u2 (north) and u3 (south)."""
    for number, (owner_id, team) in enumerate([("u1", "north"), ("u2", "north"), ("u3", "south")]):
        order = f"ord_{number}"
        history = [
            *pipeline(
                order, *placed(order, f"cus_{number}", "100.00", owner_id=owner_id, team=team)
            ),
            *pipeline(
                f"opp_{number}",
                opened(f"opp_{number}", f"cus_{number}", owner_id=owner_id, team=team),
            ),
        ]
        for envelope, event in history:
            for projector in service.projectors:
                await projector.apply(envelope, event)


@pytest.mark.parametrize(
    ("role", "user", "team", "params", "status", "owners"),
    [
        ("sales_rep", "u1", "north", {}, 200, ["u1"]),
        ("sales_rep", "u1", "north", {"owner_id": "u1"}, 200, ["u1"]),
        ("sales_rep", "u1", "north", {"owner_id": "u2"}, 403, None),
        ("sales_rep", "u1", "north", {"team": "south"}, 403, None),
        ("sales_manager", "m1", "north", {}, 200, ["u1", "u2"]),
        ("sales_manager", "m1", "north", {"owner_id": "u3"}, 200, []),
        ("sales_manager", "m1", "north", {"team": "south"}, 403, None),
        ("auditor", "x1", None, {}, 200, ["u1", "u2", "u3"]),
        ("admin", "root", None, {"team": "south"}, 200, ["u3"]),
        ("service", "sagas", None, {"owner_id": "u2"}, 200, ["u2"]),
        ("marketing", "k1", None, {}, 403, None),
        ("service_agent", "a1", "north", {}, 403, None),
        ("store_manager", "s1", "north", {}, 403, None),
    ],
)
async def test_who_lists_receivables_by_rep(
    views: Any,
    sales: None,
    role: str,
    user: str,
    team: str | None,
    params: dict[str, str],
    status: int,
    owners: list[str] | None,
) -> None:
    async with views(role, user, team) as http:
        answer = await http.get("/views/receivables", params=params)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.headers["content-type"] == "application/problem+json"
        return
    body = answer.json()
    assert [rep["owner_id"] for rep in body["reps"]] == owners
    assert body["open_count"] == len(owners or [])
    assert body["open_total"] == ({"EUR": f"{100 * len(owners or [])}.00"} if owners else {})


@pytest.mark.parametrize(
    ("role", "user", "team", "owner", "status"),
    [
        ("sales_rep", "u1", "north", "u1", 200),
        ("sales_rep", "u1", "north", "u2", 403),
        ("sales_manager", "m1", "north", "u2", 200),
        ("sales_manager", "m1", "north", "u3", 403),
        ("auditor", "x1", None, "u3", 200),
        ("admin", "root", None, "u9", 404),
        ("marketing", "k1", None, "u1", 403),
    ],
)
async def test_who_reads_one_reps_receivables(
    views: Any, sales: None, role: str, user: str, team: str | None, owner: str, status: int
) -> None:
    async with views(role, user, team) as http:
        answer = await http.get(f"/views/receivables/{owner}")
    assert answer.status_code == status, answer.text
    if status == 200:
        body = answer.json()
        assert (body["owner_id"], body["open_total"], body["overdue_total"]) == (
            owner,
            {"EUR": "100.00"},
            {},
        )
        assert [r["order_id"] for r in body["receivables"]] == [f"ord_{int(owner[1:]) - 1}"]


@pytest.mark.parametrize(
    ("role", "user", "team", "params", "status", "reps"),
    [
        ("sales_rep", "u2", "north", {}, 200, ["u2"]),
        ("sales_rep", "u2", "north", {"owner_id": "u1"}, 403, None),
        ("sales_manager", "m1", "north", {}, 200, ["u1", "u2"]),
        ("sales_manager", "m1", "north", {"owner_id": "u1"}, 200, ["u1"]),
        ("sales_manager", "m1", "north", {"team": "south"}, 403, None),
        ("admin", "root", None, {}, 200, ["u1", "u2", "u3"]),
        ("admin", "root", None, {"team": "south"}, 200, ["u3"]),
        ("auditor", "x1", None, {}, 403, None),
        ("marketing", "k1", None, {}, 403, None),
    ],
)
async def test_who_sees_the_forecast(
    views: Any,
    sales: None,
    role: str,
    user: str,
    team: str | None,
    params: dict[str, str],
    status: int,
    reps: list[str] | None,
) -> None:
    async with views(role, user, team) as http:
        answer = await http.get("/views/forecast", params={"period": "2027-Q1", **params})
    assert answer.status_code == status, answer.text
    if status == 200:
        body = answer.json()
        assert [rep["owner_id"] for rep in body["by_rep"]] == reps
        count = len(reps or [])
        assert body["totals"] == {
            "EUR": {
                "weighted": f"{4800 * count}.00",
                "amount": f"{48000 * count}.00",
                "count": count,
            }
        }
