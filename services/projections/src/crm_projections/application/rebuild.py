"""Rebuild the read models from the event stores: drop, then fold every event in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_contracts import REGISTRY
from crm_projections.application.projector import Applied, Customer360Projector
from crm_runtime.eventstore import EventStore
from crm_runtime.personal_data import SealedEvents


async def rebuild_customer360(
    projector: Customer360Projector,
    sources: list[EventStore],
    *,
    on_progress: Callable[[int, int], Any] = lambda done, total: None,
    sealed: SealedEvents | None = None,
) -> dict[str, int]:
    """Drop the customer 360 and fold the full history of every source into it.

    ``sealed`` opens personal fields sealed at rest (erased customers' fields come out
    as placeholders, so a rebuild never brings erased data back).
    """
    await projector.drop()
    totals = {"events": 0, "applied": 0}
    head = sum([await source.head_position() for source in sources])
    done = 0
    for source in sources:
        async for commit in source.read_all():
            for sealed_event in commit.events:
                stored = await sealed.reveal(sealed_event) if sealed else sealed_event
                event = REGISTRY.parse(
                    stored.metadata.type, stored.metadata.schema_version, stored.data
                )
                outcome = await projector.apply(stored.metadata, event)
                totals["events"] += 1
                totals["applied"] += outcome is Applied.APPLIED
            done += 1
            on_progress(done, head)
    return totals
