"""The policy table as a matrix: every role against every action, own store and another."""

from __future__ import annotations

import httpx
import pytest
from loyalty_testing import MEMBERS, STORES, ClientFactory, created

from crm_contracts.loyalty import BonusReason
from crm_loyalty.application import policy
from crm_loyalty.application.policy import LOYALTY_POLICY, may_award, of_store
from crm_runtime.auth import Principal
from crm_runtime.policy import Role

OWN, OTHER = "sto_mitte", "sto_hh"
ACTIONS = [policy.OPEN_STORE, policy.READ_STORE, policy.ENROL, policy.READ_MEMBER,
           policy.MOVE_MEMBER, policy.AWARD_BONUS, policy.REDEEM_POINTS, policy.ISSUE_COUPON,
           policy.REDEEM_COUPON, policy.WITHDRAW_COUPON]  # fmt: skip
# role -> (actions allowed at the caller's own store, actions allowed at another store)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    Role.ADMIN: (set(ACTIONS), set(ACTIONS)),
    Role.SERVICE: (set(ACTIONS), set(ACTIONS)),
    Role.STORE_MANAGER: (
        set(ACTIONS) - {policy.OPEN_STORE},
        {policy.REDEEM_COUPON},
    ),
    Role.MARKETING: (
        s := {
            policy.READ_STORE,
            policy.READ_MEMBER,
            policy.AWARD_BONUS,
            policy.ISSUE_COUPON,
            policy.WITHDRAW_COUPON,
        },
        s,
    ),
    Role.SERVICE_AGENT: (
        t := {policy.READ_STORE, policy.READ_MEMBER, policy.AWARD_BONUS},
        t,
    ),
    Role.AUDITOR: ({policy.READ_STORE, policy.READ_MEMBER},) * 2,
    Role.SALES_REP: ({policy.READ_MEMBER},) * 2,
    Role.SALES_MANAGER: ({policy.READ_MEMBER},) * 2,
}


def test_every_role_is_in_the_matrix() -> None:
    assert set(EXPECTED) == Role.ALL


@pytest.mark.parametrize("role", sorted(Role.ALL))
@pytest.mark.parametrize("action", ACTIONS)
def test_the_policy_table(role: str, action: str) -> None:
    caller = Principal(subject="u1", roles=frozenset({role}), team=OWN)
    own, other = EXPECTED[role]
    assert LOYALTY_POLICY.allows(caller, action, of_store(OWN)) is (action in own)
    assert LOYALTY_POLICY.allows(caller, action, of_store(OTHER)) is (action in other)


@pytest.mark.parametrize(
    ("roles", "reason", "allowed"),
    [
        ({Role.SERVICE_AGENT}, BonusReason.SURVEY_ANSWERED, True),
        ({Role.SERVICE_AGENT}, BonusReason.REFERRAL, True),
        ({Role.SERVICE_AGENT}, BonusReason.BIRTHDAY, False),
        ({Role.SERVICE_AGENT, Role.MARKETING}, BonusReason.BIRTHDAY, True),
        ({Role.MARKETING}, BonusReason.BIRTHDAY, True),
        ({Role.AUDITOR}, BonusReason.SURVEY_ANSWERED, False),
    ],
)
def test_service_agents_award_survey_and_referral_bonuses_only(
    roles: set[str], reason: BonusReason, allowed: bool
) -> None:
    caller = Principal(subject="u1", roles=frozenset(roles), team=OWN)
    assert may_award(caller, reason, OTHER) is allowed


async def seeded(admin: httpx.AsyncClient) -> None:
    for store in (OWN, OTHER):
        created(await admin.post(STORES, json={"store_id": store, "name": store, "city": "X"}))
    for customer, store in (("cus_own", OWN), ("cus_other", OTHER)):
        created(await admin.post(MEMBERS, json={"customer_id": customer, "home_store_id": store}))


@pytest.mark.parametrize(
    ("role", "customer", "status"),
    [
        (Role.STORE_MANAGER, "cus_own", 200),
        (Role.STORE_MANAGER, "cus_other", 403),
        (Role.MARKETING, "cus_other", 200),
        (Role.AUDITOR, "cus_other", 200),
    ],
)
async def test_reading_a_member_over_http(
    signed_in: ClientFactory, role: str, customer: str, status: int
) -> None:
    await seeded(signed_in(Role.ADMIN))
    answer = await signed_in(role, team=OWN).get(f"{MEMBERS}/{customer}")
    assert answer.status_code == status, answer.text


async def test_a_store_manager_enrols_only_at_their_store(signed_in: ClientFactory) -> None:
    await seeded(signed_in(Role.ADMIN))
    manager = signed_in(Role.STORE_MANAGER, team=OWN)
    mine = await manager.post(MEMBERS, json={"customer_id": "cus_new", "home_store_id": OWN})
    assert mine.status_code == 201
    theirs = await manager.post(MEMBERS, json={"customer_id": "cus_x", "home_store_id": OTHER})
    assert theirs.status_code == 403


async def test_a_service_agent_gets_403_for_a_birthday_bonus(signed_in: ClientFactory) -> None:
    await seeded(signed_in(Role.ADMIN))
    agent = signed_in(Role.SERVICE_AGENT)
    url = f"{MEMBERS}/cus_own/bonuses"
    survey = await agent.post(url, json={"reason": "survey_answered", "reference": "tkt_1",
                                         "points": 20})  # fmt: skip
    assert survey.status_code == 200
    birthday = await agent.post(url, json={"reason": "birthday", "reference": "2026",
                                           "points": 20})  # fmt: skip
    assert birthday.status_code == 403
