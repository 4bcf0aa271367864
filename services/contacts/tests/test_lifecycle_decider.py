"""Lifecycle stage rules: purchases move the buying stages, people the others, with reasons."""

from __future__ import annotations

from datetime import timedelta

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
from crm_contracts.registry import DomainEvent

S = LifecycleStage
LATER = NOW + timedelta(days=7)


def bought(order_id: str, at=NOW) -> CustomerPurchaseRecorded:  # type: ignore[no-untyped-def]
    return CustomerPurchaseRecorded(customer_id=ADA, order_id=order_id, at=at)


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
