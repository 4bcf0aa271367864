"""The customer 360 fold: given a document and an event, then the next document."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from customer_events import NOW, LeadScored, changed, metadata, registered
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts.contacts import CustomerDetailsChanged, CustomerRegistered
from crm_projections.domain.customer360 import (
    Document,
    Order,
    check_order,
    customer_id_of,
    project,
    public_view,
    stream_key,
)


def fold(*events: DomainEvent) -> Document | None:
    """Fold events of one customer, numbered 1..n in the contacts stream."""
    document: Document | None = None
    for sequence, event in enumerate(events, start=1):
        subject = customer_id_of(event)
        assert subject is not None
        document = project(document, metadata(event, subject, sequence), event)
    return document


def test_registration_starts_the_document_with_the_full_profile() -> None:
    event = registered("cus_1", "Ada Lovelace", email="ada@example.com", phone=None)
    document = project(None, metadata(event, "cus_1", 1, event_id="evt-1"), event)
    assert document == {
        "_id": "cus_1",
        "customer_id": "cus_1",
        "profile": {
            "name": "Ada Lovelace",
            "kind": "person",
            "email": "ada@example.com",
            "phone": None,
        },
        "registered_at": NOW + timedelta(minutes=1),
        "updated_at": NOW + timedelta(minutes=1),
        "last_event_id": "evt-1",
        "streams": {"contacts:cus_1": 1},
        "revision": 1,
    }


def test_a_details_change_sets_the_given_fields_and_keeps_the_others() -> None:
    document = fold(registered("cus_1"), changed("cus_1", name="Ada King", phone="+4930901820"))
    assert document is not None
    assert document["profile"] == {
        "name": "Ada King",
        "kind": "person",
        "email": "ada@example.com",
        "phone": "+4930901820",
    }
    assert document["registered_at"] == NOW + timedelta(minutes=1)
    assert document["updated_at"] == NOW + timedelta(minutes=2)
    assert (document["revision"], document["streams"]) == (2, {"contacts:cus_1": 2})
    assert document["last_event_id"] == "evt-cus_1-2"


def test_cleared_fields_become_none() -> None:
    document = fold(registered("cus_1"), changed("cus_1", cleared=("email", "phone")))
    assert document is not None
    assert document["profile"] == {
        "name": "Ada Lovelace",
        "kind": "person",
        "email": None,
        "phone": None,
    }


def test_project_leaves_the_given_document_unchanged() -> None:
    before = fold(registered("cus_1"))
    assert before is not None
    snapshot = copy.deepcopy(before)
    event = changed("cus_1", name="Ada King", cleared=("phone",))
    after = project(before, metadata(event, "cus_1", 2), event)
    assert before == snapshot
    assert after["profile"]["name"] == "Ada King"


SEEN_TWO = {"_id": "cus_1", "streams": {"contacts:cus_1": 2}, "revision": 2}


@pytest.mark.parametrize(
    ("document", "sequence", "order"),
    [
        (None, 1, Order.NEXT),
        (None, 2, Order.GAP),
        (SEEN_TWO, 1, Order.DUPLICATE),
        (SEEN_TWO, 2, Order.DUPLICATE),
        (SEEN_TWO, 3, Order.NEXT),
        (SEEN_TWO, 4, Order.GAP),
        ({"_id": "cus_1", "revision": 0}, 1, Order.NEXT),
    ],
)
def test_check_order(document: Document | None, sequence: int, order: Order) -> None:
    event = changed("cus_1", name="x")
    assert check_order(document, metadata(event, "cus_1", sequence)) is order


def test_each_source_stream_is_ordered_on_its_own() -> None:
    event = changed("cus_1", name="x")
    from_support = metadata(event, "cus_1", 1, source="/crm/support")
    assert stream_key(from_support) == "support:cus_1"
    assert check_order(SEEN_TWO, from_support) is Order.NEXT
    document = project(SEEN_TWO, from_support, event)
    assert document["streams"] == {"contacts:cus_1": 2, "support:cus_1": 1}


@pytest.mark.parametrize("source", ["/crm/contacts", "/crm/contacts/", "urn:x/crm/contacts"])
def test_stream_key_is_the_last_path_segment_of_the_source_and_the_subject(source: str) -> None:
    assert stream_key(metadata(registered("cus_9"), "cus_9", 1, source=source)) == "contacts:cus_9"


def test_events_of_other_models_have_no_customer_and_cannot_be_projected() -> None:
    event = LeadScored(lead_id="lead_1", score=7)
    assert customer_id_of(event) is None
    with pytest.raises(ValueError, match=r"crm\.sales\.LeadScored does not belong"):
        project(None, metadata(event, "lead_1", 1), event)


def test_public_view_shows_the_customer_but_not_the_bookkeeping() -> None:
    document = fold(registered("cus_1"), changed("cus_1", email="ada@example.org"))
    assert document is not None
    assert public_view(document) == {
        "customer_id": "cus_1",
        "profile": document["profile"],
        "owner": None,
        "erased": False,
        "registered_at": NOW + timedelta(minutes=1),
        "updated_at": NOW + timedelta(minutes=2),
        "last_event_id": "evt-cus_1-2",
        "streams": {"contacts:cus_1": 2},
    }


# Property: at-least-once delivery (redeliveries, a full replay) folds to the history's result.

Record = tuple[EventMetadata, DomainEvent]
NAMES = st.sampled_from(["Ada", "Grace", "Hedy", "Katherine"])
EMAILS = st.sampled_from(["a@example.com", "b@example.org", "c@example.net"])
PHONES = st.sampled_from(["+447700900123", "+4930901820", "+15550100"])


@st.composite
def detail_changes(draw: st.DrawFn, customer_id: str) -> CustomerDetailsChanged:
    cleared = draw(st.lists(st.sampled_from(["email", "phone"]), unique=True, max_size=2))
    return CustomerDetailsChanged(
        customer_id=customer_id,
        name=draw(st.none() | NAMES),
        email=None if "email" in cleared else draw(st.none() | EMAILS),
        phone=None if "phone" in cleared else draw(st.none() | PHONES),
        cleared=tuple(cleared),
    )


@st.composite
def histories(draw: st.DrawFn) -> dict[str, list[Record]]:
    """A contacts stream per customer: a registration, then some detail changes."""
    streams: dict[str, list[Record]] = {}
    for number in range(draw(st.integers(1, 3))):
        customer_id = f"cus_{number}"
        first = registered(
            customer_id, draw(NAMES), email=draw(st.none() | EMAILS), phone=draw(st.none() | PHONES)
        )
        events: list[DomainEvent] = [first]
        events += draw(st.lists(detail_changes(customer_id), max_size=6))
        streams[customer_id] = [
            (metadata(event, customer_id, sequence), event)
            for sequence, event in enumerate(events, start=1)
        ]
    return streams


def at_least_once(data: st.DataObject, streams: dict[str, list[Record]]) -> list[Record]:
    """Interleave the streams, redeliver suffixes of what each stream already delivered
    (a consumer restarting from an older commit), then replay everything."""
    pending = {customer: list(records) for customer, records in streams.items()}
    delivered: dict[str, list[Record]] = {customer: [] for customer in streams}
    deliveries: list[Record] = []
    while any(pending.values()):
        customer = data.draw(st.sampled_from(sorted(c for c, left in pending.items() if left)))
        record = pending[customer].pop(0)
        delivered[customer].append(record)
        deliveries.append(record)
        if data.draw(st.booleans()):
            start = data.draw(st.integers(0, len(delivered[customer]) - 1))
            deliveries += delivered[customer][start:]
    for records in streams.values():
        deliveries += records
    return deliveries


def expected_profile(records: list[Record]) -> dict[str, Any]:
    """The profile after the history, by the contract's words rather than by ``project``."""
    profile: dict[str, Any] = {}
    for _, event in records:
        if isinstance(event, CustomerRegistered):
            profile = {
                "name": event.name,
                "kind": event.kind.value,
                "email": event.email,
                "phone": event.phone,
            }
        elif isinstance(event, CustomerDetailsChanged):
            changes = {"name": event.name, "email": event.email, "phone": event.phone}
            profile |= {field: value for field, value in changes.items() if value is not None}
            profile |= dict.fromkeys(event.cleared)
    return profile


@settings(max_examples=75, deadline=None)
@given(streams=histories(), data=st.data())
def test_redeliveries_and_replays_fold_to_the_history_once(
    streams: dict[str, list[Record]], data: st.DataObject
) -> None:
    documents: dict[str, Document] = {}
    for meta, event in at_least_once(data, streams):
        customer_id = customer_id_of(event)
        assert customer_id is not None
        order = check_order(documents.get(customer_id), meta)
        assert order is not Order.GAP
        if order is Order.NEXT:
            documents[customer_id] = project(documents.get(customer_id), meta, event)

    assert set(documents) == set(streams)
    for customer_id, records in streams.items():
        document = documents[customer_id]
        assert document["profile"] == expected_profile(records)
        assert document["streams"] == {f"contacts:{customer_id}": len(records)}
        assert document["revision"] == len(records)
        assert document["last_event_id"] == records[-1][0].id
