"""The member aggregate as a decider: enrolment, tier, points ledger and coupons.

One stream per member, keyed by the customer id. The points balance is the sum of
what is left in the member's lots; nothing ever takes it below zero. Points earned
from a payment are earned once (the entry id is derived from the payment id), a
bonus once per reason and reference, a redemption once per redemption id, a
refund reversed once per refund id: a repeat of any of them decides no events.

The tier is re-assessed upwards on every earn and bonus; ``ReviewTier`` (the
scheduler) moves it down when the rolling window has moved on. Time checks
(``ExpirePoints``, ``ExpireCoupons``, ``ReviewTier``) are no-ops unless something
is due. The clock is an input (``at``/``now``), never read here; the programme's
rules (tiers, earn rate, expiry) are an input too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

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
    TierDowngraded,
    TierUpgraded,
)
from crm_contracts.pipeline import CENT
from crm_contracts.registry import DomainEvent
from crm_loyalty.domain import ledger, values
from crm_loyalty.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotEnoughPoints,
    NotFound,
    WrongState,
)
from crm_loyalty.domain.ledger import Lot
from crm_loyalty.domain.programme import Programme

KIND = "member"
MAX_MONEY = Decimal("9999999999999.99")


def earn_entry(payment_id: str) -> str:
    """The lot a payment earns: derived from the payment, so it is earned only once."""
    return f"earn:{payment_id}"


def bonus_entry(reason: BonusReason, reference: str) -> str:
    return f"bonus:{reason.value}:{reference}"


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrol:
    customer_id: str
    home_store_id: str
    at: datetime


@dataclass(frozen=True)
class ChangeHomeStore:
    customer_id: str
    home_store_id: str
    at: datetime


@dataclass(frozen=True)
class EarnPoints:
    """Points for a payment received in the pipeline."""

    customer_id: str
    payment_id: str
    order_id: str
    amount: Decimal
    currency: str
    at: datetime


@dataclass(frozen=True)
class AwardBonus:
    customer_id: str
    reason: BonusReason
    reference: str
    points: int
    at: datetime


@dataclass(frozen=True)
class RedeemPoints:
    customer_id: str
    redemption_id: str
    points: int
    description: str
    at: datetime


@dataclass(frozen=True)
class ReversePoints:
    """Take back the points a refunded payment earned, in proportion to the refund."""

    customer_id: str
    refund_id: str
    payment_id: str
    order_id: str
    amount: Decimal
    currency: str
    at: datetime


@dataclass(frozen=True)
class IssueCoupon:
    customer_id: str
    coupon_id: str
    reward: RewardKind
    description: str
    valid_until: datetime
    at: datetime
    points_cost: int = 0
    value: Decimal | None = None
    currency: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class RedeemCoupon:
    customer_id: str
    coupon_id: str
    at: datetime
    store_id: str | None = None


@dataclass(frozen=True)
class WithdrawCoupon:
    customer_id: str
    coupon_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class ExpirePoints:
    customer_id: str
    now: datetime


@dataclass(frozen=True)
class ExpireCoupons:
    customer_id: str
    now: datetime


@dataclass(frozen=True)
class ReviewTier:
    """Move the tier to what the rolling window now says (down, or up after a config change)."""

    customer_id: str
    now: datetime


MemberCommand = (
    Enrol
    | ChangeHomeStore
    | EarnPoints
    | AwardBonus
    | RedeemPoints
    | ReversePoints
    | IssueCoupon
    | RedeemCoupon
    | WithdrawCoupon
    | ExpirePoints
    | ExpireCoupons
    | ReviewTier
)

# --- state --------------------------------------------------------------------------------------


class CouponStatus(StrEnum):
    ACTIVE = "active"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Coupon:
    coupon_id: str
    reward: RewardKind
    description: str
    value: Decimal | None
    currency: str | None
    valid_until: datetime
    points_cost: int
    lots: tuple[LotUse, ...]
    reference: str | None
    issued_at: datetime
    status: CouponStatus = CouponStatus.ACTIVE
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Earning:
    """What one payment earned, and what its refunds took back."""

    payment_id: str
    order_id: str
    amount: Decimal
    currency: str
    points: int
    at: datetime
    refunded: Decimal = Decimal("0.00")
    points_reversed_due: int = 0


@dataclass(frozen=True)
class Bonus:
    entry_id: str
    points: int
    at: datetime


@dataclass(frozen=True)
class Entry:
    """One line of the member's history: what happened to the balance."""

    kind: str
    points: int
    at: datetime
    reference: str
    balance: int


@dataclass(frozen=True)
class NoMember:
    """The customer is not a member."""


@dataclass(frozen=True)
class Member:
    customer_id: str
    home_store_id: str
    tier: str
    enrolled_at: datetime
    lots: tuple[Lot, ...] = ()
    earnings: tuple[Earning, ...] = ()
    bonuses: tuple[Bonus, ...] = ()
    redemptions: tuple[tuple[str, int], ...] = ()
    refunds: frozenset[str] = frozenset()
    coupons: tuple[Coupon, ...] = ()
    orders: frozenset[str] = frozenset()
    history: tuple[Entry, ...] = field(default=())

    @property
    def balance(self) -> int:
        return ledger.balance(self.lots)

    def earning(self, payment_id: str) -> Earning | None:
        return next((e for e in self.earnings if e.payment_id == payment_id), None)

    def coupon(self, coupon_id: str) -> Coupon | None:
        return next((c for c in self.coupons if c.coupon_id == coupon_id), None)

    def rolling(self, now: datetime, programme: Programme) -> tuple[Decimal, int]:
        """Spend (programme currency) and points earned within the window ending ``now``."""
        since = now - programme.tier_window
        spend = sum(
            (
                e.amount - e.refunded
                for e in self.earnings
                if since < e.at <= now and e.currency == programme.currency
            ),
            Decimal("0.00"),
        )
        points = sum(
            e.points - e.points_reversed_due for e in self.earnings if since < e.at <= now
        ) + sum(b.points for b in self.bonuses if since < b.at <= now)
        return spend, max(points, 0)


MemberState = NoMember | Member

initial_state: MemberState = NoMember()


def decide(command: MemberCommand, state: MemberState, programme: Programme) -> list[DomainEvent]:
    match command, state:
        case Enrol(), Member():
            if command.home_store_id == state.home_store_id:
                return []  # the same enrolment, retried
            raise AlreadyExists(KIND, command.customer_id, f" (home store {state.home_store_id})")
        case Enrol(), NoMember():
            return _enrolled(command, programme)
        case _, NoMember():
            raise NotFound(KIND, command.customer_id)
        case ChangeHomeStore(), Member():
            return _moved(command, state)
        case EarnPoints(), Member():
            return _earned(command, state, programme)
        case AwardBonus(), Member():
            return _bonus(command, state, programme)
        case RedeemPoints(), Member():
            return _redeemed(command, state)
        case ReversePoints(), Member():
            return _reversed(command, state)
        case IssueCoupon(), Member():
            return _issued(command, state)
        case RedeemCoupon(), Member():
            return _coupon_redeemed(command, state)
        case WithdrawCoupon(), Member():
            return _withdrawn(command, state)
        case ExpirePoints(), Member():
            return _points_expired(command, state)
        case ExpireCoupons(), Member():
            return _coupons_expired(command, state)
        case ReviewTier(), Member():
            return _reviewed(command, state, programme)
    raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive above


def _enrolled(command: Enrol, programme: Programme) -> list[DomainEvent]:
    return [
        MemberEnrolled(
            customer_id=values.identifier(command.customer_id, "customer_id"),
            home_store_id=values.identifier(command.home_store_id, "home_store_id"),
            tier=programme.lowest,
            enrolled_at=values.aware(command.at, "at"),
        )
    ]


def _moved(command: ChangeHomeStore, state: Member) -> list[DomainEvent]:
    store = values.identifier(command.home_store_id, "home_store_id")
    if store == state.home_store_id:
        return []
    return [
        HomeStoreChanged(
            customer_id=state.customer_id,
            home_store_id=store,
            previous_home_store_id=state.home_store_id,
            changed_at=values.aware(command.at, "at"),
        )
    ]


def _money(amount: Decimal, field: str = "amount") -> Decimal:
    if not amount.is_finite() or amount <= 0 or amount > MAX_MONEY:
        raise InvalidInput(field, "must be more than 0")
    if amount != amount.quantize(CENT):
        raise InvalidInput(field, "must have at most two decimal places")
    return amount.quantize(CENT)


def _upgrade(state: Member, at: datetime, programme: Programme) -> list[DomainEvent]:
    spend, points = state.rolling(at, programme)
    target = programme.tier_for(spend, points)
    if programme.rank(target) <= programme.rank(state.tier) or target == state.tier:
        return []
    return [_tier_change(TierUpgraded, state, target, spend, points, at, programme)]


def _tier_change(
    kind: type[TierUpgraded] | type[TierDowngraded],
    state: Member,
    target: str,
    spend: Decimal,
    points: int,
    at: datetime,
    programme: Programme,
) -> DomainEvent:
    return kind(
        customer_id=state.customer_id,
        home_store_id=state.home_store_id,
        from_tier=state.tier,
        to_tier=target,
        basis=programme.basis,
        rolling_spend=spend.quantize(CENT),
        rolling_points=points,
        currency=programme.currency,
        at=at,
    )


def _earned(command: EarnPoints, state: Member, programme: Programme) -> list[DomainEvent]:
    payment_id = values.identifier(command.payment_id, "payment_id")
    if state.earning(payment_id) is not None:
        return []  # the same payment, delivered again
    amount = _money(command.amount)
    at = values.aware(command.at, "at")
    if command.currency != programme.currency:
        raise InvalidInput(
            "currency",
            f"the programme earns points in {programme.currency}, not {command.currency}",
        )
    points = programme.points_for(amount)
    orders = state.orders | {command.order_id}
    earned = PointsEarned(
        customer_id=state.customer_id,
        home_store_id=state.home_store_id,
        entry_id=earn_entry(payment_id),
        points=points,
        reason="purchase",
        order_id=values.identifier(command.order_id, "order_id"),
        payment_id=payment_id,
        amount=amount,
        currency=command.currency,
        earned_at=at,
        expires_at=at + programme.points_expire_after,
        order_count=len(orders),
        balance=state.balance + points,
    )
    return [earned, *_upgrade(_after(state, earned), at, programme)]


def _bonus(command: AwardBonus, state: Member, programme: Programme) -> list[DomainEvent]:
    reference = values.identifier(command.reference, "reference")
    entry_id = bonus_entry(command.reason, reference)
    if any(b.entry_id == entry_id for b in state.bonuses):
        return []  # awarded before for this reason and reference
    points = values.points(command.points)
    at = values.aware(command.at, "at")
    awarded = BonusAwarded(
        customer_id=state.customer_id,
        home_store_id=state.home_store_id,
        entry_id=entry_id,
        reason=command.reason,
        reference=reference,
        points=points,
        awarded_at=at,
        expires_at=at + programme.points_expire_after,
        balance=state.balance + points,
    )
    return [awarded, *_upgrade(_after(state, awarded), at, programme)]


def _redeemed(command: RedeemPoints, state: Member) -> list[DomainEvent]:
    redemption_id = values.identifier(command.redemption_id, "redemption_id")
    points = values.points(command.points)
    known = dict(state.redemptions).get(redemption_id)
    if known is not None:
        if known == points:
            return []  # the same redemption, retried
        raise WrongState(
            "Redemption already made",
            f"redemption {redemption_id} already spent {known} points, not {points}",
        )
    description = values.text(command.description, "description")
    if points > state.balance:
        raise NotEnoughPoints(state.customer_id, points, state.balance)
    return [
        PointsRedeemed(
            customer_id=state.customer_id,
            home_store_id=state.home_store_id,
            redemption_id=redemption_id,
            points=points,
            description=description,
            lots=ledger.take(state.lots, points),
            redeemed_at=values.aware(command.at, "at"),
            balance=state.balance - points,
        )
    ]


def _reversed(command: ReversePoints, state: Member) -> list[DomainEvent]:
    refund_id = values.identifier(command.refund_id, "refund_id")
    if refund_id in state.refunds:
        return []  # the same refund, delivered again
    earning = state.earning(command.payment_id)
    if earning is None:
        return []  # the payment earned nothing here (e.g. paid before enrolment)
    amount = _money(command.amount)
    if command.currency != earning.currency:
        raise InvalidInput(
            "currency",
            f"payment {earning.payment_id} was in {earning.currency}, not {command.currency}",
        )
    refundable = earning.amount - earning.refunded
    if amount > refundable:
        raise InvalidInput(
            "amount",
            f"refund of {amount} {command.currency} is more than the {refundable} "
            f"{command.currency} of payment {earning.payment_id} not yet refunded",
        )
    # Proportional and cumulative, so that refunds adding up to the payment take back
    # exactly what it earned, whatever the rounding of each.
    total_due = (
        Decimal(earning.points) * (earning.refunded + amount) / earning.amount
    ).to_integral_value(rounding=ROUND_HALF_UP)
    points_due = max(int(total_due) - earning.points_reversed_due, 0)
    taken = min(points_due, state.balance)
    lots = ledger.take(state.lots, taken, first=earn_entry(earning.payment_id))
    return [
        PointsReversed(
            customer_id=state.customer_id,
            home_store_id=state.home_store_id,
            refund_id=refund_id,
            payment_id=earning.payment_id,
            order_id=earning.order_id,
            amount=amount,
            currency=command.currency,
            points_due=points_due,
            points=taken,
            shortfall=points_due - taken,
            lots=lots,
            reversed_at=values.aware(command.at, "at"),
            balance=state.balance - taken,
        )
    ]


def _issued(command: IssueCoupon, state: Member) -> list[DomainEvent]:
    coupon_id = values.identifier(command.coupon_id, "coupon_id")
    description = values.text(command.description, "description")
    at = values.aware(command.at, "at")
    valid_until = values.aware(command.valid_until, "valid_until")
    value = None if command.value is None else _money(command.value, "value")
    if (value is None) != (command.currency is None):
        raise InvalidInput("value", "give a value and its currency together, or neither")
    cost = command.points_cost
    if isinstance(cost, bool) or not 0 <= cost <= values.MAX_POINTS:
        raise InvalidInput("points_cost", f"must be a whole number from 0 to {values.MAX_POINTS}")
    known = state.coupon(coupon_id)
    if known is not None:
        same = (known.reward, known.description, known.valid_until, known.points_cost) == (
            command.reward,
            description,
            valid_until,
            cost,
        )
        if same:
            return []  # the same coupon, issued again (e.g. a saga's retry)
        raise AlreadyExists("coupon", coupon_id, " with other terms")
    if valid_until <= at:
        raise InvalidInput("valid_until", "must be later than the time of issue")
    if cost > state.balance:
        raise NotEnoughPoints(state.customer_id, cost, state.balance)
    return [
        CouponIssued(
            customer_id=state.customer_id,
            home_store_id=state.home_store_id,
            coupon_id=coupon_id,
            reward=command.reward,
            description=description,
            value=value,
            currency=command.currency,
            valid_until=valid_until,
            points_cost=cost,
            lots=ledger.take(state.lots, cost),
            reference=command.reference,
            issued_at=at,
            balance=state.balance - cost,
        )
    ]


def _open_coupon(state: Member, coupon_id: str) -> Coupon:
    coupon = state.coupon(coupon_id)
    if coupon is None:
        raise NotFound("coupon", f"{coupon_id} of member {state.customer_id}")
    return coupon


def _coupon_redeemed(command: RedeemCoupon, state: Member) -> list[DomainEvent]:
    coupon = _open_coupon(state, command.coupon_id)
    at = values.aware(command.at, "at")
    if coupon.status is not CouponStatus.ACTIVE:
        raise WrongState(
            f"Coupon {coupon.status.value}",
            f"coupon {coupon.coupon_id} was {coupon.status.value}; a coupon is used once",
        )
    if at > coupon.valid_until:
        raise WrongState(
            "Coupon expired", f"coupon {coupon.coupon_id} was valid until {coupon.valid_until}"
        )
    return [
        CouponRedeemed(
            customer_id=state.customer_id,
            home_store_id=state.home_store_id,
            coupon_id=coupon.coupon_id,
            store_id=None
            if command.store_id is None
            else values.identifier(command.store_id, "store_id"),
            redeemed_at=at,
        )
    ]


def _withdrawn(command: WithdrawCoupon, state: Member) -> list[DomainEvent]:
    coupon = _open_coupon(state, command.coupon_id)
    reason = values.text(command.reason, "reason")
    if coupon.status in (CouponStatus.WITHDRAWN, CouponStatus.EXPIRED):
        return []  # nothing left to take back
    if coupon.status is CouponStatus.REDEEMED:
        raise WrongState(
            "Coupon redeemed", f"coupon {coupon.coupon_id} was already used; it cannot be withdrawn"
        )
    returned = sum(use.points for use in coupon.lots)
    return [
        CouponWithdrawn(
            customer_id=state.customer_id,
            home_store_id=state.home_store_id,
            coupon_id=coupon.coupon_id,
            reason=reason,
            points_returned=returned,
            lots=coupon.lots,
            withdrawn_at=values.aware(command.at, "at"),
            balance=state.balance + returned,
        )
    ]


def _points_expired(command: ExpirePoints, state: Member) -> list[DomainEvent]:
    now = values.aware(command.now, "now")
    lots = ledger.expired(state.lots, now)
    if not lots:
        return []
    points = sum(use.points for use in lots)
    return [
        PointsExpired(
            customer_id=state.customer_id,
            home_store_id=state.home_store_id,
            points=points,
            lots=lots,
            expired_at=now,
            balance=state.balance - points,
        )
    ]


def _coupons_expired(command: ExpireCoupons, state: Member) -> list[DomainEvent]:
    now = values.aware(command.now, "now")
    return [
        CouponExpired(
            customer_id=state.customer_id,
            home_store_id=state.home_store_id,
            coupon_id=coupon.coupon_id,
            valid_until=coupon.valid_until,
            expired_at=now,
        )
        for coupon in state.coupons
        if coupon.status is CouponStatus.ACTIVE and coupon.valid_until < now
    ]


def _reviewed(command: ReviewTier, state: Member, programme: Programme) -> list[DomainEvent]:
    now = values.aware(command.now, "now")
    spend, points = state.rolling(now, programme)
    target = programme.tier_for(spend, points)
    if target == state.tier:
        return []
    kind = TierUpgraded if programme.rank(target) > programme.rank(state.tier) else TierDowngraded
    return [_tier_change(kind, state, target, spend, points, now, programme)]


# --- evolve -------------------------------------------------------------------------------------


def _logged(state: Member, kind: str, points: int, at: datetime, ref: str, bal: int) -> Member:
    return replace(state, history=(*state.history, Entry(kind, points, at, ref, bal)))


def evolve(state: MemberState, event: DomainEvent) -> MemberState:
    match event, state:
        case MemberEnrolled(), NoMember():
            return Member(
                customer_id=event.customer_id,
                home_store_id=event.home_store_id,
                tier=event.tier,
                enrolled_at=event.enrolled_at,
            )
        case HomeStoreChanged(), Member():
            return replace(state, home_store_id=event.home_store_id)
        case TierUpgraded() | TierDowngraded(), Member():
            return replace(state, tier=event.to_tier)
        case PointsEarned(), Member():
            earning = Earning(
                payment_id=event.payment_id,
                order_id=event.order_id,
                amount=event.amount,
                currency=event.currency,
                points=event.points,
                at=event.earned_at,
            )
            lots = state.lots
            if event.points > 0:
                lot = Lot(event.entry_id, event.earned_at, event.expires_at, *(event.points,) * 2)
                lots = ledger.oldest_first((*lots, lot))
            moved = replace(
                state,
                lots=lots,
                earnings=(*state.earnings, earning),
                orders=state.orders | {event.order_id},
            )
            return _logged(moved, "earned", event.points, event.earned_at, event.payment_id,
                           event.balance)  # fmt: skip
        case BonusAwarded(), Member():
            lot = Lot(event.entry_id, event.awarded_at, event.expires_at, *(event.points,) * 2)
            moved = replace(
                state,
                lots=ledger.oldest_first((*state.lots, lot)),
                bonuses=(*state.bonuses, Bonus(event.entry_id, event.points, event.awarded_at)),
            )
            return _logged(moved, f"bonus:{event.reason.value}", event.points, event.awarded_at,
                           event.reference, event.balance)  # fmt: skip
        case PointsRedeemed(), Member():
            moved = replace(
                state,
                lots=ledger.apply(state.lots, event.lots),
                redemptions=(*state.redemptions, (event.redemption_id, event.points)),
            )
            return _logged(moved, "redeemed", -event.points, event.redeemed_at,
                           event.redemption_id, event.balance)  # fmt: skip
        case PointsExpired(), Member():
            moved = replace(state, lots=ledger.apply(state.lots, event.lots))
            return _logged(moved, "expired", -event.points, event.expired_at, "expiry",
                           event.balance)  # fmt: skip
        case PointsReversed(), Member():
            earnings = tuple(
                replace(
                    e,
                    refunded=e.refunded + event.amount,
                    points_reversed_due=e.points_reversed_due + event.points_due,
                )
                if e.payment_id == event.payment_id
                else e
                for e in state.earnings
            )
            moved = replace(
                state,
                lots=ledger.apply(state.lots, event.lots),
                earnings=earnings,
                refunds=state.refunds | {event.refund_id},
            )
            return _logged(moved, "reversed", -event.points, event.reversed_at, event.refund_id,
                           event.balance)  # fmt: skip
        case CouponIssued(), Member():
            coupon = Coupon(
                coupon_id=event.coupon_id,
                reward=event.reward,
                description=event.description,
                value=event.value,
                currency=event.currency,
                valid_until=event.valid_until,
                points_cost=event.points_cost,
                lots=event.lots,
                reference=event.reference,
                issued_at=event.issued_at,
            )
            moved = replace(
                state,
                lots=ledger.apply(state.lots, event.lots),
                coupons=(*state.coupons, coupon),
            )
            if event.points_cost == 0:
                return moved
            return _logged(moved, "coupon", -event.points_cost, event.issued_at, event.coupon_id,
                           event.balance)  # fmt: skip
        case CouponRedeemed(), Member():
            return _coupon(state, event.coupon_id, CouponStatus.REDEEMED, event.redeemed_at)
        case CouponExpired(), Member():
            return _coupon(state, event.coupon_id, CouponStatus.EXPIRED, event.expired_at)
        case CouponWithdrawn(), Member():
            moved = _coupon(state, event.coupon_id, CouponStatus.WITHDRAWN, event.withdrawn_at)
            moved = replace(moved, lots=ledger.apply(moved.lots, event.lots, sign=+1))
            if event.points_returned == 0:
                return moved
            return _logged(moved, "coupon_returned", event.points_returned, event.withdrawn_at,
                           event.coupon_id, event.balance)  # fmt: skip
    return state  # an event this version does not fold (e.g. a newer type)


def _after(state: Member, event: DomainEvent) -> Member:
    moved = evolve(state, event)
    if not isinstance(moved, Member):  # pragma: no cover - evolve keeps a member a member
        raise TypeError("a member's event left no member")
    return moved


def _coupon(state: Member, coupon_id: str, status: CouponStatus, at: datetime) -> Member:
    coupons = tuple(
        replace(c, status=status, closed_at=at) if c.coupon_id == coupon_id else c
        for c in state.coupons
    )
    return replace(state, coupons=coupons)


def fold(events: Iterable[DomainEvent], state: MemberState = initial_state) -> MemberState:
    for event in events:
        state = evolve(state, event)
    return state
