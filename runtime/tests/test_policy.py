"""Who may do what to which customer, and what personal data they see."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_runtime.auth import Principal
from crm_runtime.policy import (
    NOBODY,
    Forbidden,
    Ownership,
    Policy,
    Role,
    Scope,
    mask_email,
    mask_phone,
    masked,
)

READ = "read_customer"
ERASE = "erase_customer"

POLICY = Policy(
    service="contacts",
    grants={
        READ: {
            Role.SALES_REP: Scope.OWN,
            Role.SALES_MANAGER: Scope.TEAM,
            Role.SERVICE_AGENT: Scope.ASSIGNED,
            Role.ADMIN: Scope.ANY,
        },
        ERASE: {Role.ADMIN: Scope.ANY},
    },
    unmasked={READ: frozenset({Role.ADMIN, Role.SERVICE_AGENT})},
)


def caller(*roles: str, subject: str = "u1", team: str | None = "north") -> Principal:
    return Principal(subject=subject, roles=frozenset(roles), team=team)


MINE = Ownership(owner_id="u1", team="north")
TEAMMATES = Ownership(owner_id="u2", team="north")
OTHERS = Ownership(owner_id="u3", team="south")
MINE_IN_ANOTHER_TEAM = Ownership(owner_id="u1", team="south")
UNOWNED_NO_TEAM = Ownership(owner_id=None, team=None)
OTHERS_NO_TEAM = Ownership(owner_id="u2", team=None)
ASSIGNED_TO_ME = Ownership(owner_id="u3", team="south", assignees=frozenset({"u1", "u9"}))
ASSIGNED_TO_OTHERS = Ownership(owner_id="u3", team="south", assignees=frozenset({"u9"}))


@pytest.mark.parametrize(
    ("principal", "resource", "allowed"),
    [
        # OWN: the caller owns the customer, nothing else
        (caller(Role.SALES_REP), MINE, True),
        (caller(Role.SALES_REP), MINE_IN_ANOTHER_TEAM, True),
        (caller(Role.SALES_REP), TEAMMATES, False),
        (caller(Role.SALES_REP), OTHERS, False),
        (caller(Role.SALES_REP), UNOWNED_NO_TEAM, False),
        (caller(Role.SALES_REP), NOBODY, False),
        (caller(Role.SALES_REP), ASSIGNED_TO_ME, False),
        # TEAM: the caller's own customers and their team's
        (caller(Role.SALES_MANAGER), MINE, True),
        (caller(Role.SALES_MANAGER), TEAMMATES, True),
        (caller(Role.SALES_MANAGER), MINE_IN_ANOTHER_TEAM, True),
        (caller(Role.SALES_MANAGER), OTHERS, False),
        (caller(Role.SALES_MANAGER), OTHERS_NO_TEAM, False),
        (caller(Role.SALES_MANAGER), NOBODY, False),
        (caller(Role.SALES_MANAGER, team=None), UNOWNED_NO_TEAM, False),
        (caller(Role.SALES_MANAGER, team=None), OTHERS_NO_TEAM, False),
        (caller(Role.SALES_MANAGER, team=None), TEAMMATES, False),
        (caller(Role.SALES_MANAGER, team=None), MINE, True),
        # ASSIGNED: work on the customer is assigned to the caller
        (caller(Role.SERVICE_AGENT), ASSIGNED_TO_ME, True),
        (caller(Role.SERVICE_AGENT), ASSIGNED_TO_OTHERS, False),
        (caller(Role.SERVICE_AGENT), TEAMMATES, False),
        (caller(Role.SERVICE_AGENT), NOBODY, False),
        (caller(Role.SERVICE_AGENT, subject="u9", team=None), ASSIGNED_TO_OTHERS, True),
        # ANY
        (caller(Role.ADMIN), OTHERS, True),
        (caller(Role.ADMIN), NOBODY, True),
        (caller(Role.ADMIN, team=None), UNOWNED_NO_TEAM, True),
        # roles without a grant
        (caller(Role.MARKETING), MINE, False),
        (caller(), MINE, False),
        (caller(Role.SERVICE), NOBODY, False),
    ],
)
def test_a_grant_covers_the_customers_of_its_scope(
    principal: Principal, resource: Ownership, allowed: bool
) -> None:
    assert POLICY.allows(principal, READ, resource) is allowed


@pytest.mark.parametrize(
    ("roles", "resource", "widest"),
    [
        ((Role.SALES_REP, Role.SALES_MANAGER), TEAMMATES, Scope.TEAM),
        ((Role.SALES_REP, Role.SERVICE_AGENT), ASSIGNED_TO_ME, Scope.ASSIGNED),
        ((Role.SALES_REP, Role.SALES_MANAGER, Role.ADMIN), OTHERS, Scope.ANY),
        ((Role.SALES_REP, Role.MARKETING), MINE, Scope.OWN),
    ],
)
def test_the_widest_of_several_roles_wins(
    roles: tuple[str, ...], resource: Ownership, widest: Scope
) -> None:
    principal = caller(*roles)

    assert POLICY.scope_of(principal, READ) is widest
    assert POLICY.allows(principal, READ, resource)
    POLICY.authorise(principal, READ, resource)


def test_no_granted_role_has_no_scope() -> None:
    assert POLICY.scope_of(caller(Role.MARKETING), READ) is None
    assert POLICY.scope_of(caller(Role.SALES_REP), ERASE) is None


def test_an_action_the_policy_does_not_know_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="contacts policy has no action 'delete_everything'"):
        POLICY.allows(caller(Role.ADMIN), "delete_everything")
    with pytest.raises(KeyError):
        POLICY.authorise(caller(Role.ADMIN), "delete_everything")


def test_a_refusal_names_the_actor_the_action_and_the_roles() -> None:
    principal = caller(Role.SALES_REP, Role.MARKETING)

    with pytest.raises(Forbidden) as refused:
        POLICY.authorise(principal, READ, OTHERS)

    assert str(refused.value).startswith(f"user:u1 may not {READ}: ")
    assert "marketing, sales_rep" in str(refused.value)
    assert (refused.value.principal, refused.value.action) == (principal, READ)


def test_a_refused_service_without_roles_is_named_as_such() -> None:
    with pytest.raises(Forbidden, match=f"service:sagas may not {ERASE}: not granted to service"):
        POLICY.authorise(caller(Role.SERVICE, subject="sagas"), ERASE)
    with pytest.raises(Forbidden, match="not granted to no role"):
        POLICY.authorise(caller(), ERASE)


@pytest.mark.parametrize(
    ("roles", "action", "revealed"),
    [
        ((Role.ADMIN,), READ, True),
        ((Role.SALES_REP, Role.SERVICE_AGENT), READ, True),
        ((Role.SALES_REP,), READ, False),
        ((), READ, False),
        ((Role.ADMIN,), ERASE, False),
        ((Role.ADMIN,), "not_in_the_policy", False),
    ],
)
def test_personal_data_is_revealed_only_to_the_listed_roles(
    roles: tuple[str, ...], action: str, revealed: bool
) -> None:
    assert POLICY.reveals(caller(*roles), action) is revealed


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        (None, None),
        ("+4930901820", "******1820"),
        ("+49 (30) 901-820", "******1820"),
        ("12345", "*2345"),
        ("1234", "1234"),
        ("12", "12"),
        ("", ""),
        ("call me", ""),
    ],
)
def test_a_phone_shows_only_its_last_four_digits(phone: str | None, shown: str | None) -> None:
    assert mask_phone(phone) == shown


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        (None, None),
        ("alice@example.com", "a***@example.com"),
        ("a@example.com", "a***@example.com"),
        ("@example.com", "***@example.com"),
        ('"a@b"@example.com', '"***@example.com'),
        ("not-an-address", "***"),
        ("", "***"),
    ],
)
def test_an_email_shows_its_first_character_and_domain(
    email: str | None, shown: str | None
) -> None:
    assert mask_email(email) == shown


def test_masking_a_view_touches_only_the_personal_fields() -> None:
    view: dict[str, object] = {
        "id": "c1",
        "name": "Ada Lovelace",
        "phone": "+4930901820",
        "email": "ada@example.com",
        "tags": ["vip"],
        "version": 3,
    }

    shown = masked(view)

    assert shown == view | {"phone": "******1820", "email": "a***@example.com"}
    assert view["phone"] == "+4930901820"  # the original stays as it was


def test_masking_follows_the_given_field_names() -> None:
    view: dict[str, object] = {"mobile": "017612345678", "phone": "+4930901820", "email": None}

    shown = masked(view, {"mobile": "phone"})

    assert shown == {"mobile": "********5678", "phone": "+4930901820", "email": None}


@given(st.text())
def test_a_masked_phone_never_shows_more_than_the_last_four_digits(phone: str) -> None:
    digits = [ch for ch in phone if ch.isdigit()]

    shown = mask_phone(phone)

    assert shown is not None
    assert [ch for ch in shown if ch != "*"] == digits[-4:]
    assert len(shown) == len(digits)


@given(st.one_of(st.emails(), st.text()))
def test_a_masked_email_never_shows_the_local_part_past_its_first_character(email: str) -> None:
    local, at, domain = email.rpartition("@")

    shown = mask_email(email)

    assert shown is not None
    if not at:
        assert shown == "***"
        return
    assert shown.endswith(f"@{domain}")
    head = shown[: -len(f"@{domain}")]
    assert head == f"{local[:1]}***"  # nothing of the local part past its first character
