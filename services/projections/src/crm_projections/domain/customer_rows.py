"""A row per customer: its lifecycle and purchases over time, what the KPI boards read.

Every event of a customer's contacts stream folds into the row ``<customer id>``
(those it does not use only move the stream's position, so it stays gap-free).
The row keeps:

- ``registered_at`` (the registration's event time) and its periods;
- ``lifecycle_stage`` and ``stages``: every stage with the moment it was entered
  ``[at, stage]`` (the registration's prospect first; moves at their event time);
- ``customer_at``, ``repeat_customer_at``, ``at_risk_at``, ``churned_at``: the last
  moment it became each (``churned_week/month/quarter`` for the last churn);
- ``purchases``: ``{order_id: at}`` from ``CustomerPurchaseRecorded`` (when the order
  was placed), and the orders a merged duplicate brought (``CustomersMerged``), at the
  merge's time; ``purchase_count``, ``first_purchase_at``, ``repeat_purchase_at``
  (the second purchase);
- ``merged_into`` / ``merged_at``: a duplicate merged into another customer lives on
  as the survivor and counts nowhere from then on;
- ``last_interaction_at`` / ``last_interaction_id``: the newest interaction logged;
- ``periods``: the board keys of every dated fact (multikey index), and ``touched``:
  those where the latest event changed what the boards count (``touched``), the boards
  to refresh.

``active_spells`` and ``purchase_spells`` say over which times the customer was
active (customer, repeat customer or at risk) or had bought at least n times:
the KPI boards count their starts and ends per period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import contacts as c
from crm_projections.domain.order_rows import period_keys
from crm_projections.domain.periods import periods_of, utc
from crm_projections.domain.streams import (
    Document,
    ReadModel,
    StreamKind,
    Target,
    named,
    recounted,
    stamped,
    stream_kind,
    tally,
)

Stage = c.LifecycleStage
ACTIVE = frozenset({Stage.CUSTOMER.value, Stage.REPEAT_CUSTOMER.value, Stage.AT_RISK.value})
"""The stages of a customer the churn rate counts as not yet lost."""
TRACKED = (Stage.CUSTOMER, Stage.REPEAT_CUSTOMER, Stage.AT_RISK, Stage.CHURNED)

COUNTED = (
    c.CustomerRegistered,
    c.CustomerLifecycleStageChanged,
    c.CustomerPurchaseRecorded,
    c.CustomersMerged,
    c.CustomerMergedInto,
)
"""The events that may change a row's facts or flow points (``facts``, ``flow_points``):
the others leave its periods as they were and touch no board."""

Spell = tuple[datetime, datetime | None]
"""[start, end) of a state; end None: still in it."""


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    """Every event of a customer's contacts stream names the customer."""
    if stream_kind(event) is StreamKind.CUSTOMER:
        return Target(named(event, "customer_id"))
    return None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    at = utc(metadata.time)
    row = stamped(document, metadata)
    match event:
        case c.CustomerRegistered():
            row |= {
                "registered_at": at,
                **{f"registered_{g}": x for g, x in periods_of(at).items()},
                **_entered(row, at, Stage.PROSPECT.value),
            }
        case c.CustomerLifecycleStageChanged():
            row |= _entered(row, at, event.to_stage.value)
        case c.CustomerPurchaseRecorded():
            row |= _bought(row, {event.order_id: utc(event.at)})
        case c.CustomersMerged():
            row |= _bought(row, dict.fromkeys(event.order_ids, at))
        case c.CustomerMergedInto():
            row |= {"merged_into": event.survivor_id, "merged_at": row.get("merged_at") or at}
        case c.CustomerErased():
            row |= {"erased_at": at}
        case c.InteractionLogged():
            newest = (
                (utc(row["last_interaction_at"]), row["last_interaction_id"])
                if row.get("last_interaction_at")
                else None
            )
            if newest is None or (utc(event.at), event.interaction_id) > newest:
                row |= {
                    "last_interaction_at": utc(event.at),
                    "last_interaction_id": event.interaction_id,
                }
    if isinstance(event, COUNTED) or "periods" not in document:
        row["periods"] = periods(row)
        row["touched"] = touched(document, row)
    else:  # no fact and no flow point changed: the same periods, no board touched
        row["touched"] = []
    return row


def _entered(row: Document, at: datetime, stage: str) -> Document:
    changes: Document = {"lifecycle_stage": stage, "stages": [*row.get("stages", []), [at, stage]]}
    if stage in {s.value for s in TRACKED}:
        changes[f"{stage}_at"] = at
    if stage == Stage.CHURNED.value:
        changes |= {f"churned_{g}": x for g, x in periods_of(at).items()}
    return changes


def _bought(row: Document, orders: dict[str, datetime]) -> Document:
    """The purchases with these orders (an order already known keeps its time)."""
    purchases = {**orders, **row.get("purchases", {})}
    moments = sorted(utc(m) for m in purchases.values())
    return {
        "purchases": purchases,
        "purchase_count": len(purchases),
        "first_purchase_at": moments[0] if moments else None,
        "repeat_purchase_at": moments[1] if len(moments) > 1 else None,
    }


def facts(row: Document) -> list[datetime]:
    """Every moment the row's boards count something at."""
    moments: list[Any] = [
        row.get("registered_at"),
        row.get("merged_at"),
        *(entry[0] for entry in row.get("stages", [])),
        *row.get("purchases", {}).values(),
    ]
    return [utc(m) for m in moments if m is not None]


def periods(row: Document) -> list[str]:
    return period_keys(facts(row))


def flow_points(row: Document) -> dict[tuple[str, datetime], int]:
    """Every (what, when) the KPI boards count of the row, with how many times: registration,
    stages entered, and the starts and ends of being active, a purchaser, a repeat
    purchaser."""
    points: list[tuple[str, datetime]] = []
    if row.get("registered_at") is not None:
        points.append(("registered", utc(row["registered_at"])))
    points.extend((stage, at) for at, stage in stage_history(row))
    for name, spells in (
        ("active", active_spells(row)),
        ("purchasers", purchase_spells(row, 1)),
        ("repeat_purchasers", purchase_spells(row, 2)),
    ):
        for start, end in spells:
            points.append((f"{name}+", start))
            if end is not None:
                points.append((f"{name}-", end))
    return tally(points)


def touched(before: Document, after: Document) -> list[str]:
    """The board keys whose summary or selection the event may have changed: the periods of
    what it added to or took from the counted points (a purchase placed earlier than one
    recorded before it moves when the customer became a repeat purchaser), and of the
    facts it added (the row now counts in their periods' boards)."""
    changed = [moment for _, moment in recounted(flow_points(before), flow_points(after))]
    return period_keys([*changed, *recounted(tally(facts(before)), tally(facts(after)))])


def stage_history(row: Document) -> list[tuple[datetime, str]]:
    """The stages entered, in time order (the stream's order among equal times)."""
    entries = [(utc(at), index, stage) for index, (at, stage) in enumerate(row.get("stages", []))]
    return [(at, stage) for at, _, stage in sorted(entries)]


def _until_merged(row: Document, spells: list[Spell]) -> list[Spell]:
    """Spells cut at the merge into another customer (those starting later dropped)."""
    merged = row.get("merged_at")
    if merged is None:
        return spells
    end_of_all = utc(merged)
    cut: list[Spell] = []
    for start, end in spells:
        if start >= end_of_all:
            continue
        cut.append((start, end_of_all if end is None or end > end_of_all else end))
    return cut


def active_spells(row: Document) -> list[Spell]:
    """When the customer was active: in a stage of ``ACTIVE``, until merged away."""
    spells: list[Spell] = []
    start: datetime | None = None
    for at, stage in stage_history(row):
        if stage in ACTIVE and start is None:
            start = at
        elif stage not in ACTIVE and start is not None:
            spells.append((start, at))
            start = None
    if start is not None:
        spells.append((start, None))
    return _until_merged(row, spells)


def purchase_spells(row: Document, count: int) -> list[Spell]:
    """When the customer had bought at least ``count`` times (none, or one spell)."""
    moments = sorted(utc(m) for m in row.get("purchases", {}).values())
    if len(moments) < count:
        return []
    return _until_merged(row, [(moments[count - 1], None)])


def active_just_before(row: Document, moment: datetime) -> bool:
    """Whether the customer was active just before ``moment`` (a move made at ``moment``
    itself counts in the period that starts then, not before it)."""
    return any(
        start < moment and (end is None or end >= moment) for start, end in active_spells(row)
    )


def empty(document_id: str) -> Document:
    return {"_id": document_id, "customer_id": document_id, "streams": {}, "revision": 0}


MODEL = ReadModel(
    name="customer_rows", target=target, project=project, empty=empty, routes_field="customer_id"
)
