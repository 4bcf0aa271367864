"""Duplicate candidates of a customer, found through the directory and judged by the rules."""

from __future__ import annotations

from typing import Any

from crm_contacts.application import handlers
from crm_contacts.application.directory import Entry, entry
from crm_contacts.application.handlers import Dependencies
from crm_contacts.domain.duplicates import Identity, likeness
from crm_contracts.contacts import CustomerKind


def identity(of: Entry) -> Identity:
    return Identity(
        kind=CustomerKind(of["kind"]),
        name=str(of["name"]),
        email=of.get("email"),
        phone=of.get("phone"),
        company=of.get("company"),
    )


async def duplicates_of(deps: Dependencies, customer_id: str) -> list[dict[str, Any]]:
    """Likely duplicates of the customer, most alike first, each with its directory entry."""
    state = await handlers.load_customer(deps, customer_id)
    own = entry(state)
    if own is None:  # pragma: no cover - a registered customer always has an entry
        raise TypeError(f"no directory entry for {customer_id}")
    found = []
    for other in await deps.directory.lookalikes(own):
        judged = likeness(identity(own), identity(other))
        if judged.reasons:
            found.append(
                {"entry": other, "reasons": list(judged.reasons), "score": judged.name_similarity}
            )
    found.sort(key=lambda c: (-len(c["reasons"]), -c["score"], c["entry"]["_id"]))
    return found
