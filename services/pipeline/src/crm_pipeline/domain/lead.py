"""The lead aggregate as a decider: a prospective deal, qualified into an opportunity or dropped.

``decide(command, state)`` returns the events a command causes (none for a
no-op) or raises a PipelineError; ``evolve(state, event)`` folds one event.
Qualifying names the opportunity to open; the handler opens it in the
opportunity's own stream, with an id derived from the lead's (``opp_<hex>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from crm_contracts.pipeline import LeadCaptured, LeadDisqualified, LeadQualified, LeadSource
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain import values
from crm_pipeline.domain.errors import AlreadyExists, InvalidInput, NotFound, WrongState

KIND = "lead"


def opportunity_id_for(lead_id: str) -> str:
    """The one opportunity a lead can become: a retried qualification never opens two."""
    return "opp_" + lead_id.removeprefix("lead_")


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureLead:
    lead_id: str
    source: LeadSource
    name: str
    owner_id: str
    team: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class QualifyLead:
    """The lead is worth pursuing; ``customer_id`` is needed unless the lead names one."""

    lead_id: str
    opportunity_id: str
    customer_id: str | None = None


@dataclass(frozen=True)
class DisqualifyLead:
    lead_id: str
    reason: str


LeadCommand = CaptureLead | QualifyLead | DisqualifyLead

# --- state --------------------------------------------------------------------------------------


class LeadStatus(StrEnum):
    OPEN = "open"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"


@dataclass(frozen=True)
class NoLead:
    """Nothing captured under this id."""


@dataclass(frozen=True)
class Lead:
    lead_id: str
    source: LeadSource
    name: str
    company: str | None
    email: str | None
    phone: str | None
    owner_id: str
    team: str | None
    customer_id: str | None
    status: LeadStatus = LeadStatus.OPEN
    opportunity_id: str | None = None
    disqualification_reason: str | None = None


LeadState = NoLead | Lead

initial_state: LeadState = NoLead()


def decide(command: LeadCommand, state: LeadState) -> list[DomainEvent]:
    match command, state:
        case CaptureLead(), Lead():
            raise AlreadyExists(KIND, command.lead_id)
        case CaptureLead(), NoLead():
            return [_captured(command)]
        case QualifyLead() | DisqualifyLead(), NoLead():
            raise NotFound(KIND, command.lead_id)
        case QualifyLead(), Lead():
            return _qualification(command, state)
        case DisqualifyLead(), Lead():
            return _disqualification(command, state)
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def _captured(command: CaptureLead) -> LeadCaptured:
    return LeadCaptured(
        lead_id=command.lead_id,
        source=command.source,
        name=values.text(command.name, "name"),
        company=values.text(command.company, "company") if command.company else None,
        email=values.email_address(command.email) if command.email else None,
        phone=values.phone_number(command.phone) if command.phone else None,
        owner_id=values.text(command.owner_id, "owner_id"),
        team=command.team,
        customer_id=command.customer_id,
    )


def _qualification(command: QualifyLead, lead: Lead) -> list[DomainEvent]:
    match lead.status:
        case LeadStatus.DISQUALIFIED:
            raise WrongState(
                "Lead was disqualified",
                f"lead {lead.lead_id} was disqualified ({lead.disqualification_reason}); "
                "capture it again to pursue it",
            )
        case LeadStatus.QUALIFIED:
            same = command.opportunity_id == lead.opportunity_id and command.customer_id in (
                None,
                lead.customer_id,
            )
            if same:
                return []  # a retry: the same qualification again
            raise WrongState(
                "Lead already qualified",
                f"lead {lead.lead_id} was already qualified into {lead.opportunity_id}",
            )
    customer_id = command.customer_id or lead.customer_id
    if customer_id is None:
        raise InvalidInput(
            "customer_id", "the lead names no customer: say which customer the opportunity is for"
        )
    return [
        LeadQualified(
            lead_id=lead.lead_id, opportunity_id=command.opportunity_id, customer_id=customer_id
        )
    ]


def _disqualification(command: DisqualifyLead, lead: Lead) -> list[DomainEvent]:
    reason = values.text(command.reason, "reason", max_length=500)
    match lead.status:
        case LeadStatus.DISQUALIFIED:
            return []
        case LeadStatus.QUALIFIED:
            raise WrongState(
                "Lead already qualified",
                f"lead {lead.lead_id} was qualified into {lead.opportunity_id}; "
                "lose that opportunity instead",
            )
    return [LeadDisqualified(lead_id=lead.lead_id, reason=reason)]


def evolve(state: LeadState, event: DomainEvent) -> LeadState:
    match event, state:
        case LeadCaptured(), NoLead():
            return Lead(
                lead_id=event.lead_id,
                source=event.source,
                name=event.name,
                company=event.company,
                email=event.email,
                phone=event.phone,
                owner_id=event.owner_id,
                team=event.team,
                customer_id=event.customer_id,
            )
        case LeadQualified(), Lead():
            return replace(
                state,
                status=LeadStatus.QUALIFIED,
                opportunity_id=event.opportunity_id,
                customer_id=event.customer_id,
            )
        case LeadDisqualified(), Lead():
            return replace(
                state, status=LeadStatus.DISQUALIFIED, disqualification_reason=event.reason
            )
    return state  # an event this version does not fold (e.g. a newer type)


def fold(events: Iterable[DomainEvent], state: LeadState = initial_state) -> LeadState:
    for event in events:
        state = evolve(state, event)
    return state
