"""Events of the loyalty bounded context: stores, members, tiers, points and coupons.

Two kinds of stream, each keyed by its aggregate id (the Kafka key and the event subject):

- a store (``sto_...`` or any id the chain uses): opened once;
- a member, keyed by the member's ``customer_id`` (the customer in the contacts
  context): enrolled with a home store, then its tier, its points ledger and its
  coupons all live in that one stream, so a coupon that costs points and the
  points it costs change together.

Every member event carries ``customer_id`` and ``home_store_id`` (the home store
*after* the event), so a consumer (customer 360, store ranking, points leaders)
never needs a lookup. Every event that changes the points balance carries the
resulting ``balance``. Points are whole numbers. Points are kept in lots (one per
earn or bonus, each with its own expiry); redemptions, coupon costs, reversals and
expiry consume the oldest lots first, and say which lots in ``lots``.

Money is exact: a decimal string with at most two decimal places beside an ISO
4217 currency code (see ``crm_contracts.pipeline``). Times are UTC timestamps.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from crm_contracts.pipeline import CurrencyCode, CustomerId, Money
from crm_contracts.registry import REGISTRY, DomainEvent

SOURCE = "/crm/loyalty"
TOPIC = "crm.loyalty.events"


class TierBasis(StrEnum):
    """What the tier thresholds measure over the rolling window (12 months by default)."""

    SPEND = "spend"  # money paid in the programme currency
    POINTS = "points"  # points earned from purchases and bonuses


class BonusReason(StrEnum):
    """Why bonus points were awarded."""

    BIRTHDAY = "birthday"
    REFERRAL = "referral"
    SURVEY_ANSWERED = "survey_answered"


class RewardKind(StrEnum):
    """What a coupon gives the member."""

    BIRTHDAY_VOUCHER = "birthday_voucher"
    SET_MENU_OFFER = "set_menu_offer"  # e.g. a two-person set menu
    DISCOUNT = "discount"


StoreId = Annotated[
    str,
    Field(description="Id of the store (branch) in the chain.", examples=["sto_berlin_mitte"]),
]
HomeStoreId = Annotated[
    str,
    Field(
        description="The member's home store after this event (counts per store need no lookup).",
        examples=["sto_berlin_mitte"],
    ),
]
TierName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="A tier name from the configured tier table, lowest first.",
        examples=["gold"],
    ),
]
Points = Annotated[int, Field(ge=1, description="Points, a whole number above 0.", examples=[120])]
Balance = Annotated[
    int,
    Field(ge=0, description="The member's points balance after this event.", examples=[340]),
]
CouponId = Annotated[str, Field(description="Id of the coupon.", examples=["cpn_5b1e"])]


class LotUse(BaseModel):
    """Points taken from (or given back to) one lot of the ledger."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: str = Field(
        description="The lot: the entry id of the earn or bonus that created it.",
        examples=["earn:bank-2026-11-30-0042"],
    )
    points: int = Field(ge=1, description="Points taken from that lot.", examples=[80])


Lots = Annotated[
    tuple[LotUse, ...],
    Field(
        description="The lots the points came from, oldest first.",
        examples=[[{"entry_id": "earn:bank-2026-11-30-0042", "points": 80}]],
    ),
]


# --- stores ------------------------------------------------------------------------------------


@REGISTRY.event
class StoreOpened(DomainEvent):
    """A store (branch) of the chain joined the programme; members can call it home."""

    event_type: ClassVar[str] = "crm.loyalty.StoreOpened"
    schema_version: ClassVar[int] = 1

    store_id: StoreId
    name: str = Field(description="Name of the store.", examples=["Berlin Mitte"])
    city: str = Field(description="City the store is in.", examples=["Berlin"])
    opened_at: datetime = Field(
        description="When it joined the programme (UTC).", examples=["2026-11-01T08:00:00Z"]
    )


# --- members and tiers -------------------------------------------------------------------------


@REGISTRY.event
class MemberEnrolled(DomainEvent):
    """A customer became a member of the programme, at a home store, in the lowest tier."""

    event_type: ClassVar[str] = "crm.loyalty.MemberEnrolled"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    tier: TierName
    enrolled_at: datetime = Field(
        description="When the member joined (UTC).", examples=["2026-11-24T09:30:00Z"]
    )


@REGISTRY.event
class HomeStoreChanged(DomainEvent):
    """The member now belongs to another store."""

    event_type: ClassVar[str] = "crm.loyalty.HomeStoreChanged"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    previous_home_store_id: str = Field(
        description="The store the member belonged to before.", examples=["sto_hamburg"]
    )
    changed_at: datetime = Field(
        description="When it changed (UTC).", examples=["2026-12-01T10:00:00Z"]
    )


class _TierChange(DomainEvent):
    customer_id: CustomerId
    home_store_id: HomeStoreId
    from_tier: str = Field(description="The tier before.", examples=["silver"])
    to_tier: str = Field(description="The tier now.", examples=["gold"])
    basis: TierBasis = Field(
        description="What the thresholds measure (spend or points).", examples=["spend"]
    )
    rolling_spend: Money = Field(
        description="Money paid in the programme currency within the rolling window.",
        examples=["1250.00"],
    )
    rolling_points: int = Field(
        ge=0, description="Points earned within the rolling window.", examples=[1250]
    )
    currency: CurrencyCode
    at: datetime = Field(
        description="When the tier changed (UTC).", examples=["2026-12-01T10:00:00Z"]
    )


@REGISTRY.event
class TierUpgraded(_TierChange):
    """The member reached a higher tier's threshold (re-assessed on every earn)."""

    event_type: ClassVar[str] = "crm.loyalty.TierUpgraded"
    schema_version: ClassVar[int] = 1


@REGISTRY.event
class TierDowngraded(_TierChange):
    """The rolling window moved on and the member no longer meets the tier's threshold."""

    event_type: ClassVar[str] = "crm.loyalty.TierDowngraded"
    schema_version: ClassVar[int] = 1


# --- the points ledger -------------------------------------------------------------------------


@REGISTRY.event
class PointsEarned(DomainEvent):
    """A paid order earned points: one lot, once per payment (its entry id says which)."""

    event_type: ClassVar[str] = "crm.loyalty.PointsEarned"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    entry_id: str = Field(
        description='The lot created: "earn:" and the payment id; a payment earns only once.',
        examples=["earn:bank-2026-11-30-0042"],
    )
    points: int = Field(
        ge=0,
        description="Points earned: the amount times the earn rate, rounded down (0 for a "
        "payment too small to earn any; it still counts as spend).",
        examples=[120],
    )
    reason: str = Field(description='Always "purchase".', examples=["purchase"])
    order_id: str = Field(description="The order paid (pipeline context).", examples=["ord_51c2"])
    payment_id: str = Field(
        description="The payment in the pipeline context.", examples=["bank-2026-11-30-0042"]
    )
    amount: Money = Field(description="The amount paid.", examples=["120.00"])
    currency: CurrencyCode
    earned_at: datetime = Field(
        description="When the payment was received (UTC).", examples=["2026-11-30T12:00:00Z"]
    )
    expires_at: datetime = Field(
        description="When the lot's unused points expire (UTC).",
        examples=["2027-11-30T12:00:00Z"],
    )
    order_count: int = Field(
        ge=1,
        description="Distinct orders this member has paid for so far, this one included; "
        "2 or more makes a repeat purchaser.",
        examples=[2],
    )
    balance: Balance


@REGISTRY.event
class BonusAwarded(DomainEvent):
    """Bonus points for a birthday, a referral or an answered survey (once per reference)."""

    event_type: ClassVar[str] = "crm.loyalty.BonusAwarded"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    entry_id: str = Field(
        description='The lot created: "bonus:", the reason, ":" and the reference.',
        examples=["bonus:survey_answered:tkt_91ab"],
    )
    reason: BonusReason = Field(description="Why the bonus was given.", examples=["referral"])
    reference: str = Field(
        description="What the bonus is for (a year for a birthday, the referred customer, the "
        "surveyed ticket); the same reason and reference is awarded only once.",
        examples=["tkt_91ab"],
    )
    points: Points
    awarded_at: datetime = Field(
        description="When it was awarded (UTC).", examples=["2026-12-01T10:00:00Z"]
    )
    expires_at: datetime = Field(
        description="When the lot's unused points expire (UTC).",
        examples=["2027-12-01T10:00:00Z"],
    )
    balance: Balance


@REGISTRY.event
class PointsRedeemed(DomainEvent):
    """The member spent points (oldest lots first); the balance never goes below zero."""

    event_type: ClassVar[str] = "crm.loyalty.PointsRedeemed"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    redemption_id: str = Field(
        description="Id of the redemption; the same id is redeemed only once.",
        examples=["red_7c2d"],
    )
    points: Points
    description: str = Field(description="What the points paid for.", examples=["free dessert"])
    lots: Lots
    redeemed_at: datetime = Field(
        description="When the points were spent (UTC).", examples=["2026-12-02T19:00:00Z"]
    )
    balance: Balance


@REGISTRY.event
class PointsExpired(DomainEvent):
    """Unused points of lots older than the configured age lapsed (oldest first)."""

    event_type: ClassVar[str] = "crm.loyalty.PointsExpired"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    points: Points
    lots: Lots
    expired_at: datetime = Field(
        description="When the expiry ran (UTC).", examples=["2027-11-30T12:00:05Z"]
    )
    balance: Balance


@REGISTRY.event
class PointsReversed(DomainEvent):
    """A refund took back the points its payment earned, in proportion to the amount refunded.

    If the member already spent them, the balance goes to zero, never below, and
    ``shortfall`` says how many points could not be taken back.
    """

    event_type: ClassVar[str] = "crm.loyalty.PointsReversed"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    refund_id: str = Field(
        description="The refund in the pipeline context; reversed only once.",
        examples=["rfd_0042"],
    )
    payment_id: str = Field(description="The refunded payment.", examples=["bank-2026-11-30-0042"])
    order_id: str = Field(description="The order of that payment.", examples=["ord_51c2"])
    amount: Money = Field(description="The amount refunded.", examples=["60.00"])
    currency: CurrencyCode
    points_due: int = Field(
        ge=0, description="Points the refund takes back (proportional).", examples=[60]
    )
    points: int = Field(ge=0, description="Points actually taken back.", examples=[40])
    shortfall: int = Field(
        ge=0,
        description="points_due minus points: what was already spent and could not be taken.",
        examples=[20],
    )
    lots: Lots
    reversed_at: datetime = Field(
        description="When the refund was made (UTC).", examples=["2026-12-03T09:00:00Z"]
    )
    balance: Balance


# --- rewards and coupons -----------------------------------------------------------------------


@REGISTRY.event
class CouponIssued(DomainEvent):
    """A reward was given to the member as a coupon, perhaps paid for with points."""

    event_type: ClassVar[str] = "crm.loyalty.CouponIssued"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    coupon_id: CouponId
    reward: RewardKind = Field(description="What the coupon gives.", examples=["set_menu_offer"])
    description: str = Field(
        description="The offer in words.", examples=["Set menu for two, Friday or Saturday"]
    )
    value: Money | None = Field(
        default=None, description="Face value, if the coupon has one.", examples=["25.00"]
    )
    currency: CurrencyCode | None = Field(
        default=None, description="Currency of the face value, if any.", examples=["EUR"]
    )
    valid_until: datetime = Field(
        description="Last moment it can be redeemed (UTC).", examples=["2026-12-31T23:59:59Z"]
    )
    points_cost: int = Field(
        ge=0, description="Points it cost the member (0 for a gift).", examples=[0]
    )
    lots: Lots = Field(
        description="The lots the cost was taken from, oldest first (empty for a gift).",
        examples=[[]],
    )
    reference: str | None = Field(
        default=None,
        description="What the coupon was issued for, e.g. an unpaid order, if anything.",
        examples=["ord_51c2"],
    )
    issued_at: datetime = Field(
        description="When it was issued (UTC).", examples=["2026-12-01T10:00:00Z"]
    )
    balance: Balance


@REGISTRY.event
class CouponRedeemed(DomainEvent):
    """The member used the coupon (a coupon is used once)."""

    event_type: ClassVar[str] = "crm.loyalty.CouponRedeemed"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    coupon_id: CouponId
    store_id: str | None = Field(
        default=None, description="The store it was used at, if known.", examples=["sto_hamburg"]
    )
    redeemed_at: datetime = Field(
        description="When it was used (UTC).", examples=["2026-12-12T19:30:00Z"]
    )


@REGISTRY.event
class CouponExpired(DomainEvent):
    """The coupon passed its validity unused."""

    event_type: ClassVar[str] = "crm.loyalty.CouponExpired"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    coupon_id: CouponId
    valid_until: datetime = Field(
        description="The validity that passed (UTC).", examples=["2026-12-31T23:59:59Z"]
    )
    expired_at: datetime = Field(
        description="When the expiry ran (UTC).", examples=["2027-01-01T00:00:05Z"]
    )


@REGISTRY.event
class CouponWithdrawn(DomainEvent):
    """An operator or a saga took an unused coupon back; any points it cost are returned."""

    event_type: ClassVar[str] = "crm.loyalty.CouponWithdrawn"
    schema_version: ClassVar[int] = 1

    customer_id: CustomerId
    home_store_id: HomeStoreId
    coupon_id: CouponId
    reason: str = Field(description="Why it was withdrawn.", examples=["order paid after all"])
    points_returned: int = Field(
        ge=0,
        description="Points given back to the lots the cost came from (0 for a gift).",
        examples=[0],
    )
    lots: Lots = Field(
        description="The lots the returned points went back to (they keep their expiry).",
        examples=[[]],
    )
    withdrawn_at: datetime = Field(
        description="When it was withdrawn (UTC).", examples=["2026-12-02T10:00:00Z"]
    )
    balance: Balance
