"""Personal data shown masked or in full by role, and every full showing in the access log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from contacts_testing import (
    ACCESS_LOG,
    CUSTOMERS,
    EMAIL,
    MASKED_EMAIL,
    MASKED_PHONE,
    NAME,
    PHONE,
    ClientFactory,
    register,
)

from crm_contacts.application import handlers
from crm_contacts.bootstrap import ContactsService

MASKED = {"name": NAME, "email": MASKED_EMAIL, "phone": MASKED_PHONE}
IN_FULL = {"name": NAME, "email": EMAIL, "phone": PHONE}


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """A second passes between readings, so the access log's order is never a tie."""
    seconds = count()
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    return lambda: start + timedelta(seconds=next(seconds))


def shown(customer: dict[str, Any]) -> dict[str, Any]:
    return {field: customer[field] for field in ("name", "email", "phone")}


async def access_log(signed_in: ClientFactory, **query: str) -> list[dict[str, Any]]:
    answer = await signed_in("auditor", subject="x1", team=None).get(ACCESS_LOG, params=query)
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


async def test_a_rep_sees_their_own_customer_masked_in_every_answer(
    signed_in: ClientFactory,
) -> None:
    rep = signed_in("sales_rep", subject="u1", team="north")

    registered = await register(rep)
    read = (await rep.get(f"{CUSTOMERS}/{registered['id']}")).json()
    changed = (await rep.patch(f"{CUSTOMERS}/{registered['id']}", json={"name": NAME})).json()
    renamed = await rep.patch(f"{CUSTOMERS}/{registered['id']}", json={"name": "Ada King"})

    assert shown(registered) == shown(read) == shown(changed) == MASKED
    assert shown(renamed.json()) == {**MASKED, "name": "Ada King"}
    assert (read["owner_id"], read["team"], read["version"]) == ("u1", "north", 2)


async def test_a_rep_sees_a_new_e_mail_masked_in_the_answer_to_its_change(
    signed_in: ClientFactory,
) -> None:
    rep = signed_in("sales_rep", subject="u1", team="north")
    customer = await register(rep)

    answer = await rep.patch(
        f"{CUSTOMERS}/{customer['id']}", json={"email": "lovelace@example.org", "phone": None}
    )

    assert (answer.json()["email"], answer.json()["phone"]) == ("l***@example.org", None)


async def test_a_replayed_registration_stays_masked(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep", subject="u1", team="north")
    body = {"name": NAME, "kind": "person", "email": EMAIL, "phone": PHONE}
    first = await rep.post(CUSTOMERS, json=body, headers={"Idempotency-Key": "signup-1"})
    again = await rep.post(CUSTOMERS, json=body, headers={"Idempotency-Key": "signup-1"})
    assert again.headers["idempotent-replayed"] == "true"
    assert shown(first.json()) == shown(again.json()) == MASKED


@pytest.mark.parametrize(
    ("role", "subject", "team", "expected"),
    [
        pytest.param("sales_rep", "u2", "north", MASKED, id="a rep of the owner's team"),
        pytest.param("marketing", "k1", None, MASKED, id="marketing"),
        pytest.param("auditor", "x1", None, MASKED, id="an auditor"),
        pytest.param("sales_manager", "m1", "north", IN_FULL, id="the team's manager"),
        pytest.param("admin", "root", None, IN_FULL, id="an admin"),
        pytest.param("service", "sagas", None, IN_FULL, id="another service"),
    ],
)
async def test_who_sees_personal_data_in_full(
    signed_in: ClientFactory, role: str, subject: str, team: str | None, expected: dict[str, str]
) -> None:
    customer = await register(signed_in("admin", subject="root", team=None), "u1", "north")

    answer = await signed_in(role, subject=subject, team=team).get(f"{CUSTOMERS}/{customer['id']}")

    assert answer.status_code == 200, answer.text
    assert shown(answer.json()) == expected


@pytest.mark.parametrize("role", ["sales_manager", "admin"])
async def test_a_change_answered_in_full_shows_the_manager_and_admin_everything(
    signed_in: ClientFactory, role: str
) -> None:
    customer = await register(signed_in("sales_rep", subject="u1", team="north"))
    caller = signed_in(role, subject="m1", team="north")

    answer = await caller.patch(f"{CUSTOMERS}/{customer['id']}", json={"name": "Ada King"})

    assert shown(answer.json()) == {**IN_FULL, "name": "Ada King"}


async def test_masking_is_only_in_the_answer_the_store_keeps_the_data(
    signed_in: ClientFactory, service: ContactsService
) -> None:
    customer = await register(signed_in("sales_rep", subject="u1", team="north"))

    stored = await handlers.load_customer(service.deps, customer["id"])

    assert (stored.name, stored.email, stored.phone) == (NAME, EMAIL, PHONE)


async def test_a_full_read_is_written_to_the_access_log(
    signed_in: ClientFactory, service: ContactsService
) -> None:
    customer = await register(signed_in("admin", subject="root", team=None), "u1", "north")
    manager = signed_in("sales_manager", subject="m1", team="north")

    await manager.get(f"{CUSTOMERS}/{customer['id']}")

    (entry,) = await access_log(signed_in)
    assert entry | {"at": None, "trace_id": None} == {
        "at": None,
        "actor": "user:m1",
        "roles": ["sales_manager"],
        "action": "customer.read",
        "customer_id": customer["id"],
        "fields": ["email", "phone"],
        "trace_id": None,
    }
    assert entry["at"]
    (stored,) = await service.access_log.entries()
    assert stored["actor"] == "user:m1"


@pytest.mark.parametrize(
    ("role", "subject", "team"),
    [
        pytest.param("sales_rep", "u1", "north", id="the owning rep"),
        pytest.param("marketing", "k1", None, id="marketing"),
        pytest.param("auditor", "x1", None, id="an auditor"),
    ],
)
async def test_a_masked_read_writes_no_access_log_entry(
    signed_in: ClientFactory, service: ContactsService, role: str, subject: str, team: str | None
) -> None:
    customer = await register(signed_in("admin", subject="root", team=None), "u1", "north")

    answer = await signed_in(role, subject=subject, team=team).get(f"{CUSTOMERS}/{customer['id']}")

    assert answer.status_code == 200
    assert await access_log(signed_in) == []
    assert await service.access_log.entries() == []


async def test_a_full_change_answer_is_written_to_the_access_log(
    signed_in: ClientFactory,
) -> None:
    """An empty change answers the customer in full: as much a read as a GET."""
    customer = await register(signed_in("sales_rep", subject="u1", team="north"))
    manager = signed_in("sales_manager", subject="m1", team="north")

    answer = await manager.patch(f"{CUSTOMERS}/{customer['id']}", json={})

    assert shown(answer.json()) == IN_FULL
    (entry,) = await access_log(signed_in)
    assert (entry["actor"], entry["action"], entry["customer_id"], entry["fields"]) == (
        "user:m1",
        "customer.change",
        customer["id"],
        ["email", "phone"],
    )


async def test_a_read_that_shows_no_contact_detail_is_not_logged(
    signed_in: ClientFactory,
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    answer = await admin.post(CUSTOMERS, json={"name": "Analytical Engines", "kind": "company"})

    await admin.get(f"{CUSTOMERS}/{answer.json()['id']}")

    assert await access_log(signed_in) == []


async def test_only_the_shown_details_are_logged(signed_in: ClientFactory) -> None:
    admin = signed_in("admin", subject="root", team=None)
    answer = await admin.post(CUSTOMERS, json={"name": NAME, "kind": "person", "email": EMAIL})

    await admin.get(f"{CUSTOMERS}/{answer.json()['id']}")

    (entry,) = await access_log(signed_in)
    assert entry["fields"] == ["email"]


async def test_the_access_log_answers_by_customer_and_by_actor_newest_first(
    signed_in: ClientFactory,
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    manager = signed_in("sales_manager", subject="m1", team="north")
    ada = await register(admin, "u1", "north")
    grace = await register(admin, "u2", "north")
    for caller, customer in [(manager, ada), (admin, ada), (manager, grace)]:
        assert (await caller.get(f"{CUSTOMERS}/{customer['id']}")).status_code == 200

    by_customer = await access_log(signed_in, customer_id=ada["id"])
    by_actor = await access_log(signed_in, actor="user:m1")
    newest = await access_log(signed_in, limit="1")

    assert [e["actor"] for e in by_customer] == ["user:root", "user:m1"]
    assert [e["customer_id"] for e in by_actor] == [grace["id"], ada["id"]]
    assert [(e["actor"], e["customer_id"]) for e in newest] == [("user:m1", grace["id"])]


async def test_admins_read_the_access_log_too(signed_in: ClientFactory) -> None:
    answer = await signed_in("admin", subject="root", team=None).get(ACCESS_LOG)
    assert (answer.status_code, answer.json()) == (200, {"entries": []})
