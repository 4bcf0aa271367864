"""Lifecycle stage rules: prospect -> interested -> customer -> repeat customer; at risk, churned.

Purchases drive the buying stages: the first makes a prospect (or an interested one) a
customer, a further one makes a customer a repeat customer, and a purchase brings an
at-risk or churned customer back. People move customers manually only where no
purchase can tell: interested, at risk, churned (with a reason), and back from at risk.
"""

from __future__ import annotations

from crm_contacts.domain.commands import ChangeLifecycleStage, RecordPurchase
from crm_contacts.domain.errors import InvalidCommand, RuleViolated
from crm_contacts.domain.state import Registered
from crm_contracts.contacts import (
    CustomerLifecycleStageChanged,
    CustomerPurchaseRecorded,
    LifecycleStage,
)
from crm_contracts.registry import DomainEvent

Stage = LifecycleStage
BUYING = frozenset({Stage.CUSTOMER, Stage.REPEAT_CUSTOMER})
NEEDS_REASON = frozenset({Stage.AT_RISK, Stage.CHURNED})
MANUAL_MOVES: dict[Stage, frozenset[Stage]] = {
    # to: from
    Stage.INTERESTED: frozenset({Stage.PROSPECT}),
    Stage.AT_RISK: frozenset({Stage.CUSTOMER, Stage.REPEAT_CUSTOMER}),
    Stage.CHURNED: frozenset({Stage.CUSTOMER, Stage.REPEAT_CUSTOMER, Stage.AT_RISK}),
}
PURCHASE_REASONS = {
    Stage.PROSPECT: "first purchase",
    Stage.INTERESTED: "first purchase",
    Stage.CUSTOMER: "further purchase",
    Stage.AT_RISK: "purchase while at risk",
    Stage.CHURNED: "purchase after churn",
}


def stage_bought(purchases: int) -> Stage:
    """The buying stage a number of purchases (at least one) earns."""
    return Stage.CUSTOMER if purchases == 1 else Stage.REPEAT_CUSTOMER


def record_purchase(command: RecordPurchase, state: Registered) -> list[DomainEvent]:
    """Count the purchase unless its order or its deal was counted before.

    The pipeline reports a purchase per order (OrderPlaced, with its opportunity) and the
    onboarding saga one per won deal (its opportunity, no order yet): both are the same
    purchase, so either id seen before makes it a no-op. The ids seen are the orders and
    opportunities of the purchases recorded; an order id doubles as what a purchase without
    an order was recorded under (its opportunity), and before opportunities were recorded
    the saga used the opportunity id as the order id: both are looked up in either set.
    """
    reference = command.order_id or command.opportunity_id
    if not reference:
        raise InvalidCommand("a purchase needs an order id or an opportunity id")
    seen = state.order_ids | state.opportunity_ids
    opportunity = command.opportunity_id
    if reference in seen or (opportunity is not None and opportunity in seen):
        return []  # a redelivery, or the same deal reported again: counted once
    events: list[DomainEvent] = [
        CustomerPurchaseRecorded(
            customer_id=state.customer_id,
            order_id=reference,
            at=command.at,
            opportunity_id=command.opportunity_id,
        )
    ]
    to = stage_bought(len(state.order_ids) + 1)
    if to is not state.stage:
        cause = "order" if command.order_id else "opportunity"
        events.append(
            CustomerLifecycleStageChanged(
                customer_id=state.customer_id,
                from_stage=state.stage,
                to_stage=to,
                reason=PURCHASE_REASONS[state.stage],
                caused_by=f"{cause}:{reference}",
            )
        )
    return events


def change_stage(command: ChangeLifecycleStage, state: Registered) -> list[DomainEvent]:
    reason = " ".join((command.reason or "").split())
    to = command.stage
    if to in NEEDS_REASON and not reason:
        raise InvalidCommand(f"a reason is needed to mark a customer {to.value}")
    if to is state.stage:
        return []
    if to is Stage.PROSPECT:
        raise RuleViolated("a customer never goes back to prospect")
    if to in BUYING:
        earned = stage_bought(len(state.order_ids)) if state.order_ids else None
        if state.stage is not Stage.AT_RISK or to is not earned:
            raise RuleViolated(
                f"{to.value} follows from purchases; by hand only an at-risk customer goes back "
                "to the stage its purchases earned"
            )
    elif state.stage not in MANUAL_MOVES[to]:
        allowed = ", ".join(sorted(s.value for s in MANUAL_MOVES[to]))
        raise RuleViolated(f"only a customer who is {allowed} can become {to.value}")
    return [
        CustomerLifecycleStageChanged(
            customer_id=state.customer_id,
            from_stage=state.stage,
            to_stage=to,
            reason=reason or "changed by hand",
            caused_by="manual",
        )
    ]


def stage_after_merge(state: Registered, purchases: int, merged_id: str) -> list[DomainEvent]:
    """A merge that brings purchases may earn the survivor a buying stage."""
    if purchases == 0 or state.stage in NEEDS_REASON | {Stage.REPEAT_CUSTOMER}:
        return []
    to = stage_bought(purchases)
    if to is state.stage:
        return []
    return [
        CustomerLifecycleStageChanged(
            customer_id=state.customer_id,
            from_stage=state.stage,
            to_stage=to,
            reason="purchases of a merged duplicate",
            caused_by=f"merge:{merged_id}",
        )
    ]
