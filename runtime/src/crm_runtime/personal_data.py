"""Personal fields of events, sealed on the way into the store and revealed on the way out.

Which fields are personal is part of the published contract (``x-personal``);
``SealedEvents`` reads that from the registry, so a service only says whose key
to use: the stream's subject (a customer's own stream), or, with ``key_field``,
the id an event names in that field (a ticket's text is its customer's, sealed
with the key of its ``customer_id``, so the customer's erasure reaches it). After
an erasure a required personal field reveals as ``[erased]`` and an optional one
as null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from crm_contracts import REGISTRY, EventRegistry
from crm_contracts.registry import personal_fields
from crm_runtime.eventstore import NewEvent, StoredEvent
from crm_runtime.outbox import EventPublisher
from crm_runtime.shredding import PersonalDataCipher, sealed_fields

ERASED = "[erased]"


class SealedEvents:
    def __init__(
        self,
        cipher: PersonalDataCipher,
        registry: EventRegistry = REGISTRY,
        *,
        key_field: str | None = None,
    ) -> None:
        self._cipher = cipher
        self._registry = registry
        self._key_field = key_field
        self._known_placeholders: dict[str, dict[str, Any]] = {}

    def _key_of(self, subject: str, data: dict[str, Any]) -> str:
        """Whose key seals the event: the id in ``key_field`` when the event names one."""
        named = data.get(self._key_field) if self._key_field else None
        return str(named) if named else subject

    def _personal(self, event_type: str) -> frozenset[str]:
        return personal_fields(self._registry.model_for(event_type))

    def _placeholders(self, event_type: str) -> dict[str, Any]:
        """What each personal field of ``event_type`` reveals as after an erasure (shared:
        read only)."""
        known = self._known_placeholders.get(event_type)
        if known is None:
            model = self._registry.model_for(event_type)
            known = self._known_placeholders[event_type] = {
                name: ERASED if model.model_fields[name].is_required() else None
                for name in self._personal(event_type)
            }
        return known

    async def seal(self, subject: str, event: NewEvent) -> NewEvent:
        fields = self._personal(event.type)
        if not fields:
            return event
        key = self._key_of(subject, event.data)
        return replace(event, data=await self._cipher.seal(key, event.data, fields))

    async def seal_fields(
        self, subject: str, data: dict[str, Any], fields: frozenset[str]
    ) -> dict[str, Any]:
        """Seal a document that is not an event (e.g. a stored idempotent answer)."""
        return await self._cipher.seal(subject, data, fields)

    async def reveal(self, event: StoredEvent) -> StoredEvent:
        if not sealed_fields(event.data):
            return event
        placeholders = self._placeholders(event.metadata.type)
        key = self._key_of(event.metadata.subject, event.data)
        data = await self._cipher.reveal(key, event.data, placeholders)
        return replace(event, data=data)

    async def reveal_many(self, events: Sequence[StoredEvent]) -> list[StoredEvent]:
        """``reveal`` of each event, in order, the keys of all their subjects read at once
        (a rebuild opens thousands of events a second)."""
        sealed = [(index, event) for index, event in enumerate(events) if sealed_fields(event.data)]
        if not sealed:
            return list(events)
        opened = await self._cipher.reveal_many(
            [
                (
                    self._key_of(event.metadata.subject, event.data),
                    event.data,
                    self._placeholders(event.metadata.type),
                )
                for _, event in sealed
            ]
        )
        revealed = list(events)
        for (index, event), data in zip(sealed, opened, strict=True):
            revealed[index] = StoredEvent(event.metadata, data, event.position, event.traceparent)
        return revealed

    async def reveal_fields(
        self, subject: str, data: dict[str, Any], placeholders: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._cipher.reveal(subject, data, placeholders)


class RevealingPublisher:
    """Publishes events with their personal fields opened (subscribers get plaintext)."""

    def __init__(self, inner: EventPublisher, sealed: SealedEvents) -> None:
        self._inner = inner
        self._sealed = sealed

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        await self._inner.publish([await self._sealed.reveal(e) for e in events])
