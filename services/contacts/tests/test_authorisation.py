"""Who may do what to which customer: the contacts policy, over HTTP with real tokens.

The caller is always user u1 of team north; the customer acted on is u1's own, that of
teammate u2 (north), or that of u9 of team south. The expectations are written out here,
not derived from the policy, so changing the policy without changing them fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from contacts_testing import ACCESS_LOG, ADA, CUSTOMERS, ClientFactory, problem, register

from crm_contacts.application.policy import (
    CHANGE,
    CONTACTS_POLICY,
    ERASE,
    READ,
    READ_ACCESS_LOG,
    REGISTER,
)
from crm_contacts.bootstrap import ContactsService
from crm_runtime.policy import Role, Scope

OWNERS = {"own": ("u1", "north"), "teammate's": ("u2", "north"), "other team's": ("u9", "south")}
Attempt = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Action:
    """What the caller tries, as which policy action, on whose customer (seeded by an admin)."""

    policy_action: str
    attempt: Attempt
    on: str | None = None
    then: dict[str, Any] | None = None  # what a granted attempt answers, in part


def registering(owner: dict[str, str], owner_id: str, team: str) -> Action:
    """Register Ada with ``owner`` in the body; if granted, owner_id of team owns her."""

    async def attempt(http: httpx.AsyncClient, _: str) -> httpx.Response:
        return await http.post(CUSTOMERS, json={**ADA, **owner})

    return Action(REGISTER, attempt, then={"owner_id": owner_id, "team": team})


def reading(on: str) -> Action:
    async def attempt(http: httpx.AsyncClient, customer_id: str) -> httpx.Response:
        return await http.get(f"{CUSTOMERS}/{customer_id}")

    owner_id, team = OWNERS[on]
    return Action(READ, attempt, on, then={"owner_id": owner_id, "team": team, "version": 2})


def changing(on: str) -> Action:
    async def attempt(http: httpx.AsyncClient, customer_id: str) -> httpx.Response:
        return await http.patch(f"{CUSTOMERS}/{customer_id}", json={"name": "Ada King"})

    return Action(CHANGE, attempt, on, then={"name": "Ada King", "version": 3})


def erasing(on: str) -> Action:
    async def attempt(http: httpx.AsyncClient, customer_id: str) -> httpx.Response:
        return await http.post(f"{CUSTOMERS}/{customer_id}/erasure")

    return Action(ERASE, attempt, on, then={"erased": True, "version": 3})


async def reading_the_access_log(http: httpx.AsyncClient, _: str) -> httpx.Response:
    return await http.get(ACCESS_LOG)


ACTIONS = {
    "register own": registering({}, "u1", "north"),  # owner and team default to the caller's
    "register for a teammate": registering({"owner_id": "u2"}, "u2", "north"),
    "register for another team": registering({"owner_id": "u9", "team": "south"}, "u9", "south"),
    "read own": reading("own"),
    "read teammate's": reading("teammate's"),
    "read other team's": reading("other team's"),
    "change own": changing("own"),
    "change teammate's": changing("teammate's"),
    "change other team's": changing("other team's"),
    "erase own": erasing("own"),
    "erase other team's": erasing("other team's"),
    "read access log": Action(READ_ACCESS_LOG, reading_the_access_log, then={"entries": []}),
}

# fmt: off
MATRIX: dict[str, tuple[int, ...]] = {
    #                 register        read            change          erase     log
    #                 own  mate other own  mate other own  mate other own other
    "sales_rep":     (201, 403, 403,  200, 200, 403,  200, 403, 403,  403, 403, 403),
    "sales_manager": (201, 201, 403,  200, 200, 403,  200, 200, 403,  403, 403, 403),
    "service_agent": (403, 403, 403,  403, 403, 403,  403, 403, 403,  403, 403, 403),
    "marketing":     (403, 403, 403,  200, 200, 200,  403, 403, 403,  403, 403, 403),
    "store_manager": (403, 403, 403,  403, 403, 403,  403, 403, 403,  403, 403, 403),
    "admin":         (201, 201, 201,  200, 200, 200,  200, 200, 200,  200, 200, 200),
    "auditor":       (403, 403, 403,  200, 200, 200,  403, 403, 403,  403, 403, 200),
    "service":       (201, 201, 201,  200, 200, 200,  200, 200, 200,  403, 403, 403),
    "no role":       (403, 403, 403,  403, 403, 403,  403, 403, 403,  403, 403, 403),
}
# fmt: on


def test_the_matrix_covers_every_role_and_action() -> None:
    assert set(MATRIX) == Role.ALL | {"no role"}
    assert {len(row) for row in MATRIX.values()} == {len(ACTIONS)}


@pytest.mark.parametrize(
    ("role", "action", "status"),
    [
        pytest.param(role, action, status, id=f"{role}: {action} -> {status}")
        for role, row in MATRIX.items()
        for action, status in zip(ACTIONS, row, strict=True)
    ],
)
async def test_who_may_do_what_to_which_customer(
    signed_in: ClientFactory, service: ContactsService, role: str, action: str, status: int
) -> None:
    todo = ACTIONS[action]
    customer_id = ""
    if todo.on is not None:
        admin = signed_in("admin", subject="root", team=None)
        customer_id = (await register(admin, *OWNERS[todo.on]))["id"]
    roles = [] if role == "no role" else [role]
    head = await service.store.head_position()

    answer = await todo.attempt(signed_in(*roles, subject="u1", team="north"), customer_id)

    assert answer.status_code == status, answer.text
    if status == 403:
        actor = "service:u1" if role == "service" else "user:u1"
        detail = problem(answer, 403, "urn:crm:problem:forbidden")["detail"]
        assert detail.startswith(f"{actor} may not {todo.policy_action}: ")
        assert await service.store.head_position() == head  # nothing was appended
    else:
        assert todo.then is not None
        assert answer.json() | todo.then == answer.json()


@pytest.mark.parametrize(
    ("action", "grants"),
    [
        pytest.param(
            REGISTER,
            {
                "sales_rep": Scope.OWN,
                "sales_manager": Scope.TEAM,
                "admin": Scope.ANY,
                "service": Scope.ANY,
            },
            id="register",
        ),
        pytest.param(
            READ,
            {
                "sales_rep": Scope.TEAM,
                "sales_manager": Scope.TEAM,
                "service_agent": Scope.ASSIGNED,
                "marketing": Scope.ANY,
                "auditor": Scope.ANY,
                "admin": Scope.ANY,
                "service": Scope.ANY,
            },
            id="read",
        ),
        pytest.param(
            CHANGE,
            {
                "sales_rep": Scope.OWN,
                "sales_manager": Scope.TEAM,
                "admin": Scope.ANY,
                "service": Scope.ANY,
            },
            id="change",
        ),
        pytest.param(ERASE, {"admin": Scope.ANY}, id="erase"),
        pytest.param(
            READ_ACCESS_LOG, {"auditor": Scope.ANY, "admin": Scope.ANY}, id="read access log"
        ),
    ],
)
def test_the_grants_table_row_by_row(action: str, grants: dict[str, Scope]) -> None:
    assert dict(CONTACTS_POLICY.grants[action]) == grants


def test_the_grants_table_has_no_other_action() -> None:
    assert set(CONTACTS_POLICY.grants) == {REGISTER, READ, CHANGE, ERASE, READ_ACCESS_LOG}
    assert (REGISTER, READ, CHANGE, ERASE, READ_ACCESS_LOG) == (
        "customer.register",
        "customer.read",
        "customer.change",
        "customer.erase",
        "access_log.read",
    )


def test_only_managers_agents_admins_and_services_see_personal_data_unmasked() -> None:
    assert dict(CONTACTS_POLICY.unmasked) == {
        READ: frozenset({"sales_manager", "service_agent", "admin", "service"})
    }


@pytest.mark.parametrize(
    ("role", "status"),
    [("sales_rep", 403), ("sales_manager", 403), ("admin", 201), ("service", 201)],
)
async def test_only_admins_and_services_register_into_another_team(
    signed_in: ClientFactory, role: str, status: int
) -> None:
    async with signed_in(role, subject="u1", team="north") as caller:
        answer = await caller.post(CUSTOMERS, json={**ADA, "owner_id": "u1", "team": "south"})
    assert answer.status_code == status, answer.text
    if status == 201:
        assert answer.json()["team"] == "south"
