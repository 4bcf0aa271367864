"""The tickets policy, as a matrix: role x action x how the ticket relates to the caller."""

from __future__ import annotations

import pytest
from tickets_testing import COMPLAINT, TEAM, TICKETS, ClientFactory, ok, open_ticket, problem

from crm_runtime.auth import Principal
from crm_runtime.policy import Ownership, Role
from crm_tickets.application.policy import (
    ANSWER_SURVEY,
    ASSIGN_TICKET,
    OPEN_TICKET,
    READ_ACCESS_LOG,
    READ_TICKET,
    TICKETS_POLICY,
    WORK_TICKET,
)

ME = "a1"
ASSIGNED = Ownership(owner_id=ME, team="other", assignees=frozenset({ME}))
TEAMS = Ownership(owner_id="a2", team=TEAM, assignees=frozenset({"a2"}))
ELSEWHERE = Ownership(owner_id="a3", team="other", assignees=frozenset({"a3"}))
ACTIONS = [OPEN_TICKET, READ_TICKET, ASSIGN_TICKET, WORK_TICKET, ANSWER_SURVEY, READ_ACCESS_LOG]
RELATIONS = [("assigned", ASSIGNED), ("team", TEAMS), ("elsewhere", ELSEWHERE)]

# role: for each of ACTIONS in turn, whether it is allowed on a ticket assigned to the caller,
# of the caller's team, of another team ("YYN": the first two, not the third)
MATRIX: dict[str, tuple[str, ...]] = {
    #                   open   read   assign work   survey log
    Role.SERVICE_AGENT: ("YYY", "YYN", "YYN", "YNN", "NNN", "NNN"),
    Role.SALES_REP:     ("YYY", "NNN", "NNN", "NNN", "NNN", "NNN"),
    Role.SALES_MANAGER: ("YYY", "NNN", "NNN", "NNN", "NNN", "NNN"),
    Role.STORE_MANAGER: ("YYY", "NNN", "NNN", "NNN", "NNN", "NNN"),
    Role.MARKETING:     ("NNN", "NNN", "NNN", "NNN", "NNN", "NNN"),
    Role.AUDITOR:       ("NNN", "YYY", "NNN", "NNN", "NNN", "YYY"),
    Role.ADMIN:         ("YYY", "YYY", "YYY", "YYY", "YYY", "YYY"),
    Role.SERVICE:       ("YYY", "YYY", "YYY", "YYY", "YYY", "NNN"),
}  # fmt: skip

CASES = [
    (action, role, relation, resource, MATRIX[role][column][index] == "Y")
    for column, action in enumerate(ACTIONS)
    for role in MATRIX
    for index, (relation, resource) in enumerate(RELATIONS)
]


def test_the_matrix_covers_every_action_and_role() -> None:
    assert set(ACTIONS) == set(TICKETS_POLICY.grants)
    assert set(MATRIX) == Role.ALL
    for row in MATRIX.values():
        assert len(row) == len(ACTIONS)
        assert all(len(cell) == len(RELATIONS) and set(cell) <= set("YN") for cell in row)


@pytest.mark.parametrize(
    ("action", "role", "relation", "resource", "allowed"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES],
)
def test_the_policy_matrix(
    action: str, role: str, relation: str, resource: Ownership, allowed: bool
) -> None:
    caller = Principal(subject=ME, roles=frozenset({role}), team=TEAM)
    assert TICKETS_POLICY.allows(caller, action, resource) is allowed


@pytest.mark.parametrize(
    ("role", "unmasked"),
    [(role, role in {Role.SERVICE_AGENT, Role.ADMIN, Role.SERVICE}) for role in sorted(Role.ALL)],
)
def test_who_sees_personal_text(role: str, unmasked: bool) -> None:
    caller = Principal(subject=ME, roles=frozenset({role}), team=TEAM)
    assert TICKETS_POLICY.reveals(caller, READ_TICKET) is unmasked


async def test_an_agent_works_only_what_is_assigned_to_them(signed_in: ClientFactory) -> None:
    mine = signed_in("service_agent", subject="a1")
    colleague = signed_in("service_agent", subject="a2")
    stranger = signed_in("service_agent", subject="a3", team="support-south")
    tid = (await open_ticket(mine, assignee_id="a1"))["id"]

    ok(await colleague.get(f"{TICKETS}/{tid}"))  # same team: reads
    problem(await colleague.post(f"{TICKETS}/{tid}/replies", json={"body": "x"}), 403)
    problem(await stranger.get(f"{TICKETS}/{tid}"), 403)
    ok(await colleague.post(f"{TICKETS}/{tid}/assign", json={"assignee_id": "a2"}))
    ok(await colleague.post(f"{TICKETS}/{tid}/replies", json={"body": "mine now"}))
    problem(await mine.post(f"{TICKETS}/{tid}/notes", json={"body": "x"}), 403)


async def test_the_list_shows_an_agent_only_their_team_and_their_own(
    signed_in: ClientFactory,
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    ours = await open_ticket(admin, assignee_id="a2")
    theirs_but_mine = await open_ticket(admin, team="support-south", assignee_id="a1")
    await open_ticket(admin, team="support-south", assignee_id="a3")

    listed = ok(await signed_in("service_agent", subject="a1").get(TICKETS))["tickets"]

    assert {t["id"] for t in listed} == {ours["id"], theirs_but_mine["id"]}
    problem(await signed_in("sales_rep").get(TICKETS), 403)


async def test_auditors_read_masked_and_unmasked_reads_are_logged(signed_in: ClientFactory) -> None:
    agent = signed_in("service_agent", subject="a1")
    auditor = signed_in("auditor", subject="audit", team=None)
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]
    ok(await agent.post(f"{TICKETS}/{tid}/replies", json={"body": "Dear Ada"}))

    seen = ok(await auditor.get(f"{TICKETS}/{tid}"))

    assert (seen["subject"], seen["replies"][0]["body"]) == ("[masked]", "[masked]")
    assert ok(await agent.get(f"{TICKETS}/{tid}"))["subject"] == COMPLAINT["subject"]
    entries = ok(await auditor.get(f"{TICKETS}/access-log"))["entries"]
    assert [(e["actor"], e["customer_id"]) for e in entries] == [
        ("user:a1", COMPLAINT["customer_id"])
    ]
    problem(await agent.get(f"{TICKETS}/access-log"), 403)


async def test_without_a_token_nothing_is_answered(client: ClientFactory) -> None:
    problem(await client().get(TICKETS), 401)
    problem(await client().post(TICKETS, json=COMPLAINT), 401)
