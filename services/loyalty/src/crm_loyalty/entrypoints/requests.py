"""What the HTTP API accepts: request bodies, validated at the edge (unknown fields refused)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_contracts.loyalty import BonusReason, RewardKind

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
PointsIn = Annotated[int, Field(ge=1, le=10_000_000, strict=True)]
MoneyIn = Annotated[
    Decimal,
    Field(gt=0, max_digits=15, decimal_places=2, examples=["25.00"],
          description='Exact: a string such as "25.00".'),
]  # fmt: skip


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenStoreRequest(Body):
    store_id: Id = Field(examples=["sto_berlin_mitte"])
    name: Text = Field(examples=["Berlin Mitte"])
    city: Text = Field(examples=["Berlin"])


class EnrolRequest(Body):
    customer_id: Id = Field(examples=["cus_0192f3a4"])
    home_store_id: Id = Field(examples=["sto_berlin_mitte"])


class HomeStoreRequest(Body):
    home_store_id: Id = Field(examples=["sto_hamburg"])


class BonusRequest(Body):
    reason: BonusReason
    reference: Id = Field(
        description="Makes the bonus idempotent: a year for a birthday, the referred customer, "
        "the surveyed ticket.",
        examples=["tkt_91ab"],
    )
    points: PointsIn = Field(examples=[50])


class RedemptionRequest(Body):
    redemption_id: Id = Field(examples=["red_7c2d"])
    points: PointsIn = Field(examples=[100])
    description: Text = Field(examples=["free dessert"])


class CouponRequest(Body):
    coupon_id: Id = Field(examples=["cpn_5b1e"])
    reward: RewardKind
    description: Text = Field(examples=["Set menu for two"])
    valid_until: AwareDatetime = Field(examples=["2026-12-31T23:59:59Z"])
    points_cost: int = Field(default=0, ge=0, le=10_000_000, strict=True)
    value: MoneyIn | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    reference: Id | None = Field(default=None, examples=["ord_51c2"])


class CouponRedemptionRequest(Body):
    store_id: Id | None = Field(default=None, examples=["sto_hamburg"])


class WithdrawalRequest(Body):
    reason: Text = Field(examples=["order paid after all"])
