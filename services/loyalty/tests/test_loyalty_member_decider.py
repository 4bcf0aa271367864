"""The member decider: given these events, when this command, then these events or this error."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from loyalty_testing import DAY, NOW, PROGRAMME, state, then

from crm_contracts.loyalty import (
    BonusAwarded,
    BonusReason,
    CouponExpired,
    CouponIssued,
    CouponRedeemed,
    CouponWithdrawn,
    HomeStoreChanged,
    LotUse,
    MemberEnrolled,
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsReversed,
    RewardKind,
    TierBasis,
    TierDowngraded,
    TierUpgraded,
)
from crm_contracts.registry import DomainEvent
from crm_loyalty.domain import member
from crm_loyalty.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotEnoughPoints,
    NotFound,
    WrongState,
)
from crm_loyalty.domain.member import (
    AwardBonus,
    ChangeHomeStore,
    EarnPoints,
    Enrol,
    ExpireCoupons,
    ExpirePoints,
    IssueCoupon,
    RedeemCoupon,
    RedeemPoints,
    ReversePoints,
    ReviewTier,
    WithdrawCoupon,
)

CUS = "cus_ada"
HOME = "sto_mitte"


def run(*commands: member.MemberCommand, programme: Any = PROGRAMME) -> list[DomainEvent]:
    """The history the commands make, each decided on what the ones before made."""
    history: list[DomainEvent] = []
    for command in commands:
        history += member.decide(command, member.fold(history), programme)
    return history


def enrol(at: datetime = NOW) -> Enrol:
    return Enrol(CUS, HOME, at)


def earn(payment: str, amount: str, at: datetime = NOW, order: str = "ord_1") -> EarnPoints:
    return EarnPoints(CUS, payment, order, Decimal(amount), "EUR", at)


def bonus(reference: str, points: int, at: datetime = NOW, reason: Any = None) -> AwardBonus:
    return AwardBonus(CUS, reason or BonusReason.REFERRAL, reference, points, at)


def redeem(points: int, rid: str = "red_1", at: datetime = NOW) -> RedeemPoints:
    return RedeemPoints(CUS, rid, points, "free dessert", at)


def refund(
    refund_id: str, amount: str, payment: str = "pay_1", at: datetime = NOW
) -> ReversePoints:
    return ReversePoints(CUS, refund_id, payment, "ord_1", Decimal(amount), "EUR", at)


def coupon(cid: str = "cpn_1", cost: int = 0, at: datetime = NOW, days: int = 30) -> IssueCoupon:
    return IssueCoupon(
        CUS, cid, RewardKind.SET_MENU_OFFER, "Set menu for two", at + timedelta(days=days), at,
        points_cost=cost,
    )  # fmt: skip


# --- enrolment and home store -------------------------------------------------------------------


def test_enrolling_puts_the_member_in_the_lowest_tier_at_the_home_store() -> None:
    assert then([], enrol()) == [
        MemberEnrolled(customer_id=CUS, home_store_id=HOME, tier="silver", enrolled_at=NOW)
    ]


def test_enrolling_again_at_the_same_store_is_a_no_op_and_elsewhere_a_conflict() -> None:
    given = run(enrol())
    assert then(given, enrol(NOW + DAY)) == []
    with pytest.raises(AlreadyExists):
        then(given, Enrol(CUS, "sto_other", NOW))


@pytest.mark.parametrize(
    "command",
    [
        ChangeHomeStore(CUS, "sto_x", NOW),
        earn("pay_1", "10.00"),
        bonus("ref_1", 10),
        redeem(1),
        refund("rfd_1", "1.00"),
        coupon(),
        RedeemCoupon(CUS, "cpn_1", NOW),
        WithdrawCoupon(CUS, "cpn_1", "why", NOW),
        ExpirePoints(CUS, NOW),
        ExpireCoupons(CUS, NOW),
        ReviewTier(CUS, NOW),
    ],
)
def test_every_command_but_enrolment_needs_a_member(command: member.MemberCommand) -> None:
    with pytest.raises(NotFound, match="no member"):
        then([], command)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (Enrol("bad id", HOME, NOW), "customer_id"),
        (Enrol(CUS, "", NOW), "home_store_id"),
        (Enrol(CUS, HOME, NOW.replace(tzinfo=None)), "at"),
    ],
)
def test_enrolment_refuses_bad_values(command: Enrol, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        then([], command)
    assert refused.value.field == field


def test_changing_the_home_store_says_from_where_and_the_same_store_is_a_no_op() -> None:
    given = run(enrol())
    assert then(given, ChangeHomeStore(CUS, "sto_hh", NOW)) == [
        HomeStoreChanged(
            customer_id=CUS, home_store_id="sto_hh", previous_home_store_id=HOME, changed_at=NOW
        )
    ]
    assert then(given, ChangeHomeStore(CUS, HOME, NOW)) == []
    assert state(run(enrol(), ChangeHomeStore(CUS, "sto_hh", NOW))).home_store_id == "sto_hh"


# --- earning ------------------------------------------------------------------------------------


def test_a_payment_earns_points_at_the_rate_rounded_down_with_its_expiry() -> None:
    programme = replace(PROGRAMME, points_per_unit=Decimal("1.5"))
    [earned] = then(run(enrol()), earn("pay_1", "99.99"), programme)
    assert earned == PointsEarned(
        customer_id=CUS,
        home_store_id=HOME,
        entry_id="earn:pay_1",
        points=149,
        reason="purchase",
        order_id="ord_1",
        payment_id="pay_1",
        amount=Decimal("99.99"),
        currency="EUR",
        earned_at=NOW,
        expires_at=NOW + timedelta(days=365),
        order_count=1,
        balance=149,
    )


def test_the_same_payment_earns_only_once() -> None:
    given = run(enrol(), earn("pay_1", "100.00"))
    assert then(given, earn("pay_1", "100.00")) == []
    assert then(given, earn("pay_1", "999.00")) == []  # its entry id exists: still once
    assert state(given).balance == 100


def test_order_count_counts_distinct_orders_so_repeat_purchasers_show() -> None:
    history = run(
        enrol(),
        earn("pay_1", "10.00", order="ord_1"),
        earn("pay_2", "10.00", order="ord_1"),
        earn("pay_3", "10.00", order="ord_2"),
    )
    counts = [e.order_count for e in history if isinstance(e, PointsEarned)]
    assert counts == [1, 1, 2]


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [("0", "EUR", "amount"), ("-5", "EUR", "amount"), ("1.001", "EUR", "amount"),
     ("10.00", "USD", "currency")],
)  # fmt: skip
def test_earning_refuses_bad_payments(amount: str, currency: str, field: str) -> None:
    command = EarnPoints(CUS, "pay_1", "ord_1", Decimal(amount), currency, NOW)
    with pytest.raises(InvalidInput) as refused:
        then(run(enrol()), command)
    assert refused.value.field == field


def test_a_payment_too_small_for_a_point_still_counts_as_spend() -> None:
    [earned] = then(run(enrol()), earn("pay_1", "0.50"))
    assert isinstance(earned, PointsEarned)
    assert (earned.points, earned.balance) == (0, 0)
    assert state(run(enrol(), earn("pay_1", "0.50"))).lots == ()


@pytest.mark.parametrize(
    ("basis", "payments", "expected"),
    [
        (TierBasis.SPEND, ["999.99"], []),
        (TierBasis.SPEND, ["1000.00"], [("silver", "gold")]),
        (TierBasis.SPEND, ["600.00", "500.00"], [("silver", "gold")]),
        (TierBasis.SPEND, ["6000.00"], [("silver", "platinum")]),
        (TierBasis.SPEND, ["1000.00", "4000.00"], [("silver", "gold"), ("gold", "platinum")]),
        (TierBasis.POINTS, ["999.00"], []),
        (TierBasis.POINTS, ["1000.00"], [("silver", "gold")]),
    ],
)
def test_each_earn_reassesses_the_tier_upwards(
    basis: TierBasis, payments: list[str], expected: list[tuple[str, str]]
) -> None:
    programme = replace(PROGRAMME, basis=basis)
    commands = [earn(f"pay_{i}", amount, NOW + i * DAY) for i, amount in enumerate(payments)]
    history = run(enrol(), *commands, programme=programme)
    ups = [(e.from_tier, e.to_tier) for e in history if isinstance(e, TierUpgraded)]
    assert ups == expected
    for event in history:
        if isinstance(event, TierUpgraded):
            assert event.basis is basis and event.currency == "EUR"


def test_spend_older_than_the_window_does_not_count_towards_an_upgrade() -> None:
    history = run(enrol(), earn("pay_1", "600.00"), earn("pay_2", "600.00", NOW + 366 * DAY))
    assert not any(isinstance(e, TierUpgraded) for e in history)


def test_a_bonus_can_upgrade_on_the_points_basis() -> None:
    programme = replace(PROGRAMME, basis=TierBasis.POINTS)
    history = run(enrol(), earn("pay_1", "900.00"), bonus("ref_1", 100), programme=programme)
    assert isinstance(history[-1], TierUpgraded)
    assert (history[-1].to_tier, history[-1].rolling_points) == ("gold", 1000)


# --- bonuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(BonusReason))
def test_a_bonus_is_awarded_once_per_reason_and_reference(reason: BonusReason) -> None:
    given = run(enrol())
    [awarded] = then(given, bonus("ref_1", 50, reason=reason))
    assert awarded == BonusAwarded(
        customer_id=CUS,
        home_store_id=HOME,
        entry_id=f"bonus:{reason.value}:ref_1",
        reason=reason,
        reference="ref_1",
        points=50,
        awarded_at=NOW,
        expires_at=NOW + timedelta(days=365),
        balance=50,
    )
    assert then([*given, awarded], bonus("ref_1", 50, reason=reason)) == []
    assert then([*given, awarded], bonus("ref_2", 50, reason=reason)) != []


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (AwardBonus(CUS, BonusReason.BIRTHDAY, "2026", 0, NOW), "points"),
        (AwardBonus(CUS, BonusReason.BIRTHDAY, "2026", 10_000_001, NOW), "points"),
        (AwardBonus(CUS, BonusReason.BIRTHDAY, "no spaces", 5, NOW), "reference"),
    ],
)
def test_bonuses_refuse_bad_values(command: AwardBonus, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        then(run(enrol()), command)
    assert refused.value.field == field


# --- redemption ---------------------------------------------------------------------------------


def test_redemption_takes_from_the_oldest_lots_first() -> None:
    given = run(
        enrol(),
        earn("pay_1", "30.00", NOW),
        bonus("ref_1", 50, NOW + DAY),
        earn("pay_2", "40.00", NOW + 2 * DAY),
    )
    [redeemed] = then(given, redeem(60, at=NOW + 3 * DAY))
    assert redeemed == PointsRedeemed(
        customer_id=CUS,
        home_store_id=HOME,
        redemption_id="red_1",
        points=60,
        description="free dessert",
        lots=(
            LotUse(entry_id="earn:pay_1", points=30),
            LotUse(entry_id="bonus:referral:ref_1", points=30),
        ),
        redeemed_at=NOW + 3 * DAY,
        balance=60,
    )
    remaining = {lot.entry_id: lot.remaining for lot in state([*given, redeemed]).lots}
    assert remaining == {"earn:pay_1": 0, "bonus:referral:ref_1": 20, "earn:pay_2": 40}


@pytest.mark.parametrize("points", [101, 1000])
def test_redemption_never_takes_the_balance_below_zero(points: int) -> None:
    with pytest.raises(NotEnoughPoints) as refused:
        then(run(enrol(), earn("pay_1", "100.00")), redeem(points))
    assert (refused.value.balance, refused.value.points) == (100, points)
    assert "has 100 points" in str(refused.value)


def test_the_whole_balance_can_be_redeemed() -> None:
    [redeemed] = then(run(enrol(), earn("pay_1", "100.00")), redeem(100))
    assert isinstance(redeemed, PointsRedeemed) and redeemed.balance == 0


def test_a_redemption_id_is_spent_once() -> None:
    given = run(enrol(), earn("pay_1", "100.00"), redeem(10))
    assert then(given, redeem(10)) == []
    with pytest.raises(WrongState):
        then(given, redeem(20))


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (RedeemPoints(CUS, "red_1", 0, "x", NOW), "points"),
        (RedeemPoints(CUS, "red 1", 5, "x", NOW), "redemption_id"),
        (RedeemPoints(CUS, "red_1", 5, "   ", NOW), "description"),
    ],
)
def test_redemptions_refuse_bad_values(command: RedeemPoints, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        then(run(enrol(), earn("pay_1", "100.00")), command)
    assert refused.value.field == field


# --- expiry -------------------------------------------------------------------------------------


def test_points_expire_oldest_first_when_their_lot_is_due() -> None:
    short = replace(PROGRAMME, points_expire_after=timedelta(seconds=20))
    given = run(
        enrol(),
        earn("pay_1", "30.00", NOW),
        earn("pay_2", "40.00", NOW + timedelta(seconds=10)),
        redeem(10, at=NOW + timedelta(seconds=11)),
        programme=short,
    )
    assert then(given, ExpirePoints(CUS, NOW + timedelta(seconds=19)), short) == []
    [first] = then(given, ExpirePoints(CUS, NOW + timedelta(seconds=20)), short)
    assert first == PointsExpired(
        customer_id=CUS,
        home_store_id=HOME,
        points=20,
        lots=(LotUse(entry_id="earn:pay_1", points=20),),
        expired_at=NOW + timedelta(seconds=20),
        balance=40,
    )
    later = NOW + timedelta(seconds=31)
    [both] = then(given, ExpirePoints(CUS, later), short)
    assert isinstance(both, PointsExpired)
    assert [use.entry_id for use in both.lots] == ["earn:pay_1", "earn:pay_2"]
    assert (both.points, both.balance) == (60, 0)
    assert then([*given, both], ExpirePoints(CUS, later), short) == []  # at most once


# --- refunds ------------------------------------------------------------------------------------


def test_a_refund_reverses_points_in_proportion_from_the_payments_own_lot() -> None:
    given = run(enrol(), bonus("ref_1", 10, NOW - DAY), earn("pay_1", "200.00"))
    [reversed_] = then(given, refund("rfd_1", "50.00"))
    assert reversed_ == PointsReversed(
        customer_id=CUS,
        home_store_id=HOME,
        refund_id="rfd_1",
        payment_id="pay_1",
        order_id="ord_1",
        amount=Decimal("50.00"),
        currency="EUR",
        points_due=50,
        points=50,
        shortfall=0,
        lots=(LotUse(entry_id="earn:pay_1", points=50),),
        reversed_at=NOW,
        balance=160,
    )


def test_refunds_that_add_up_to_the_payment_take_back_exactly_what_it_earned() -> None:
    programme = replace(PROGRAMME, points_per_unit=Decimal("1"))
    history = run(
        enrol(),
        earn("pay_1", "100.00"),
        refund("rfd_1", "33.33"),
        refund("rfd_2", "33.33"),
        refund("rfd_3", "33.34"),
        programme=programme,
    )
    dues = [e.points_due for e in history if isinstance(e, PointsReversed)]
    assert dues == [33, 34, 33]
    assert state(history).balance == 0


def test_points_already_spent_take_the_balance_to_zero_and_record_the_shortfall() -> None:
    given = run(enrol(), earn("pay_1", "100.00"), redeem(70))
    [reversed_] = then(given, refund("rfd_1", "100.00"))
    assert isinstance(reversed_, PointsReversed)
    assert (reversed_.points_due, reversed_.points, reversed_.shortfall) == (100, 30, 70)
    assert reversed_.balance == 0


def test_a_refund_is_reversed_once_and_one_of_an_unknown_payment_is_ignored() -> None:
    given = run(enrol(), earn("pay_1", "100.00"), refund("rfd_1", "10.00"))
    assert then(given, refund("rfd_1", "10.00")) == []
    assert then(given, refund("rfd_9", "10.00", payment="pay_before_enrolment")) == []


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (refund("rfd_2", "100.01"), "amount"),
        (refund("rfd_2", "0"), "amount"),
        (ReversePoints(CUS, "rfd_2", "pay_1", "ord_1", Decimal(5), "USD", NOW), "currency"),
    ],
)
def test_refunds_beyond_the_payment_or_in_another_currency_are_refused(
    command: ReversePoints, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        then(run(enrol(), earn("pay_1", "100.00")), command)
    assert refused.value.field == field


# --- tier review (downgrade) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_later", "expected"),
    [(100, []), (364, []), (366, [("gold", "silver")])],
)
def test_the_tier_drops_when_the_spend_leaves_the_rolling_window(
    days_later: int, expected: list[tuple[str, str]]
) -> None:
    given = run(enrol(), earn("pay_1", "1500.00"))
    assert state(given).tier == "gold"
    events = then(given, ReviewTier(CUS, NOW + days_later * DAY))
    assert [(e.from_tier, e.to_tier) for e in events if isinstance(e, TierDowngraded)] == expected


def test_a_downgrade_goes_to_the_tier_the_window_still_supports() -> None:
    given = run(enrol(), earn("pay_1", "5000.00"), earn("pay_2", "1200.00", NOW + 200 * DAY))
    assert state(given).tier == "platinum"
    [down] = then(given, ReviewTier(CUS, NOW + 366 * DAY))
    assert isinstance(down, TierDowngraded)
    assert (down.to_tier, down.rolling_spend) == ("gold", Decimal("1200.00"))


def test_a_refund_lowers_rolling_spend_for_the_next_review() -> None:
    given = run(enrol(), earn("pay_1", "1000.00"), refund("rfd_1", "1.00"))
    [down] = then(given, ReviewTier(CUS, NOW + DAY))
    assert isinstance(down, TierDowngraded) and down.to_tier == "silver"


# --- coupons ------------------------------------------------------------------------------------


def test_a_gift_coupon_costs_nothing() -> None:
    [issued] = then(run(enrol()), coupon())
    assert issued == CouponIssued(
        customer_id=CUS,
        home_store_id=HOME,
        coupon_id="cpn_1",
        reward=RewardKind.SET_MENU_OFFER,
        description="Set menu for two",
        valid_until=NOW + timedelta(days=30),
        points_cost=0,
        lots=(),
        issued_at=NOW,
        balance=0,
    )


def test_a_coupon_that_costs_points_takes_them_oldest_first() -> None:
    given = run(enrol(), earn("pay_1", "30.00"), earn("pay_2", "40.00", NOW + DAY))
    [issued] = then(given, coupon(cost=50, at=NOW + 2 * DAY))
    assert isinstance(issued, CouponIssued)
    assert issued.lots == (LotUse(entry_id="earn:pay_1", points=30),
                           LotUse(entry_id="earn:pay_2", points=20))  # fmt: skip
    assert issued.balance == 20


def test_a_coupon_is_refused_without_enough_points() -> None:
    with pytest.raises(NotEnoughPoints):
        then(run(enrol(), earn("pay_1", "30.00")), coupon(cost=31))


def test_issuing_the_same_coupon_again_is_a_no_op_and_other_terms_a_conflict() -> None:
    given = run(enrol(), coupon())
    assert then(given, coupon()) == []
    with pytest.raises(AlreadyExists):
        then(given, coupon(days=10))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"valid_until": NOW}, "valid_until"),
        ({"value": Decimal("5.00")}, "value"),
        ({"currency": "EUR"}, "value"),
        ({"value": Decimal("0")}, "value"),
        ({"points_cost": -1}, "points_cost"),
        ({"description": ""}, "description"),
        ({"coupon_id": "c 1"}, "coupon_id"),
    ],
)
def test_coupons_refuse_bad_terms(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        then(run(enrol()), replace(coupon(), **changes))
    assert refused.value.field == field


def test_a_coupon_is_redeemed_once() -> None:
    given = run(enrol(), coupon())
    [used] = then(given, RedeemCoupon(CUS, "cpn_1", NOW + DAY, store_id="sto_hh"))
    assert used == CouponRedeemed(
        customer_id=CUS, home_store_id=HOME, coupon_id="cpn_1", store_id="sto_hh",
        redeemed_at=NOW + DAY,
    )  # fmt: skip
    with pytest.raises(WrongState, match="used once"):
        then([*given, used], RedeemCoupon(CUS, "cpn_1", NOW + DAY))


@pytest.mark.parametrize(
    ("given_extra", "when", "title"),
    [
        ([], RedeemCoupon(CUS, "cpn_1", NOW + 31 * DAY), "Coupon expired"),
        ([ExpireCoupons(CUS, NOW + 31 * DAY)], RedeemCoupon(CUS, "cpn_1", NOW), "Coupon expired"),
        ([WithdrawCoupon(CUS, "cpn_1", "x", NOW)], RedeemCoupon(CUS, "cpn_1", NOW),
         "Coupon withdrawn"),
        ([RedeemCoupon(CUS, "cpn_1", NOW)], WithdrawCoupon(CUS, "cpn_1", "x", NOW),
         "Coupon redeemed"),
    ],
)  # fmt: skip
def test_closed_coupons_refuse_use(
    given_extra: list[member.MemberCommand], when: member.MemberCommand, title: str
) -> None:
    with pytest.raises(WrongState) as refused:
        then(run(enrol(), coupon(), *given_extra), when)
    assert refused.value.title == title


@pytest.mark.parametrize(
    "when", [RedeemCoupon(CUS, "cpn_9", NOW), WithdrawCoupon(CUS, "cpn_9", "x", NOW)]
)
def test_an_unknown_coupon_is_not_found(when: member.MemberCommand) -> None:
    with pytest.raises(NotFound, match="coupon"):
        then(run(enrol(), coupon()), when)


def test_withdrawing_returns_the_points_to_the_lots_they_came_from() -> None:
    given = run(enrol(), earn("pay_1", "100.00"), coupon(cost=40))
    [withdrawn] = then(given, WithdrawCoupon(CUS, "cpn_1", "order paid after all", NOW))
    assert withdrawn == CouponWithdrawn(
        customer_id=CUS,
        home_store_id=HOME,
        coupon_id="cpn_1",
        reason="order paid after all",
        points_returned=40,
        lots=(LotUse(entry_id="earn:pay_1", points=40),),
        withdrawn_at=NOW,
        balance=100,
    )
    after = state([*given, withdrawn])
    assert after.balance == 100 and after.lots[0].remaining == 100


@pytest.mark.parametrize("closing", [WithdrawCoupon(CUS, "cpn_1", "x", NOW),
                                     ExpireCoupons(CUS, NOW + 31 * DAY)])  # fmt: skip
def test_withdrawing_a_withdrawn_or_expired_coupon_is_a_no_op(
    closing: member.MemberCommand,
) -> None:
    given = run(enrol(), coupon(), closing)
    assert then(given, WithdrawCoupon(CUS, "cpn_1", "again", NOW)) == []


def test_coupons_expire_once_after_their_validity() -> None:
    given = run(enrol(), coupon("cpn_1", days=10), coupon("cpn_2", days=20))
    assert then(given, ExpireCoupons(CUS, NOW + 10 * DAY)) == []
    expired = then(given, ExpireCoupons(CUS, NOW + 15 * DAY))
    assert expired == [
        CouponExpired(
            customer_id=CUS,
            home_store_id=HOME,
            coupon_id="cpn_1",
            valid_until=NOW + 10 * DAY,
            expired_at=NOW + 15 * DAY,
        )
    ]
    assert then([*given, *expired], ExpireCoupons(CUS, NOW + 15 * DAY)) == []


# --- every member event says who and where, and the balance it leaves --------------------------


def test_every_member_event_carries_the_member_home_store_and_balance() -> None:
    history = run(
        enrol(),
        ChangeHomeStore(CUS, "sto_hh", NOW),
        earn("pay_1", "1500.00"),
        bonus("ref_1", 10),
        redeem(20),
        refund("rfd_1", "100.00"),
        coupon(cost=5),
        RedeemCoupon(CUS, "cpn_1", NOW),
        coupon("cpn_2"),
        WithdrawCoupon(CUS, "cpn_2", "x", NOW),
        ExpirePoints(CUS, NOW + 400 * DAY),
        ReviewTier(CUS, NOW + 400 * DAY),
    )
    balance = 0
    for event in history:
        assert getattr(event, "customer_id") == CUS  # noqa: B009
        if not isinstance(event, MemberEnrolled):
            assert getattr(event, "home_store_id") == "sto_hh"  # noqa: B009
        if hasattr(event, "balance"):
            balance = event.balance
    assert balance == 0 == state(history).balance
    assert state(history).tier == "silver"
