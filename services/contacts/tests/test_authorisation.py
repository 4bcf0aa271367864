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
    ASSIGN_OWNER,
    CHANGE,
    CHANGE_STAGE,
    CLASSIFY,
    CONTACTS_POLICY,
    ERASE,
    FIND_DUPLICATES,
    HAND_OVER,
    LIST,
    LOG_INTERACTION,
    MERGE,
    READ,
    READ_ACCESS_LOG,
    READ_INTERACTIONS,
    RECORD_PURCHASE,
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


READERS = {
    "sales_rep": Scope.TEAM,
    "sales_manager": Scope.TEAM,
    "service_agent": Scope.ASSIGNED,
    "marketing": Scope.ANY,
    "auditor": Scope.ANY,
    "admin": Scope.ANY,
    "service": Scope.ANY,
}
OWNERS_AND_TEAM = {
    "sales_rep": Scope.OWN,
    "sales_manager": Scope.TEAM,
    "admin": Scope.ANY,
    "service": Scope.ANY,
}


@pytest.mark.parametrize(
    ("action", "grants"),
    [
        pytest.param(LIST, READERS, id="list: as read"),
        pytest.param(
            LOG_INTERACTION,
            {**OWNERS_AND_TEAM, "service_agent": Scope.ASSIGNED},
            id="log interaction",
        ),
        pytest.param(
            READ_INTERACTIONS,
            {
                "sales_rep": Scope.TEAM,
                "sales_manager": Scope.TEAM,
                "service_agent": Scope.ASSIGNED,
                "admin": Scope.ANY,
                "service": Scope.ANY,
            },
            id="read interactions: no marketing, no auditors",
        ),
        pytest.param(CHANGE_STAGE, OWNERS_AND_TEAM, id="change lifecycle stage"),
        pytest.param(
            RECORD_PURCHASE, {"admin": Scope.ANY, "service": Scope.ANY}, id="record purchase"
        ),
        pytest.param(CLASSIFY, {**OWNERS_AND_TEAM, "marketing": Scope.ANY}, id="classify"),
        pytest.param(
            ASSIGN_OWNER,
            {"sales_manager": Scope.TEAM, "admin": Scope.ANY, "service": Scope.ANY},
            id="assign owner",
        ),
        pytest.param(
            HAND_OVER,
            {"sales_manager": Scope.TEAM, "admin": Scope.ANY, "service": Scope.ANY},
            id="hand over",
        ),
        pytest.param(
            FIND_DUPLICATES,
            {
                "sales_rep": Scope.TEAM,
                "sales_manager": Scope.TEAM,
                "admin": Scope.ANY,
                "service": Scope.ANY,
            },
            id="find duplicates",
        ),
        pytest.param(MERGE, {"sales_manager": Scope.TEAM, "admin": Scope.ANY}, id="merge"),
    ],
)
def test_the_grants_of_the_profile_actions_row_by_row(
    action: str, grants: dict[str, Scope]
) -> None:
    assert dict(CONTACTS_POLICY.grants[action]) == grants


def test_the_grants_table_has_no_other_action() -> None:
    actions = (
        REGISTER,
        READ,
        LIST,
        CHANGE,
        ERASE,
        LOG_INTERACTION,
        READ_INTERACTIONS,
        CHANGE_STAGE,
        RECORD_PURCHASE,
        CLASSIFY,
        ASSIGN_OWNER,
        HAND_OVER,
        FIND_DUPLICATES,
        MERGE,
        READ_ACCESS_LOG,
    )
    assert set(CONTACTS_POLICY.grants) == set(actions)
    assert actions == (
        "customer.register",
        "customer.read",
        "customer.list",
        "customer.change",
        "customer.erase",
        "interaction.log",
        "interaction.read",
        "customer.change_stage",
        "customer.record_purchase",
        "customer.classify",
        "customer.assign_owner",
        "customers.hand_over",
        "customer.find_duplicates",
        "customer.merge",
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


# --- the profile, lifecycle, owner and directory actions -------------------------------------


def posting(path: str, body: dict[str, Any]) -> Attempt:
    async def attempt(http: httpx.AsyncClient, customer_id: str) -> httpx.Response:
        return await http.post(f"{CUSTOMERS}/{customer_id}{path}", json=body)

    return attempt


def putting(path: str, body: dict[str, Any]) -> Attempt:
    async def attempt(http: httpx.AsyncClient, customer_id: str) -> httpx.Response:
        return await http.put(f"{CUSTOMERS}/{customer_id}{path}", json=body)

    return attempt


def getting(path: str) -> Attempt:
    async def attempt(http: httpx.AsyncClient, customer_id: str) -> httpx.Response:
        return await http.get(f"{CUSTOMERS}/{customer_id}{path}")

    return attempt


async def listing(http: httpx.AsyncClient, _: str) -> httpx.Response:
    return await http.get(CUSTOMERS)


async def handing_over_the_teammates_accounts(http: httpx.AsyncClient, _: str) -> httpx.Response:
    body = {"leaving_rep_id": "u2", "successor_ids": ["u3"], "reason": "left"}
    return await http.post("/contacts/handovers", json=body)


VISIT = {"kind": "visit", "summary": "Demo"}
MORE_ACTIONS = {
    "log interaction own": Action(LOG_INTERACTION, posting("/interactions", VISIT), "own"),
    "log interaction other": Action(
        LOG_INTERACTION, posting("/interactions", VISIT), "other team's"
    ),
    "read interactions mate": Action(READ_INTERACTIONS, getting("/interactions"), "teammate's"),
    "change stage own": Action(
        CHANGE_STAGE, putting("/lifecycle-stage", {"stage": "interested"}), "own"
    ),
    "record purchase own": Action(
        RECORD_PURCHASE,
        posting("/purchases", {"order_id": "o1", "at": "2026-01-01T00:00:00Z"}),
        "own",
    ),
    "classify other": Action(
        CLASSIFY, putting("/classification", {"classification": "key"}), "other team's"
    ),
    "assign owner mate": Action(ASSIGN_OWNER, putting("/owner", {"owner_id": "u3"}), "teammate's"),
    "duplicates mate": Action(FIND_DUPLICATES, getting("/duplicates"), "teammate's"),
    "list": Action(LIST, listing),
    "hand over": Action(HAND_OVER, handing_over_the_teammates_accounts, "teammate's"),
}

# fmt: off
MORE: dict[str, tuple[int, ...]] = {
    #                 log      read stage buy  class owner dupl list hand
    #                 own oth  mate own   own  other mate  mate      over
    "sales_rep":     (201, 403, 200, 200, 403, 403, 403, 200, 200, 403),
    "sales_manager": (201, 403, 200, 200, 403, 403, 200, 200, 200, 201),
    "service_agent": (403, 403, 403, 403, 403, 403, 403, 403, 200, 403),
    "marketing":     (403, 403, 403, 403, 403, 200, 403, 403, 200, 403),
    "store_manager": (403, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "admin":         (201, 201, 200, 200, 200, 200, 200, 200, 200, 201),
    "auditor":       (403, 403, 403, 403, 403, 403, 403, 403, 200, 403),
    "service":       (201, 201, 200, 200, 200, 200, 200, 200, 200, 201),
    "no role":       (403, 403, 403, 403, 403, 403, 403, 403, 403, 403),
}
# fmt: on


def test_the_second_matrix_covers_every_role_and_action() -> None:
    assert set(MORE) == Role.ALL | {"no role"}
    assert {len(row) for row in MORE.values()} == {len(MORE_ACTIONS)}
    assert {a.policy_action for a in MORE_ACTIONS.values()} | {REGISTER, READ, CHANGE, ERASE} | {
        READ_ACCESS_LOG,
        MERGE,  # merging needs two customers: test_merges_and_handovers
    } == set(CONTACTS_POLICY.grants)


@pytest.mark.parametrize(
    ("role", "action", "status"),
    [
        pytest.param(role, action, status, id=f"{role}: {action} -> {status}")
        for role, row in MORE.items()
        for action, status in zip(MORE_ACTIONS, row, strict=True)
    ],
)
async def test_who_may_work_on_which_customers_profile(
    signed_in: ClientFactory, service: ContactsService, role: str, action: str, status: int
) -> None:
    todo = MORE_ACTIONS[action]
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
