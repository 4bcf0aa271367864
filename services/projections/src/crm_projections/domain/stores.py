"""The stores of the loyalty programme, and what the chain compares them by.

A document per store (its name and city, from ``StoreOpened``). The member
counts are not kept here: a member's home store lives in the member's own
customer 360 document (``loyalty.home_store_id``), which its own stream keeps
exactly once, moves included. ``StoreCounts`` are read from those documents by
indexed counts: members, members enrolled in a period, and repeat purchasers
(two or more distinct orders paid since enrolment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import loyalty as lo
from crm_projections.domain.forecast import PERIOD
from crm_projections.domain.streams import Document, ReadModel, Target, stamped, utc

RATE = Decimal("0.0001")


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    return Target(event.store_id) if isinstance(event, lo.StoreOpened) else None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    if not isinstance(event, lo.StoreOpened):
        raise ValueError(f"{metadata.type} does not belong to the stores")
    return stamped(document, metadata) | {
        "name": event.name,
        "city": event.city,
        "opened_at": utc(event.opened_at),
    }


def empty(store_id: str) -> Document:
    return {"_id": store_id, "store_id": store_id, "streams": {}, "revision": 0}


MODEL = ReadModel(name="stores", target=target, project=project, empty=empty)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a period written YYYY, YYYY-MM or YYYY-Qn."""
    found = PERIOD.fullmatch(period)
    if found is None:
        raise ValueError(f"{period!r} is no period: use YYYY, YYYY-MM or YYYY-Qn")
    year = int(found["year"])
    if found["month"]:
        first, months = int(found["month"]), 1
    elif found["quarter"]:
        first, months = 3 * int(found["quarter"]) - 2, 3
    else:
        first, months = 1, 12
    last = first + months
    start = datetime(year, first, 1, tzinfo=UTC)
    end = datetime(year + (last - 1) // 12, (last - 1) % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass(frozen=True)
class StoreCounts:
    members: int
    new_members: int
    repeat_purchasers: int

    @property
    def repeat_purchase_rate(self) -> str:
        """Repeat purchasers per member, four places (``"0.3800"``); 0 without members."""
        if self.members == 0:
            return "0.0000"
        rate = Decimal(self.repeat_purchasers) / Decimal(self.members)
        return str(rate.quantize(RATE, rounding=ROUND_HALF_EVEN))


def store_view(document: Document, counts: StoreCounts, period: str) -> dict[str, Any]:
    return {
        "store_id": document["store_id"],
        "name": document.get("name"),
        "city": document.get("city"),
        "opened_at": document.get("opened_at"),
        "period": period,
        "members": counts.members,
        "new_members": counts.new_members,
        "repeat_purchasers": counts.repeat_purchasers,
        "repeat_purchase_rate": counts.repeat_purchase_rate,
    }
