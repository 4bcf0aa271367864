"""The opportunity aggregate as a decider: a deal moving through stages until won or lost.

Each open stage has a win probability; the table is an input to ``decide``
(from settings), so changing it changes only new events. Stages may move
forwards or back while the deal is open; won and lost are reached only by
winning or losing (with a reason), and left only by reopening. An open deal
may be handed to another rep (and team); a closed one stays with whoever closed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from crm_contracts.pipeline import (
    OPEN_STAGES,
    OpportunityAmountChanged,
    OpportunityCloseDateChanged,
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
from crm_pipeline.domain import values
from crm_pipeline.domain.errors import AlreadyExists, InvalidInput, NotFound, WrongState
from crm_pipeline.domain.lead import Lead, LeadState

KIND = "opportunity"
WON_PROBABILITY = 100
LOST_PROBABILITY = 0

StageProbabilities = Mapping[Stage, int]
DEFAULT_PROBABILITIES: StageProbabilities = {
    Stage.QUALIFICATION: 10,
    Stage.NEEDS_ANALYSIS: 20,
    Stage.PROPOSAL: 50,
    Stage.NEGOTIATION: 75,
}


def probability_table(table: Mapping[str, int]) -> dict[Stage, int]:
    """A complete table of win probabilities for the open stages, each from 0 to 100."""
    known = {stage.value for stage in OPEN_STAGES}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"no open stage named {', '.join(unknown)}; open stages: {sorted(known)}")
    missing = sorted(known - set(table))
    if missing:
        raise ValueError(f"no win probability for {', '.join(missing)}")
    for stage, probability in table.items():
        if isinstance(probability, bool) or not 0 <= probability <= 100:
            raise ValueError(f"the win probability of {stage} must be from 0 to 100")
    return {Stage(stage): probability for stage, probability in table.items()}


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenOpportunity:
    opportunity_id: str
    customer_id: str
    title: str
    amount: Decimal
    currency: str
    expected_close_date: date
    owner_id: str
    team: str | None = None
    lead_id: str | None = None
    stage: Stage = Stage.QUALIFICATION


@dataclass(frozen=True)
class MoveStage:
    opportunity_id: str
    stage: Stage


@dataclass(frozen=True)
class ChangeOpportunityDetails:
    """Change the expected amount and/or close date; ``None`` leaves one as it is."""

    opportunity_id: str
    amount: Decimal | None = None
    expected_close_date: date | None = None


@dataclass(frozen=True)
class WinOpportunity:
    opportunity_id: str


@dataclass(frozen=True)
class LoseOpportunity:
    opportunity_id: str
    reason: str


@dataclass(frozen=True)
class ReopenOpportunity:
    """Reopen a won or lost deal, in ``stage`` or else the stage it was closed from."""

    opportunity_id: str
    stage: Stage | None = None


@dataclass(frozen=True)
class ReassignOpportunity:
    """Hand an open deal to another rep; ``team=None`` keeps the deal's team."""

    opportunity_id: str
    owner_id: str
    reason: str
    by: str
    team: str | None = None


OpportunityCommand = (
    OpenOpportunity
    | MoveStage
    | ChangeOpportunityDetails
    | WinOpportunity
    | LoseOpportunity
    | ReopenOpportunity
    | ReassignOpportunity
)

# --- state --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoOpportunity:
    """Nothing opened under this id."""


@dataclass(frozen=True)
class Opportunity:
    opportunity_id: str
    customer_id: str
    lead_id: str | None
    title: str
    amount: Decimal
    currency: str
    stage: Stage
    probability: int
    expected_close_date: date
    owner_id: str
    team: str | None
    last_open_stage: Stage
    lost_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES


OpportunityState = NoOpportunity | Opportunity

initial_state: OpportunityState = NoOpportunity()


def decide(
    command: OpportunityCommand,
    state: OpportunityState,
    probabilities: StageProbabilities = DEFAULT_PROBABILITIES,
) -> list[DomainEvent]:
    match command, state:
        case OpenOpportunity(), Opportunity():
            if command.lead_id is not None and command.lead_id == state.lead_id:
                return []  # the lead's qualification, retried
            raise AlreadyExists(KIND, command.opportunity_id)
        case OpenOpportunity(), NoOpportunity():
            return [_opened(command, probabilities)]
        case _, NoOpportunity():
            raise NotFound(KIND, command.opportunity_id)
        case MoveStage(), Opportunity():
            return _moved(command, state, probabilities)
        case ChangeOpportunityDetails(), Opportunity():
            return _changed(command, state)
        case WinOpportunity(), Opportunity():
            return _won(state)
        case LoseOpportunity(), Opportunity():
            return _lost(command, state)
        case ReopenOpportunity(), Opportunity():
            return _reopened(command, state, probabilities)
        case ReassignOpportunity(), Opportunity():
            return _reassigned(command, state)
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def _open_stage(stage: Stage, field: str = "stage") -> Stage:
    if stage not in OPEN_STAGES:
        raise InvalidInput(
            field, f"{stage} is reached by winning or losing; open stages: {_open_names()}"
        )
    return stage


def _open_names() -> str:
    return ", ".join(stage.value for stage in OPEN_STAGES)


def _opened(command: OpenOpportunity, probabilities: StageProbabilities) -> OpportunityOpened:
    stage = _open_stage(command.stage)
    return OpportunityOpened(
        opportunity_id=command.opportunity_id,
        customer_id=values.text(command.customer_id, "customer_id"),
        lead_id=command.lead_id,
        title=values.text(command.title, "title"),
        amount=values.money(command.amount),
        currency=values.currency(command.currency),
        stage=stage,
        probability=probabilities[stage],
        expected_close_date=command.expected_close_date,
        owner_id=values.text(command.owner_id, "owner_id"),
        team=command.team,
    )


def _refuse_when_closed(state: Opportunity, doing: str) -> None:
    if not state.is_open:
        raise WrongState(
            f"Opportunity is {state.stage.value}",
            f"opportunity {state.opportunity_id} is {state.stage.value}; reopen it before {doing}",
        )


def _moved(
    command: MoveStage, state: Opportunity, probabilities: StageProbabilities
) -> list[DomainEvent]:
    stage = _open_stage(command.stage)
    _refuse_when_closed(state, "moving its stage")
    if stage == state.stage:
        return []
    return [
        OpportunityStageMoved(
            opportunity_id=state.opportunity_id,
            from_stage=state.stage,
            to_stage=stage,
            probability=probabilities[stage],
        )
    ]


def _changed(command: ChangeOpportunityDetails, state: Opportunity) -> list[DomainEvent]:
    amount = values.money(command.amount) if command.amount is not None else None
    _refuse_when_closed(state, "changing it")
    changed: list[DomainEvent] = []
    if amount is not None and amount != state.amount:
        changed.append(
            OpportunityAmountChanged(
                opportunity_id=state.opportunity_id,
                amount=amount,
                previous_amount=state.amount,
                currency=state.currency,
            )
        )
    close = command.expected_close_date
    if close is not None and close != state.expected_close_date:
        changed.append(
            OpportunityCloseDateChanged(
                opportunity_id=state.opportunity_id,
                expected_close_date=close,
                previous_close_date=state.expected_close_date,
            )
        )
    return changed


def _won(state: Opportunity) -> list[DomainEvent]:
    if state.stage is Stage.WON:
        return []
    if state.stage is Stage.LOST:
        raise WrongState(
            "Opportunity was lost",
            f"opportunity {state.opportunity_id} was lost ({state.lost_reason}); "
            "reopen it before winning it",
        )
    return [
        OpportunityWon(
            opportunity_id=state.opportunity_id,
            customer_id=state.customer_id,
            owner_id=state.owner_id,
            team=state.team,
            from_stage=state.stage,
            amount=state.amount,
            currency=state.currency,
            probability=WON_PROBABILITY,
        )
    ]


def _lost(command: LoseOpportunity, state: Opportunity) -> list[DomainEvent]:
    reason = values.text(command.reason, "reason", max_length=500)
    if state.stage is Stage.LOST:
        return []
    if state.stage is Stage.WON:
        raise WrongState(
            "Opportunity was won",
            f"opportunity {state.opportunity_id} was won; reopen it before losing it",
        )
    return [
        OpportunityLost(
            opportunity_id=state.opportunity_id,
            owner_id=state.owner_id,
            team=state.team,
            from_stage=state.stage,
            reason=reason,
            probability=LOST_PROBABILITY,
        )
    ]


def _reopened(
    command: ReopenOpportunity, state: Opportunity, probabilities: StageProbabilities
) -> list[DomainEvent]:
    stage = _open_stage(command.stage) if command.stage is not None else state.last_open_stage
    if state.is_open:
        raise WrongState(
            "Opportunity is open",
            f"opportunity {state.opportunity_id} is open ({state.stage.value}); "
            "only a won or lost one can be reopened",
        )
    return [
        OpportunityReopened(
            opportunity_id=state.opportunity_id,
            previous_outcome=Outcome.WON if state.stage is Stage.WON else Outcome.LOST,
            stage=stage,
            probability=probabilities[stage],
        )
    ]


def _reassigned(command: ReassignOpportunity, state: Opportunity) -> list[DomainEvent]:
    owner_id = values.text(command.owner_id, "owner_id")
    team = values.text(command.team, "team") if command.team is not None else state.team
    reason = values.text(command.reason, "reason", max_length=500)
    _refuse_when_closed(state, "reassigning it")
    if (owner_id, team) == (state.owner_id, state.team):
        return []
    return [
        OpportunityReassigned(
            opportunity_id=state.opportunity_id,
            customer_id=state.customer_id,
            owner_id=owner_id,
            previous_owner_id=state.owner_id,
            team=team,
            previous_team=state.team,
            reason=reason,
            reassigned_by=values.text(command.by, "by"),
        )
    ]


def evolve(state: OpportunityState, event: DomainEvent) -> OpportunityState:
    match event, state:
        case OpportunityOpened(), NoOpportunity():
            return Opportunity(
                opportunity_id=event.opportunity_id,
                customer_id=event.customer_id,
                lead_id=event.lead_id,
                title=event.title,
                amount=event.amount,
                currency=event.currency,
                stage=event.stage,
                probability=event.probability,
                expected_close_date=event.expected_close_date,
                owner_id=event.owner_id,
                team=event.team,
                last_open_stage=event.stage,
            )
        case OpportunityStageMoved(), Opportunity():
            return replace(
                state,
                stage=event.to_stage,
                probability=event.probability,
                last_open_stage=event.to_stage,
            )
        case OpportunityAmountChanged(), Opportunity():
            return replace(state, amount=event.amount)
        case OpportunityCloseDateChanged(), Opportunity():
            return replace(state, expected_close_date=event.expected_close_date)
        case OpportunityWon(), Opportunity():
            return replace(state, stage=Stage.WON, probability=event.probability)
        case OpportunityLost(), Opportunity():
            return replace(
                state, stage=Stage.LOST, probability=event.probability, lost_reason=event.reason
            )
        case OpportunityReopened(), Opportunity():
            return replace(
                state,
                stage=event.stage,
                probability=event.probability,
                last_open_stage=event.stage,
                lost_reason=None,
            )
        case OpportunityReassigned(), Opportunity():
            return replace(state, owner_id=event.owner_id, team=event.team)
    return state  # an event this version does not fold (e.g. a newer type)


def fold(
    events: Iterable[DomainEvent], state: OpportunityState = initial_state
) -> OpportunityState:
    for event in events:
        state = evolve(state, event)
    return state


@dataclass(frozen=True)
class OpportunityTerms:
    """What a qualification says about the deal; the rest comes from the lead."""

    amount: Decimal
    currency: str
    expected_close_date: date
    title: str | None = None
    stage: Stage = Stage.QUALIFICATION


def opening_for(qualified: LeadState, terms: OpportunityTerms) -> OpenOpportunity:
    """The opportunity a qualified lead opens: same owner and team, the lead's customer."""
    if not isinstance(qualified, Lead) or qualified.opportunity_id is None:
        raise TypeError("only a qualified lead opens an opportunity")
    if qualified.customer_id is None:  # pragma: no cover - qualification requires one
        raise InvalidInput("customer_id", "the lead names no customer")
    title = terms.title or qualified.company or f"Lead {qualified.lead_id}"
    return OpenOpportunity(
        opportunity_id=qualified.opportunity_id,
        customer_id=qualified.customer_id,
        title=title,
        amount=terms.amount,
        currency=terms.currency,
        expected_close_date=terms.expected_close_date,
        owner_id=qualified.owner_id,
        team=qualified.team,
        lead_id=qualified.lead_id,
        stage=terms.stage,
    )
