"""The profile over HTTP: company, birthday, contact persons, addresses, consent, preferences,
tags, classification, owner. One service for the module; every test has its own customers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from contacts_testing import ADA, CUSTOMERS, ClientFactory, problem, register

from crm_contacts.bootstrap import ContactsService, utc_now

ENGINES = {"name": "Analytical Engines Ltd", "kind": "company"}
BABBAGE = {
    "name": "Charles Babbage",
    "role": "Inventor",
    "email": "charles@example.com",
    "phone": "+442079460000",
}
LONDON = {
    "street": "12 Marylebone Road",
    "city": "London",
    "postal_code": "NW1 5LR",
    "country": "gb",
}


@pytest.fixture
def manager(signed_in: ClientFactory) -> httpx.AsyncClient:
    return signed_in("sales_manager", subject="m1", team="north")


@pytest.fixture
def rep(signed_in: ClientFactory) -> httpx.AsyncClient:
    return signed_in("sales_rep", subject="u1", team="north")


async def company(http: httpx.AsyncClient) -> str:
    answer = await http.post(CUSTOMERS, json={**ENGINES, "owner_id": "u1"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


# --- details ---------------------------------------------------------------------------------


async def test_company_birthday_and_preferred_channel_in_one_patch(
    manager: httpx.AsyncClient, rep: httpx.AsyncClient
) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}"
    await ok(await manager.put(f"{url}/consents/email", json={"given": True, "source": "web"}))

    changed = await ok(
        await manager.patch(
            url,
            json={
                "company": "Analytical Engines",
                "birthday": "1985-12-10",
                "preferred_channel": "email",
            },
            headers={"If-Match": '"3"'},
        )
    )

    assert (changed["company"], changed["birthday"], changed["preferred_channel"]) == (
        "Analytical Engines",
        "1985-12-10",
        "email",
    )
    assert changed["version"] == 6  # three events: one per detail
    masked = await ok(await rep.get(url))
    assert (masked["birthday"], masked["company"]) == ("--12-10", "Analytical Engines")
    removed = await ok(await manager.patch(url, json={"birthday": None, "company": None}))
    assert (removed["birthday"], removed["company"]) == (None, None)


@pytest.mark.parametrize(
    ("change", "status", "type_"),
    [
        pytest.param(
            {"birthday": "2999-01-01"},
            422,
            "urn:crm:problem:validation",
            id="birthday in the future",
        ),
        pytest.param(
            {"birthday": "10.12.1985"}, 422, "urn:crm:problem:validation", id="not a date"
        ),
        pytest.param(
            {"preferred_channel": "sms"},
            409,
            "urn:crm:problem:rule-violated",
            id="a channel without consent",
        ),
        pytest.param(
            {"preferred_channel": "pigeon"}, 422, "urn:crm:problem:validation", id="no such channel"
        ),
        pytest.param({"company": " "}, 422, "urn:crm:problem:validation", id="a blank company"),
    ],
)
async def test_a_detail_the_rules_refuse(
    manager: httpx.AsyncClient, change: dict[str, Any], status: int, type_: str
) -> None:
    ada = (await register(manager, "u1"))["id"]
    problem(await manager.patch(f"{CUSTOMERS}/{ada}", json=change), status, type_)
    assert (await ok(await manager.get(f"{CUSTOMERS}/{ada}")))["version"] == 2


# --- contact persons -------------------------------------------------------------------------


async def test_contact_persons_of_a_company(
    manager: httpx.AsyncClient, rep: httpx.AsyncClient
) -> None:
    engines = await company(manager)
    added = await manager.post(f"{CUSTOMERS}/{engines}/contact-persons", json=BABBAGE)
    body = await ok(added, 201)
    (person,) = body["contact_persons"]
    assert added.headers["location"] == f"{CUSTOMERS}/{engines}/contact-persons/{person['id']}"
    assert person == {"id": person["id"], **BABBAGE}
    assert added.headers["etag"] == '"3"'

    person_url = added.headers["location"]
    changed = await ok(
        await manager.patch(person_url, json={"role": "Chief engineer", "phone": None})
    )
    assert (
        changed["contact_persons"][0] | {"role": "Chief engineer", "phone": None}
        == (changed["contact_persons"][0])
    )
    shown_to_rep = (await ok(await rep.get(f"{CUSTOMERS}/{engines}")))["contact_persons"][0]
    assert (shown_to_rep["email"], shown_to_rep["name"]) == ("c***@example.com", "Charles Babbage")

    removed = await ok(await manager.delete(person_url))
    assert removed["contact_persons"] == []
    problem(await manager.delete(person_url), 404, "urn:crm:problem:not-found")


async def test_a_person_has_no_contact_persons(manager: httpx.AsyncClient) -> None:
    ada = (await register(manager, "u1"))["id"]
    answer = await manager.post(f"{CUSTOMERS}/{ada}/contact-persons", json=BABBAGE)
    assert "company customers" in problem(answer, 409, "urn:crm:problem:rule-violated")["detail"]


async def test_adding_a_contact_person_again_under_its_key_replays_the_first(
    manager: httpx.AsyncClient,
) -> None:
    engines = await company(manager)
    url = f"{CUSTOMERS}/{engines}/contact-persons"
    first = await manager.post(url, json=BABBAGE, headers={"Idempotency-Key": "cp-1"})
    again = await manager.post(url, json=BABBAGE, headers={"Idempotency-Key": "cp-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len((await ok(await manager.get(f"{CUSTOMERS}/{engines}")))["contact_persons"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({**BABBAGE, "email": "charles-at-example"}, id="bad e-mail"),
        pytest.param({**BABBAGE, "phone": "0207946"}, id="phone without country code"),
        pytest.param({"role": "Inventor"}, id="no name"),
        pytest.param({**BABBAGE, "salary": 1}, id="unknown field"),
    ],
)
async def test_an_invalid_contact_person_is_refused(
    manager: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    engines = await company(manager)
    answer = await manager.post(f"{CUSTOMERS}/{engines}/contact-persons", json=body)
    problem(answer, 422, "urn:crm:problem:validation")


# --- addresses, consent, preferences, tags ---------------------------------------------------


async def test_addresses_by_type_with_the_street_masked_for_reps(
    manager: httpx.AsyncClient, rep: httpx.AsyncClient
) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}/addresses"
    set_ = await ok(await manager.put(f"{url}/billing", json=LONDON))
    assert set_["addresses"] == {"billing": {**LONDON, "country": "GB"}}
    await ok(await manager.put(f"{url}/visit", json={**LONDON, "postal_code": None}))

    seen = (await ok(await rep.get(f"{CUSTOMERS}/{ada}")))["addresses"]
    assert seen["billing"] == {
        "street": "***",
        "city": "London",
        "postal_code": "***",
        "country": "GB",
    }
    assert seen["visit"]["postal_code"] is None

    removed = await ok(await manager.delete(f"{url}/billing"))
    assert list(removed["addresses"]) == ["visit"]
    again = await manager.delete(f"{url}/billing")
    assert (again.status_code, again.json()["version"]) == (200, removed["version"])


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("billing", {**LONDON, "country": "UK"}, id="UK is not ISO 3166-1"),
        pytest.param("billing", {**LONDON, "country": "XK"}, id="a user-assigned code"),
        pytest.param("billing", {**LONDON, "street": "  "}, id="blank street"),
        pytest.param("holiday", LONDON, id="no such address type"),
    ],
)
async def test_an_invalid_address_is_refused(
    manager: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    ada = (await register(manager, "u1"))["id"]
    problem(await manager.put(f"{CUSTOMERS}/{ada}/addresses/{path}", json=body), 422)


async def test_consent_per_channel_with_time_and_source(manager: httpx.AsyncClient) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}"
    given_at = (utc_now() - timedelta(days=3)).replace(microsecond=0)
    body = {"given": True, "source": "paper form", "at": given_at.isoformat()}
    given = await ok(await manager.put(f"{url}/consents/sms", json=body))
    assert given["consents"] == {
        "sms": {"given": True, "at": given_at.isoformat(), "source": "paper form"}
    }
    await ok(await manager.patch(url, json={"preferred_channel": "sms"}))

    withdrawn = await ok(
        await manager.put(f"{url}/consents/sms", json={"given": False, "source": "reply STOP"})
    )
    assert (withdrawn["consents"]["sms"]["given"], withdrawn["preferred_channel"]) == (False, None)

    older = {"given": True, "source": "paper form", "at": given_at.isoformat()}
    refused = problem(await manager.put(f"{url}/consents/sms", json=older), 409)
    assert "only a later change can reverse it" in refused["detail"]
    future = {"given": True, "source": "web", "at": (utc_now() + timedelta(days=1)).isoformat()}
    problem(await manager.put(f"{url}/consents/sms", json=future), 422)


async def test_preferences_by_key(manager: httpx.AsyncClient, rep: httpx.AsyncClient) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}/preferences"
    await ok(await manager.put(f"{url}/Spice", json={"text": "mild,  no coriander"}))
    set_ = await ok(await manager.put(f"{url}/breakfast", json={"text": "continental"}))
    assert set_["preferences"] == {"breakfast": "continental", "spice": "mild, no coriander"}
    assert (await ok(await rep.get(f"{CUSTOMERS}/{ada}")))["preferences"] == set_["preferences"]
    removed = await ok(await manager.delete(f"{url}/spice"))
    assert removed["preferences"] == {"breakfast": "continental"}
    problem(await manager.put(f"{url}/no%20such%20key!", json={"text": "x"}), 422)


async def test_tags_normalised_added_and_removed(manager: httpx.AsyncClient) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}/tags"
    added = await ok(await manager.post(url, json={"add": ["VIP", "Trade Fair 2026"]}))
    assert added["tags"] == ["trade-fair-2026", "vip"]
    changed = await ok(await manager.post(url, json={"add": ["new"], "remove": ["vip"]}))
    assert changed["tags"] == ["new", "trade-fair-2026"]
    many = [f"tag-{i}" for i in range(49)]
    refused = problem(await manager.post(url, json={"add": many}), 409)
    assert "at most 50 tags" in refused["detail"]
    problem(await manager.post(url, json={"add": ["x" * 51]}), 422)


# --- classification and owner ----------------------------------------------------------------


async def test_classification_segments_and_value_tier(
    signed_in: ClientFactory, service: ContactsService, manager: httpx.AsyncClient
) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}"
    marketing = signed_in("marketing", subject="k1", team=None)
    await ok(await manager.put(f"{url}/classification", json={"classification": "key"}))
    segments = ["Need:Training", "frequency:monthly", "service:high-touch"]
    await ok(await marketing.put(f"{url}/segments", json={"segments": segments}))
    tiered = await ok(
        await marketing.put(f"{url}/value-tier", json={"value_tier": "frequent_small"})
    )
    assert (tiered["classification"], tiered["segments"], tiered["value_tier"]) == (
        "key",
        ["frequency:monthly", "need:training", "service:high-touch"],
        "frequent_small",
    )
    assert tiered["email"] == "a***@example.com"  # marketing sees it masked
    problem(await manager.put(f"{url}/segments", json={"segments": ["training"]}), 422)
    problem(await manager.put(f"{url}/value-tier", json={"value_tier": "gold"}), 422)


async def test_a_manager_reassigns_the_owner_and_the_event_names_the_previous_one(
    signed_in: ClientFactory,
    service: ContactsService,
    manager: httpx.AsyncClient,
    rep: httpx.AsyncClient,
) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}/owner"
    moved = await ok(await manager.put(url, json={"owner_id": "u2"}, headers={"If-Match": '"2"'}))
    assert (moved["owner_id"], moved["team"], moved["version"]) == ("u2", "north", 3)
    last = (await service.store.load(ada))[-1]
    assert (last.metadata.type, last.data["previous_owner_id"]) == (
        "crm.contacts.CustomerOwnerAssigned",
        "u1",
    )
    problem(await rep.put(url, json={"owner_id": "u1"}), 403, "urn:crm:problem:forbidden")
    other_team = await manager.put(url, json={"owner_id": "u9", "team": "south"})
    problem(other_team, 403, "urn:crm:problem:forbidden")
    admin = signed_in("admin", subject="root", team=None)
    assert (await ok(await admin.put(url, json={"owner_id": "u9", "team": "south"})))[
        "team"
    ] == "south"


# --- concurrency, idempotency, gone customers ------------------------------------------------


async def test_a_stale_if_match_on_a_profile_command_is_a_version_conflict(
    manager: httpx.AsyncClient,
) -> None:
    ada = (await register(manager, "u1"))["id"]
    url = f"{CUSTOMERS}/{ada}/preferences/tea"
    await ok(await manager.put(url, json={"text": "Earl Grey"}, headers={"If-Match": '"2"'}))
    stale = await manager.put(url, json={"text": "Assam"}, headers={"If-Match": '"2"'})
    assert problem(stale, 409, "urn:crm:problem:version-conflict")["current_version"] == 3


async def test_profile_commands_on_an_erased_customer_are_gone(
    signed_in: ClientFactory, service: ContactsService, manager: httpx.AsyncClient
) -> None:
    ada = (await register(manager, "u1"))["id"]
    admin = signed_in("admin", subject="root", team=None)
    await ok(await admin.post(f"{CUSTOMERS}/{ada}/erasure"))
    for answer in [
        await manager.put(f"{CUSTOMERS}/{ada}/preferences/tea", json={"text": "Assam"}),
        await manager.post(f"{CUSTOMERS}/{ada}/tags", json={"add": ["vip"]}),
        await manager.put(f"{CUSTOMERS}/{ada}/addresses/billing", json=LONDON),
    ]:
        problem(answer, 410, "urn:crm:problem:erased")


async def test_an_unknown_customer_is_not_found_on_every_profile_route(
    manager: httpx.AsyncClient,
) -> None:
    url = f"{CUSTOMERS}/cus_nobody"
    for answer in [
        await manager.put(f"{url}/preferences/tea", json={"text": "Assam"}),
        await manager.post(f"{url}/contact-persons", json=BABBAGE),
        await manager.put(f"{url}/consents/email", json={"given": True, "source": "web"}),
        await manager.put(f"{url}/classification", json={"classification": "key"}),
        await manager.get(f"{url}/interactions"),
    ]:
        problem(answer, 404, "urn:crm:problem:not-found")


async def test_every_profile_command_is_an_event_with_the_callers_metadata(
    signed_in: ClientFactory, service: ContactsService, manager: httpx.AsyncClient
) -> None:
    ada = (await register(manager, "u1"))["id"]
    headers = {"X-Correlation-Id": "profile-7"}
    await ok(
        await manager.put(
            f"{CUSTOMERS}/{ada}/preferences/tea", json={"text": "Assam"}, headers=headers
        )
    )
    last = (await service.store.load(ada))[-1]
    assert (last.metadata.type, last.metadata.actor, last.metadata.correlation_id) == (
        "crm.contacts.CustomerPreferenceSet",
        "user:m1",
        "profile-7",
    )
    assert last.data["text"].startswith("pii:v1:")  # sealed at rest


async def test_the_register_body_still_refuses_what_it_did(manager: httpx.AsyncClient) -> None:
    problem(await manager.post(CUSTOMERS, json={**ADA, "tags": ["vip"]}), 422)
