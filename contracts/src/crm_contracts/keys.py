"""Whose data key seals the personal fields of a context's events.

By default the stream's subject (a customer's own stream, a lead's); a context whose
events are about another subject's person says so with ``PERSONAL_KEY_FIELD`` (tickets:
the ``customer_id`` every ticket event names), so that subject's erasure reaches them.
Anyone opening or replaying events reads it here rather than knowing each context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_contracts import contacts, loyalty, pipeline, tickets

KEY_FIELDS: dict[str, str | None] = {
    module.SOURCE: getattr(module, "PERSONAL_KEY_FIELD", None)
    for module in (contacts, pipeline, tickets, loyalty)
}


def personal_key_field(source: str) -> str | None:
    """The payload field naming whose key seals events of ``source`` (None: the subject)."""
    return KEY_FIELDS.get(source.rstrip("/"))


def key_owner(source: str, subject: str, data: Mapping[str, Any]) -> str:
    """Whose key seals this event's personal fields."""
    field = personal_key_field(source)
    named = data.get(field) if field else None
    return str(named) if named else subject
