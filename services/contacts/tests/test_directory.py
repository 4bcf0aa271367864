"""The customer directory: kept by the handlers, healed by the follower, rebuilt from the store;
and what it serves: listing and search, scoped and masked, and duplicate candidates."""

from __future__ import annotations

from itertools import count
from typing import Any

import httpx
import pytest
from contacts_testing import CUSTOMERS, ClientFactory, problem

from crm_contacts.application import handlers
from crm_contacts.application.follower import DirectoryFollower
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain.customer import ChangeCustomerDetails, RegisterCustomer
from crm_contracts.contacts import CustomerKind
from crm_runtime.eventstore import CommandContext

COMMANDS = count()


def by_root() -> CommandContext:
    command_id = f"cmd_{next(COMMANDS)}"
    return CommandContext(command_id, command_id, command_id, "user:root")


async def seed(service: ContactsService, *customers: RegisterCustomer) -> None:
    for command in customers:
        await handlers.execute(service.deps, command, by_root())


ADA = RegisterCustomer(
    "cus_a", "Ada Lovelace", CustomerKind.PERSON, "ada@example.com", "+4930901820", "u1", "north"
)
GRACE = RegisterCustomer(
    "cus_g", "Grace Hopper", CustomerKind.PERSON, "grace@example.org", None, "u2", "south"
)
CHARLES = RegisterCustomer(
    "cus_c", "Charles Babbage", CustomerKind.PERSON, None, "+442079460000", "m1", "north"
)
ENGINES = RegisterCustomer(
    "cus_e", "Analytical Engines Ltd", CustomerKind.COMPANY, owner_id="u1", team="north"
)


async def entries(service: ContactsService) -> dict[str, dict[str, Any]]:
    collection = service.client[service.settings.database]["customer_directory"]
    return {doc["_id"]: doc async for doc in collection.find({})}


# --- kept, healed, rebuilt -------------------------------------------------------------------


async def test_every_command_refreshes_its_customers_entry(service: ContactsService) -> None:
    await seed(service, ADA)
    await handlers.execute(service.deps, ChangeCustomerDetails("cus_a", name="Ada King"), by_root())

    entry = (await entries(service))["cus_a"]
    assert (entry["name"], entry["version"], entry["owner_id"], entry["sort_name"]) == (
        "Ada King",
        3,
        "u1",
        "ada king",
    )
    assert (entry["email_key"], entry["phone"], entry["stage"]) == (
        "ada@example.com",
        "+4930901820",
        "prospect",
    )


async def test_the_follower_heals_an_entry_a_crash_left_behind(
    service: ContactsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(service, ADA)

    async def crash(state: Any) -> bool:
        raise ConnectionError("the process died after the append")

    monkeypatch.setattr(service.directory, "refresh", crash)
    with pytest.raises(ConnectionError):
        await handlers.execute(
            service.deps, ChangeCustomerDetails("cus_a", name="Ada King"), by_root()
        )
    monkeypatch.undo()
    assert (await entries(service))["cus_a"]["name"] == "Ada Lovelace"  # stale

    assert await service.follower.catch_up() == 2
    assert (await entries(service))["cus_a"]["name"] == "Ada King"
    assert await service.follower.position() == await service.store.head_position()
    assert await service.follower.catch_up() == 0  # nothing new


async def test_the_directory_is_rebuilt_from_the_event_store(service: ContactsService) -> None:
    await seed(service, ADA, GRACE, ENGINES)
    before = await entries(service)
    collection = service.client[service.settings.database]["customer_directory"]
    await collection.update_one({"_id": "cus_g"}, {"$set": {"name": "tampered", "version": 99}})

    assert await service.follower.rebuild() == 3
    assert await entries(service) == before


async def test_the_follower_waits_for_a_missing_position_then_moves_past_it(
    service: ContactsService,
) -> None:
    now = [0.0]
    follower = DirectoryFollower(
        service.deps,
        service.client[service.settings.database],
        grace_seconds=5.0,
        monotonic=lambda: now[0],
    )
    await seed(service, ADA)
    counters = service.client[service.settings.database]["counters"]
    await counters.update_one({"_id": "position"}, {"$inc": {"value": 1}})  # a writer lost a race
    await seed(service, GRACE)  # position 3; position 2 never appears
    await service.directory.clear()

    assert await follower.catch_up() == 1  # up to the gap only
    assert set(await entries(service)) == {"cus_a"}
    now[0] = 6.0
    assert await follower.catch_up() == 1
    assert set(await entries(service)) == {"cus_a", "cus_g"}
    assert await follower.position() == 3


# --- listing and search ----------------------------------------------------------------------


@pytest.fixture
async def seeded(service: ContactsService, signed_in: ClientFactory) -> ContactsService:
    await seed(service, ADA, GRACE, CHARLES, ENGINES)
    admin = signed_in("admin", subject="root", team=None)
    await admin.post(f"{CUSTOMERS}/cus_a/tags", json={"add": ["vip"]})
    await admin.put(f"{CUSTOMERS}/cus_c/segments", json={"segments": ["need:training"]})
    await admin.patch(f"{CUSTOMERS}/cus_c", json={"company": "Analytical Engines Ltd"})
    return service


async def listed(http: httpx.AsyncClient, **query: Any) -> list[str]:
    answer = await http.get(CUSTOMERS, params=query)
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()["customers"]]


async def test_a_list_by_name_scoped_to_what_the_caller_may_read(
    seeded: ContactsService, signed_in: ClientFactory
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    rep = signed_in("sales_rep", subject="u1", team="north")
    agent = signed_in("service_agent", subject="a1", team="north")

    assert await listed(admin) == [
        "cus_a",
        "cus_e",
        "cus_c",
        "cus_g",
    ]  # by name: ada, analytical...
    assert await listed(rep) == ["cus_a", "cus_e", "cus_c"]  # north only
    assert await listed(agent) == []  # contacts knows no assignments
    problem(await signed_in("store_manager", subject="s1").get(CUSTOMERS), 403)


FILTERS = [
    ({"owner": "u1"}, ["cus_a", "cus_e"], "by owner"),
    ({"tag": "VIP"}, ["cus_a"], "by tag, normalised"),
    ({"segment": "need:training"}, ["cus_c"], "by segment"),
    ({"stage": "prospect", "owner": "m1"}, ["cus_c"], "by stage and owner"),
    ({"q": "lovelace"}, ["cus_a"], "a word of the name"),
    ({"q": "Babbage charles"}, ["cus_c"], "words in any order"),
    ({"q": "grace@example"}, ["cus_g"], "the e-mail"),
    ({"q": "engines"}, ["cus_e", "cus_c"], "the company (its own name, or a person's)"),
    ({"q": "nobody"}, [], "no match"),
    ({"q": ".*"}, ["cus_a", "cus_e", "cus_c", "cus_g"], "no regex injection"),
]


async def test_filters_and_search(seeded: ContactsService, signed_in: ClientFactory) -> None:
    """One seeding, every filter (seeding costs more than the queries)."""
    admin = signed_in("admin", subject="root", team=None)
    found = {why: await listed(admin, **query) for query, _, why in FILTERS}
    assert found == {why: expected for _, expected, why in FILTERS}


async def test_pages_follow_the_cursor_and_show_contact_details_masked(
    seeded: ContactsService, signed_in: ClientFactory
) -> None:
    marketing = signed_in("marketing", subject="k1", team=None)
    first = (await marketing.get(CUSTOMERS, params={"limit": 3})).json()
    assert [c["id"] for c in first["customers"]] == ["cus_a", "cus_e", "cus_c"]
    assert first["customers"][0]["email"] == "a***@example.com"
    assert first["customers"][0]["phone"] == "******1820"
    rest = (
        await marketing.get(CUSTOMERS, params={"limit": 3, "cursor": first["next_cursor"]})
    ).json()
    assert ([c["id"] for c in rest["customers"]], rest["next_cursor"]) == (["cus_g"], None)
    problem(await marketing.get(CUSTOMERS, params={"cursor": "not-ours"}), 400)


async def test_an_unmasked_list_is_in_the_access_log(
    seeded: ContactsService, signed_in: ClientFactory
) -> None:
    manager = signed_in("sales_manager", subject="m1", team="north")
    shown = (await manager.get(CUSTOMERS, params={"q": "ada"})).json()["customers"]
    assert shown[0]["email"] == "ada@example.com"
    logged = await seeded.access_log.entries(customer_id="cus_a", actor="user:m1")
    assert [(e["action"], e["fields"]) for e in logged] == [("customer.list", ["email", "phone"])]


# --- duplicates ------------------------------------------------------------------------------


async def test_duplicate_candidates_with_their_reasons(
    service: ContactsService, signed_in: ClientFactory
) -> None:
    await seed(
        service,
        RegisterCustomer(
            "cus_1", "Ada Lovelace", CustomerKind.PERSON, "ADA@example.com", None, "u1", "north"
        ),
        RegisterCustomer(
            "cus_2",
            "Lovelace, Ada",
            CustomerKind.PERSON,
            "ada@example.com",
            "+4930901820",
            "u2",
            "north",
        ),
        RegisterCustomer(
            "cus_3", "A. Lovelace", CustomerKind.PERSON, None, "+4930901820", "u9", "south"
        ),
        RegisterCustomer(
            "cus_4", "Ada Lovelace", CustomerKind.PERSON, "other@example.com", None, "u1", "north"
        ),
        RegisterCustomer("cus_5", "Ada Lovelase", CustomerKind.PERSON, None, None, "u1", "north"),
        RegisterCustomer(
            "cus_6", "Analytical Engines", CustomerKind.COMPANY, None, None, "u1", "north"
        ),
        RegisterCustomer(
            "cus_7", "Analytical Engines Ltd", CustomerKind.COMPANY, None, None, "u1", "north"
        ),
    )
    admin = signed_in("admin", subject="root", team=None)
    for customer_id in ("cus_1", "cus_5"):
        await admin.patch(f"{CUSTOMERS}/{customer_id}", json={"company": "Engines"})

    found = (await admin.get(f"{CUSTOMERS}/cus_1/duplicates")).json()["candidates"]
    assert [(c["customer"]["id"], c["reasons"]) for c in found] == [
        ("cus_2", ["same_email"]),  # one reason each: the more alike name first
        ("cus_5", ["similar_name_same_company"]),
    ]
    assert found[0]["name_similarity"] == 1.0  # the same words in another order
    assert 0.85 <= found[1]["name_similarity"] < 1
    by_phone = (await admin.get(f"{CUSTOMERS}/cus_2/duplicates")).json()["candidates"]
    assert [(c["customer"]["id"], c["reasons"]) for c in by_phone] == [
        ("cus_1", ["same_email"]),
        ("cus_3", ["same_phone"]),
    ]
    companies = (await admin.get(f"{CUSTOMERS}/cus_6/duplicates")).json()["candidates"]
    assert [(c["customer"]["id"], c["reasons"]) for c in companies] == [
        ("cus_7", ["similar_company_name"])
    ]
    rep = signed_in("sales_rep", subject="u2", team="north")
    seen_by_rep = (await rep.get(f"{CUSTOMERS}/cus_2/duplicates")).json()["candidates"]
    assert [c["customer"]["id"] for c in seen_by_rep] == ["cus_1"]  # not the south one
    assert seen_by_rep[0]["customer"]["email"] == "A***@example.com"
