"""What the loyalty tests share: a clock, a test programme, given/when/then, HTTP helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from crm_contracts.loyalty import TierBasis
from crm_contracts.registry import DomainEvent
from crm_loyalty.domain import member
from crm_loyalty.domain.programme import Programme, Tier

STORES = "/loyalty/stores"
MEMBERS = "/loyalty/members"
PROBLEM_JSON = "application/problem+json"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)

PROGRAMME = Programme(
    tiers=(
        Tier("silver", Decimal(0)),
        Tier("gold", Decimal(1000)),
        Tier("platinum", Decimal(5000)),
    ),
    basis=TierBasis.SPEND,
    currency="EUR",
    points_per_unit=Decimal(1),
    points_expire_after=timedelta(days=365),
    tier_window=timedelta(days=365),
)

ClientFactory = Callable[..., httpx.AsyncClient]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def then(
    given: Sequence[DomainEvent], command: member.MemberCommand, programme: Programme = PROGRAMME
) -> list[DomainEvent]:
    """The events ``command`` decides on the member the ``given`` events made."""
    return member.decide(command, member.fold(given), programme)


def state(given: Sequence[DomainEvent]) -> member.Member:
    folded = member.fold(given)
    assert isinstance(folded, member.Member)
    return folded


def problem(answer: httpx.Response, status: int, type_: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    if type_ is not None:
        assert body["type"] == type_, body
    return body


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body
