"""The interaction timeline of a customer, newest first, from its stream and those of the
duplicates merged into it (the survivor keeps both histories)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_contacts.application import handlers
from crm_contacts.application.handlers import Dependencies
from crm_contacts.domain import customer
from crm_contracts.contacts import InteractionLogged

MAX_STREAMS = 100


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_key: tuple[str, str] | None


async def interactions(
    deps: Dependencies, customer_id: str, *, limit: int, before: tuple[str, str] | None = None
) -> Page:
    """Up to ``limit`` interactions older than the sort key ``before`` (time, id), newest first.

    The timeline is read from the streams themselves: its summaries are sealed personal
    data, revealed on the way out, so no plaintext copy is kept anywhere to erase later.
    """
    await handlers.load_customer(deps, customer_id)  # not found, erased or merged: refused
    found: list[dict[str, Any]] = []
    streams, seen = [customer_id], set()
    while streams and len(seen) < MAX_STREAMS:  # the duplicates merged into it, at any depth
        stream_id = streams.pop(0)
        if stream_id in seen:
            continue
        seen.add(stream_id)
        events = await handlers.load_events(deps, stream_id)
        state = customer.fold(events)
        if isinstance(state, customer.Merged):
            state = state.profile
        if isinstance(state, customer.Registered):
            streams.extend(state.merged_ids)
        for event in events:
            if isinstance(event, InteractionLogged):
                found.append(
                    {
                        "id": event.interaction_id,
                        "customer_id": stream_id,
                        "kind": event.kind.value,
                        "at": event.at.isoformat(),
                        "summary": event.summary,
                        "notes": event.notes,
                        "logged_by": event.logged_by,
                        "_key": (event.at.isoformat(), event.interaction_id),
                    }
                )
    found.sort(key=lambda item: item["_key"], reverse=True)
    if before is not None:
        found = [item for item in found if item["_key"] < before]
    page, more = found[:limit], len(found) > limit
    next_key = page[-1]["_key"] if more and page else None
    for item in page:
        del item["_key"]
    return Page(page, next_key)
