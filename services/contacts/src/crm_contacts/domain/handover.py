"""Handing a leaving rep's customers over to successors: a decider of its own (``hov_`` streams).

The handover plans its moves when it starts (customers in id order, successors taking
turns), records the moves made and skipped when it completes, and is idempotent per
handover id: starting it again with the same request resumes it; completing it again
changes nothing. The owner changes themselves are CustomerOwnerAssigned events in each
customer's own stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from crm_contacts.domain.errors import CustomerError, InvalidCommand, RuleViolated
from crm_contracts.contacts import HandoverCompleted, HandoverMove, HandoverSkip, HandoverStarted
from crm_contracts.registry import DomainEvent


class HandoverNotFound(CustomerError):
    def __init__(self, handover_id: str) -> None:
        super().__init__(f"no handover with id {handover_id}")
        self.handover_id = handover_id


@dataclass(frozen=True)
class StartHandover:
    handover_id: str
    leaving_rep_id: str
    successor_ids: tuple[str, ...]
    reason: str
    customer_ids: tuple[str, ...]
    team: str | None = None


@dataclass(frozen=True)
class CompleteHandover:
    handover_id: str
    moved: tuple[HandoverMove, ...]
    skipped: tuple[HandoverSkip, ...]


HandoverCommand = StartHandover | CompleteHandover


@dataclass(frozen=True)
class NoHandover:
    version: int = 0


@dataclass(frozen=True)
class Handover:
    handover_id: str
    leaving_rep_id: str
    successor_ids: tuple[str, ...]
    team: str | None
    reason: str
    moves: tuple[HandoverMove, ...]
    version: int
    moved: tuple[HandoverMove, ...] | None = None
    skipped: tuple[HandoverSkip, ...] = ()

    @property
    def completed(self) -> bool:
        return self.moved is not None


HandoverState = NoHandover | Handover


def plan(customer_ids: Iterable[str], successor_ids: Sequence[str]) -> tuple[HandoverMove, ...]:
    """Customers in id order, dealt to the successors in turn (round-robin)."""
    return tuple(
        HandoverMove(customer_id=customer_id, owner_id=successor_ids[i % len(successor_ids)])
        for i, customer_id in enumerate(sorted(set(customer_ids)))
    )


def decide(command: HandoverCommand, state: HandoverState) -> list[DomainEvent]:
    match command, state:
        case StartHandover(), NoHandover():
            return [_start(command)]
        case StartHandover(), Handover():
            asked = (command.leaving_rep_id, command.successor_ids, command.team, command.reason)
            if asked != (state.leaving_rep_id, state.successor_ids, state.team, state.reason):
                raise RuleViolated(
                    f"handover {state.handover_id} was started with other reps or reason"
                )
            return []  # the same handover again: it resumes with the plan it started with
        case CompleteHandover(), NoHandover():
            raise HandoverNotFound(command.handover_id)
        case CompleteHandover(), Handover():
            if state.completed:
                return []
            return [
                HandoverCompleted(
                    handover_id=command.handover_id, moved=command.moved, skipped=command.skipped
                )
            ]
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def _start(command: StartHandover) -> HandoverStarted:
    successors = command.successor_ids
    if not successors:
        raise InvalidCommand("a handover needs at least one successor")
    if len(set(successors)) != len(successors):
        raise InvalidCommand("each successor is named once")
    if command.leaving_rep_id in successors:
        raise InvalidCommand("the leaving rep cannot be their own successor")
    reason = " ".join(command.reason.split())
    if not reason:
        raise InvalidCommand("a handover needs a reason")
    return HandoverStarted(
        handover_id=command.handover_id,
        leaving_rep_id=command.leaving_rep_id,
        successor_ids=successors,
        team=command.team,
        reason=reason,
        moves=plan(command.customer_ids, successors),
    )


def evolve(state: HandoverState, event: DomainEvent) -> HandoverState:
    version = state.version + 1
    match event, state:
        case HandoverStarted(), NoHandover():
            return Handover(
                handover_id=event.handover_id,
                leaving_rep_id=event.leaving_rep_id,
                successor_ids=event.successor_ids,
                team=event.team,
                reason=event.reason,
                moves=event.moves,
                version=version,
            )
        case HandoverCompleted(), Handover():
            return replace(state, moved=event.moved, skipped=event.skipped, version=version)
    return replace(state, version=version)


def fold(events: Iterable[DomainEvent], state: HandoverState | None = None) -> HandoverState:
    current: HandoverState = state or NoHandover()
    for event in events:
        current = evolve(current, event)
    return current
