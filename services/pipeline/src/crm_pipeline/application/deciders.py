"""The four deciders of the pipeline, bundled for the generic stream code.

The opportunity's ``decide`` takes the stage probabilities from settings; the
others need nothing but the command and the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from crm_pipeline.application import views
from crm_pipeline.application.streams import Decider
from crm_pipeline.domain import lead, opportunity, order, quote
from crm_pipeline.domain.opportunity import DEFAULT_PROBABILITIES, StageProbabilities


def _existing(kind: type[Any]) -> Any:
    return lambda state: isinstance(state, kind)


def _view(kind: type[Any], view: Any) -> Any:
    def answer(state: Any, version: int) -> dict[str, Any]:
        if not isinstance(state, kind):
            raise TypeError(f"only an existing {kind.__name__} has a view")
        result: dict[str, Any] = view(state, version)
        return result

    return answer


@dataclass(frozen=True)
class Deciders:
    lead: Decider[lead.LeadCommand, lead.LeadState]
    opportunity: Decider[opportunity.OpportunityCommand, opportunity.OpportunityState]
    quote: Decider[quote.QuoteCommand, quote.QuoteState]
    order: Decider[order.OrderCommand, order.OrderState]


def pipeline_deciders(probabilities: StageProbabilities = DEFAULT_PROBABILITIES) -> Deciders:
    return Deciders(
        lead=Decider(
            kind=lead.KIND,
            initial=lead.initial_state,
            decide=lead.decide,
            evolve=lead.evolve,
            view=_view(lead.Lead, views.lead_view),
            exists=_existing(lead.Lead),
            personal=views.LEAD_PERSONAL,
            placeholders=views.LEAD_PLACEHOLDERS,
        ),
        opportunity=Decider(
            kind=opportunity.KIND,
            initial=opportunity.initial_state,
            decide=partial(opportunity.decide, probabilities=dict(probabilities)),
            evolve=opportunity.evolve,
            view=_view(opportunity.Opportunity, views.opportunity_view),
            exists=_existing(opportunity.Opportunity),
        ),
        quote=Decider(
            kind=quote.KIND,
            initial=quote.initial_state,
            decide=quote.decide,
            evolve=quote.evolve,
            view=_view(quote.Quote, views.quote_view),
            exists=_existing(quote.Quote),
        ),
        order=Decider(
            kind=order.KIND,
            initial=order.initial_state,
            decide=order.decide,
            evolve=order.evolve,
            view=_view(order.Order, views.order_view),
            exists=_existing(order.Order),
        ),
    )
