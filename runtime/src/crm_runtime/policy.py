"""Who may do what: one declarative table per service, and the masking of personal data.

A service declares, per action, which roles may perform it and on which
customers (their own, their team's, those assigned to them, or any), and
which roles may see personal data unmasked. ``Policy.authorise`` answers
with the decision; entry points turn a refusal into 403 and log it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from crm_runtime.auth import Principal


class Role:
    """The roles tokens carry (names of the ``roles`` claim)."""

    SALES_REP = "sales_rep"
    SALES_MANAGER = "sales_manager"
    SERVICE_AGENT = "service_agent"
    MARKETING = "marketing"
    STORE_MANAGER = "store_manager"
    ADMIN = "admin"
    AUDITOR = "auditor"
    SERVICE = "service"  # another CRM service acting on its own (sagas, projections)

    ALL = frozenset(
        {
            SALES_REP,
            SALES_MANAGER,
            SERVICE_AGENT,
            MARKETING,
            STORE_MANAGER,
            ADMIN,
            AUDITOR,
            SERVICE,
        }
    )


class Scope(Enum):
    """Which customers a grant covers, narrowest first."""

    OWN = "own"  # the caller owns the customer
    TEAM = "team"  # the customer's owner is in the caller's team
    ASSIGNED = "assigned"  # the customer has work assigned to the caller (e.g. tickets)
    ANY = "any"


@dataclass(frozen=True)
class Ownership:
    """Who a customer belongs to, as far as authorisation cares."""

    owner_id: str | None = None
    team: str | None = None
    assignees: frozenset[str] = frozenset()


NOBODY = Ownership()


class Forbidden(Exception):
    """The caller is authenticated but may not do this."""

    def __init__(self, principal: Principal, action: str, why: str) -> None:
        super().__init__(f"{principal.actor} may not {action}: {why}")
        self.principal = principal
        self.action = action


@dataclass(frozen=True)
class Policy:
    """``grants[action][role] = scope``; ``unmasked[action]`` = roles that see personal data."""

    service: str
    grants: Mapping[str, Mapping[str, Scope]]
    unmasked: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def scope_of(self, principal: Principal, action: str) -> Scope | None:
        """The widest scope any of the caller's roles has for ``action``."""
        granted = self.grants.get(action, {})
        scopes = [granted[role] for role in principal.roles if role in granted]
        return max(scopes, key=_WIDTH.__getitem__) if scopes else None

    def allows(self, principal: Principal, action: str, resource: Ownership = NOBODY) -> bool:
        if action not in self.grants:
            raise KeyError(f"{self.service} policy has no action {action!r}")
        granted = self.grants[action]
        return any(
            _covers(granted[role], principal, resource)
            for role in principal.roles
            if role in granted
        )

    def authorise(self, principal: Principal, action: str, resource: Ownership = NOBODY) -> None:
        if not self.allows(principal, action, resource):
            roles = ", ".join(sorted(principal.roles)) or "no role"
            raise Forbidden(principal, action, f"not granted to {roles} for this customer")

    def reveals(self, principal: Principal, action: str) -> bool:
        """True when the caller may see personal data unmasked in what ``action`` answers."""
        return bool(self.unmasked.get(action, frozenset()) & principal.roles)


_WIDTH = {Scope.OWN: 0, Scope.ASSIGNED: 1, Scope.TEAM: 2, Scope.ANY: 3}


def _covers(scope: Scope, principal: Principal, resource: Ownership) -> bool:
    match scope:
        case Scope.ANY:
            return True
        case Scope.OWN:
            return resource.owner_id is not None and resource.owner_id == principal.subject
        case Scope.TEAM:
            return (resource.owner_id is not None and resource.owner_id == principal.subject) or (
                resource.team is not None and resource.team == principal.team
            )
        case Scope.ASSIGNED:
            return principal.subject in resource.assignees
    return False  # pragma: no cover - exhaustive


# --- masking ---------------------------------------------------------------------------------


def mask_phone(phone: str | None) -> str | None:
    """Only the last four digits stay visible: ``+4930901820`` -> ``******1820``."""
    if phone is None:
        return None
    digits = [ch for ch in phone if ch.isdigit()]
    return "*" * max(len(digits) - 4, 0) + "".join(digits[-4:])


def mask_email(email: str | None) -> str | None:
    """The first character of the local part and the domain stay: ``a***@example.com``."""
    if email is None:
        return None
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


MASKS = {"phone": mask_phone, "email": mask_email}


def masked(
    view: Mapping[str, object], fields: Mapping[str, str] | None = None
) -> dict[str, object]:
    """A copy of ``view`` with its personal fields masked (``fields``: view key -> mask name)."""
    names = fields or {name: name for name in MASKS}
    copy = dict(view)
    for key, mask in names.items():
        if key not in copy:
            continue
        value = copy[key]
        copy[key] = MASKS[mask](value) if value is None or isinstance(value, str) else "***"
    return copy
