"""A dead letter's personal data belongs to whom its context's contract says: a replay must
skip a ticket event of an erased customer, whose key is the customer's, not the ticket's."""

from __future__ import annotations

import json

from crm_contracts.keys import key_owner, personal_key_field
from crm_stack.dead_letters import DeadLetter


def letter(source: str, subject: str, body: object) -> DeadLetter:
    return DeadLetter(
        partition=0,
        offset=1,
        key=subject.encode(),
        value=json.dumps(body).encode(),
        headers=(("ce_source", source.encode()), ("ce_subject", subject.encode())),
    )


def test_a_ticket_event_is_the_customers_to_erase() -> None:
    found = letter("/crm/tickets", "tkt_1", {"ticket_id": "tkt_1", "customer_id": "cus_9"})
    assert found.key_owner == "cus_9"


def test_a_customer_event_is_its_subjects_and_a_broken_body_falls_back_to_it() -> None:
    assert letter("/crm/contacts", "cus_1", {"customer_id": "cus_1"}).key_owner == "cus_1"
    broken = DeadLetter(0, 1, b"tkt_1", b"{not json", (("ce_source", b"/crm/tickets"),))
    assert broken.key_owner == "tkt_1"


def test_the_contracts_say_which_contexts_name_the_key() -> None:
    assert personal_key_field("/crm/tickets") == "customer_id"
    assert personal_key_field("/crm/contacts/") is None
    assert personal_key_field("/crm/unknown") is None
    assert key_owner("/crm/tickets", "tkt_1", {}) == "tkt_1"
