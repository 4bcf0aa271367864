"""The scheduler: points expire oldest first, coupons expire, tiers drop; two replicas are safe."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from loyalty_testing import NOW, Clock
from prometheus_client import CollectorRegistry

from crm_contracts.loyalty import RewardKind
from crm_loyalty.application import handlers
from crm_loyalty.application.scheduler import LoyaltyScheduler, SchedulerMetrics
from crm_loyalty.bootstrap import LoyaltyService
from crm_loyalty.domain.member import CouponStatus, EarnPoints, Enrol, IssueCoupon, Member
from crm_loyalty.domain.store import OpenStore
from crm_runtime.eventstore import CommandContext

SHORT = {"points_expire_after": "20s"}


def ctx(name: str) -> CommandContext:
    return CommandContext(f"cmd_{name}", "corr", f"cmd_{name}", "user:root")


def scheduler(service: LoyaltyService, owner: str = "a") -> LoyaltyScheduler:
    return LoyaltyScheduler(
        service.deps, service.scheduler_lease(owner), SchedulerMetrics(CollectorRegistry()),
        interval_seconds=1,
    )  # fmt: skip


async def member_of(service: LoyaltyService, customer: str = "cus_ada") -> Member:
    loaded = await handlers.existing(service.deps, service.deps.deciders.member, customer)
    assert isinstance(loaded.state, Member)
    return loaded.state


async def enrolled(service: LoyaltyService, customer: str = "cus_ada") -> None:
    deps = service.deps
    await handlers.open_store(deps, OpenStore("sto_mitte", "Mitte", "Berlin", NOW), ctx("store"))
    await handlers.on_member(deps, Enrol(customer, "sto_mitte", NOW), ctx(f"enrol_{customer}"))


async def earn(service: LoyaltyService, payment: str, amount: str, clock: Clock) -> None:
    command = EarnPoints("cus_ada", payment, "ord_1", Decimal(amount), "EUR", clock.now)
    await handlers.on_member(service.deps, command, ctx(payment))


@pytest.mark.parametrize("settings", [SHORT], indirect=True)
async def test_points_expire_oldest_lot_first_when_due(
    service: LoyaltyService, clock: Clock
) -> None:
    await enrolled(service)
    await earn(service, "pay_1", "30.00", clock)
    clock.advance(seconds=10)
    await earn(service, "pay_2", "40.00", clock)
    clock.advance(seconds=5)
    assert await scheduler(service).check_due() == 0
    clock.advance(seconds=6)  # 21 s after the first lot, 11 s after the second
    assert await scheduler(service).check_due() == 1
    ada = await member_of(service)
    assert ada.balance == 40
    assert [(lot.entry_id, lot.remaining) for lot in ada.lots] == [("earn:pay_1", 0),
                                                                   ("earn:pay_2", 40)]  # fmt: skip
    clock.advance(seconds=10)
    assert await scheduler(service).check_due() == 1
    assert (await member_of(service)).balance == 0
    assert await scheduler(service).check_due() == 0


async def test_coupons_expire_after_their_validity(service: LoyaltyService, clock: Clock) -> None:
    await enrolled(service)
    issue = IssueCoupon("cus_ada", "cpn_1", RewardKind.BIRTHDAY_VOUCHER, "Birthday cake",
                        NOW + timedelta(hours=1), NOW)  # fmt: skip
    await handlers.on_member(service.deps, issue, ctx("coupon"))
    assert await scheduler(service).check_due() == 0
    clock.advance(hours=2)
    assert await scheduler(service).check_due() == 1
    [coupon] = (await member_of(service)).coupons
    assert coupon.status is CouponStatus.EXPIRED


async def test_the_tier_drops_when_spend_leaves_the_window(
    service: LoyaltyService, clock: Clock
) -> None:
    await enrolled(service)
    await earn(service, "pay_1", "1500.00", clock)
    assert (await member_of(service)).tier == "gold"
    clock.advance(days=300)
    assert await scheduler(service).check_due() == 0
    clock.advance(days=66)
    await scheduler(service).check_due()
    assert (await member_of(service)).tier == "silver"
    row = await service.roster.row("cus_ada")
    assert row is not None and row["tier"] == "silver" and row["tier_review_at"] is None


@pytest.mark.parametrize("settings", [SHORT], indirect=True)
async def test_two_replicas_expire_once(service: LoyaltyService, clock: Clock) -> None:
    await enrolled(service)
    await earn(service, "pay_1", "30.00", clock)
    clock.advance(seconds=21)
    first, second = scheduler(service, "a"), scheduler(service, "b")
    assert await first.tick() is True
    assert await second.tick() is False  # the lease is held
    types = [e.metadata.type for e in await service.store.load("cus_ada")]
    assert types.count("crm.loyalty.PointsExpired") == 1
    assert await second.check_due() == 0  # a paused holder running late changes nothing
