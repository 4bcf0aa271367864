"""Who may read which views: the one table of the projections service.

It mirrors the contacts service's read rules, since the customer 360 shows
the same customers: reps see their team's, managers their team's, service
agents those assigned to them, marketing and auditors everyone's, masked;
managers, agents and admins see contact details unmasked (and are logged).
"""

from __future__ import annotations

from crm_runtime.policy import Policy, Role, Scope

READ_CUSTOMER_360 = "customer360.read"
READ_ACCESS_LOG = "access_log.read"

VIEWS_POLICY = Policy(
    service="projections",
    grants={
        READ_CUSTOMER_360: {
            Role.SALES_REP: Scope.TEAM,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.SERVICE_AGENT: Scope.ASSIGNED,
            Role.MARKETING: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_ACCESS_LOG: {Role.AUDITOR: Scope.ANY, Role.ADMIN: Scope.ANY},
    },
    unmasked={
        READ_CUSTOMER_360: frozenset(
            {Role.SALES_MANAGER, Role.SERVICE_AGENT, Role.ADMIN, Role.SERVICE}
        ),
    },
)
