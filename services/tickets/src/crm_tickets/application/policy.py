"""Who may do what in the tickets service: the one table, read by the entry points.

A ticket belongs to a service team and perhaps an assignee; scopes are judged
against them (``ownership_of``): ``ASSIGNED`` covers the ticket's assignee,
``TEAM`` its assignee and everyone in its team.

- Service agents open tickets for any customer, read their team's tickets (and
  any assigned to them), dispatch their team's queue (assign within or out of
  the team) and work the tickets assigned to them: reply, note, wait, record the
  customer's answer, resolve, close, reopen, change the priority.
- There is no service-manager role: team leads are agents; an SLA breach hands
  the ticket to them (CRM_TICKETS_TEAM_LEADS), which makes it theirs to work.
- Sales reps, sales managers and store managers open tickets for their customers
  (a call, a visit, a store counter), but do not read or work them: tickets have
  no link to the customer's owner, and their view of service is the customer 360
  read model (open tickets, last satisfaction), not the ticket text.
- Marketing has no business here.
- The survey is recorded by the survey front end (``service``) or an admin, never
  by the agent whose work it rates.
- Auditors read every ticket with its personal text masked, and the access log.
- Admins and other CRM services (sagas, integrations) may do everything.

Subject, description, replies, notes, resolution and survey comment are personal
data: unmasked for agents, admins and services; every unmasked read of a ticket
is recorded in the access log.
"""

from __future__ import annotations

from crm_runtime.policy import Ownership, Policy, Role, Scope
from crm_tickets.domain.ticket import Ticket

OPEN_TICKET = "ticket.open"
READ_TICKET = "ticket.read"  # one ticket, and the list
ASSIGN_TICKET = "ticket.assign"
WORK_TICKET = (
    "ticket.work"  # priority, reply, note, wait, customer response, resolve, close, reopen
)
ANSWER_SURVEY = "ticket.survey"
READ_ACCESS_LOG = "access_log.read"

_EVERYTHING = {Role.ADMIN: Scope.ANY, Role.SERVICE: Scope.ANY}

TICKETS_POLICY = Policy(
    service="tickets",
    grants={
        OPEN_TICKET: {
            Role.SERVICE_AGENT: Scope.ANY,
            Role.SALES_REP: Scope.ANY,
            Role.SALES_MANAGER: Scope.ANY,
            Role.STORE_MANAGER: Scope.ANY,
            **_EVERYTHING,
        },
        READ_TICKET: {Role.SERVICE_AGENT: Scope.TEAM, Role.AUDITOR: Scope.ANY, **_EVERYTHING},
        ASSIGN_TICKET: {Role.SERVICE_AGENT: Scope.TEAM, **_EVERYTHING},
        WORK_TICKET: {Role.SERVICE_AGENT: Scope.ASSIGNED, **_EVERYTHING},
        ANSWER_SURVEY: dict(_EVERYTHING),
        READ_ACCESS_LOG: {Role.AUDITOR: Scope.ANY, Role.ADMIN: Scope.ANY},
    },
    unmasked={READ_TICKET: frozenset({Role.SERVICE_AGENT, Role.ADMIN, Role.SERVICE})},
)


def ownership_of(ticket: Ticket) -> Ownership:
    """Whose a ticket is: its assignee (as owner and assignee) and its team."""
    assignees = frozenset({ticket.assignee_id}) if ticket.assignee_id else frozenset()
    return Ownership(owner_id=ticket.assignee_id, team=ticket.team, assignees=assignees)
