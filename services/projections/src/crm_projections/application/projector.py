"""Folds events into a read model's collection, exactly once per stream sequence.

Writes are compare-and-set on the document's ``revision`` (insert when new,
replace guarded by the revision otherwise), so two writers, e.g. a rebuild and
the live consumer, never lose each other's work; a duplicate changes nothing.

Streams whose later events do not name their document (a quote is sent, a
payment arrives) are routed by ``StreamRoutes``: stream key -> document id,
learnt from the stream's first event that names one and kept in a collection
of its own (``stream_customers`` for the customer 360), so every replica and
every restart routes alike. An event of such a stream that names nobody while
the stream is still unknown is ``OutOfOrder``: retried, then dead-lettered.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from opentelemetry.trace import Tracer

from crm_contracts import DomainEvent, EventMetadata
from crm_projections.domain import customer360, forecast, receivables, stores
from crm_projections.domain.streams import Order, ReadModel, check_order, stream_key
from crm_runtime.documents import is_duplicate_key

COLLECTION = "customer360"
MERGE_HOPS = 5  # merged_into links followed at most (a chain of merges; cycles stop earlier)
MERGED_READ = 200  # documents merged into one survivor read at most


class Applied(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class OutOfOrder(Exception):
    """An event arrived before its predecessor in the same stream."""


class StreamRoutes:
    """Stream key -> the document its events fold into, learnt once per stream."""

    def __init__(self, collection: Any, field: str) -> None:
        self._routes = collection
        self._field = field

    async def resolve(self, key: str, named: str | None) -> str | None:
        """The stream's document: as learnt before, else the one this event names (learnt
        now), else None (the stream has not named one yet)."""
        found = await self._routes.find_one({"_id": key})
        if found is None and named is not None:
            try:
                await self._routes.insert_one({"_id": key, self._field: named})
                return named
            except Exception as error:
                if not is_duplicate_key(error):
                    raise
            found = await self._routes.find_one({"_id": key})  # another writer learnt it first
        return None if found is None else str(found[self._field])

    async def drop(self) -> None:
        await self._routes.drop()


class Projector:
    """One read model in one collection (plus its stream routes, when it needs them)."""

    def __init__(
        self,
        model: ReadModel,
        database: Any,
        tracer: Tracer,
        *,
        collection: str,
        routes: str | None = None,
        span_attribute: str = "crm.document_id",
    ) -> None:
        self.model = model
        self._documents = database[collection]
        self._routes = StreamRoutes(database[routes], model.routes_field) if routes else None
        self._tracer = tracer
        self._span_attribute = span_attribute

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def documents(self) -> Any:
        return self._documents

    async def apply(self, metadata: EventMetadata, event: DomainEvent) -> Applied:
        target = self.model.target(metadata, event)
        if target is None:
            return Applied.IGNORED
        document_id = target.document_id
        if target.learnt:
            if self._routes is None:  # pragma: no cover - a wiring mistake
                raise RuntimeError(f"{self.name} learns stream routes but has no collection")
            document_id = await self._routes.resolve(stream_key(metadata), document_id)
        if document_id is None:
            raise OutOfOrder(
                f"{metadata.type} {metadata.id} names no {self.model.routes_field} and "
                f"{self.name} has not seen the first event of stream {stream_key(metadata)}"
            )
        with self._tracer.start_as_current_span(
            f"{self.name}.upsert",
            attributes={self._span_attribute: document_id, "crm.event_id": metadata.id},
        ):
            return await self._fold(document_id, metadata, event)

    async def _fold(self, document_id: str, metadata: EventMetadata, event: DomainEvent) -> Applied:
        for _ in range(20):
            document = await self._documents.find_one({"_id": document_id})
            order = check_order(document, metadata)
            if order is Order.DUPLICATE:
                # A redelivery: what the first delivery derived may not have been written
                # (a crash in between), so it is derived again; doing so is idempotent.
                await self.folded(document, document)
                return Applied.DUPLICATE
            if order is Order.GAP:
                raise OutOfOrder(
                    f"{metadata.type} {metadata.id} has sequence {metadata.sequence} but "
                    f"the {self.name} of {document_id} has not seen its predecessor"
                )
            current = document if document is not None else self.model.empty(document_id)
            after = self.model.project(current, metadata, event)
            if await self._write(document, after):
                await self.folded(document, after)
                return Applied.APPLIED
        raise RuntimeError(f"{self.name} of {document_id} kept changing under the projector")

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

    async def folded(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """Called after an event was folded into a document (and again on its redelivery):
        a read model derived from these documents refreshes here. Nothing by default."""

    async def begin_rebuild(self) -> None:
        """A rebuild starts: derived work may be deferred until ``end_rebuild``."""

    async def end_rebuild(self) -> None:
        """The rebuild folded the whole history."""

    async def create_indexes(self) -> None:
        """Indexes of the queries the views run (none by default: reads by id)."""

    async def drop(self) -> None:
        await self._documents.drop()
        if self._routes is not None:
            await self._routes.drop()


class Customer360Projector(Projector):
    def __init__(self, database: Any, tracer: Tracer, *, collection: str = COLLECTION) -> None:
        super().__init__(
            customer360.MODEL,
            database,
            tracer,
            collection=collection,
            routes="stream_customers",
            span_attribute="crm.customer_id",
        )

    async def create_indexes(self) -> None:
        """The stores' member counts read the members' documents by home store."""
        for field in ("enrolled_at", "purchases"):
            await self._documents.create_index(
                [("loyalty.home_store_id", 1), (f"loyalty.{field}", 1)]
            )

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        document = await self._documents.find_one({"_id": customer_id})
        return None if document is None else customer360.public_view(document)

    async def customer_of_ticket(self, ticket_id: str) -> str | None:
        """The customer a ticket's stream folds into (learnt from its first event)."""
        if self._routes is None:  # pragma: no cover - always set for the 360
            return None
        return await self._routes.resolve(f"tickets:{ticket_id}", None)

    async def store_counts(self, store_id: str, period: str) -> stores.StoreCounts:
        start, end = stores.period_bounds(period)
        members = {"loyalty.home_store_id": store_id, "loyalty.member": True}
        count = self._documents.count_documents
        return stores.StoreCounts(
            members=await count(members),
            new_members=await count(
                {**members, "loyalty.enrolled_at": {"$gte": start, "$lt": end}}
            ),
            repeat_purchasers=await count({**members, "loyalty.purchases": {"$gte": 2}}),
        )

    async def survivor(self, customer_id: str) -> dict[str, Any] | None:
        """The view ``customer_id`` lives on as: its own, or, for a merged duplicate, its
        survivor's (``merged_into`` followed at most MERGE_HOPS times, never in a cycle; a
        survivor not folded yet stops there), combined with every view merged into it."""
        view = await self.get(customer_id)
        if view is None:
            return None
        seen = {customer_id}
        for _ in range(MERGE_HOPS):
            next_id = view["merged_into"]
            if next_id is None or next_id in seen:
                break
            survivor = await self.get(next_id)
            if survivor is None:
                break
            seen.add(next_id)
            view = survivor
        return customer360.with_merged(view, await self._merged_into(view))

    async def _merged_into(self, view: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The views merged into ``view``'s customer, recursively (cycle-safe, bounded)."""
        views: dict[str, dict[str, Any]] = {}
        seen = {view["customer_id"]}
        queue = list(view["merged_from"])
        while queue and len(views) < MERGED_READ:
            customer_id = queue.pop(0)
            if customer_id in seen:
                continue
            seen.add(customer_id)
            found = await self.get(customer_id)
            if found is not None:
                views[customer_id] = found
                queue.extend(found["merged_from"])
        return views


class ReceivablesProjector(Projector):
    def __init__(self, database: Any, tracer: Tracer) -> None:
        super().__init__(
            receivables.MODEL,
            database,
            tracer,
            collection="receivables_by_rep",
            routes="stream_owners",
            span_attribute="crm.owner_id",
        )

    async def create_indexes(self) -> None:
        await self._documents.create_index("team")

    async def get(self, owner_id: str) -> dict[str, Any] | None:
        document = await self._documents.find_one({"_id": owner_id})
        return None if document is None else receivables.public_view(document)

    async def find(self, query: dict[str, str], *, limit: int) -> list[dict[str, Any]]:
        cursor = self._documents.find(query).sort("_id", 1).limit(limit)
        return [receivables.public_view(document) async for document in cursor]


class ForecastProjector(Projector):
    def __init__(self, database: Any, tracer: Tracer) -> None:
        super().__init__(
            forecast.MODEL,
            database,
            tracer,
            collection="forecast",
            span_attribute="crm.opportunity_id",
        )

    async def create_indexes(self) -> None:
        for period in ("month", "quarter", "year"):
            await self._documents.create_index([("status", 1), (period, 1), ("team", 1)])

    async def summary(self, period: str, query: dict[str, str]) -> dict[str, Any]:
        """The forecast of one period over the open rows the query selects."""
        selected = {"status": "open", forecast.period_field(period): period, **query}
        fields = dict.fromkeys(("status", "owner_id", "team", "currency", "amount", "weighted"), 1)
        rows = [row async for row in self._documents.find(selected, projection=fields)]
        return forecast.summarise(rows)


class StoresProjector(Projector):
    """The stores, with member counts read from the customer 360 (see domain.stores)."""

    def __init__(self, database: Any, tracer: Tracer, customer360: Customer360Projector) -> None:
        super().__init__(
            stores.MODEL, database, tracer, collection="stores", span_attribute="crm.store_id"
        )
        self._customer360 = customer360

    async def get(self, store_id: str, period: str) -> dict[str, Any] | None:
        document = await self._documents.find_one({"_id": store_id})
        if document is None:
            return None
        counts = await self._customer360.store_counts(store_id, period)
        return stores.store_view(document, counts, period)

    async def all(self, period: str, *, limit: int) -> list[dict[str, Any]]:
        cursor = self._documents.find({}).sort("_id", 1).limit(limit)
        return [
            stores.store_view(
                document, await self._customer360.store_counts(document["_id"], period), period
            )
            async for document in cursor
        ]
