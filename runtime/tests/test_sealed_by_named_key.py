"""Sealing with the key of an id the event names (a ticket's text under its customer's key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_contracts import EventMetadata
from crm_contracts.tickets import PERSONAL_KEY_FIELD
from crm_runtime.eventstore import NewEvent, StoredEvent
from crm_runtime.personal_data import ERASED, SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TYPE = "crm.tickets.TicketNoteAdded"
DATA = {
    "ticket_id": "tkt_1",
    "customer_id": "cus_1",
    "kind": "complaint",
    "priority": "normal",
    "status": "open",
    "team": None,
    "assignee_id": "a1",
    "note_id": "note_1",
    "body": "Ada's husband called, she is in hospital",
    "author_id": "a1",
    "added_at": NOW.isoformat(),
}


def stored(data: Any) -> StoredEvent:
    metadata = EventMetadata(
        id="evt_1",
        type=TYPE,
        schema_version=1,
        source="/crm/tickets",
        subject="tkt_1",
        sequence=1,
        time=NOW,
        correlation_id="c",
        causation_id="c",
        actor="user:a1",
    )
    return StoredEvent(metadata=metadata, data=data, position=1)


async def test_a_named_key_seals_and_opens_and_an_erasure_of_its_owner_erases(
    database: Any,
) -> None:
    vault = MongoKeyVault(database["data_keys"])
    sealed = SealedEvents(PersonalDataCipher(vault), key_field=PERSONAL_KEY_FIELD)
    new = await sealed.seal("tkt_1", NewEvent(TYPE, 1, DATA))
    assert "hospital" not in str(new.data)
    assert (await sealed.reveal(stored(new.data))).data["body"] == DATA["body"]

    assert await vault.key_for("tkt_1") is None  # the ticket got no key of its own
    await vault.destroy("cus_1", at=NOW)

    assert (await sealed.reveal(stored(new.data))).data["body"] == ERASED


async def test_many_events_open_by_their_named_keys_as_each_would_alone(database: Any) -> None:
    vault = MongoKeyVault(database["data_keys"])
    sealed = SealedEvents(PersonalDataCipher(vault), key_field=PERSONAL_KEY_FIELD)
    other = {**DATA, "customer_id": "cus_2", "body": "Grace moved to Lyon"}
    events = [
        stored((await sealed.seal("tkt_1", NewEvent(TYPE, 1, DATA))).data),
        stored((await sealed.seal("tkt_1", NewEvent(TYPE, 1, other))).data),
        stored({**DATA, "body": "written before sealing"}),
    ]
    await vault.destroy("cus_2", at=NOW)

    opened = await sealed.reveal_many(events)

    assert opened == [await sealed.reveal(event) for event in events]
    assert [event.data["body"] for event in opened] == [
        DATA["body"],
        ERASED,
        "written before sealing",
    ]
    assert opened[2] is events[2]  # nothing sealed: the event itself
    assert await sealed.reveal_many([]) == []
