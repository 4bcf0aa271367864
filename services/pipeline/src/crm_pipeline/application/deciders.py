"""The four deciders of the pipeline, bundled for the runtime's stream code.

The opportunity's ``decide`` takes the stage probabilities from settings and the
order's the unpaid window (``CRM_PIPELINE_UNPAID_AFTER``); the others need nothing but
the command and the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from crm_pipeline.application import views
from crm_pipeline.domain import lead, opportunity, order, quote
from crm_pipeline.domain.opportunity import DEFAULT_PROBABILITIES, StageProbabilities
from crm_runtime.streams import Decider

SERVICE = "pipeline"


@dataclass(frozen=True)
class Deciders:
    lead: Decider[lead.LeadCommand, lead.LeadState]
    opportunity: Decider[opportunity.OpportunityCommand, opportunity.OpportunityState]
    quote: Decider[quote.QuoteCommand, quote.QuoteState]
    order: Decider[order.OrderCommand, order.OrderState]


def pipeline_deciders(
    probabilities: StageProbabilities = DEFAULT_PROBABILITIES,
    *,
    unpaid_after: timedelta = order.DEFAULT_UNPAID_AFTER,
) -> Deciders:
    return Deciders(
        lead=Decider.aggregate(
            service=SERVICE,
            kind=lead.KIND,
            existing=lead.Lead,
            initial=lead.initial_state,
            decide=lead.decide,
            evolve=lead.evolve,
            view=views.lead_view,
            personal=views.LEAD_PERSONAL,
            placeholders=views.LEAD_PLACEHOLDERS,
        ),
        opportunity=Decider.aggregate(
            service=SERVICE,
            kind=opportunity.KIND,
            existing=opportunity.Opportunity,
            initial=opportunity.initial_state,
            decide=partial(opportunity.decide, probabilities=dict(probabilities)),
            evolve=opportunity.evolve,
            view=views.opportunity_view,
        ),
        quote=Decider.aggregate(
            service=SERVICE,
            kind=quote.KIND,
            existing=quote.Quote,
            initial=quote.initial_state,
            decide=quote.decide,
            evolve=quote.evolve,
            view=views.quote_view,
        ),
        order=Decider.aggregate(
            service=SERVICE,
            kind=order.KIND,
            existing=order.Order,
            initial=order.initial_state,
            decide=partial(order.decide, unpaid_after=unpaid_after),
            evolve=order.evolve,
            view=views.order_view,
        ),
    )
