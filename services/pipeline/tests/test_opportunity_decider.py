"""The opportunity decider: stages and probabilities, amounts, close dates, win, lose, reopen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from crm_contracts.pipeline import (
    LeadCaptured,
    LeadQualified,
    LeadSource,
    OpportunityAmountChanged,
    OpportunityCloseDateChanged,
    OpportunityLost,
    OpportunityOpened,
    OpportunityReopened,
    OpportunityStageMoved,
    OpportunityWon,
    Outcome,
    Stage,
)
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain import lead
from crm_pipeline.domain.errors import AlreadyExists, InvalidInput, NotFound, WrongState
from crm_pipeline.domain.opportunity import (
    DEFAULT_PROBABILITIES,
    ChangeOpportunityDetails,
    LoseOpportunity,
    MoveStage,
    OpenOpportunity,
    Opportunity,
    OpportunityCommand,
    OpportunityTerms,
    ReopenOpportunity,
    WinOpportunity,
    decide,
    fold,
    opening_for,
    probability_table,
)

OPP = "opp_7f3a"
CLOSE = date(2027, 3, 31)
OPENED = OpportunityOpened(
    opportunity_id=OPP,
    customer_id="cus_acme",
    title="40 seats",
    amount=Decimal("48000.00"),
    currency="EUR",
    stage=Stage.QUALIFICATION,
    probability=10,
    expected_close_date=CLOSE,
    owner_id="u1",
    team="north",
)
OPEN_IT = OpenOpportunity(
    opportunity_id=OPP,
    customer_id="cus_acme",
    title="40 seats",
    amount=Decimal("48000"),
    currency="EUR",
    expected_close_date=CLOSE,
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
IN_PROPOSAL = [OPENED, TO_PROPOSAL]
CUSTOM = {
    Stage.QUALIFICATION: 5,
    Stage.NEEDS_ANALYSIS: 15,
    Stage.PROPOSAL: 40,
    Stage.NEGOTIATION: 90,
}


def given_when(
    given: list[DomainEvent], when: OpportunityCommand, table: Any = DEFAULT_PROBABILITIES
) -> list[DomainEvent]:
    return decide(when, fold(given), table)


def opened(**changes: Any) -> OpportunityOpened:
    return OPENED.model_copy(update=changes)


@pytest.mark.parametrize(
    ("given", "when", "then"),
    [
        pytest.param([], OPEN_IT, [OPENED], id="open in qualification at 10%"),
        pytest.param(
            [],
            OpenOpportunity(OPP, "cus_acme", " 40  seats ", Decimal("48000.5"), "EUR", CLOSE, "u1",
                            "north", stage=Stage.NEGOTIATION),
            [opened(amount=Decimal("48000.50"), stage=Stage.NEGOTIATION, probability=75)],
            id="open in a later stage with its probability",
        ),
        pytest.param(
            [], OpenOpportunity(OPP, "cus_acme", "40 seats", 48000, "EUR", CLOSE, "u1", "north"),
            [OPENED], id="an integer amount is exact",
        ),
        pytest.param(
            [],
            OpenOpportunity(OPP, "cus_acme", "t", Decimal("0.01"), "JPY", date(2020, 1, 1), "u1"),
            [OpportunityOpened(opportunity_id=OPP, customer_id="cus_acme", title="t",
                               amount=Decimal("0.01"), currency="JPY", stage=Stage.QUALIFICATION,
                               probability=10, expected_close_date=date(2020, 1, 1),
                               owner_id="u1")],
            id="the smallest amount, a past close date, no team",
        ),
        pytest.param(
            IN_PROPOSAL[:1], MoveStage(OPP, Stage.NEEDS_ANALYSIS),
            [OpportunityStageMoved(opportunity_id=OPP, from_stage=Stage.QUALIFICATION,
                                   to_stage=Stage.NEEDS_ANALYSIS, probability=20)],
            id="move forward one stage",
        ),
        pytest.param(IN_PROPOSAL[:1], MoveStage(OPP, Stage.PROPOSAL), [TO_PROPOSAL],
                     id="move forward past a stage"),
        pytest.param(
            IN_PROPOSAL, MoveStage(OPP, Stage.QUALIFICATION),
            [OpportunityStageMoved(opportunity_id=OPP, from_stage=Stage.PROPOSAL,
                                   to_stage=Stage.QUALIFICATION, probability=10)],
            id="move back",
        ),
        pytest.param(
            IN_PROPOSAL, ChangeOpportunityDetails(OPP, amount=Decimal("52000.5")),
            [OpportunityAmountChanged(opportunity_id=OPP, amount=Decimal("52000.50"),
                                      previous_amount=Decimal("48000"), currency="EUR")],
            id="change the amount",
        ),
        pytest.param(
            IN_PROPOSAL, ChangeOpportunityDetails(OPP, expected_close_date=date(2027, 4, 30)),
            [OpportunityCloseDateChanged(opportunity_id=OPP, expected_close_date=date(2027, 4, 30),
                                         previous_close_date=CLOSE)],
            id="change the close date",
        ),
        pytest.param(
            IN_PROPOSAL,
            ChangeOpportunityDetails(OPP, amount=Decimal(1), expected_close_date=date(2027, 1, 1)),
            [OpportunityAmountChanged(opportunity_id=OPP, amount=Decimal("1.00"),
                                      previous_amount=Decimal("48000"), currency="EUR"),
             OpportunityCloseDateChanged(opportunity_id=OPP, expected_close_date=date(2027, 1, 1),
                                         previous_close_date=CLOSE)],
            id="change both: one event each",
        ),
        pytest.param(
            IN_PROPOSAL, ChangeOpportunityDetails(OPP, amount=Decimal("48000.00"),
                                                  expected_close_date=date(2027, 1, 1)),
            [OpportunityCloseDateChanged(opportunity_id=OPP, expected_close_date=date(2027, 1, 1),
                                         previous_close_date=CLOSE)],
            id="only what differs changes",
        ),
        pytest.param(IN_PROPOSAL, WinOpportunity(OPP), [WON], id="win at the current amount"),
        pytest.param(
            [OPENED, OpportunityAmountChanged(opportunity_id=OPP, amount=Decimal("50000"),
                                              previous_amount=Decimal("48000"), currency="EUR")],
            WinOpportunity(OPP),
            [WON.model_copy(update={"amount": Decimal("50000"),
                                    "from_stage": Stage.QUALIFICATION})],
            id="win from any open stage, at the changed amount",
        ),
        pytest.param(IN_PROPOSAL, LoseOpportunity(OPP, " chose a  competitor"), [LOST],
                     id="lose with a reason"),
        pytest.param(
            [*IN_PROPOSAL, WON], ReopenOpportunity(OPP),
            [OpportunityReopened(opportunity_id=OPP, previous_outcome=Outcome.WON,
                                 stage=Stage.PROPOSAL, probability=50)],
            id="reopen a won deal in the stage it was won from",
        ),
        pytest.param(
            [*IN_PROPOSAL, LOST], ReopenOpportunity(OPP, Stage.NEGOTIATION),
            [OpportunityReopened(opportunity_id=OPP, previous_outcome=Outcome.LOST,
                                 stage=Stage.NEGOTIATION, probability=75)],
            id="reopen a lost deal in a stage of choice",
        ),
        pytest.param(
            [*IN_PROPOSAL, LOST,
             OpportunityReopened(opportunity_id=OPP, previous_outcome=Outcome.LOST,
                                 stage=Stage.NEGOTIATION, probability=75)],
            WinOpportunity(OPP),
            [WON.model_copy(update={"from_stage": Stage.NEGOTIATION})],
            id="a reopened deal can be won",
        ),
    ],
)  # fmt: skip
def test_decides_events(
    given: list[DomainEvent], when: OpportunityCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(
    ("given", "when"),
    [
        pytest.param(IN_PROPOSAL, MoveStage(OPP, Stage.PROPOSAL), id="move to the stage it is in"),
        pytest.param(IN_PROPOSAL, ChangeOpportunityDetails(OPP), id="change nothing"),
        pytest.param(
            IN_PROPOSAL,
            ChangeOpportunityDetails(OPP, amount=Decimal("48000"), expected_close_date=CLOSE),
            id="change to the same values",
        ),
        pytest.param([*IN_PROPOSAL, WON], WinOpportunity(OPP), id="win a won deal"),
        pytest.param([*IN_PROPOSAL, LOST], LoseOpportunity(OPP, "other"), id="lose a lost deal"),
        pytest.param(
            [opened(lead_id="lead_7f3a")],
            OpenOpportunity(**{**OPEN_IT.__dict__, "lead_id": "lead_7f3a"}),
            id="open again from the same lead (a retried qualification)",
        ),
    ],
)
def test_a_repeated_outcome_decides_no_events(
    given: list[DomainEvent], when: OpportunityCommand
) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [
        pytest.param([OPENED], OPEN_IT, AlreadyExists, "opportunity opp_7f3a already exists",
                     id="open twice"),
        pytest.param(
            [opened(lead_id="lead_1")],
            OpenOpportunity(**{**OPEN_IT.__dict__, "lead_id": "lead_2"}),
            AlreadyExists, "already exists", id="open again from another lead",
        ),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "stage": Stage.WON}),
                     InvalidInput, "stage: won is reached by winning", id="open as won"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "amount": Decimal(0)}),
                     InvalidInput, "amount: must be more than 0", id="open with amount 0"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "amount": Decimal("-5")}),
                     InvalidInput, "amount: must be more than 0", id="open with a negative amount"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "amount": Decimal("10.005")}),
                     InvalidInput, "amount: must have at most 2 decimal places",
                     id="open with fractions of a cent"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "amount": 10.5}),
                     InvalidInput, "amount: must be an exact decimal", id="open with a float"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "amount": Decimal("NaN")}),
                     InvalidInput, "amount: must be a finite number", id="open with NaN"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "amount": Decimal("1e14")}),
                     InvalidInput, "amount: must be at most", id="open with too much"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "currency": "eur"}),
                     InvalidInput, "currency: must be an ISO 4217 code",
                     id="open in a bad currency"),
        pytest.param([], OpenOpportunity(**{**OPEN_IT.__dict__, "title": " "}),
                     InvalidInput, "title: must not be blank", id="open without a title"),
        pytest.param([], MoveStage(OPP, Stage.PROPOSAL), NotFound,
                     "no opportunity with id opp_7f3a",
                     id="move an unknown opportunity"),
        pytest.param([], WinOpportunity(OPP), NotFound, "no opportunity", id="win an unknown one"),
        pytest.param([], LoseOpportunity(OPP, "x"), NotFound, "no opportunity",
                     id="lose an unknown one"),
        pytest.param([], ReopenOpportunity(OPP), NotFound, "no opportunity",
                     id="reopen an unknown one"),
        pytest.param([], ChangeOpportunityDetails(OPP), NotFound, "no opportunity",
                     id="change an unknown one"),
        pytest.param(IN_PROPOSAL, MoveStage(OPP, Stage.WON), InvalidInput,
                     "stage: won is reached by winning or losing", id="move to won"),
        pytest.param(IN_PROPOSAL, MoveStage(OPP, Stage.LOST), InvalidInput,
                     "stage: lost is reached", id="move to lost"),
        pytest.param([*IN_PROPOSAL, WON], MoveStage(OPP, Stage.NEGOTIATION), WrongState,
                     "is won; reopen it before moving its stage", id="move a won deal"),
        pytest.param([*IN_PROPOSAL, LOST], MoveStage(OPP, Stage.NEGOTIATION), WrongState,
                     "is lost; reopen it before moving", id="move a lost deal"),
        pytest.param([*IN_PROPOSAL, WON], ChangeOpportunityDetails(OPP, amount=Decimal(1)),
                     WrongState, "reopen it before changing it", id="change a won deal"),
        pytest.param(IN_PROPOSAL, ChangeOpportunityDetails(OPP, amount=Decimal("0.001")),
                     InvalidInput, "amount: must have at most 2",
                     id="change to a fraction of a cent"),
        pytest.param(IN_PROPOSAL, ChangeOpportunityDetails(OPP, amount=Decimal(0)),
                     InvalidInput, "amount: must be more than 0", id="change to nothing"),
        pytest.param([*IN_PROPOSAL, LOST], WinOpportunity(OPP), WrongState,
                     r"was lost \(chose a competitor\); reopen it before winning",
                     id="win a lost deal"),
        pytest.param([*IN_PROPOSAL, WON], LoseOpportunity(OPP, "x"), WrongState,
                     "was won; reopen it before losing", id="lose a won deal"),
        pytest.param(IN_PROPOSAL, LoseOpportunity(OPP, "  "), InvalidInput,
                     "reason: must not be blank", id="lose without a reason"),
        pytest.param(IN_PROPOSAL, ReopenOpportunity(OPP), WrongState,
                     r"is open \(proposal\); only a won or lost one can be reopened",
                     id="reopen an open deal"),
        pytest.param([*IN_PROPOSAL, LOST], ReopenOpportunity(OPP, Stage.WON), InvalidInput,
                     "stage: won is reached", id="reopen as won"),
    ],
)  # fmt: skip
def test_refuses_what_the_rules_do_not_allow(
    given: list[DomainEvent], when: OpportunityCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


@pytest.mark.parametrize(
    ("given", "when", "title"),
    [
        ([*IN_PROPOSAL, LOST], WinOpportunity(OPP), "Opportunity was lost"),
        ([*IN_PROPOSAL, WON], LoseOpportunity(OPP, "x"), "Opportunity was won"),
        ([*IN_PROPOSAL, WON], MoveStage(OPP, Stage.NEGOTIATION), "Opportunity is won"),
        (IN_PROPOSAL, ReopenOpportunity(OPP), "Opportunity is open"),
    ],
)
def test_wrong_states_have_a_clear_title(
    given: list[DomainEvent], when: OpportunityCommand, title: str
) -> None:
    with pytest.raises(WrongState) as refused:
        given_when(given, when)
    assert refused.value.title == title


@pytest.mark.parametrize(
    ("when", "probability"),
    [
        (OPEN_IT, 5),
        (MoveStage(OPP, Stage.NEEDS_ANALYSIS), 15),
        (MoveStage(OPP, Stage.NEGOTIATION), 90),
    ],
)
def test_probabilities_come_from_the_table_given(
    when: OpportunityCommand, probability: int
) -> None:
    given = [] if isinstance(when, OpenOpportunity) else [OPENED]
    (event,) = given_when(given, when, CUSTOM)
    assert event.probability == probability  # type: ignore[attr-defined]


def test_won_is_100_and_lost_is_0_whatever_the_table() -> None:
    assert given_when(IN_PROPOSAL, WinOpportunity(OPP), CUSTOM)[0].probability == 100  # type: ignore[attr-defined]
    lost = given_when(IN_PROPOSAL, LoseOpportunity(OPP, "x"), CUSTOM)[0]
    assert lost.probability == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"qualification": 10}, "no win probability for needs_analysis, negotiation, proposal"),
        ({**{s.value: 1 for s in CUSTOM}, "won": 100}, "no open stage named won"),
        ({**{s.value: 1 for s in CUSTOM}, "proposal": 101}, "proposal must be from 0 to 100"),
        ({**{s.value: 1 for s in CUSTOM}, "proposal": -1}, "from 0 to 100"),
    ],
)
def test_a_probability_table_must_be_complete_and_in_range(
    table: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        probability_table(table)


def test_the_default_table() -> None:
    assert probability_table({s.value: p for s, p in DEFAULT_PROBABILITIES.items()}) == {
        Stage.QUALIFICATION: 10,
        Stage.NEEDS_ANALYSIS: 20,
        Stage.PROPOSAL: 50,
        Stage.NEGOTIATION: 75,
    }


def test_history_folds_into_the_opportunity() -> None:
    state = fold([*IN_PROPOSAL, LOST])
    assert isinstance(state, Opportunity)
    assert (state.stage, state.probability, state.lost_reason, state.is_open) == (
        Stage.LOST,
        0,
        "chose a competitor",
        False,
    )
    reopened = fold(
        [
            OpportunityReopened(
                opportunity_id=OPP,
                previous_outcome=Outcome.LOST,
                stage=Stage.NEEDS_ANALYSIS,
                probability=20,
            )
        ],
        state,
    )
    assert isinstance(reopened, Opportunity)
    assert (reopened.stage, reopened.probability, reopened.lost_reason, reopened.is_open) == (
        Stage.NEEDS_ANALYSIS,
        20,
        None,
        True,
    )


QUALIFIED_LEAD = lead.fold(
    [
        LeadCaptured(
            lead_id="lead_7f3a",
            source=LeadSource.EVENT,
            name="Ada",
            company="Acme AG",
            owner_id="u1",
            team="north",
        ),
        LeadQualified(lead_id="lead_7f3a", opportunity_id=OPP, customer_id="cus_acme"),
    ]
)


def test_a_qualified_lead_opens_an_opportunity_for_its_owner_and_customer() -> None:
    terms = OpportunityTerms(Decimal("48000"), "EUR", CLOSE)
    assert opening_for(QUALIFIED_LEAD, terms) == OpenOpportunity(
        opportunity_id=OPP,
        customer_id="cus_acme",
        title="Acme AG",
        amount=Decimal("48000"),
        currency="EUR",
        expected_close_date=CLOSE,
        owner_id="u1",
        team="north",
        lead_id="lead_7f3a",
    )
    titled = OpportunityTerms(Decimal(1), "EUR", CLOSE, title="Pilot", stage=Stage.PROPOSAL)
    command = opening_for(QUALIFIED_LEAD, titled)
    assert (command.title, command.stage) == ("Pilot", Stage.PROPOSAL)


def test_only_a_qualified_lead_opens_an_opportunity() -> None:
    with pytest.raises(TypeError):
        opening_for(lead.NoLead(), OpportunityTerms(Decimal(1), "EUR", CLOSE))
