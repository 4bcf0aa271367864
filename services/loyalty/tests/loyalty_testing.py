"""What the loyalty tests share: a clock, a test programme, given/when/then, HTTP helpers.

The clock and the answer readers are those of every service, from crm_runtime.testing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from crm_contracts.loyalty import TierBasis
from crm_contracts.registry import DomainEvent
from crm_loyalty.domain import member
from crm_loyalty.domain.programme import Programme, Tier
from crm_runtime.testing import NOW as NOW
from crm_runtime.testing import PROBLEM_JSON as PROBLEM_JSON
from crm_runtime.testing import ClientFactory as ClientFactory
from crm_runtime.testing import Clock as Clock
from crm_runtime.testing import created as created
from crm_runtime.testing import ok as ok
from crm_runtime.testing import problem as problem

STORES = "/loyalty/stores"
MEMBERS = "/loyalty/members"
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


def then(
    given: Sequence[DomainEvent], command: member.MemberCommand, programme: Programme = PROGRAMME
) -> list[DomainEvent]:
    """The events ``command`` decides on the member the ``given`` events made."""
    return member.decide(command, member.fold(given), programme)


def state(given: Sequence[DomainEvent]) -> member.Member:
    folded = member.fold(given)
    assert isinstance(folded, member.Member)
    return folded
