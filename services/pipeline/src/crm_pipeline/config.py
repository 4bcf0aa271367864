"""Settings of the pipeline service (CRM_* environment variables).

Durations (``CRM_PIPELINE_UNPAID_AFTER``) take ``20s``, ``15m``, ``48h``, ``2d``, a number
of seconds, or ISO 8601 (``PT48H``).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from crm_contracts.pipeline import TOPIC
from crm_pipeline.domain.opportunity import DEFAULT_PROBABILITIES, probability_table
from crm_pipeline.domain.order import DEFAULT_UNPAID_AFTER
from crm_runtime.settings import Duration, RuntimeSettings


class PipelineSettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_PIPELINE_HOST")
    http_port: int = Field(default=8103, alias="CRM_PIPELINE_PORT")
    relay_health_port: int = Field(default=8113, alias="CRM_PIPELINE_RELAY_PORT")
    scheduler_health_port: int = Field(default=8123, alias="CRM_PIPELINE_SCHEDULER_PORT")
    database: str = Field(default="crm_pipeline", alias="CRM_PIPELINE_DATABASE")
    keys_database: str = Field(
        default="crm_keys",
        alias="CRM_KEYS_DATABASE",
        description="Database of the data keys that seal leads' personal data.",
    )
    topic: str = Field(default=TOPIC, alias="CRM_PIPELINE_TOPIC")
    topic_partitions: int = Field(default=3, alias="CRM_PIPELINE_TOPIC_PARTITIONS")
    relay_batch_size: int = Field(default=500, alias="CRM_RELAY_BATCH_SIZE")
    relay_lease_seconds: float = Field(default=10.0, alias="CRM_RELAY_LEASE_SECONDS")
    payment_terms_days: int = Field(
        default=30,
        ge=0,
        le=365,
        alias="CRM_PIPELINE_PAYMENT_TERMS_DAYS",
        description="Days from placing an order to its payment due date.",
    )
    stage_probabilities: dict[str, int] = Field(
        default_factory=lambda: {stage.value: p for stage, p in DEFAULT_PROBABILITIES.items()},
        alias="CRM_PIPELINE_STAGE_PROBABILITIES",
        description='Win probability per open stage, as JSON: {"qualification": 10, '
        '"needs_analysis": 20, "proposal": 50, "negotiation": 75}. Won is 100, lost 0.',
    )
    scheduler_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        alias="CRM_PIPELINE_SCHEDULER_INTERVAL_SECONDS",
        description="How often the scheduler looks for overdue and unpaid orders.",
    )
    scheduler_lease_seconds: float = Field(
        default=60.0, gt=0, alias="CRM_PIPELINE_SCHEDULER_LEASE_SECONDS"
    )
    unpaid_after: Duration = Field(
        default=DEFAULT_UNPAID_AFTER,
        alias="CRM_PIPELINE_UNPAID_AFTER",
        description="How long an order may go without any payment before the scheduler flags "
        "it unpaid (OrderUnpaidAfter48Hours: the event keeps its historical name whatever "
        "the window).",
    )

    @field_validator("stage_probabilities")
    @classmethod
    def _complete_table(cls, table: dict[str, int]) -> dict[str, int]:
        probability_table(table)  # raises ValueError naming what is wrong
        return table

    @field_validator("unpaid_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 30s, 48h or 2d")
        return value
