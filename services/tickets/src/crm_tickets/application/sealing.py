"""Tickets' personal text is sealed with the CUSTOMER's data key, not the ticket's.

``SealedEvents`` keys by the event's subject (the stream id). A ticket's subject,
description, replies, notes and survey comment are about its customer, so they are
sealed and revealed with the key of ``customer_id`` (which every ticket event
carries): the erasure of the customer in contacts destroys that key and so makes
them unreadable (they then read ``[erased]``, or null when optional). The relay
reveals through the same object, so Kafka subscribers get plaintext as promised.
"""

from __future__ import annotations

from dataclasses import replace

from crm_runtime.eventstore import NewEvent, StoredEvent
from crm_runtime.personal_data import SealedEvents


class CustomerSealedEvents(SealedEvents):
    async def seal(self, subject: str, event: NewEvent) -> NewEvent:
        return await super().seal(str(event.data.get("customer_id") or subject), event)

    async def reveal(self, event: StoredEvent) -> StoredEvent:
        customer = event.data.get("customer_id")
        if not customer:
            return await super().reveal(event)
        keyed = replace(event, metadata=event.metadata.model_copy(update={"subject": customer}))
        revealed = await super().reveal(keyed)
        return replace(revealed, metadata=event.metadata)
