"""Who may do what in the contacts service: the one table, read by the entry points.

Sales reps see their team's customers and change their own; managers see
and change their team's; service agents see the customers whose work is
assigned to them; marketing and auditors read every customer, masked; admins
do everything, including erasure. Personal data is unmasked for managers,
agents (they call customers back) and admins; every unmasked read is
recorded in the access log.
"""

from __future__ import annotations

from crm_runtime.policy import Policy, Role, Scope

REGISTER = "customer.register"
READ = "customer.read"
CHANGE = "customer.change"
ERASE = "customer.erase"
READ_ACCESS_LOG = "access_log.read"

CONTACTS_POLICY = Policy(
    service="contacts",
    grants={
        REGISTER: {
            Role.SALES_REP: Scope.OWN,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ: {
            Role.SALES_REP: Scope.TEAM,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.SERVICE_AGENT: Scope.ASSIGNED,
            Role.MARKETING: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        CHANGE: {
            Role.SALES_REP: Scope.OWN,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        ERASE: {Role.ADMIN: Scope.ANY},
        READ_ACCESS_LOG: {Role.AUDITOR: Scope.ANY, Role.ADMIN: Scope.ANY},
    },
    unmasked={
        READ: frozenset({Role.SALES_MANAGER, Role.SERVICE_AGENT, Role.ADMIN, Role.SERVICE}),
    },
)
