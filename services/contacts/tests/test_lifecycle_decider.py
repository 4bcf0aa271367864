"""Lifecycle stage rules: purchases move the buying stages, people the others, with reasons."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from decider_examples import ADA, ADA_ERASED, ADA_HISTORY, ADA_MERGED, NOW, given_when

from crm_contacts.domain.customer import (
    ChangeLifecycleStage,
    CustomerCommand,
    CustomerWasErased,
    CustomerWasMerged,
    InvalidCommand,
    RecordPurchase,
    Registered,
    RuleViolated,
    fold,
)
from crm_contracts.contacts import (
    CustomerLifecycleStageChanged,
    CustomerPurchaseRecorded,
    LifecycleStage,
)
from crm_contracts.registry import REGISTRY, DomainEvent

S = LifecycleStage
LATER = NOW + timedelta(days=7)


def bought(order_id: str, at: datetime = NOW, deal: str | None = None) -> CustomerPurchaseRecorded:
    return CustomerPurchaseRecorded(customer_id=ADA, order_id=order_id, at=at, opportunity_id=deal)


def won(opportunity_id: str, at: datetime = NOW) -> RecordPurchase:
    """The onboarding saga reports a won deal: its opportunity, no order yet."""
    return RecordPurchase(ADA, None, at, opportunity_id=opportunity_id)


def ordered(order_id: str, opportunity_id: str, at: datetime = LATER) -> RecordPurchase:
    """The pipeline's OrderPlaced: the order with the deal it belongs to."""
    return RecordPurchase(ADA, order_id, at, opportunity_id=opportunity_id)


def moved(frm: S, to: S, reason: str, caused_by: str) -> CustomerLifecycleStageChanged:
    return CustomerLifecycleStageChanged(
        customer_id=ADA, from_stage=frm, to_stage=to, reason=reason, caused_by=caused_by
    )


def by_hand(stage: S, reason: str | None = None) -> ChangeLifecycleStage:
    return ChangeLifecycleStage(ADA, stage, reason)


INTERESTED = [*ADA_HISTORY, moved(S.PROSPECT, S.INTERESTED, "asked for a demo", "manual")]
CUSTOMER = [
    *ADA_HISTORY,
    bought("ord_1"),
    moved(S.PROSPECT, S.CUSTOMER, "first purchase", "order:ord_1"),
]
REPEAT = [
    *CUSTOMER,
    bought("ord_2"),
    moved(S.CUSTOMER, S.REPEAT_CUSTOMER, "further purchase", "order:ord_2"),
]
WON_FIRST = [
    *ADA_HISTORY,
    bought("opp_1", deal="opp_1"),
    moved(S.PROSPECT, S.CUSTOMER, "first purchase", "opportunity:opp_1"),
]
"""The saga recorded the won deal opp_1 before its order."""
ORDERED_FIRST = [
    *ADA_HISTORY,
    bought("ord_1", LATER, deal="opp_1"),
    moved(S.PROSPECT, S.CUSTOMER, "first purchase", "order:ord_1"),
]
"""The pipeline's order ord_1 of deal opp_1 came before the saga."""
WON_BEFORE_OPPORTUNITIES = [
    *ADA_HISTORY,
    bought("opp_1"),
    moved(S.PROSPECT, S.CUSTOMER, "first purchase", "order:opp_1"),
]
"""A version 1 record of the saga: the opportunity id as the order id, no opportunity."""
AT_RISK = [*REPEAT, moved(S.REPEAT_CUSTOMER, S.AT_RISK, "no order for 6 months", "manual")]
AT_RISK_ONCE = [*CUSTOMER, moved(S.CUSTOMER, S.AT_RISK, "complained twice", "manual")]
CHURNED = [*AT_RISK, moved(S.AT_RISK, S.CHURNED, "went to a competitor", "manual")]

DECIDES = [
    (
        ADA_HISTORY,
        RecordPurchase(ADA, "ord_1", NOW),
        [bought("ord_1"), moved(S.PROSPECT, S.CUSTOMER, "first purchase", "order:ord_1")],
        "a prospect's first purchase makes a customer",
    ),
    (
        INTERESTED,
        RecordPurchase(ADA, "ord_1", NOW),
        [bought("ord_1"), moved(S.INTERESTED, S.CUSTOMER, "first purchase", "order:ord_1")],
        "an interested one's first purchase makes a customer",
    ),
    (
        CUSTOMER,
        RecordPurchase(ADA, "ord_2", LATER),
        [
            bought("ord_2", LATER),
            moved(S.CUSTOMER, S.REPEAT_CUSTOMER, "further purchase", "order:ord_2"),
        ],
        "a further purchase makes a repeat customer",
    ),
    (
        REPEAT,
        RecordPurchase(ADA, "ord_3", LATER),
        [bought("ord_3", LATER)],
        "a repeat customer stays one",
    ),
    (
        AT_RISK,
        RecordPurchase(ADA, "ord_3", LATER),
        [
            bought("ord_3", LATER),
            moved(S.AT_RISK, S.REPEAT_CUSTOMER, "purchase while at risk", "order:ord_3"),
        ],
        "a purchase brings an at-risk customer back",
    ),
    (
        CHURNED,
        RecordPurchase(ADA, "ord_3", LATER),
        [
            bought("ord_3", LATER),
            moved(S.CHURNED, S.REPEAT_CUSTOMER, "purchase after churn", "order:ord_3"),
        ],
        "a purchase wins a churned customer back",
    ),
    (
        ADA_HISTORY,
        won("opp_1"),
        [
            bought("opp_1", deal="opp_1"),
            moved(S.PROSPECT, S.CUSTOMER, "first purchase", "opportunity:opp_1"),
        ],
        "a won deal before its order is a first purchase, recorded under its opportunity",
    ),
    (
        ADA_HISTORY,
        ordered("ord_1", "opp_1"),
        [
            bought("ord_1", LATER, deal="opp_1"),
            moved(S.PROSPECT, S.CUSTOMER, "first purchase", "order:ord_1"),
        ],
        "an order names its deal",
    ),
    (
        WON_FIRST,
        ordered("ord_2", "opp_2"),
        [
            bought("ord_2", LATER, deal="opp_2"),
            moved(S.CUSTOMER, S.REPEAT_CUSTOMER, "further purchase", "order:ord_2"),
        ],
        "the order of another deal makes a repeat customer",
    ),
    (
        ORDERED_FIRST,
        won("opp_2", LATER),
        [
            bought("opp_2", LATER, deal="opp_2"),
            moved(S.CUSTOMER, S.REPEAT_CUSTOMER, "further purchase", "opportunity:opp_2"),
        ],
        "another won deal makes a repeat customer",
    ),
    (
        ADA_HISTORY,
        by_hand(S.INTERESTED, "asked for a demo"),
        [moved(S.PROSPECT, S.INTERESTED, "asked for a demo", "manual")],
        "a prospect shows interest",
    ),
    (
        ADA_HISTORY,
        by_hand(S.INTERESTED),
        [moved(S.PROSPECT, S.INTERESTED, "changed by hand", "manual")],
        "interest without a reason",
    ),
    (
        REPEAT,
        by_hand(S.AT_RISK, " no order for  6 months "),
        [moved(S.REPEAT_CUSTOMER, S.AT_RISK, "no order for 6 months", "manual")],
        "a repeat customer at risk, the reason tidied",
    ),
    (
        CUSTOMER,
        by_hand(S.CHURNED, "closed the account"),
        [moved(S.CUSTOMER, S.CHURNED, "closed the account", "manual")],
        "a customer churned",
    ),
    (
        AT_RISK,
        by_hand(S.CHURNED, "went to a competitor"),
        [moved(S.AT_RISK, S.CHURNED, "went to a competitor", "manual")],
        "at risk, then churned",
    ),
    (
        AT_RISK,
        by_hand(S.REPEAT_CUSTOMER, "risk resolved"),
        [moved(S.AT_RISK, S.REPEAT_CUSTOMER, "risk resolved", "manual")],
        "back from at risk to what two purchases earned",
    ),
    (
        AT_RISK_ONCE,
        by_hand(S.CUSTOMER, "risk resolved"),
        [moved(S.AT_RISK, S.CUSTOMER, "risk resolved", "manual")],
        "back from at risk to what one purchase earned",
    ),
]

NO_OPS = [
    (CUSTOMER, RecordPurchase(ADA, "ord_1", NOW), "the same order again (a redelivery)"),
    (REPEAT, RecordPurchase(ADA, "ord_1", LATER), "an old order again, whatever its time"),
    (WON_FIRST, ordered("ord_1", "opp_1"), "the order of a deal the saga recorded as won"),
    (ORDERED_FIRST, won("opp_1"), "a won deal whose order was recorded"),
    (WON_FIRST, won("opp_1", LATER), "the won deal again (a redelivery)"),
    (ORDERED_FIRST, ordered("ord_1", "opp_1"), "the order again (a redelivery)"),
    (
        ORDERED_FIRST,
        ordered("ord_9", "opp_1"),
        "another order of a counted deal: one purchase per deal",
    ),
    (
        WON_BEFORE_OPPORTUNITIES,
        ordered("ord_1", "opp_1"),
        "the order of a deal a version 1 saga record named as its order",
    ),
    (WON_BEFORE_OPPORTUNITIES, won("opp_1"), "a won deal a version 1 saga record counted"),
    (INTERESTED, by_hand(S.INTERESTED), "the stage it is in"),
    (AT_RISK, by_hand(S.AT_RISK, "still quiet"), "at risk again"),
]

REFUSALS = [
    (
        REPEAT,
        by_hand(S.AT_RISK),
        InvalidCommand,
        "a reason is needed to mark a customer at_risk",
        "at risk without a reason",
    ),
    (
        REPEAT,
        by_hand(S.CHURNED, "   "),
        InvalidCommand,
        "reason is needed",
        "churned, blank reason",
    ),
    (
        CUSTOMER,
        by_hand(S.PROSPECT),
        RuleViolated,
        "never goes back to prospect",
        "back to prospect",
    ),
    (
        CUSTOMER,
        by_hand(S.INTERESTED),
        RuleViolated,
        "only a customer who is prospect",
        "a customer cannot become interested",
    ),
    (
        ADA_HISTORY,
        by_hand(S.AT_RISK, "quiet"),
        RuleViolated,
        "only a customer who is customer, repeat_customer can become at_risk",
        "a prospect cannot be at risk",
    ),
    (
        INTERESTED,
        by_hand(S.CHURNED, "gone"),
        RuleViolated,
        "can become churned",
        "an interested prospect cannot churn",
    ),
    (
        CHURNED,
        by_hand(S.AT_RISK, "quiet"),
        RuleViolated,
        "can become at_risk",
        "churned cannot become at risk",
    ),
    (
        ADA_HISTORY,
        by_hand(S.CUSTOMER),
        RuleViolated,
        "follows from purchases",
        "a customer only by a purchase",
    ),
    (
        CUSTOMER,
        by_hand(S.REPEAT_CUSTOMER),
        RuleViolated,
        "follows from purchases",
        "a repeat customer only by a purchase",
    ),
    (
        AT_RISK,
        by_hand(S.CUSTOMER),
        RuleViolated,
        "follows from purchases",
        "back from at risk only to what the purchases earned",
    ),
    (
        CHURNED,
        by_hand(S.REPEAT_CUSTOMER),
        RuleViolated,
        "follows from purchases",
        "a churned customer comes back only by a purchase",
    ),
    (
        ADA_HISTORY,
        RecordPurchase(ADA, None, NOW),
        InvalidCommand,
        "a purchase needs an order id or an opportunity id",
        "a purchase of nothing",
    ),
    (
        [*ADA_HISTORY, ADA_ERASED],
        RecordPurchase(ADA, "ord_1", NOW),
        CustomerWasErased,
        "was erased",
        "a purchase of an erased customer",
    ),
    (
        [*ADA_HISTORY, ADA_MERGED],
        RecordPurchase(ADA, "ord_1", NOW),
        CustomerWasMerged,
        "merged into cus_countess",
        "a purchase of a merged customer goes to its survivor",
    ),
]


@pytest.mark.parametrize(
    ("given", "when", "then"), [pytest.param(g, w, t, id=i) for g, w, t, i in DECIDES]
)
def test_decides_events(
    given: list[DomainEvent], when: CustomerCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(("given", "when"), [pytest.param(g, w, id=i) for g, w, i in NO_OPS])
def test_a_command_that_changes_nothing_decides_no_events(
    given: list[DomainEvent], when: CustomerCommand
) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [pytest.param(g, w, e, m, id=i) for g, w, e, m, i in REFUSALS],
)
def test_refuses_what_the_rules_forbid(
    given: list[DomainEvent], when: CustomerCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


@pytest.mark.parametrize(
    ("history", "stage", "purchases"),
    [
        pytest.param(ADA_HISTORY, S.PROSPECT, 0, id="a new customer is a prospect"),
        pytest.param(INTERESTED, S.INTERESTED, 0, id="interested"),
        pytest.param(REPEAT, S.REPEAT_CUSTOMER, 2, id="two purchases"),
        pytest.param(CHURNED, S.CHURNED, 2, id="churned keeps its purchases"),
    ],
)
def test_the_state_knows_the_stage_and_the_orders(
    history: list[DomainEvent], stage: S, purchases: int
) -> None:
    state = fold(history)
    assert isinstance(state, Registered)
    assert (state.stage, len(state.order_ids)) == (stage, purchases)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        pytest.param(won("opp_1"), ordered("ord_1", "opp_1"), id="saga first, then the order"),
        pytest.param(ordered("ord_1", "opp_1"), won("opp_1"), id="the order first, then saga"),
    ],
)
def test_a_won_deal_and_its_order_are_one_purchase_whichever_comes_first(
    first: RecordPurchase, then: RecordPurchase
) -> None:
    history = [*ADA_HISTORY, *given_when(ADA_HISTORY, first)]
    assert given_when(history, then) == []
    state = fold(history)
    assert isinstance(state, Registered)
    assert (state.stage, len(state.order_ids), state.opportunity_ids) == (
        S.CUSTOMER,
        1,
        frozenset({"opp_1"}),
    )


def test_two_deals_won_and_ordered_in_any_interleaving_are_two_purchases() -> None:
    history = list(ADA_HISTORY)
    for command in (
        won("opp_1"),
        ordered("ord_2", "opp_2"),
        ordered("ord_1", "opp_1"),
        won("opp_2"),
        won("opp_1"),  # redelivered
        ordered("ord_2", "opp_2"),  # redelivered
    ):
        history += given_when(history, command)
    state = fold(history)
    assert isinstance(state, Registered)
    assert (state.stage, state.order_ids, state.opportunity_ids) == (
        S.REPEAT_CUSTOMER,
        frozenset({"opp_1", "ord_2"}),
        frozenset({"opp_1", "opp_2"}),
    )


def test_a_version_1_purchase_reads_as_one_without_an_opportunity() -> None:
    v1 = {"customer_id": ADA, "order_id": "opp_1", "at": NOW.isoformat()}
    event = REGISTRY.parse(CustomerPurchaseRecorded.event_type, 1, v1)
    assert event == bought("opp_1")
