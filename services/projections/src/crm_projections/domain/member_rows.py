"""A row per loyalty member: what the store ranking and the points leaders read.

Every event of a member's stream folds into the member's row (keyed by the
customer id the stream belongs to), so the row's stream position never skips
one; store events are not part of it. Every member event carries the home store
after it, every points event the balance after it: the row takes them as given.

- ``enrolled_at`` with its week, month and quarter (``enrolled_week``...);
- ``home_store_id`` (the latest) and ``home_stores``: the store from enrolment
  and from each move (``since``), so a period's store counts use the store the
  member belonged to at the period's end, and a later move leaves them alone;
- ``order_count`` (distinct orders paid so far) and ``second_order_at``: when
  the first earn with two orders or more was paid (a repeat purchaser from then);
- ``earned_by_period``: points earned (purchases and bonuses, by when earned or
  awarded) per ``<granularity>:<period>``, and ``earned_periods``, the periods
  with any, for an index; ``points_earned`` in all; ``balance`` after the last
  points event. A refund's reversal lowers the balance, not the points earned.
"""

from __future__ import annotations

from datetime import datetime

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import loyalty as lo
from crm_projections.domain.periods import periods_of
from crm_projections.domain.streams import (
    Document,
    ReadModel,
    StreamKind,
    Target,
    stamped,
    stream_kind,
    utc,
)


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    if stream_kind(event) is not StreamKind.MEMBER:
        return None
    customer_id = getattr(event, "customer_id", None)
    return Target(customer_id) if isinstance(customer_id, str) else None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    if stream_kind(event) is not StreamKind.MEMBER:
        raise ValueError(f"{metadata.type} does not belong to the members rows")
    row = stamped(document, metadata)
    home_store = getattr(event, "home_store_id", None)
    if isinstance(home_store, str):
        row["home_store_id"] = home_store
    balance = getattr(event, "balance", None)
    if isinstance(balance, int):
        row["balance"] = balance
    match event:
        case lo.MemberEnrolled():
            at = utc(event.enrolled_at)
            row |= {
                "tier": event.tier,
                "enrolled_at": at,
                **{f"enrolled_{g}": period for g, period in periods_of(at).items()},
                "home_stores": [{"store_id": event.home_store_id, "since": at}],
            }
        case lo.HomeStoreChanged():
            row["home_stores"] = [
                *row.get("home_stores", []),
                {"store_id": event.home_store_id, "since": utc(event.changed_at)},
            ]
        case lo.TierUpgraded() | lo.TierDowngraded():
            row["tier"] = event.to_tier
        case lo.PointsEarned():
            row["order_count"] = max(int(row.get("order_count", 0)), event.order_count)
            if event.order_count >= 2 and row.get("second_order_at") is None:
                row["second_order_at"] = utc(event.earned_at)
            row |= _earned(row, event.points, event.earned_at)
        case lo.BonusAwarded():
            row |= _earned(row, event.points, event.awarded_at)
    return row


def _earned(row: Document, points: int, moment: datetime) -> Document:
    if points <= 0:
        return {}
    by_period = dict(row.get("earned_by_period", {}))
    for granularity, period in periods_of(utc(moment)).items():
        key = f"{granularity}:{period}"
        by_period[key] = int(by_period.get(key, 0)) + points
    return {
        "points_earned": int(row.get("points_earned", 0)) + points,
        "earned_by_period": by_period,
        "earned_periods": sorted(by_period),
    }


def home_store_at(row: Document, moment: datetime) -> str | None:
    """The member's home store just before ``moment``: the store taken last before it (by
    time, then stream order), the enrolment store if none was, else the latest."""
    store: str | None = row.get("home_store_id")
    stores = row.get("home_stores") or []
    before = [
        (utc(entry["since"]), number, entry["store_id"])
        for number, entry in enumerate(stores)
        if utc(entry["since"]) < utc(moment)
    ]
    if before:
        store = max(before)[2]
    elif stores:
        store = stores[0]["store_id"]
    return store


def empty(customer_id: str) -> Document:
    return {
        "_id": customer_id,
        "customer_id": customer_id,
        "streams": {},
        "revision": 0,
        "order_count": 0,
        "second_order_at": None,
        "points_earned": 0,
        "earned_by_period": {},
        "earned_periods": [],
        "balance": 0,
    }


MODEL = ReadModel(name="members", target=target, project=project, empty=empty)
