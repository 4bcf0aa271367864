"""Personal fields sealed as the contacts service seals them (crypto-shredding, ADR 0008).

Seeds go through the same ``SealedEvents`` the handlers use, with one data key
per customer. The keys are written in bulk, in the document shape
``MongoKeyVault`` documents, then read back through the vault as a check.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bench.histories import PlannedCommit
from crm_contacts.application.handlers import seal_view
from crm_contacts.config import ContactsSettings
from crm_runtime.eventstore import NewEvent
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import KEY_BYTES, MongoKeyVault, PersonalDataCipher

KEYS_DATABASE: str = ContactsSettings.model_fields["keys_database"].default
KEYS_COLLECTION = "data_keys"


class Sealer:
    def __init__(self, store: Any) -> None:
        self._keys = store[KEYS_DATABASE][KEYS_COLLECTION]
        self._vault = MongoKeyVault(self._keys, cache_seconds=3600)  # seeding only
        self._sealed = SealedEvents(PersonalDataCipher(self._vault))

    @property
    def events(self) -> SealedEvents:
        """The ``SealedEvents`` the harness seals with (its vault caches keys for an hour)."""
        return self._sealed

    def keyed_by(self, key_field: str) -> SealedEvents:
        """The same, sealing with the key of the id an event names in ``key_field``."""
        return SealedEvents(PersonalDataCipher(self._vault), key_field=key_field)

    async def create_keys(self, subjects: Iterable[str], batch: int = 500) -> None:
        now = datetime.now(UTC)
        documents = [
            {
                "_id": subject,
                "key": base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii"),
                "created_at": now,
                "destroyed_at": None,
            }
            for subject in dict.fromkeys(subjects)
        ]
        for start in range(0, len(documents), batch):
            await self._keys.insert_many(documents[start : start + batch])
        if documents and await self._vault.key_for(documents[0]["_id"]) is None:
            raise RuntimeError("the key vault does not read the keys the harness wrote")

    async def seal(self, planned: PlannedCommit) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The events' data and the stored answer, personal fields sealed."""
        data = [
            dict(
                (
                    await self._sealed.seal(
                        planned.stream_id,
                        NewEvent(e.event_type, e.schema_version, e.model_dump(mode="json")),
                    )
                ).data
            )
            for e in planned.events
        ]
        view = await seal_view(self._sealed, planned.stream_id, planned.view)
        return data, view
