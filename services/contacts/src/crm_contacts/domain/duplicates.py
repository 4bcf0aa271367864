"""When two customers are probably the same one: the duplicate rules, pure.

Same e-mail (case ignored), same phone (E.164), or a similar name: two people of the
same company, or two companies, whose names are alike by difflib's ratio on their sorted,
accent-free, lower-case words (``values.name_similarity``) of at least 0.85.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_contacts.domain import values
from crm_contracts.contacts import CustomerKind

SIMILAR_NAMES = 0.85
SAME_EMAIL = "same_email"
SAME_PHONE = "same_phone"
SIMILAR_NAME_SAME_COMPANY = "similar_name_same_company"
SIMILAR_COMPANY_NAME = "similar_company_name"


@dataclass(frozen=True)
class Identity:
    """What identifies a customer, as the duplicate rules compare it."""

    kind: CustomerKind
    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None


@dataclass(frozen=True)
class Likeness:
    reasons: tuple[str, ...]
    name_similarity: float


def likeness(one: Identity, other: Identity) -> Likeness:
    """Why ``other`` may be a duplicate of ``one`` (no reasons: it is not)."""
    reasons = []
    if one.email and other.email and one.email.casefold() == other.email.casefold():
        reasons.append(SAME_EMAIL)
    if one.phone and other.phone and one.phone == other.phone:
        reasons.append(SAME_PHONE)
    similarity = round(values.name_similarity(one.name, other.name), 3)
    if similarity >= SIMILAR_NAMES and one.kind is other.kind:
        if one.kind is CustomerKind.COMPANY:
            reasons.append(SIMILAR_COMPANY_NAME)
        elif one.company and values.name_key(one.company) == values.name_key(other.company):
            reasons.append(SIMILAR_NAME_SAME_COMPANY)
    return Likeness(tuple(reasons), similarity)
