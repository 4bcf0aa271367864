"""Rebuild read models from the event stores: drop, then fold every event in order.

Sources are folded one store after the other, each in position order, so every
stream's events arrive in sequence (which stream routes rely on: a stream's
first event, which names its document, comes before the ones that do not).
Streams of different stores may fold in any order relative to each other: the
read models accept that (a customer's pipeline streams may come before its
registration).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crm_contracts import REGISTRY
from crm_projections.application.projector import Applied, Customer360Projector, Projector
from crm_runtime.eventstore import EventStore
from crm_runtime.personal_data import SealedEvents


@dataclass(frozen=True)
class Source:
    """One context's event store, and how to open its sealed personal fields.

    ``sealed`` opens personal fields sealed at rest (erased subjects' fields come out
    as placeholders, so a rebuild never brings erased data back).
    """

    store: EventStore
    sealed: SealedEvents | None = None


async def rebuild(
    projectors: Sequence[Projector],
    sources: Sequence[Source],
    *,
    on_progress: Callable[[int, int], Any] = lambda done, total: None,
) -> dict[str, int]:
    """Drop the read models and fold the full history of every source into them.

    Answers the events read and, per read model, the events applied.
    """
    for projector in projectors:
        await projector.drop()
        await projector.create_indexes()
        await projector.begin_rebuild()
    totals = {"events": 0, **{projector.name: 0 for projector in projectors}}
    head = sum([await source.store.head_position() for source in sources])
    done = 0
    for source in sources:
        async for commit in source.store.read_all():
            for sealed_event in commit.events:
                stored = await source.sealed.reveal(sealed_event) if source.sealed else sealed_event
                event = REGISTRY.parse(
                    stored.metadata.type, stored.metadata.schema_version, stored.data
                )
                for projector in projectors:
                    outcome = await projector.apply(stored.metadata, event)
                    totals[projector.name] += outcome is Applied.APPLIED
                totals["events"] += 1
            done += 1
            on_progress(done, head)
    for projector in projectors:
        await projector.end_rebuild()
    return totals


async def rebuild_customer360(
    projector: Customer360Projector,
    sources: list[EventStore],
    *,
    on_progress: Callable[[int, int], Any] = lambda done, total: None,
    sealed: SealedEvents | None = None,
) -> dict[str, int]:
    """The customer 360 alone, every source opened with the same ``sealed``."""
    totals = await rebuild(
        [projector], [Source(store, sealed) for store in sources], on_progress=on_progress
    )
    return {"events": totals["events"], "applied": totals[projector.name]}
