"""Settings of the simulated R&D system (``crm-sagas rnd-simulator``, the embedded default
only), from CRM_* environment variables, checked at startup.

``CRM_RND_SIMULATOR_DELAY`` takes ``2s``, ``1m``, a number of seconds (``0.5``) or ISO 8601
(``PT2S``); ``0`` answers at once.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from crm_contracts.rnd import REPLIES_TOPIC, REQUESTS_TOPIC
from crm_runtime.settings import Duration, RuntimeSettings


class RndSimulatorSettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_RND_SIMULATOR_HOST")
    http_port: int = Field(default=8126, alias="CRM_RND_SIMULATOR_PORT")

    requests_topic: str = Field(
        default=REQUESTS_TOPIC, alias="CRM_RND_REQUESTS_TOPIC",
        description="Where the CRM's requests come from (crm.rnd.RequirementEstimateRequested).",
    )  # fmt: skip
    replies_topic: str = Field(
        default=REPLIES_TOPIC, alias="CRM_RND_REPLIES_TOPIC",
        description="Where the answers go (crm.rnd.RequirementScheduled or ...Declined).",
    )  # fmt: skip
    topic_partitions: int = Field(
        default=3, ge=1, alias="CRM_RND_SIMULATOR_TOPIC_PARTITIONS",
        description="Partitions of the topics it creates when they are missing.",
    )  # fmt: skip
    consumer_group: str = Field(default="crm-rnd-simulator", alias="CRM_RND_SIMULATOR_GROUP")
    dead_letter_topic: str = Field(
        default="crm.rnd.simulator.dlt", alias="CRM_RND_SIMULATOR_DEAD_LETTER_TOPIC",
        description="Requests it can never answer (no CloudEvent, contract violated), "
        "with the reason in dlt_* headers.",
    )  # fmt: skip
    fetch_max_wait_ms: int = Field(default=100, alias="CRM_RND_SIMULATOR_FETCH_MAX_WAIT_MS")
    max_attempts: int = Field(
        default=5, ge=1, alias="CRM_RND_SIMULATOR_MAX_ATTEMPTS",
        description="Tries of a request before it is dead-lettered (e.g. replies unwritable).",
    )  # fmt: skip

    delay: Duration = Field(
        default=timedelta(seconds=2), alias="CRM_RND_SIMULATOR_DELAY",
        description="How long after a request was sent the answer is published (R&D thinking "
        "it over); 0 answers at once. A request older than this is answered at once.",
    )  # fmt: skip
    capacity_days: int = Field(
        default=60, ge=1, alias="CRM_RND_SIMULATOR_CAPACITY_DAYS",
        description="Largest estimate R&D takes on; a requirement estimated above is declined.",
    )  # fmt: skip
    team: str = Field(
        default="rnd-simulated", min_length=1, max_length=200, alias="CRM_RND_SIMULATOR_TEAM",
        description="The rnd_team a scheduled requirement names.",
    )  # fmt: skip

    @field_validator("delay")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must be zero or a positive duration, e.g. 0, 2s or 1m")
        return value
