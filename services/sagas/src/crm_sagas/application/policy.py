"""Who may do what with the sagas: the one table, read by the entry points.

| action       | admin | service | sales_manager | auditor | others |
|--------------|-------|---------|---------------|---------|--------|
| saga.read    | any   | any     | any           | any     | -      |
| saga.operate | any   | any     | -             | -       | -      |

``saga.operate`` is retrying a failed saga or cancelling one (operators' commands).
"""

from __future__ import annotations

from crm_runtime.policy import Policy, Role, Scope

READ = "saga.read"
OPERATE = "saga.operate"

_OPERATORS = {Role.ADMIN: Scope.ANY, Role.SERVICE: Scope.ANY}

SAGAS_POLICY = Policy(
    service="sagas",
    grants={
        READ: {**_OPERATORS, Role.SALES_MANAGER: Scope.ANY, Role.AUDITOR: Scope.ANY},
        OPERATE: _OPERATORS,
    },
)
