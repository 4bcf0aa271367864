"""Who may do what in the loyalty service: the one table, read by the entry points.

A member belongs to a home store; for authorisation the store is the member's
"team" (``Ownership(team=home_store_id)``), so a store manager's token names their
store in its ``team`` claim and TEAM scope means "members of my store".

| action          | store_manager | marketing | service_agent | sales_* | auditor | admin/service |
|-----------------|---------------|-----------|---------------|---------|---------|---------------|
| store.open      | -             | -         | -             | -       | -       | any           |
| store.read      | own store     | any       | any           | -       | any     | any           |
| member.enrol    | own store     | -         | -             | -       | -       | any           |
| member.read     | own store     | any       | any           | any     | any     | any           |
| member.move     | own store     | -         | -             | -       | -       | any           |
| member.bonus    | own store     | any       | any (*)       | -       | -       | any           |
| member.redeem   | own store     | -         | -             | -       | -       | any           |
| coupon.issue    | own store     | any       | -             | -       | -       | any           |
| coupon.redeem   | any (**)      | -         | -             | -       | -       | any           |
| coupon.withdraw | own store     | any       | -             | -       | -       | any           |

(*) service agents award survey and referral bonuses only, not birthday ones (checked
by the route with ``may_award``). (**) a member may use a coupon in any store of the
chain, so any store manager may redeem it. Moving a member needs the grant on the
member's current store; the new store is the target, not checked. Sales reps read
members (the customer's tier and points matter when selling). Auditors read all.
"""

from __future__ import annotations

from crm_contracts.loyalty import BonusReason
from crm_runtime.auth import Principal
from crm_runtime.policy import Ownership, Policy, Role, Scope

OPEN_STORE = "store.open"
READ_STORE = "store.read"
ENROL = "member.enrol"
READ_MEMBER = "member.read"
MOVE_MEMBER = "member.move"
AWARD_BONUS = "member.bonus"
REDEEM_POINTS = "member.redeem"
ISSUE_COUPON = "coupon.issue"
REDEEM_COUPON = "coupon.redeem"
WITHDRAW_COUPON = "coupon.withdraw"

_ALL = {Role.ADMIN: Scope.ANY, Role.SERVICE: Scope.ANY}
_STORE = {**_ALL, Role.STORE_MANAGER: Scope.TEAM}

LOYALTY_POLICY = Policy(
    service="loyalty",
    grants={
        OPEN_STORE: _ALL,
        READ_STORE: {**_STORE, Role.MARKETING: Scope.ANY, Role.SERVICE_AGENT: Scope.ANY,
                     Role.AUDITOR: Scope.ANY},
        ENROL: _STORE,
        READ_MEMBER: {**_STORE, Role.MARKETING: Scope.ANY, Role.SERVICE_AGENT: Scope.ANY,
                      Role.SALES_REP: Scope.ANY, Role.SALES_MANAGER: Scope.ANY,
                      Role.AUDITOR: Scope.ANY},
        MOVE_MEMBER: _STORE,
        AWARD_BONUS: {**_STORE, Role.MARKETING: Scope.ANY, Role.SERVICE_AGENT: Scope.ANY},
        REDEEM_POINTS: _STORE,
        ISSUE_COUPON: {**_STORE, Role.MARKETING: Scope.ANY},
        REDEEM_COUPON: {**_ALL, Role.STORE_MANAGER: Scope.ANY},
        WITHDRAW_COUPON: {**_STORE, Role.MARKETING: Scope.ANY},
    },
)  # fmt: skip

SERVICE_AGENT_BONUSES = frozenset({BonusReason.SURVEY_ANSWERED, BonusReason.REFERRAL})


def of_store(store_id: str) -> Ownership:
    """A member, or a store, as authorisation sees it: the store is the team."""
    return Ownership(team=store_id)


def may_award(principal: Principal, reason: BonusReason, store_id: str) -> bool:
    """Service agents give survey and referral bonuses only; others as the table says."""
    if not LOYALTY_POLICY.allows(principal, AWARD_BONUS, of_store(store_id)):
        return False
    others = principal.roles - {Role.SERVICE_AGENT}
    if any(LOYALTY_POLICY.allows(_only(principal, r), AWARD_BONUS, of_store(store_id))
           for r in others):  # fmt: skip
        return True
    return reason in SERVICE_AGENT_BONUSES


def _only(principal: Principal, role: str) -> Principal:
    return Principal(subject=principal.subject, roles=frozenset({role}), team=principal.team)
