"""The customer 360 fold: given a document and an event, then the next document."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from customer_events import (
    NOW,
    LeadScored,
    changed,
    drafted,
    interaction,
    metadata,
    moved,
    numbered,
    opened,
    paid,
    pipeline,
    placed,
    registered,
)

from crm_contracts import REGISTRY, DomainEvent, EventMetadata
from crm_contracts import contacts as c
from crm_contracts import pipeline as p
from crm_contracts.pipeline import Stage
from crm_projections.domain.customer360 import (
    Document,
    Order,
    check_order,
    customer_id_of,
    project,
    public_view,
    stream_key,
    target,
)
from crm_projections.domain.streams import PIPELINE_KINDS, Target


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
        "lifecycle_stage": "prospect",
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
        "lifecycle_stage": "prospect",
        "classification": None,
        "segments": [],
        "value_tier": None,
        "tags": [],
        "open_opportunities": [],
        "revenue_won": {},
        "orders": {"count": 0, "last_placed_at": None, "recent": []},
        "receivables": {"items": [], "open_balance": {}, "overdue_balance": {}},
        "latest_interactions": [],
        "last_interaction_at": None,
        "service": {
            "open_tickets": [],
            "recent_tickets": [],
            "ticket_count": 0,
            "last_csat": None,
            "previous_csat": None,
            "sla_breaches": {"count": 0, "open": []},
        },
        "loyalty": None,
        "assignees": [],
        "churn_signals": [],
        "merged_into": None,
        "merged_from": [],
        "erased": False,
        "registered_at": NOW + timedelta(minutes=1),
        "updated_at": NOW + timedelta(minutes=2),
        "last_event_id": "evt-cus_1-2",
        "streams": {"contacts:cus_1": 2},
    }


# Master data beyond the profile: lifecycle, classification, segments, tier, tags, merges.


def test_the_sales_ratings_of_the_contacts_context_are_shown() -> None:
    document = fold(
        registered("cus_1"),
        c.CustomerLifecycleStageChanged(
            customer_id="cus_1",
            from_stage=c.LifecycleStage.PROSPECT,
            to_stage=c.LifecycleStage.CUSTOMER,
            reason="first purchase",
            caused_by="order:ord_1",
        ),
        c.CustomerClassified(customer_id="cus_1", classification=c.Classification.KEY),
        c.CustomerSegmentsAssigned(
            customer_id="cus_1", segments=("need:training", "frequency:monthly")
        ),
        c.CustomerValueTierSet(customer_id="cus_1", value_tier=c.ValueTier.BEST),
        c.CustomerTagged(customer_id="cus_1", tags=("trade-fair-2026", "vip")),
        c.CustomerTagged(customer_id="cus_1", tags=("vip", "wholesale")),
        c.CustomerUntagged(customer_id="cus_1", tags=("trade-fair-2026", "never-there")),
        c.CustomerSegmentsAssigned(customer_id="cus_1", segments=("service:high-touch",)),
    )
    assert document is not None
    view = public_view(document)
    assert (view["lifecycle_stage"], view["classification"], view["value_tier"]) == (
        "customer",
        "key",
        "best",
    )
    assert view["segments"] == ["service:high-touch"]  # replaced, not added to
    assert view["tags"] == ["vip", "wholesale"]


def test_events_the_view_does_not_show_still_keep_the_stream_gap_free() -> None:
    address = c.CustomerAddressSet(
        customer_id="cus_1",
        address_type=c.AddressType.BILLING,
        street="12 Marylebone Road",
        city="London",
        country="GB",
    )
    owner = c.CustomerOwnerAssigned(customer_id="cus_1", owner_id="u1", team="north")
    document = fold(registered("cus_1"), address, owner)
    assert document is not None
    assert document["streams"] == {"contacts:cus_1": 3}
    assert document["owner"] == {"owner_id": "u1", "team": "north"}
    assert "London" not in str(document)


def test_the_latest_ten_interactions_are_shown_newest_first_by_when_they_happened() -> None:
    late_logged = interaction(
        "cus_1", 1, at=NOW - timedelta(days=90)
    )  # logged last, happened first
    events = [registered("cus_1"), *(interaction("cus_1", n) for n in range(2, 14)), late_logged]
    document = fold(*events)
    assert document is not None
    shown = public_view(document)["latest_interactions"]
    assert [i["interaction_id"] for i in shown] == [f"int_{n:02d}" for n in range(13, 3, -1)]
    assert shown[0] == {
        "interaction_id": "int_13",
        "kind": "call",
        "at": NOW - timedelta(days=17),
        "summary": "Call 13 about the espresso machines",
        "logged_by": "user:u1",
    }


def test_an_erasure_drops_the_profile_and_the_interaction_summaries() -> None:
    document = fold(
        registered("cus_1", "Ada Lovelace"),
        interaction("cus_1", 1, summary="Ada wants two machines"),
        c.CustomerErased(customer_id="cus_1", request_reference="dsr-1"),
        interaction("cus_1", 2, summary="Logged from an old device after the erasure"),
        changed("cus_1", name="Ada King"),
    )
    assert document is not None
    assert document["profile"] == {
        "name": "[erased]",
        "kind": "person",
        "email": None,
        "phone": None,
    }
    assert [i["summary"] for i in document["interactions"]] == [None, None]
    assert "Ada" not in str(document) and "erasure" not in str(document)
    assert public_view(document)["erased"] is True


def test_a_merge_names_the_survivor_and_the_survivor_takes_what_it_lacked() -> None:
    duplicate = fold(
        registered("cus_2"), c.CustomerMergedInto(customer_id="cus_2", survivor_id="cus_1")
    )
    assert duplicate is not None
    assert public_view(duplicate)["merged_into"] == "cus_1"
    survivor = fold(
        registered("cus_1", phone=None),
        c.CustomerTagged(customer_id="cus_1", tags=("vip",)),
        c.CustomersMerged(
            customer_id="cus_1", merged_id="cus_2", phone="+4930901820", tags=("wholesale",)
        ),
    )
    assert survivor is not None
    view = public_view(survivor)
    assert view["merged_from"] == ["cus_2"]
    assert view["tags"] == ["vip", "wholesale"]
    assert view["profile"]["phone"] == "+4930901820"
    assert view["profile"]["email"] == "ada@example.com"


# Routing: which events fold into which customer's document.


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (numbered("cus_1", registered("cus_1"))[0], Target("cus_1")),
        (pipeline("opp_1", opened("opp_1", "cus_1"))[0], Target("cus_1", learnt=True)),
        (
            pipeline("opp_1", moved("opp_1", Stage.PROPOSAL, 50), first=2)[0],
            Target(None, learnt=True),
        ),
        (pipeline("quo_1", drafted("quo_1", "opp_1", "cus_1"))[0], Target("cus_1", learnt=True)),
        (pipeline("quo_1", p.QuoteSent(quote_id="quo_1"), first=2)[0], Target(None, learnt=True)),
        (pipeline("ord_1", *placed("ord_1", "cus_1"))[1], Target("cus_1", learnt=True)),
        (
            pipeline("ord_1", paid("ord_1", "cus_1", "1.00", "2.00"), first=3)[0],
            Target("cus_1", learnt=True),
        ),
        (pipeline("lead_1", p.LeadDisqualified(lead_id="lead_1", reason="no budget"))[0], None),
        (
            pipeline(
                "lead_1",
                p.LeadQualified(lead_id="lead_1", opportunity_id="opp_1", customer_id="cus_1"),
            )[0],
            None,
        ),
        (
            numbered(
                "hov_1",
                c.HandoverCompleted(handover_id="hov_1", moved=(), skipped=()),
            )[0],
            None,
        ),
    ],
    ids=[
        "contacts",
        "opportunity-opened",
        "stage-moved",
        "quote-drafted",
        "quote-sent",
        "receivable-opened",
        "payment",
        "lead-disqualified",
        "lead-qualified",
        "handover",
    ],
)
def test_where_an_event_folds(
    record: tuple[EventMetadata, DomainEvent], expected: Target | None
) -> None:
    assert target(*record) == expected


def test_every_pipeline_event_type_has_a_stream_kind() -> None:
    published = {t for name, t in REGISTRY.types.items() if name.startswith("crm.pipeline.")}
    assert published == set(PIPELINE_KINDS)


def test_every_contacts_event_folds_into_its_customer_or_belongs_to_a_handover() -> None:
    for name, event_type in REGISTRY.types.items():
        if name.startswith("crm.contacts."):
            has_customer = "customer_id" in event_type.model_fields
            assert has_customer or "handover_id" in event_type.model_fields, name
