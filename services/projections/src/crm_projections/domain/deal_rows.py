"""A row per deal, from its lead to its outcome: what the sales boards and the funnel read.

A deal is a lead and the opportunity qualified from it (``lead_<hex>`` becomes
``opp_<hex>``, so both streams fold into the row ``deal_<hex>``), or an
opportunity opened without a lead. The row keeps when the deal entered the
funnel (lead captured, else opportunity opened), every stage it reached, its
outcome and when, its value, owner and team (the latest: a deal handed to
another rep counts for them from then on), and the week, month and quarter it
was won in. Quotes and orders are not part of it.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import pipeline as p
from crm_projections.domain.money import money
from crm_projections.domain.periods import periods_of, utc
from crm_projections.domain.streams import Document, ReadModel, Target, stamped

LEAD_EVENTS = (p.LeadCaptured, p.LeadQualified, p.LeadDisqualified)
OPPORTUNITY_EVENTS = (
    p.OpportunityOpened,
    p.OpportunityStageMoved,
    p.OpportunityAmountChanged,
    p.OpportunityCloseDateChanged,
    p.OpportunityWon,
    p.OpportunityLost,
    p.OpportunityReopened,
    p.OpportunityReassigned,
)
OPEN_STAGES = ("qualification", "needs_analysis", "proposal", "negotiation")


def deal_id(aggregate_id: str) -> str:
    """``lead_7f3a`` and ``opp_7f3a`` are the same deal, ``deal_7f3a``."""
    _, _, hex_id = aggregate_id.partition("_")
    return f"deal_{hex_id or aggregate_id}"


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    if isinstance(event, LEAD_EVENTS):
        return Target(deal_id(event.lead_id))
    if isinstance(event, OPPORTUNITY_EVENTS):
        return Target(deal_id(event.opportunity_id))
    return None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    at = utc(metadata.time)
    row = stamped(document, metadata)
    match event:
        case p.LeadCaptured():
            row |= {
                "lead_id": event.lead_id,
                "lead_source": event.source.value,
                "lead_status": "open",
                "captured_at": at,
                **_owner(row, event.owner_id, event.team, prefer_existing=True),
            }
        case p.LeadQualified():
            row |= {"lead_status": "qualified", "qualified_at": at}
        case p.LeadDisqualified():
            row |= {"lead_status": "disqualified", "disqualified_at": at}
        case p.OpportunityOpened():
            row |= {
                "opportunity_id": event.opportunity_id,
                "opened_at": at,
                "status": "open",
                "stage": event.stage.value,
                "stages_reached": _reached(row, event.stage.value),
                "amount": money(event.amount),
                "currency": event.currency,
                **_owner(row, event.owner_id, event.team),
            }
        case p.OpportunityStageMoved():
            row |= {
                "stage": event.to_stage.value,
                "stages_reached": _reached(row, event.to_stage.value),
            }
        case p.OpportunityAmountChanged():
            row |= {"amount": money(event.amount), "currency": event.currency}
        case p.OpportunityWon():
            row |= {
                "status": "won",
                "stage": "won",
                "stages_reached": _reached(row, "won"),
                "amount": money(event.amount),
                "currency": event.currency,
                "won_at": at,
                **{f"won_{g}": period for g, period in periods_of(at).items()},
                **_owner(row, event.owner_id, event.team),
            }
        case p.OpportunityLost():
            row |= {
                "status": "lost",
                "stage": "lost",
                "lost_at": at,
                **{f"lost_{g}": period for g, period in periods_of(at).items()},
                **_not_won(),
                **_owner(row, event.owner_id, event.team),
            }
        case p.OpportunityReopened():
            row |= {
                "status": "open",
                "stage": event.stage.value,
                "stages_reached": _reached(row, event.stage.value),
                "lost_at": None,
                "lost_week": None,
                "lost_month": None,
                "lost_quarter": None,
                **_not_won(),
            }
        case p.OpportunityReassigned():
            row |= _owner(row, event.owner_id, event.team)
    entered = [moment for moment in (row.get("captured_at"), row.get("opened_at")) if moment]
    if entered:
        first = min(entered, key=utc)
        row |= {"entered_at": first, **{f"entered_{g}": x for g, x in periods_of(first).items()}}
    return row


def _owner(row: Document, owner_id: str, team: str | None, *, prefer_existing: bool = False) -> Any:
    """The latest owner and team; a lead's owner only until the opportunity names one."""
    if prefer_existing and row.get("owner_id"):
        return {}
    return {"owner_id": owner_id, "team": team}


def _reached(row: Document, stage: str) -> list[str]:
    """Stages are passed in order: reaching one means having passed those before it (a deal
    opened at proposal passed qualification and needs analysis outside the CRM)."""
    passed = OPEN_STAGES if stage == "won" else OPEN_STAGES[: OPEN_STAGES.index(stage) + 1]
    stages = set(row.get("stages_reached", [])) | set(passed) | {stage}
    return [s for s in (*OPEN_STAGES, "won") if s in stages]


def _not_won() -> Document:
    return {"won_at": None, "won_week": None, "won_month": None, "won_quarter": None}


def empty(document_id: str) -> Document:
    return {"_id": document_id, "deal_id": document_id, "streams": {}, "revision": 0}


MODEL = ReadModel(name="deals", target=target, project=project, empty=empty)
