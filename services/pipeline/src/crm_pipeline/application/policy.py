"""Who may do what in the pipeline service: the one table, read by the entry points.

Every lead, opportunity, quote and order has an owner (a sales rep) and the
owner's team; scopes are judged against them, as in contacts.

- Sales reps capture leads and open opportunities for themselves, read their
  team's leads, opportunities and quotes, and work (qualify, move, win, lose,
  reopen, quote, accept) only their own. They read only their own orders and
  receivables: they remind their customers, not their teammates'.
- Sales managers do all of that for their whole team, and record payments for
  their team's orders: finance has no role yet, so managers see and book
  receivables (segregation of duties: a rep cannot mark their own deal paid).
- Handing an open opportunity to another rep is a manager's call within their team
  (the deal and its new owner both stay in it), an admin's, or a service's (the
  saga that hands over a leaving rep's deals); a rep cannot give deals away or take
  a teammate's.
- The list of opportunities shows a rep their own, a manager their team's, and
  auditors, admins and services every one (reading a single opportunity a rep may
  still do across their team).
- Marketing captures leads for anyone (campaigns, events, web forms) and reads
  every lead, masked; it does not see the forecast, quotes or money owed.
- Auditors read everything, masked, and the access log.
- Admins and other CRM services (``service``: sagas, integrations such as the
  bank feed) may do everything.
- Service agents and store managers have no business in the pipeline.

A lead's e-mail and phone are personal data: shown unmasked only to managers,
admins and services, and every such answer is recorded in the access log.
"""

from __future__ import annotations

from crm_runtime.policy import Policy, Role, Scope

CAPTURE_LEAD = "lead.capture"
READ_LEAD = "lead.read"
QUALIFY_LEAD = "lead.qualify"  # qualify or disqualify
OPEN_OPPORTUNITY = "opportunity.open"
READ_OPPORTUNITY = "opportunity.read"
LIST_OPPORTUNITIES = "opportunity.list"
CHANGE_OPPORTUNITY = "opportunity.change"  # amount, close date, stage, win, lose, reopen
REASSIGN_OPPORTUNITY = "opportunity.reassign"
DRAFT_QUOTE = "quote.draft"
READ_QUOTE = "quote.read"
CHANGE_QUOTE = "quote.change"  # send, accept (places the order), reject
READ_ORDER = "order.read"  # the order and its receivable
RECORD_PAYMENT = "order.record_payment"
READ_ACCESS_LOG = "access_log.read"

_SALES_WORK = {
    Role.SALES_REP: Scope.OWN,
    Role.SALES_MANAGER: Scope.TEAM,
    Role.ADMIN: Scope.ANY,
    Role.SERVICE: Scope.ANY,
}
_SALES_READ = {
    Role.SALES_REP: Scope.TEAM,
    Role.SALES_MANAGER: Scope.TEAM,
    Role.AUDITOR: Scope.ANY,
    Role.ADMIN: Scope.ANY,
    Role.SERVICE: Scope.ANY,
}

PIPELINE_POLICY = Policy(
    service="pipeline",
    grants={
        CAPTURE_LEAD: {**_SALES_WORK, Role.MARKETING: Scope.ANY},
        READ_LEAD: {**_SALES_READ, Role.MARKETING: Scope.ANY},
        QUALIFY_LEAD: _SALES_WORK,
        OPEN_OPPORTUNITY: _SALES_WORK,
        READ_OPPORTUNITY: _SALES_READ,
        LIST_OPPORTUNITIES: {**_SALES_READ, Role.SALES_REP: Scope.OWN},
        CHANGE_OPPORTUNITY: _SALES_WORK,
        REASSIGN_OPPORTUNITY: {
            Role.SALES_MANAGER: Scope.TEAM,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        DRAFT_QUOTE: _SALES_WORK,
        READ_QUOTE: _SALES_READ,
        CHANGE_QUOTE: _SALES_WORK,
        READ_ORDER: {**_SALES_READ, Role.SALES_REP: Scope.OWN},
        RECORD_PAYMENT: {
            Role.SALES_MANAGER: Scope.TEAM,
            Role.ADMIN: Scope.ANY,
            Role.SERVICE: Scope.ANY,
        },
        READ_ACCESS_LOG: {Role.AUDITOR: Scope.ANY, Role.ADMIN: Scope.ANY},
    },
    unmasked={READ_LEAD: frozenset({Role.SALES_MANAGER, Role.ADMIN, Role.SERVICE})},
)
