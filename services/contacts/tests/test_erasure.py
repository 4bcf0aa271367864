"""Erasure by crypto-shredding: the key goes, the history stays, no plaintext is left anywhere."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from contacts_testing import CUSTOMERS, EMAIL, NAME, PHONE, ClientFactory, problem, register

from crm_contacts.application import handlers
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain.customer import Erased

CONTACTS_DATABASE = "crm_contacts"
NEW_EMAIL = "countess@example.org"
NEW_PHONE = "+41446681800"
PROFILE = {
    "company": "Analytical Engines",
    "birthday": "1985-12-10",
    "street": "12 Marylebone Road",
    "postal_code": "NW1 5LR",
    "city": "Marylebone",
    "preference": "mild, no coriander",
    "summary": "Showed the difference engine",
    "notes": "Prefers Tuesday mornings",
}
PLAINTEXT = (
    NAME,
    EMAIL,
    PHONE,
    PHONE.removeprefix("+"),
    NEW_EMAIL,
    NEW_PHONE,
    "Lovelace",
    *PROFILE.values(),
)
VERSION_ERASED = 6


@pytest.fixture
def admin(signed_in: ClientFactory) -> httpx.AsyncClient:
    return signed_in("admin", subject="root", team=None)


@pytest.fixture
async def ada(signed_in: ClientFactory, admin: httpx.AsyncClient) -> str:
    """Ada as she is after a working life: registered, changed, read in full, replayable."""
    manager = signed_in("sales_manager", subject="m1", team="north")
    customer = await register(manager)
    location = f"{CUSTOMERS}/{customer['id']}"
    for change, key in [
        ({"email": NEW_EMAIL}, "new-mail"),
        ({"email": EMAIL, "phone": NEW_PHONE}, "new-phone"),
        ({"phone": PHONE}, "old-phone"),
    ]:
        changed = await manager.patch(location, json=change, headers={"Idempotency-Key": key})
        assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 5
    assert (await admin.get(location)).status_code == 200  # an access-log entry
    return str(customer["id"])


@pytest.fixture
async def ada_in_full(signed_in: ClientFactory, ada: str) -> str:
    """Ada with every other personal field filled in as well."""
    await fill_in_the_profile(signed_in("sales_manager", subject="m1", team="north"), ada)
    return ada


async def fill_in_the_profile(manager: httpx.AsyncClient, customer_id: str) -> None:
    """Every other personal field: company, birthday, address, preference, an interaction."""
    location = f"{CUSTOMERS}/{customer_id}"
    address = {
        "street": PROFILE["street"],
        "city": PROFILE["city"],
        "postal_code": PROFILE["postal_code"],
        "country": "GB",
    }
    interaction = {"kind": "visit", "summary": PROFILE["summary"], "notes": PROFILE["notes"]}
    for answer in [
        await manager.patch(
            location,
            json={"company": PROFILE["company"], "birthday": PROFILE["birthday"]},
            headers={"Idempotency-Key": "profile"},
        ),
        await manager.put(f"{location}/addresses/billing", json=address),
        await manager.put(f"{location}/preferences/spice", json={"text": PROFILE["preference"]}),
        await manager.post(f"{location}/interactions", json=interaction),
    ]:
        assert answer.status_code in (200, 201), answer.text


async def every_document(service: ContactsService) -> list[str]:
    """Every document of the contacts and the keys databases, as JSON text."""
    found = []
    for name in (service.settings.database, service.settings.keys_database):
        database = service.client[name]
        for collection in await database.list_collection_names():
            async for doc in database[collection].find({}):
                found.append(f"{name}.{collection}: {json.dumps(doc, default=str)}")
    return found


def with_plaintext(documents: list[str]) -> list[str]:
    return [doc for doc in documents if any(secret in doc for secret in PLAINTEXT)]


async def erase(http: httpx.AsyncClient, customer_id: str, **body: Any) -> httpx.Response:
    return await http.post(f"{CUSTOMERS}/{customer_id}/erasure", json=body or None)


def outside_the_directory(documents: list[str]) -> list[str]:
    """All but the customer directory, the one plaintext lookup (docs/adr/0010)."""
    directory = f"{CONTACTS_DATABASE}.customer_directory:"
    return [doc for doc in documents if not doc.startswith(directory)]


async def test_personal_data_is_sealed_at_rest_before_any_erasure(
    service: ContactsService, ada_in_full: str
) -> None:
    everything = await every_document(service)
    documents = outside_the_directory(everything)
    assert [doc.split(":")[0] for doc in with_plaintext(everything)] == [
        f"{CONTACTS_DATABASE}.customer_directory"  # the one plaintext lookup, by design
    ]
    assert any(doc.startswith(f"{service.settings.database}.commits:") for doc in documents)
    assert any(doc.startswith(f"{service.settings.keys_database}.data_keys:") for doc in documents)
    assert any(doc.startswith(f"{service.settings.database}.access_log:") for doc in documents)
    assert sum(doc.count('"pii:v1:') for doc in documents) >= 12  # events and stored answers
    assert with_plaintext(documents) == []


async def test_an_admin_erases_a_customer(
    admin: httpx.AsyncClient, service: ContactsService, ada: str
) -> None:
    answer = await erase(admin, ada, request_reference="dsr-2026-0042")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": ada, "erased": True, "version": VERSION_ERASED}
    assert answer.headers["etag"] == f'"{VERSION_ERASED}"'
    erased = (await service.store.load(ada))[-1]
    assert (erased.metadata.type, erased.metadata.actor) == (
        "crm.contacts.CustomerErased",
        "user:root",
    )
    assert erased.data == {"customer_id": ada, "request_reference": "dsr-2026-0042"}


async def test_after_erasure_no_plaintext_is_left_in_any_document(
    admin: httpx.AsyncClient, service: ContactsService, ada_in_full: str
) -> None:
    answer = await erase(admin, ada_in_full)
    assert answer.json()["version"] == VERSION_ERASED + 5  # the profile added five events

    documents = await every_document(service)
    assert with_plaintext(documents) == []
    (key,) = [doc for doc in documents if ".data_keys:" in doc]
    assert '"key": null' in key
    assert '"destroyed_at": null' not in key


async def test_the_history_stays_and_replays_as_erased(
    admin: httpx.AsyncClient, service: ContactsService, ada: str
) -> None:
    before = [event.metadata.type for event in await service.store.load(ada)]

    await erase(admin, ada)

    after = await service.store.load(ada)
    assert [event.metadata.type for event in after] == [*before, "crm.contacts.CustomerErased"]
    assert await handlers.load_state(service.deps, ada) == Erased(
        customer_id=ada, version=VERSION_ERASED, owner_id="m1", team="north"
    )
    registered = await service.deps.sealed.reveal(after[0])
    assert (registered.data["name"], registered.data["email"], registered.data["phone"]) == (
        "[erased]",
        None,
        None,
    )


async def test_an_erased_customer_is_gone_for_reads_and_changes(
    admin: httpx.AsyncClient, signed_in: ClientFactory, ada: str
) -> None:
    await erase(admin, ada)
    manager = signed_in("sales_manager", subject="m1", team="north")

    for caller in (admin, manager):
        read = await caller.get(f"{CUSTOMERS}/{ada}")
        change = await caller.patch(f"{CUSTOMERS}/{ada}", json={"name": "Ada King"})
        for answer in (read, change):
            assert ada in problem(answer, 410, "urn:crm:problem:erased")["detail"]
            assert NAME not in answer.text


async def test_erasing_again_changes_nothing(
    admin: httpx.AsyncClient, service: ContactsService, ada: str
) -> None:
    first = await erase(admin, ada)
    head = await service.store.head_position()

    again = await erase(admin, ada, request_reference="dsr-2026-0043")

    assert (again.status_code, again.json()) == (200, first.json())
    assert await service.store.head_position() == head
    assert len(await service.store.load(ada)) == VERSION_ERASED


async def test_a_replayed_change_after_erasure_answers_placeholders_not_the_data(
    admin: httpx.AsyncClient, signed_in: ClientFactory, ada: str
) -> None:
    """Stored answers are sealed with the same key, so they are shredded with it."""
    await erase(admin, ada)
    manager = signed_in("sales_manager", subject="m1", team="north")

    replay = await manager.patch(
        f"{CUSTOMERS}/{ada}", json={"email": NEW_EMAIL}, headers={"Idempotency-Key": "new-mail"}
    )

    assert replay.headers.get("idempotent-replayed") == "true"
    assert not any(secret in replay.text for secret in PLAINTEXT)
    assert (replay.json()["name"], replay.json()["email"]) == ("[erased]", None)


@pytest.mark.parametrize(
    ("role", "subject", "team"),
    [
        pytest.param("sales_manager", "m1", "north", id="the owner, a manager"),
        pytest.param("sales_rep", "m1", "north", id="a rep"),
        pytest.param("auditor", "x1", None, id="an auditor"),
        pytest.param("service", "sagas", None, id="another service"),
    ],
)
async def test_only_an_admin_may_erase(
    signed_in: ClientFactory,
    service: ContactsService,
    ada: str,
    role: str,
    subject: str,
    team: str | None,
) -> None:
    answer = await erase(signed_in(role, subject=subject, team=team), ada)

    problem(answer, 403, "urn:crm:problem:forbidden")
    assert isinstance(await handlers.load_state(service.deps, ada), handlers.customer.Registered)
    assert not await service.deps.vault.is_destroyed(ada)


async def test_erasing_an_unknown_customer_is_not_found(
    admin: httpx.AsyncClient, service: ContactsService
) -> None:
    answer = await erase(admin, "cus_nobody")

    assert "cus_nobody" in problem(answer, 404, "urn:crm:problem:not-found")["detail"]
    assert await service.store.head_position() == 0
    assert not await service.deps.vault.is_destroyed("cus_nobody")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"request_reference": "ada@example.com"}, id="a reference with an e-mail"),
        pytest.param({"request_reference": "x" * 201}, id="an overlong reference"),
        pytest.param({"reason": "asked by phone"}, id="an unknown field"),
    ],
)
async def test_an_erasure_request_that_could_carry_personal_data_is_refused(
    admin: httpx.AsyncClient, service: ContactsService, ada: str, body: dict[str, Any]
) -> None:
    answer = await erase(admin, ada, **body)

    problem(answer, 422, "urn:crm:problem:validation")
    assert not await service.deps.vault.is_destroyed(ada)


async def test_erasing_a_survivor_erases_its_merged_duplicate_and_a_companys_contact_persons(
    admin: httpx.AsyncClient, signed_in: ClientFactory, service: ContactsService
) -> None:
    manager = signed_in("sales_manager", subject="m1", team="north")
    ids = []
    for name, email in [("Analytical Engines Ltd", EMAIL), ("Analytical Engines", NEW_EMAIL)]:
        created = await manager.post(
            CUSTOMERS, json={"name": name, "kind": "company", "email": email}
        )
        ids.append(created.json()["id"])
        person = {"name": NAME, "email": EMAIL, "phone": PHONE, "role": PROFILE["notes"]}
        await manager.post(f"{CUSTOMERS}/{ids[-1]}/contact-persons", json=person)
    survivor, duplicate = ids
    merged = await manager.post(f"{CUSTOMERS}/{survivor}/merge", json={"merged_id": duplicate})
    assert merged.status_code == 200, merged.text

    answer = await erase(admin, duplicate)  # either id erases the one data subject

    assert answer.status_code == 200, answer.text
    for customer_id in (survivor, duplicate):
        assert await service.deps.vault.is_destroyed(customer_id)
        events = await service.store.load(customer_id)
        assert events[-1].metadata.type == "crm.contacts.CustomerErased"
    secrets = (*PLAINTEXT, "Analytical Engines")
    leaks = [doc for doc in await every_document(service) if any(s in doc for s in secrets)]
    assert leaks == []
    problem(await admin.get(f"{CUSTOMERS}/{duplicate}"), 410, "urn:crm:problem:erased")
