"""Loyalty's two deciders, bundled for the runtime's stream code (the programme bound in)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from crm_loyalty.application import views
from crm_loyalty.domain import member, store
from crm_loyalty.domain.programme import Programme
from crm_runtime.streams import Decider

SERVICE = "loyalty"


@dataclass(frozen=True)
class Deciders:
    store: Decider[store.StoreCommand, store.StoreState]
    member: Decider[member.MemberCommand, member.MemberState]


def loyalty_deciders(programme: Programme) -> Deciders:
    return Deciders(
        store=Decider.aggregate(
            service=SERVICE,
            kind=store.KIND,
            existing=store.Store,
            initial=store.initial_state,
            decide=store.decide,
            evolve=store.evolve,
            view=views.store_view,
        ),
        member=Decider.aggregate(
            service=SERVICE,
            kind=member.KIND,
            existing=member.Member,
            initial=member.initial_state,
            decide=partial(member.decide, programme=programme),
            evolve=member.evolve,
            view=views.member_view,
        ),
    )
