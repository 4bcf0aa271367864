"""Merging duplicates, decided on both streams: the duplicate goes, the survivor takes what it
lacked (and may earn a buying stage from the duplicate's purchases)."""

from __future__ import annotations

import pytest
from decider_examples import (
    ADA,
    ADA_ERASED,
    ADA_HISTORY,
    ADA_REGISTERED,
    BABBAGE,
    BIRTHDAY,
    EMAIL_CONSENT,
    ENGINES,
    ENGINES_REGISTERED,
    NOW,
    given_when,
)

from crm_contacts.domain.customer import (
    AbsorbDuplicate,
    CustomerCommand,
    CustomerWasErased,
    CustomerWasMerged,
    Erased,
    InvalidCommand,
    Merged,
    MergeInto,
    RecordPurchase,
    Registered,
    RuleViolated,
    fold,
)
from crm_contracts.contacts import (
    AddressType,
    ContactPersonAdded,
    CustomerAddressSet,
    CustomerBirthdayChanged,
    CustomerErased,
    CustomerKind,
    CustomerLifecycleStageChanged,
    CustomerMergedInto,
    CustomerPreferenceSet,
    CustomerPurchaseRecorded,
    CustomerRegistered,
    CustomersMerged,
    CustomerTagged,
    LifecycleStage,
)
from crm_contracts.registry import DomainEvent

COUNTESS = "cus_countess"
COUNTESS_REGISTERED = CustomerRegistered(
    customer_id=COUNTESS, name="Ada, Countess of Lovelace", kind=CustomerKind.PERSON
)
HOME = CustomerAddressSet(
    customer_id=ADA,
    address_type=AddressType.VISIT,
    street="St James's Square 12",
    city="London",
    country="GB",
)
ADA_IN_FULL: list[DomainEvent] = [
    *ADA_HISTORY,
    CustomerBirthdayChanged(customer_id=ADA, birthday=BIRTHDAY),
    HOME,
    CustomerPreferenceSet(customer_id=ADA, key="tea", text="Earl Grey"),
    CustomerTagged(customer_id=ADA, tags=("poet", "vip")),
    CustomerPurchaseRecorded(customer_id=ADA, order_id="ord_1", at=NOW),
    EMAIL_CONSENT,
]


def registered(history: list[DomainEvent]) -> Registered:
    state = fold(history)
    assert isinstance(state, Registered)
    return state


def test_the_duplicates_stream_says_where_it_went() -> None:
    assert given_when(ADA_HISTORY, MergeInto(ADA, COUNTESS)) == [
        CustomerMergedInto(customer_id=ADA, survivor_id=COUNTESS)
    ]


def test_the_survivor_takes_every_detail_it_lacked_and_the_purchases() -> None:
    duplicate = registered(ADA_IN_FULL)
    assert given_when([COUNTESS_REGISTERED], AbsorbDuplicate(COUNTESS, duplicate)) == [
        CustomersMerged(
            customer_id=COUNTESS,
            merged_id=ADA,
            email="ada@example.com",
            phone="+4930901820",
            birthday=BIRTHDAY,
            tags=("poet", "vip"),
            order_ids=("ord_1",),
        ),
        HOME.model_copy(update={"customer_id": COUNTESS}),
        CustomerPreferenceSet(customer_id=COUNTESS, key="tea", text="Earl Grey"),
        CustomerLifecycleStageChanged(
            customer_id=COUNTESS,
            from_stage=LifecycleStage.PROSPECT,
            to_stage=LifecycleStage.CUSTOMER,
            reason="purchases of a merged duplicate",
            caused_by=f"merge:{ADA}",
        ),
    ]


def test_the_survivor_keeps_what_it_had() -> None:
    survivor_history: list[DomainEvent] = [
        ADA_REGISTERED.model_copy(
            update={"customer_id": COUNTESS, "email": "countess@example.org"}
        ),
        HOME.model_copy(update={"customer_id": COUNTESS, "street": "Ockham Park"}),
        CustomerPreferenceSet(customer_id=COUNTESS, key="tea", text="Assam"),
        CustomerTagged(customer_id=COUNTESS, tags=("vip",)),
        CustomerPurchaseRecorded(customer_id=COUNTESS, order_id="ord_1", at=NOW),
    ]
    duplicate = registered(ADA_IN_FULL)
    (merged,) = given_when(survivor_history, AbsorbDuplicate(COUNTESS, duplicate))
    assert merged == CustomersMerged(
        customer_id=COUNTESS, merged_id=ADA, birthday=BIRTHDAY, tags=("poet",)
    )


def test_a_company_takes_the_duplicates_contact_persons() -> None:
    other = "cus_engines_2"
    duplicate = registered(
        [
            ENGINES_REGISTERED.model_copy(update={"customer_id": other}),
            BABBAGE.model_copy(update={"customer_id": other}),
        ]
    )
    assert given_when([ENGINES_REGISTERED], AbsorbDuplicate(ENGINES, duplicate)) == [
        CustomersMerged(customer_id=ENGINES, merged_id=other),
        ContactPersonAdded(
            customer_id=ENGINES,
            person_id="cp_1",
            name="Charles Babbage",
            role="Inventor",
            email="charles@example.com",
            phone="+442079460000",
        ),
    ]


def test_the_survivors_state_shows_the_merge() -> None:
    duplicate = registered(ADA_IN_FULL)
    history: list[DomainEvent] = [COUNTESS_REGISTERED]
    history += given_when(history, AbsorbDuplicate(COUNTESS, duplicate))
    state = registered(history)
    assert (state.merged_ids, state.email, state.birthday) == ((ADA,), "ada@example.com", BIRTHDAY)
    assert (state.order_ids, state.stage) == (frozenset({"ord_1"}), LifecycleStage.CUSTOMER)
    assert state.consents == {}  # consents were given for the duplicate's details


def test_a_deal_the_duplicate_bought_is_not_counted_again_for_the_survivor() -> None:
    deal = CustomerPurchaseRecorded(
        customer_id=ADA, order_id="ord_9", at=NOW, opportunity_id="opp_9"
    )
    duplicate = registered([*ADA_HISTORY, deal])
    history: list[DomainEvent] = [COUNTESS_REGISTERED]
    history += given_when(history, AbsorbDuplicate(COUNTESS, duplicate))
    (merged,) = [e for e in history if isinstance(e, CustomersMerged)]
    assert merged.opportunity_ids == ("opp_9",)
    assert "opp_9" in registered(history).opportunity_ids
    # The won deal, reported later for the survivor (the onboarding saga), is the same
    # purchase as the duplicate's order of it.
    won = RecordPurchase(COUNTESS, None, NOW, opportunity_id="opp_9")
    assert given_when(history, won) == []


def test_a_merged_duplicate_keeps_its_profile_and_is_erased_with_the_survivor() -> None:
    merged = fold([*ADA_HISTORY, CustomerMergedInto(customer_id=ADA, survivor_id=COUNTESS)])
    assert isinstance(merged, Merged)
    assert (merged.survivor_id, merged.profile.name, merged.owner_id) == (
        COUNTESS,
        "Ada Lovelace",
        "u1",
    )
    erased = fold([CustomerErased(customer_id=ADA)], merged)
    assert erased == Erased(
        customer_id=ADA, version=4, owner_id="u1", team="north", merged_into=COUNTESS
    )


NO_OPS = [
    (
        [*ADA_HISTORY, CustomerMergedInto(customer_id=ADA, survivor_id=COUNTESS)],
        MergeInto(ADA, COUNTESS),
        "merged into the same survivor again (a retried merge)",
    ),
    (
        [COUNTESS_REGISTERED, CustomersMerged(customer_id=COUNTESS, merged_id=ADA)],
        AbsorbDuplicate(COUNTESS, registered(ADA_HISTORY)),
        "the same duplicate absorbed again",
    ),
]

REFUSALS = [
    (ADA_HISTORY, MergeInto(ADA, ADA), InvalidCommand, "into itself", "merge into itself"),
    (
        [*ADA_HISTORY, CustomerMergedInto(customer_id=ADA, survivor_id=COUNTESS)],
        MergeInto(ADA, "cus_other"),
        CustomerWasMerged,
        "merged into cus_countess",
        "merge a duplicate already merged elsewhere",
    ),
    (
        [*ADA_HISTORY, ADA_ERASED],
        MergeInto(ADA, COUNTESS),
        CustomerWasErased,
        "was erased",
        "merge an erased customer",
    ),
    (
        [ENGINES_REGISTERED],
        AbsorbDuplicate(ENGINES, registered(ADA_HISTORY)),
        RuleViolated,
        "a person cannot be merged into a company",
        "a person into a company",
    ),
    (
        ADA_HISTORY,
        AbsorbDuplicate(ADA, registered(ADA_HISTORY)),
        InvalidCommand,
        "into itself",
        "absorb itself",
    ),
    (
        [*ADA_HISTORY, CustomerMergedInto(customer_id=ADA, survivor_id=COUNTESS)],
        AbsorbDuplicate(ADA, registered([COUNTESS_REGISTERED])),
        CustomerWasMerged,
        "merged into cus_countess",
        "a merged customer cannot be a survivor",
    ),
]


@pytest.mark.parametrize(("given", "when"), [pytest.param(g, w, id=i) for g, w, i in NO_OPS])
def test_a_merge_that_changes_nothing_decides_no_events(
    given: list[DomainEvent], when: CustomerCommand
) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [pytest.param(g, w, e, m, id=i) for g, w, e, m, i in REFUSALS],
)
def test_refuses_a_merge_the_rules_forbid(
    given: list[DomainEvent], when: CustomerCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)
