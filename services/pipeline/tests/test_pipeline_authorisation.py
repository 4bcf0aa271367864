"""Who may do what to whose leads, deals, quotes and orders: the pipeline policy over HTTP.

The caller is always user u1 of team north; what they act on belongs to u1, to teammate
u2 (north), or to u9 of team south, all seeded by an admin. The expectations are written
out here, not derived from the policy, so changing the policy without them fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import httpx
import pytest
from pipeline_testing import (
    ACCESS_LOG,
    ADA_LEAD,
    DEAL,
    LEADS,
    LINES,
    OPPORTUNITIES,
    ORDERS,
    QUOTES,
    TERMS,
    ClientFactory,
    created,
    ok,
)

from crm_pipeline.application import policy
from crm_runtime.policy import Role

OWNERS = {"own": ("u1", "north"), "mate": ("u2", "north"), "other": ("u9", "south")}


@dataclass(frozen=True)
class Seeded:
    lead: str
    spare_lead: str
    opportunity: str
    quote: str
    order: str


Attempt = Callable[[httpx.AsyncClient, Seeded], Awaitable[httpx.Response]]


async def seed(admin: httpx.AsyncClient, owner_id: str, team: str) -> Seeded:
    owner = {"owner_id": owner_id, "team": team}
    lead = created(await admin.post(LEADS, json={**ADA_LEAD, **owner, "customer_id": "cus_1"}))
    spare = created(await admin.post(LEADS, json={**ADA_LEAD, **owner}))
    opportunity = created(await admin.post(OPPORTUNITIES, json={**DEAL, **owner}))
    body = {"opportunity_id": opportunity["id"], "lines": LINES}
    drafted = created(await admin.post(QUOTES, json=body))
    ordered = created(await admin.post(QUOTES, json=body))
    ok(await admin.post(f"{QUOTES}/{ordered['id']}/sent"))
    order = created(await admin.post(f"{QUOTES}/{ordered['id']}/accepted"))
    return Seeded(lead["id"], spare["id"], opportunity["id"], drafted["id"], order["id"])


def creating(path: str, body: dict[str, object], on: str) -> tuple[str, Attempt]:
    owner_id, team = OWNERS[on]
    # own: owner and team default to the caller's; a teammate's: the team defaults too
    owner = {"own": {}, "mate": {"owner_id": owner_id}}.get(
        on, {"owner_id": owner_id, "team": team}
    )

    async def attempt(http: httpx.AsyncClient, _: Seeded) -> httpx.Response:
        return await http.post(path, json={**body, **owner})

    return on, attempt


def on_seeded(method: str, url: Callable[[Seeded], str], body: object = None) -> Attempt:
    async def attempt(http: httpx.AsyncClient, seeded: Seeded) -> httpx.Response:
        return await http.request(method, url(seeded), json=body)

    return attempt


async def drafting(http: httpx.AsyncClient, seeded: Seeded) -> httpx.Response:
    return await http.post(QUOTES, json={"opportunity_id": seeded.opportunity, "lines": LINES})


async def reading_the_access_log(http: httpx.AsyncClient, _: Seeded) -> httpx.Response:
    return await http.get(ACCESS_LOG)


async def listing_deals(http: httpx.AsyncClient, _: Seeded) -> httpx.Response:
    return await http.get(OPPORTUNITIES)


def handing_back(on: str) -> Attempt:
    """Hand the seeded deal to the owner it has: authorised as any handover, changes nothing
    (so every role of a group meets the same owners)."""
    owner_id, _ = OWNERS[on]
    body = {"owner_id": owner_id, "reason": "rep leaves"}
    return on_seeded("POST", lambda s: f"{OPPORTUNITIES}/{s.opportunity}/owner", body)


PAYMENT = {"amount": "1.00", "currency": "EUR", "payment_id": "bank-1"}
PER_OWNER: dict[str, tuple[str, Attempt]] = {
    "read lead": (policy.READ_LEAD, on_seeded("GET", lambda s: f"{LEADS}/{s.lead}")),
    "qualify": (
        policy.QUALIFY_LEAD,
        on_seeded("POST", lambda s: f"{LEADS}/{s.lead}/qualification", TERMS),
    ),
    "read deal": (
        policy.READ_OPPORTUNITY,
        on_seeded("GET", lambda s: f"{OPPORTUNITIES}/{s.opportunity}"),
    ),
    "move stage": (
        policy.CHANGE_OPPORTUNITY,
        on_seeded(
            "POST", lambda s: f"{OPPORTUNITIES}/{s.opportunity}/stage", {"stage": "proposal"}
        ),
    ),
    "draft quote": (policy.DRAFT_QUOTE, drafting),
    "read quote": (policy.READ_QUOTE, on_seeded("GET", lambda s: f"{QUOTES}/{s.quote}")),
    "send quote": (policy.CHANGE_QUOTE, on_seeded("POST", lambda s: f"{QUOTES}/{s.quote}/sent")),
    "read order": (policy.READ_ORDER, on_seeded("GET", lambda s: f"{ORDERS}/{s.order}")),
    "pay": (
        policy.RECORD_PAYMENT,
        on_seeded("POST", lambda s: f"{ORDERS}/{s.order}/payments", PAYMENT),
    ),
}
ACTIONS: dict[str, tuple[str, str | None, Attempt]] = {
    **{
        f"capture {on}": (policy.CAPTURE_LEAD, None, creating(LEADS, ADA_LEAD, on)[1])
        for on in OWNERS
    },
    **{
        f"open deal {on}": (policy.OPEN_OPPORTUNITY, None, creating(OPPORTUNITIES, DEAL, on)[1])
        for on in OWNERS
    },
    **{
        f"{name} {on}": (action, on, attempt)
        for name, (action, attempt) in PER_OWNER.items()
        for on in OWNERS
    },
    "disqualify own": (
        policy.QUALIFY_LEAD,
        "own",
        on_seeded("POST", lambda s: f"{LEADS}/{s.spare_lead}/disqualification", {"reason": "x"}),
    ),
    "read access log": (policy.READ_ACCESS_LOG, None, reading_the_access_log),
    **{f"reassign {on}": (policy.REASSIGN_OPPORTUNITY, on, handing_back(on)) for on in OWNERS},
    "list deals": (policy.LIST_OPPORTUNITIES, None, listing_deals),
}

# fmt: off
MATRIX: dict[str, tuple[int, ...]] = {
    #                capture      open deal    read lead    qualify      read deal    move stage
    #                own mate oth own mate oth own mate oth own mate oth own mate oth own mate oth
    "sales_rep":    (201, 403, 403, 201, 403, 403, 200, 200, 403, 201, 403, 403, 200, 200, 403, 200, 403, 403,  # noqa: E501
    #                draft quote  read quote   send quote   read order   pay          disq log  reassign     list  # noqa: E501
                     201, 403, 403, 200, 200, 403, 200, 403, 403, 200, 403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 200),  # noqa: E501
    "sales_manager": (201, 201, 403, 201, 201, 403, 200, 200, 403, 201, 201, 403, 200, 200, 403, 200, 200, 403,  # noqa: E501
                      201, 201, 403, 200, 200, 403, 200, 200, 403, 200, 200, 403, 200, 200, 403, 200, 403, 200, 200, 403, 200),  # noqa: E501
    "service_agent": (403,) * 39,
    "marketing":    (201, 201, 201, 403, 403, 403, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403,  # noqa: E501
                     403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403),  # noqa: E501
    "store_manager": (403,) * 39,
    "admin":        (201, 201, 201, 201, 201, 201, 200, 200, 200, 201, 201, 201, 200, 200, 200, 200, 200, 200,  # noqa: E501
                     201, 201, 201, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),  # noqa: E501
    "auditor":      (403, 403, 403, 403, 403, 403, 200, 200, 200, 403, 403, 403, 200, 200, 200, 403, 403, 403,  # noqa: E501
                     403, 403, 403, 200, 200, 200, 403, 403, 403, 200, 200, 200, 403, 403, 403, 403, 200, 403, 403, 403, 200),  # noqa: E501
    "service":      (201, 201, 201, 201, 201, 201, 200, 200, 200, 201, 201, 201, 200, 200, 200, 200, 200, 200,  # noqa: E501
                     201, 201, 201, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 403, 200, 200, 200, 200),  # noqa: E501
    "no role":      (403,) * 39,
}
# fmt: on


def test_the_matrix_covers_every_role_and_every_action_of_the_policy() -> None:
    assert set(MATRIX) == Role.ALL | {"no role"}
    assert {len(row) for row in MATRIX.values()} == {len(ACTIONS)}
    assert {action for action, _, _ in ACTIONS.values()} == set(policy.PIPELINE_POLICY.grants)


# Seeding is the slow part (the embedded store slows as it grows), so roles share a seeded
# service in groups. Every attempt either creates something new or is answered alike when
# repeated (the same stage, a sent quote sent again, the same payment reference, a deal
# handed to the owner it has); only a qualification is not, so each role qualifies leads of
# its own.
GROUPS = [
    ("sales_rep", "sales_manager"),
    ("admin", "service"),
    ("marketing", "auditor", "service_agent", "store_manager", "no role"),
]


def test_the_groups_cover_every_role_once() -> None:
    assert sorted(role for group in GROUPS for role in group) == sorted(MATRIX)


@pytest.mark.parametrize("roles", GROUPS, ids=["+".join(group) for group in GROUPS])
async def test_each_role_may_do_what_its_row_says_and_nothing_more(
    signed_in: ClientFactory, roles: tuple[str, ...]
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    seeded = {on: await seed(admin, owner_id, team) for on, (owner_id, team) in OWNERS.items()}
    wrong = {}
    for number, role in enumerate(roles):
        if any(qualifies(earlier) for earlier in roles[:number]):
            seeded = {on: replace(seeded[on], lead=await lead_of(admin, on)) for on in OWNERS}
        caller = signed_in(*([] if role == "no role" else [role]))
        seen = {}
        for name, (_, on, attempt) in ACTIONS.items():
            answer = await attempt(caller, seeded[on or "own"])
            seen[name] = answer.status_code
            if answer.status_code == 403:
                assert answer.json()["type"] == "urn:crm:problem:forbidden"
        expected = dict(zip(ACTIONS, MATRIX[role], strict=True))
        wrong[role] = {k: (v, expected[k]) for k, v in seen.items() if v != expected[k]}
    assert wrong == {role: {} for role in roles}  # action: (seen, expected)


def qualifies(role: str) -> bool:
    return any(
        status == 201
        for name, status in zip(ACTIONS, MATRIX[role], strict=True)
        if name.startswith("qualify")
    )


async def lead_of(admin: httpx.AsyncClient, on: str) -> str:
    owner_id, team = OWNERS[on]
    body = {**ADA_LEAD, "owner_id": owner_id, "team": team, "customer_id": "cus_1"}
    lead: str = created(await admin.post(LEADS, json=body))["id"]
    return lead
