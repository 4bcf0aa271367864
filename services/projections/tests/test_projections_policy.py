"""The views' authorisation table, and the rows a list query lets each caller see."""

from __future__ import annotations

import pytest

from crm_projections.application.policy import (
    READ_ACCESS_LOG,
    READ_CHURN_WATCH,
    READ_CUSTOMER_360,
    READ_FORECAST,
    READ_FUNNEL,
    READ_KPIS,
    READ_LOYALTY_BOARD,
    READ_RECEIVABLES,
    READ_SALES_BOARD,
    READ_SERVICE_BOARD,
    READ_STORES,
    VIEWS_POLICY,
    visible,
)
from crm_runtime.auth import Principal
from crm_runtime.policy import Forbidden, Role, Scope

ANY, TEAM, OWN, ASSIGNED = Scope.ANY, Scope.TEAM, Scope.OWN, Scope.ASSIGNED
ROLES = sorted(Role.ALL)
TABLE = {
    #                  rep   manager agent     marketing store admin auditor service
    READ_CUSTOMER_360: (TEAM, TEAM, ASSIGNED, ANY, None, ANY, ANY, ANY),
    READ_RECEIVABLES: (OWN, TEAM, None, None, None, ANY, ANY, ANY),
    READ_FORECAST: (OWN, TEAM, None, None, None, ANY, None, ANY),
    READ_STORES: (None, ANY, None, ANY, ANY, ANY, ANY, ANY),
    READ_SALES_BOARD: (ANY, ANY, None, None, None, ANY, ANY, ANY),
    READ_FUNNEL: (OWN, TEAM, None, ANY, None, ANY, ANY, ANY),
    READ_SERVICE_BOARD: (None, None, ANY, None, None, ANY, ANY, ANY),
    READ_LOYALTY_BOARD: (None, ANY, None, ANY, ANY, ANY, ANY, ANY),
    READ_KPIS: (None, ANY, None, ANY, None, ANY, ANY, ANY),
    READ_CHURN_WATCH: (OWN, TEAM, None, None, None, ANY, None, ANY),
    READ_ACCESS_LOG: (None, None, None, None, None, ANY, ANY, None),
}
COLUMNS = (
    Role.SALES_REP,
    Role.SALES_MANAGER,
    Role.SERVICE_AGENT,
    Role.MARKETING,
    Role.STORE_MANAGER,
    Role.ADMIN,
    Role.AUDITOR,
    Role.SERVICE,
)


@pytest.mark.parametrize("action", sorted(TABLE))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_has_the_scope_of_the_table(action: str, role: str) -> None:
    expected = dict(zip(COLUMNS, TABLE[action], strict=True))[role]
    assert VIEWS_POLICY.scope_of(Principal("x", frozenset({role}), "north"), action) is expected


def test_the_table_covers_every_action_of_the_policy() -> None:
    assert set(VIEWS_POLICY.grants) == set(TABLE)


def test_only_the_customer_360_reveals_personal_data() -> None:
    assert set(VIEWS_POLICY.unmasked) == {READ_CUSTOMER_360}


def who(role: str, subject: str = "u1", team: str | None = "north") -> Principal:
    return Principal(subject, frozenset({role}), team)


@pytest.mark.parametrize(
    ("caller", "owner_id", "team", "query"),
    [
        (who(Role.SALES_REP), None, None, {"owner_id": "u1"}),
        (who(Role.SALES_REP), "u1", "north", {"owner_id": "u1", "team": "north"}),
        (who(Role.SALES_MANAGER, "m1"), None, None, {"team": "north"}),
        (who(Role.SALES_MANAGER, "m1"), "u3", None, {"owner_id": "u3", "team": "north"}),
        (who(Role.SALES_MANAGER, "m1", None), None, None, {"owner_id": "m1"}),
        (who(Role.ADMIN, "root", None), None, "south", {"team": "south"}),
        (who(Role.AUDITOR, "x1", None), "u3", None, {"owner_id": "u3"}),
    ],
)
def test_list_queries_are_narrowed_to_the_callers_scope(
    caller: Principal, owner_id: str | None, team: str | None, query: dict[str, str]
) -> None:
    assert visible(caller, READ_RECEIVABLES, owner_id=owner_id, team=team) == query


@pytest.mark.parametrize(
    ("caller", "owner_id", "team"),
    [
        (who(Role.SALES_REP), "u2", None),
        (who(Role.SALES_REP), None, "south"),
        (who(Role.SALES_MANAGER, "m1"), None, "south"),
        (who(Role.MARKETING, "k1"), None, None),
        (who(Role.SERVICE_AGENT, "a1"), "u1", None),
    ],
)
def test_asking_for_more_than_the_scope_is_forbidden(
    caller: Principal, owner_id: str | None, team: str | None
) -> None:
    with pytest.raises(Forbidden):
        visible(caller, READ_RECEIVABLES, owner_id=owner_id, team=team)


def test_auditors_do_not_see_the_forecast() -> None:
    with pytest.raises(Forbidden, match="not granted to auditor"):
        visible(who(Role.AUDITOR, "x1", None), READ_FORECAST, owner_id=None, team=None)
