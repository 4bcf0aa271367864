"""Folds events into the customer 360 collection, exactly once per stream sequence.

Writes are compare-and-set on the document's ``revision`` (insert when new,
replace guarded by the revision otherwise), so two writers, e.g. a rebuild and
the live consumer, never lose each other's work; a duplicate changes nothing.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from opentelemetry.trace import Tracer

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.domain import customer360
from crm_projections.domain.customer360 import Order
from crm_runtime.documents import is_duplicate_key

COLLECTION = "customer360"


class Applied(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class OutOfOrder(Exception):
    """An event arrived before its predecessor in the same stream."""


class Customer360Projector:
    def __init__(self, database: Any, tracer: Tracer, *, collection: str = COLLECTION) -> None:
        self._documents = database[collection]
        self._tracer = tracer

    @property
    def documents(self) -> Any:
        return self._documents

    async def apply(self, metadata: EventMetadata, event: DomainEvent) -> Applied:
        customer_id = customer360.customer_id_of(event)
        if customer_id is None:
            return Applied.IGNORED
        with self._tracer.start_as_current_span(
            "customer360.upsert",
            attributes={"crm.customer_id": customer_id, "crm.event_id": metadata.id},
        ):
            for _ in range(20):
                document = await self._documents.find_one({"_id": customer_id})
                order = customer360.check_order(document, metadata)
                if order is Order.DUPLICATE:
                    return Applied.DUPLICATE
                if order is Order.GAP:
                    raise OutOfOrder(
                        f"{metadata.type} {metadata.id} has sequence {metadata.sequence} but "
                        f"the customer 360 of {customer_id} has not seen its predecessor"
                    )
                updated = customer360.project(document, metadata, event)
                if await self._write(document, updated):
                    return Applied.APPLIED
            raise RuntimeError(f"customer 360 of {customer_id} kept changing under the projector")

    async def _write(self, before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
        if before is None:
            try:
                await self._documents.insert_one(after)
            except Exception as error:
                if is_duplicate_key(error):
                    return False
                raise
            return True
        result = await self._documents.replace_one(
            {"_id": before["_id"], "revision": before["revision"]}, after
        )
        return bool(result.matched_count)

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        document = await self._documents.find_one({"_id": customer_id})
        return None if document is None else customer360.public_view(document)

    async def drop(self) -> None:
        await self._documents.drop()
