"""The handover decider: a plan dealt round-robin by customer id, resumable, completed once."""

from __future__ import annotations

import pytest

from crm_contacts.domain.customer import InvalidCommand, RuleViolated
from crm_contacts.domain.handover import (
    CompleteHandover,
    Handover,
    HandoverCommand,
    HandoverNotFound,
    StartHandover,
    decide,
    fold,
    plan,
)
from crm_contracts.contacts import HandoverCompleted, HandoverMove, HandoverSkip, HandoverStarted
from crm_contracts.registry import DomainEvent

HOV = "hov_1"


def move(customer_id: str, owner_id: str) -> HandoverMove:
    return HandoverMove(customer_id=customer_id, owner_id=owner_id)


START = StartHandover(HOV, "u1", ("u2", "u3"), "left the company", ("cus_c", "cus_a", "cus_b"))
STARTED = HandoverStarted(
    handover_id=HOV,
    leaving_rep_id="u1",
    successor_ids=("u2", "u3"),
    reason="left the company",
    moves=(move("cus_a", "u2"), move("cus_b", "u3"), move("cus_c", "u2")),
)
SKIPPED = (HandoverSkip(customer_id="cus_c", reason="customer was erased"),)
COMPLETE = CompleteHandover(HOV, (move("cus_a", "u2"), move("cus_b", "u3")), SKIPPED)
COMPLETED = HandoverCompleted(
    handover_id=HOV, moved=(move("cus_a", "u2"), move("cus_b", "u3")), skipped=SKIPPED
)


@pytest.mark.parametrize(
    ("customers", "successors", "expected"),
    [
        pytest.param(
            ["c3", "c1", "c2", "c4"],
            ["x", "y"],
            [("c1", "x"), ("c2", "y"), ("c3", "x"), ("c4", "y")],
            id="two successors take turns in id order",
        ),
        pytest.param(
            ["c2", "c1"],
            ["x", "y", "z"],
            [("c1", "x"), ("c2", "y")],
            id="more successors than customers",
        ),
        pytest.param(["c1", "c1"], ["x"], [("c1", "x")], id="a customer listed twice moves once"),
        pytest.param([], ["x"], [], id="no customers, no moves"),
    ],
)
def test_the_plan_is_round_robin_by_customer_id(
    customers: list[str], successors: list[str], expected: list[tuple[str, str]]
) -> None:
    assert plan(customers, successors) == tuple(move(c, o) for c, o in expected)


@pytest.mark.parametrize(
    ("given", "when", "then"),
    [
        pytest.param([], START, [STARTED], id="start: the plan is recorded"),
        pytest.param([STARTED], START, [], id="start again: resumes with the plan it has"),
        pytest.param([STARTED], COMPLETE, [COMPLETED], id="complete with what moved and why not"),
        pytest.param([STARTED, COMPLETED], COMPLETE, [], id="complete again changes nothing"),
    ],
)
def test_decides(given: list[DomainEvent], when: HandoverCommand, then: list[DomainEvent]) -> None:
    assert decide(when, fold(given)) == then


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [
        pytest.param(
            [],
            StartHandover(HOV, "u1", (), "left", ()),
            InvalidCommand,
            "at least one successor",
            id="no successor",
        ),
        pytest.param(
            [],
            StartHandover(HOV, "u1", ("u2", "u2"), "left", ()),
            InvalidCommand,
            "named once",
            id="a successor twice",
        ),
        pytest.param(
            [],
            StartHandover(HOV, "u1", ("u1",), "left", ()),
            InvalidCommand,
            "their own successor",
            id="the leaving rep as successor",
        ),
        pytest.param(
            [],
            StartHandover(HOV, "u1", ("u2",), "  ", ()),
            InvalidCommand,
            "needs a reason",
            id="no reason",
        ),
        pytest.param(
            [STARTED],
            StartHandover(HOV, "u1", ("u9",), "left the company", ()),
            RuleViolated,
            "started with other reps",
            id="the same id for another handover",
        ),
        pytest.param(
            [],
            COMPLETE,
            HandoverNotFound,
            "no handover with id hov_1",
            id="complete one never started",
        ),
    ],
)
def test_refuses(
    given: list[DomainEvent], when: HandoverCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        decide(when, fold(given))


def test_the_state_holds_the_plan_then_the_outcome() -> None:
    started = fold([STARTED])
    assert isinstance(started, Handover)
    assert (started.completed, started.moves, started.version) == (False, STARTED.moves, 1)
    done = fold([COMPLETED], started)
    assert isinstance(done, Handover)
    assert (done.completed, done.moved, done.skipped, done.version) == (
        True,
        COMPLETED.moved,
        SKIPPED,
        2,
    )
