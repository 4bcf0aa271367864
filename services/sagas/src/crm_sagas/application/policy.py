"""Who may do what with the sagas: the one table, read by the entry points.

| action              | admin | service | sales_manager | sales_rep | auditor | others |
|---------------------|-------|---------|---------------|-----------|---------|--------|
| saga.read           | any   | any     | any           | -         | any     | -      |
| saga.operate        | any   | any     | -             | -         | -       | -      |
| saga.decide         | any   | -       | any           | own       | -       | -      |
| saga.rep_departure  | any   | -       | -             | -         | -       | -      |

``saga.operate`` is retrying a failed saga or cancelling one (operators' commands).
``saga.decide`` is answering the question a saga asks a person (a requirement's sales
review): a rep only where the saga asks them (``own``: the customer's owner, or the lead
it escalated to), managers and admins on any. ``saga.rep_departure`` starts the handover
of a leaving rep's whole book across contacts, pipeline and tickets: an admin's act (the
saga moves it with the sagas' own service rights, so a team-scoped grant here could not be
enforced where the book lives). A sales manager hands individual customers of their team
over through contacts (``POST /contacts/handovers``).
"""

from __future__ import annotations

from crm_runtime.policy import Policy, Role, Scope

READ = "saga.read"
OPERATE = "saga.operate"
DECIDE = "saga.decide"
REQUEST_DEPARTURE = "saga.rep_departure"

_OPERATORS = {Role.ADMIN: Scope.ANY, Role.SERVICE: Scope.ANY}

SAGAS_POLICY = Policy(
    service="sagas",
    grants={
        READ: {**_OPERATORS, Role.SALES_MANAGER: Scope.ANY, Role.AUDITOR: Scope.ANY},
        OPERATE: _OPERATORS,
        DECIDE: {Role.ADMIN: Scope.ANY, Role.SALES_MANAGER: Scope.ANY, Role.SALES_REP: Scope.OWN},
        REQUEST_DEPARTURE: {Role.ADMIN: Scope.ANY},
    },
)
