"""Settings of the loyalty service (CRM_* environment variables), checked at startup.

Durations (``CRM_LOYALTY_POINTS_EXPIRE_AFTER``, ``CRM_LOYALTY_TIER_WINDOW``) take
``20s``, ``15m``, ``12h``, ``365d``, a number of seconds, or ISO 8601 (``P365D``).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from crm_contracts.loyalty import TOPIC, TierBasis
from crm_contracts.pipeline import TOPIC as PIPELINE_TOPIC
from crm_contracts.tickets import TOPIC as TICKETS_TOPIC
from crm_loyalty.domain.programme import DEFAULT_TIERS, Programme, tier_table
from crm_loyalty.domain.values import MAX_POINTS
from crm_runtime.settings import Duration, RuntimeSettings


class LoyaltySettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_LOYALTY_HOST")
    http_port: int = Field(default=8105, alias="CRM_LOYALTY_PORT")
    relay_health_port: int = Field(default=8115, alias="CRM_LOYALTY_RELAY_PORT")
    consumer_health_port: int = Field(default=8125, alias="CRM_LOYALTY_CONSUMER_PORT")
    scheduler_health_port: int = Field(default=8135, alias="CRM_LOYALTY_SCHEDULER_PORT")
    database: str = Field(default="crm_loyalty", alias="CRM_LOYALTY_DATABASE")
    keys_database: str = Field(default="crm_keys", alias="CRM_KEYS_DATABASE")
    topic: str = Field(default=TOPIC, alias="CRM_LOYALTY_TOPIC")
    topic_partitions: int = Field(default=3, alias="CRM_LOYALTY_TOPIC_PARTITIONS")
    relay_batch_size: int = Field(default=500, alias="CRM_RELAY_BATCH_SIZE")
    relay_lease_seconds: float = Field(default=10.0, alias="CRM_RELAY_LEASE_SECONDS")
    pipeline_topic: str = Field(default=PIPELINE_TOPIC, alias="CRM_PIPELINE_TOPIC")
    tickets_topic: str = Field(default=TICKETS_TOPIC, alias="CRM_TICKETS_TOPIC")
    consumer_group: str = Field(default="crm-loyalty", alias="CRM_LOYALTY_GROUP")
    dead_letter_topic: str = Field(default="crm.loyalty.dlt", alias="CRM_LOYALTY_DEAD_LETTER_TOPIC")
    fetch_max_wait_ms: int = Field(default=100, alias="CRM_LOYALTY_FETCH_MAX_WAIT_MS")
    max_attempts: int = Field(default=5, ge=1, alias="CRM_LOYALTY_MAX_ATTEMPTS")

    tiers: list[dict[str, Any]] = Field(
        default_factory=lambda: [
            {"name": t.name, "threshold": str(t.threshold)} for t in DEFAULT_TIERS
        ],
        alias="CRM_LOYALTY_TIERS",
        description='Tier table as JSON, lowest first, the lowest at 0: [{"name": "silver", '
        '"threshold": 0}, {"name": "gold", "threshold": 1000}, ...].',
    )
    tier_basis: TierBasis = Field(
        default=TierBasis.SPEND,
        alias="CRM_LOYALTY_TIER_BASIS",
        description="What thresholds measure over the window: spend (money) or points.",
    )
    tier_window: Duration = Field(
        default=timedelta(days=365), alias="CRM_LOYALTY_TIER_WINDOW",
        description="The rolling window of tier assessment (12 months by default).",
    )  # fmt: skip
    currency: str = Field(
        default="EUR", pattern=r"^[A-Z]{3}$", alias="CRM_LOYALTY_CURRENCY",
        description="Programme currency: payments in it earn points and count as spend.",
    )  # fmt: skip
    points_per_unit: Decimal = Field(
        default=Decimal(1), gt=0, le=1000, alias="CRM_LOYALTY_POINTS_PER_UNIT",
        description="Points per unit of the programme currency paid (rounded down).",
    )  # fmt: skip
    points_expire_after: Duration = Field(
        default=timedelta(days=365), alias="CRM_LOYALTY_POINTS_EXPIRE_AFTER",
        description="Age at which unused points of a lot expire.",
    )  # fmt: skip
    survey_bonus_points: int = Field(
        default=50, ge=0, le=MAX_POINTS, alias="CRM_LOYALTY_SURVEY_BONUS_POINTS",
        description="Bonus points for a member's answered satisfaction survey, once per "
        "ticket; 0 gives none.",
    )  # fmt: skip
    scheduler_interval_seconds: float = Field(
        default=30.0, ge=0.2, alias="CRM_LOYALTY_SCHEDULER_INTERVAL_SECONDS",
        description="How often the scheduler expires points and coupons and reviews tiers.",
    )  # fmt: skip
    scheduler_lease_seconds: float = Field(
        default=60.0, gt=0, alias="CRM_LOYALTY_SCHEDULER_LEASE_SECONDS"
    )

    @field_validator("tiers")
    @classmethod
    def _good_tiers(cls, raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tier_table(raw)  # raises ValueError naming what is wrong
        return raw

    @field_validator("tier_window", "points_expire_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 20s, 12h or 365d")
        return value

    def programme(self) -> Programme:
        return Programme(
            tiers=tier_table(self.tiers),
            basis=self.tier_basis,
            currency=self.currency,
            points_per_unit=self.points_per_unit,
            points_expire_after=self.points_expire_after,
            tier_window=self.tier_window,
        )
