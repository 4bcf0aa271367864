"""Who may do what in the contacts service: the one table, read by the entry points.

Sales reps see their team's customers and change their own; managers see
and change their team's; service agents see the customers whose work is
assigned to them; marketing and auditors read every customer, masked; admins
do everything, including erasure. Personal data is unmasked for managers,
agents (they call customers back) and admins; every unmasked read is
recorded in the access log.

Beyond the profile: reps log interactions and move lifecycle stages of their own
customers, managers of their team's; marketing classifies and segments anyone;
owners are (re)assigned, accounts handed over and duplicates merged by managers
within their team and by admins (owners and handovers also by the sagas service, which
hands a leaving rep's whole book over); purchases are recorded by other services (and
admins). The timeline's free text is shown in full to whoever may read it.
"""

from __future__ import annotations

from crm_runtime.policy import Policy, Role, Scope

REGISTER = "customer.register"
READ = "customer.read"
LIST = "customer.list"
CHANGE = "customer.change"
ERASE = "customer.erase"
LOG_INTERACTION = "interaction.log"
READ_INTERACTIONS = "interaction.read"
CHANGE_STAGE = "customer.change_stage"
RECORD_PURCHASE = "customer.record_purchase"
CLASSIFY = "customer.classify"
ASSIGN_OWNER = "customer.assign_owner"
HAND_OVER = "customers.hand_over"
FIND_DUPLICATES = "customer.find_duplicates"
MERGE = "customer.merge"
READ_ACCESS_LOG = "access_log.read"

_READERS = {
    Role.SALES_REP: Scope.TEAM,
    Role.SALES_MANAGER: Scope.TEAM,
    Role.SERVICE_AGENT: Scope.ASSIGNED,
    Role.MARKETING: Scope.ANY,
    Role.AUDITOR: Scope.ANY,
    Role.ADMIN: Scope.ANY,
    Role.SERVICE: Scope.ANY,
}
_OWNERS_AND_TEAM = {
    Role.SALES_REP: Scope.OWN,
    Role.SALES_MANAGER: Scope.TEAM,
    Role.ADMIN: Scope.ANY,
    Role.SERVICE: Scope.ANY,
}
_MANAGERS = {Role.SALES_MANAGER: Scope.TEAM, Role.ADMIN: Scope.ANY}

CONTACTS_POLICY = Policy(
    service="contacts",
    grants={
        REGISTER: _OWNERS_AND_TEAM,
        READ: _READERS,
        LIST: _READERS,
        CHANGE: _OWNERS_AND_TEAM,
        ERASE: {Role.ADMIN: Scope.ANY},
        LOG_INTERACTION: {**_OWNERS_AND_TEAM, Role.SERVICE_AGENT: Scope.ASSIGNED},
        READ_INTERACTIONS: {
            Role.SALES_REP: Scope.TEAM,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.SERVICE_AGENT: Scope.ASSIGNED,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        CHANGE_STAGE: _OWNERS_AND_TEAM,
        RECORD_PURCHASE: {Role.ADMIN: Scope.ANY, Role.SERVICE: Scope.ANY},
        CLASSIFY: {**_OWNERS_AND_TEAM, Role.MARKETING: Scope.ANY},
        ASSIGN_OWNER: {**_MANAGERS, Role.SERVICE: Scope.ANY},
        HAND_OVER: {**_MANAGERS, Role.SERVICE: Scope.ANY},
        FIND_DUPLICATES: {
            Role.SALES_REP: Scope.TEAM,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        MERGE: _MANAGERS,
        READ_ACCESS_LOG: {Role.AUDITOR: Scope.ANY, Role.ADMIN: Scope.ANY},
    },
    unmasked={
        READ: frozenset({Role.SALES_MANAGER, Role.SERVICE_AGENT, Role.ADMIN, Role.SERVICE}),
    },
)
