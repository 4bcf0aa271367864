"""Who may read which views: the one table of the projections service.

The customer 360 mirrors the contacts service's read rules, since it shows the
same customers: reps see their team's, managers their team's, service agents
those assigned to them, marketing and auditors everyone's, masked; managers,
agents and admins see contact details and interaction summaries unmasked (and
are logged).

Money owed and the forecast follow the pipeline's rules: a rep sees only their
own (they remind their own customers), a manager their team's, auditors
(receivables) and admins everyone's. ``service`` is another CRM service acting
on its own (a reminder saga, a data-warehouse export): everything. These views
hold no personal data, so nothing is masked.

The stores and their member counts are the chain's league table: every store
manager sees every store (they are ranked against each other), as do sales
managers, marketing, auditors and admins. Counts are no personal data.

The sales leaderboard is the whole sales floor's (every rep sees every rep's rank:
it is meant to be seen); the funnel follows the pipeline's reading rules (a rep
their own deals, a manager the team's), and marketing sees every funnel (it
feeds the leads).

The service-agent ranking is the service floor's (agents, auditors, admins); the
points leaders are the loyalty programme's (store managers, marketing, sales
managers, auditors, admins): member ids and points, no contact details.

The KPIs are the business's figures (managers, marketing, auditors, admins). The
churn watch list names customers and why they may leave: a rep sees their own
customers, a manager the team's (names are shown as the 360 shows them to that
role: managers unmasked).

The agent's view of a ticket is the customer 360 seen from the ticket: the
same grants, so a service agent reads the customers of the tickets assigned to
them (``assignees`` of the 360: every ticket not closed).
"""

from __future__ import annotations

from crm_runtime.auth import Principal
from crm_runtime.policy import Forbidden, Policy, Role, Scope

READ_CUSTOMER_360 = "customer360.read"
READ_RECEIVABLES = "receivables.read"
READ_FORECAST = "forecast.read"
READ_STORES = "stores.read"
READ_SALES_BOARD = "sales_board.read"
READ_FUNNEL = "funnel.read"
READ_SERVICE_BOARD = "service_board.read"
READ_LOYALTY_BOARD = "loyalty_board.read"
READ_KPIS = "kpis.read"
READ_CHURN_WATCH = "churn_watch.read"
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
        READ_RECEIVABLES: {
            Role.SALES_REP: Scope.OWN,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_FORECAST: {
            Role.SALES_REP: Scope.OWN,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_STORES: {
            Role.STORE_MANAGER: Scope.ANY,
            Role.SALES_MANAGER: Scope.ANY,
            Role.MARKETING: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_SALES_BOARD: {
            Role.SALES_REP: Scope.ANY,
            Role.SALES_MANAGER: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_FUNNEL: {
            Role.SALES_REP: Scope.OWN,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.MARKETING: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_SERVICE_BOARD: {
            Role.SERVICE_AGENT: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_LOYALTY_BOARD: {
            Role.STORE_MANAGER: Scope.ANY,
            Role.MARKETING: Scope.ANY,
            Role.SALES_MANAGER: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_KPIS: {
            Role.SALES_MANAGER: Scope.ANY,
            Role.MARKETING: Scope.ANY,
            Role.AUDITOR: Scope.ANY,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_CHURN_WATCH: {
            Role.SALES_REP: Scope.OWN,
            Role.SALES_MANAGER: Scope.TEAM,
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


def visible(
    caller: Principal, action: str, *, owner_id: str | None, team: str | None
) -> dict[str, str]:
    """The filter (on ``owner_id`` and ``team``) of the rows ``action`` lets the caller
    list, narrowed by what the caller asked for; Forbidden when they asked for more.

    A team scope without a team in the token falls back to the caller's own rows.
    """
    asked = {key: value for key, value in (("owner_id", owner_id), ("team", team)) if value}
    scope = VIEWS_POLICY.scope_of(caller, action)
    if scope is Scope.ANY:
        return asked
    if scope is Scope.TEAM and caller.team is not None:
        if team not in (None, caller.team):
            raise Forbidden(caller, action, f"team {team} is not the caller's")
        return {**asked, "team": caller.team}
    if scope in (Scope.TEAM, Scope.OWN):
        if owner_id not in (None, caller.subject) or team not in (None, caller.team):
            raise Forbidden(caller, action, "the caller sees only their own")
        return {**asked, "owner_id": caller.subject}
    roles = ", ".join(sorted(caller.roles)) or "no role"
    raise Forbidden(caller, action, f"not granted to {roles}")
