"""The opportunity decider hands an open deal over: to another rep, perhaps another team."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from crm_contracts.pipeline import (
    OpportunityLost,
    OpportunityOpened,
    OpportunityReassigned,
    OpportunityReopened,
    OpportunityStageMoved,
    OpportunityWon,
    Outcome,
    Stage,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain.errors import InvalidInput, NotFound, WrongState
from crm_pipeline.domain.opportunity import (
    LoseOpportunity,
    Opportunity,
    OpportunityCommand,
    ReassignOpportunity,
    WinOpportunity,
    decide,
    fold,
)

OPP = "opp_7f3a"
OPENED = OpportunityOpened(
    opportunity_id=OPP,
    customer_id="cus_acme",
    title="40 seats",
    amount=Decimal("48000.00"),
    currency="EUR",
    stage=Stage.QUALIFICATION,
    probability=10,
    expected_close_date=date(2027, 3, 31),
    owner_id="u1",
    team="north",
)
TO_PROPOSAL = OpportunityStageMoved(
    opportunity_id=OPP, from_stage=Stage.QUALIFICATION, to_stage=Stage.PROPOSAL, probability=50
)
WON = OpportunityWon(
    opportunity_id=OPP,
    customer_id="cus_acme",
    owner_id="u1",
    team="north",
    from_stage=Stage.PROPOSAL,
    amount=Decimal("48000.00"),
    currency="EUR",
    probability=100,
)
LOST = OpportunityLost(
    opportunity_id=OPP,
    owner_id="u1",
    team="north",
    from_stage=Stage.PROPOSAL,
    reason="chose a competitor",
    probability=0,
)
REOPENED = OpportunityReopened(
    opportunity_id=OPP, previous_outcome=Outcome.LOST, stage=Stage.PROPOSAL, probability=50
)
IN_PROPOSAL = [OPENED, TO_PROPOSAL]
REASON = "u1 left the company"


def reassign(owner_id: str = "u2", team: str | None = None, **changes: Any) -> ReassignOpportunity:
    return ReassignOpportunity(
        **{"opportunity_id": OPP, "owner_id": owner_id, "reason": REASON, "by": "m1",
           "team": team, **changes}
    )  # fmt: skip


def reassigned(**changes: Any) -> OpportunityReassigned:
    fields = {
        "opportunity_id": OPP,
        "customer_id": "cus_acme",
        "owner_id": "u2",
        "previous_owner_id": "u1",
        "team": "north",
        "previous_team": "north",
        "reason": REASON,
        "reassigned_by": "m1",
    }
    return OpportunityReassigned(**{**fields, **changes})


TO_U2 = reassigned()


def given_when(given: list[DomainEvent], when: OpportunityCommand) -> list[DomainEvent]:
    return decide(when, fold(given))


@pytest.mark.parametrize(
    ("given", "when", "then"),
    [
        pytest.param(IN_PROPOSAL, reassign(), [TO_U2], id="to another rep: the team stays"),
        pytest.param([OPENED], reassign(), [TO_U2], id="in the first stage"),
        pytest.param(
            IN_PROPOSAL, reassign(team="south"), [reassigned(team="south")],
            id="to a rep of another team",
        ),
        pytest.param(
            IN_PROPOSAL, reassign("u1", team="south"),
            [reassigned(owner_id="u1", team="south")],
            id="the same rep moved to another team",
        ),
        pytest.param(
            [OPENED.model_copy(update={"team": None})], reassign(),
            [reassigned(team=None, previous_team=None)],
            id="a deal of no team stays of no team",
        ),
        pytest.param(
            [OPENED.model_copy(update={"team": None})], reassign(team="north"),
            [reassigned(previous_team=None)],
            id="a deal of no team given a team",
        ),
        pytest.param(
            [*IN_PROPOSAL, TO_U2], reassign("u3", team="south"),
            [reassigned(owner_id="u3", previous_owner_id="u2", team="south")],
            id="handed on again: the previous owner is the latest",
        ),
        pytest.param(
            [*IN_PROPOSAL, LOST, REOPENED], reassign(), [TO_U2], id="a reopened deal",
        ),
        pytest.param(
            IN_PROPOSAL, reassign(" u2 ", reason=" u1  left \n the company ", by="sagas"),
            [reassigned(reassigned_by="sagas")],
            id="names and reason trimmed, by a service",
        ),
    ],
)  # fmt: skip
def test_an_open_deal_is_handed_over(
    given: list[DomainEvent], when: OpportunityCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(
    ("given", "when"),
    [
        pytest.param(IN_PROPOSAL, reassign("u1"), id="to its owner, team left out"),
        pytest.param(IN_PROPOSAL, reassign("u1", team="north"), id="to its owner and team"),
        pytest.param([*IN_PROPOSAL, TO_U2], reassign(), id="handed over again (a retry)"),
        pytest.param(
            [OPENED.model_copy(update={"team": None})],
            reassign("u1"),
            id="of no team, to its owner",
        ),
    ],
)
def test_handing_a_deal_to_whom_it_has_decides_no_events(
    given: list[DomainEvent], when: OpportunityCommand
) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [
        pytest.param([], reassign(), NotFound, "no opportunity with id opp_7f3a", id="unknown"),
        pytest.param([*IN_PROPOSAL, WON], reassign(), WrongState,
                     "opportunity opp_7f3a is won; reopen it before reassigning it", id="won"),
        pytest.param([*IN_PROPOSAL, LOST], reassign(), WrongState,
                     "is lost; reopen it before reassigning it", id="lost"),
        pytest.param([*IN_PROPOSAL, WON], reassign("u1"), WrongState, "is won",
                     id="won, even to its owner"),
        pytest.param(IN_PROPOSAL, reassign(reason=" \t"), InvalidInput,
                     "reason: must not be blank", id="without a reason"),
        pytest.param(IN_PROPOSAL, reassign(reason="x" * 501), InvalidInput,
                     "reason: must be at most 500 characters", id="a reason too long"),
        pytest.param(IN_PROPOSAL, reassign("  "), InvalidInput, "owner_id: must not be blank",
                     id="to nobody"),
        pytest.param(IN_PROPOSAL, reassign(team=" "), InvalidInput, "team: must not be blank",
                     id="to a blank team"),
        pytest.param(IN_PROPOSAL, reassign("u1", reason=""), InvalidInput, "reason",
                     id="without a reason, even to its owner"),
    ],
)  # fmt: skip
def test_refuses_what_the_rules_do_not_allow(
    given: list[DomainEvent], when: OpportunityCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


@pytest.mark.parametrize(
    ("closed", "title"), [(WON, "Opportunity is won"), (LOST, "Opportunity is lost")]
)
def test_a_closed_deal_stays_with_whoever_closed_it(closed: DomainEvent, title: str) -> None:
    with pytest.raises(WrongState) as refused:
        given_when([*IN_PROPOSAL, closed], reassign())
    assert refused.value.title == title


def test_the_new_owner_and_team_are_folded() -> None:
    state = fold([*IN_PROPOSAL, reassigned(owner_id="u3", team="south")])
    assert isinstance(state, Opportunity)
    assert (state.owner_id, state.team, state.stage, state.is_open) == (
        "u3",
        "south",
        Stage.PROPOSAL,
        True,
    )


def test_the_deal_is_won_and_lost_in_the_new_owners_name() -> None:
    handed = [*IN_PROPOSAL, reassigned(owner_id="u3", team="south")]
    (won,) = given_when(handed, WinOpportunity(OPP))
    assert won == WON.model_copy(update={"owner_id": "u3", "team": "south"})
    (lost,) = given_when(handed, LoseOpportunity(OPP, "chose a competitor"))
    assert lost == LOST.model_copy(update={"owner_id": "u3", "team": "south"})
