"""Tickets' personal text is sealed with the CUSTOMER's data key, not the ticket's.

A ticket's subject, description, replies, notes and survey comment are about its
customer, so they are sealed and revealed with the key of ``customer_id`` (which
every ticket event carries): the erasure of the customer in contacts destroys that
key and so makes them unreadable (they then read ``[erased]``, or null when
optional). The relay reveals through the same object, so Kafka subscribers get
plaintext as promised; a rebuild of the views opens them the same way.
"""

from __future__ import annotations

from crm_contracts.tickets import PERSONAL_KEY_FIELD
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import PersonalDataCipher


def customer_sealed_events(cipher: PersonalDataCipher) -> SealedEvents:
    return SealedEvents(cipher, key_field=PERSONAL_KEY_FIELD)
