"""Loyalty's two deciders, bundled for the generic stream code (the programme bound in)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from crm_loyalty.application import views
from crm_loyalty.application.streams import Decider
from crm_loyalty.domain import member, store
from crm_loyalty.domain.programme import Programme


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
    store: Decider[store.StoreCommand, store.StoreState]
    member: Decider[member.MemberCommand, member.MemberState]


def loyalty_deciders(programme: Programme) -> Deciders:
    return Deciders(
        store=Decider(
            kind=store.KIND,
            initial=store.initial_state,
            decide=store.decide,
            evolve=store.evolve,
            view=_view(store.Store, views.store_view),
            exists=_existing(store.Store),
        ),
        member=Decider(
            kind=member.KIND,
            initial=member.initial_state,
            decide=partial(member.decide, programme=programme),
            evolve=member.evolve,
            view=_view(member.Member, views.member_view),
            exists=_existing(member.Member),
        ),
    )
