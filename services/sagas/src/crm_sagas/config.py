"""Settings of the sagas service (CRM_* environment variables), checked at startup.

Durations (``CRM_SAGAS_ONBOARDING_STEP_DEADLINE``, the requirement and departure deadlines)
take ``20s``, ``15m``, ``12h``, ``1d``, a number of seconds, or ISO 8601 (``PT12H``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field, field_validator

from crm_contracts.pipeline import TOPIC as PIPELINE_TOPIC
from crm_contracts.rnd import REPLIES_TOPIC, REQUESTS_TOPIC
from crm_contracts.sagas import TOPIC as SAGAS_TOPIC
from crm_contracts.tickets import TOPIC as TICKETS_TOPIC
from crm_runtime.settings import Duration, RuntimeSettings


class SagasSettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_SAGAS_HOST")
    http_port: int = Field(default=8106, alias="CRM_SAGAS_PORT")
    runner_health_port: int = Field(default=8116, alias="CRM_SAGAS_RUNNER_PORT")
    database: str = Field(default="crm_sagas", alias="CRM_SAGAS_DATABASE")
    keys_database: str = Field(default="crm_keys", alias="CRM_KEYS_DATABASE")
    relay_lease_seconds: float = Field(default=10.0, alias="CRM_RELAY_LEASE_SECONDS")

    pipeline_topic: str = Field(default=PIPELINE_TOPIC, alias="CRM_PIPELINE_TOPIC")
    tickets_topic: str = Field(default=TICKETS_TOPIC, alias="CRM_TICKETS_TOPIC")
    rnd_requests_topic: str = Field(
        default=REQUESTS_TOPIC, alias="CRM_RND_REQUESTS_TOPIC",
        description="Where requirement estimates are requested from R&D (crm_contracts.rnd).",
    )  # fmt: skip
    rnd_replies_topic: str = Field(
        default=REPLIES_TOPIC, alias="CRM_RND_REPLIES_TOPIC",
        description="Where R&D answers: a requirement scheduled or declined.",
    )  # fmt: skip
    events_topic: str = Field(
        default=SAGAS_TOPIC, alias="CRM_SAGAS_EVENTS_TOPIC",
        description="Where the sagas publish their own events (a requirement step escalated).",
    )  # fmt: skip
    topic_partitions: int = Field(default=3, alias="CRM_SAGAS_TOPIC_PARTITIONS")
    consumer_group: str = Field(default="crm-sagas", alias="CRM_SAGAS_GROUP")
    dead_letter_topic: str = Field(default="crm.sagas.dlt", alias="CRM_SAGAS_DEAD_LETTER_TOPIC")
    fetch_max_wait_ms: int = Field(default=100, alias="CRM_SAGAS_FETCH_MAX_WAIT_MS")
    max_attempts: int = Field(
        default=5, ge=1, alias="CRM_SAGAS_MAX_ATTEMPTS",
        description="Tries of a Kafka record before it is dead-lettered.",
    )  # fmt: skip

    contacts_url: str = Field(default="http://127.0.0.1:8101", alias="CRM_CONTACTS_URL")
    pipeline_url: str = Field(default="http://127.0.0.1:8103", alias="CRM_PIPELINE_URL")
    tickets_url: str = Field(default="http://127.0.0.1:8104", alias="CRM_TICKETS_URL")
    loyalty_url: str = Field(default="http://127.0.0.1:8105", alias="CRM_LOYALTY_URL")
    service_token: str | None = Field(
        default=None, alias="CRM_SAGAS_SERVICE_TOKEN",
        description="Bearer token of the sagas (role service) where an OIDC issuer signs "
        "tokens; unset mints one with the embedded signing key.",
    )  # fmt: skip
    command_timeout_seconds: float = Field(
        default=10.0, gt=0, alias="CRM_SAGAS_COMMAND_TIMEOUT_SECONDS"
    )
    command_max_attempts: int = Field(
        default=5, ge=1, alias="CRM_SAGAS_COMMAND_MAX_ATTEMPTS",
        description="Tries of a failing command before the saga is marked failed (stuck).",
    )  # fmt: skip
    retry_base_seconds: float = Field(default=2.0, gt=0, alias="CRM_SAGAS_RETRY_BASE_SECONDS")
    retry_max_seconds: float = Field(default=300.0, gt=0, alias="CRM_SAGAS_RETRY_MAX_SECONDS")
    in_flight_grace_seconds: float = Field(
        default=30.0, gt=0, alias="CRM_SAGAS_IN_FLIGHT_GRACE_SECONDS",
        description="A command unanswered this long (its sender died) is sent again.",
    )  # fmt: skip
    deadline_interval_seconds: float = Field(
        default=5.0, ge=0.2, alias="CRM_SAGAS_DEADLINE_INTERVAL_SECONDS"
    )
    deadline_lease_seconds: float = Field(
        default=30.0, gt=0, alias="CRM_SAGAS_DEADLINE_LEASE_SECONDS"
    )

    default_home_store: str = Field(
        default="sto_main", alias="CRM_SAGAS_DEFAULT_HOME_STORE",
        description="Home store of customers the onboarding saga enrols in loyalty.",
    )  # fmt: skip
    default_home_store_name: str = Field(
        default="Online shop", min_length=1, max_length=200,
        alias="CRM_SAGAS_DEFAULT_HOME_STORE_NAME",
        description="Name of the default home store, when the saga opens it.",
    )  # fmt: skip
    default_home_store_city: str = Field(
        default="Online", min_length=1, max_length=200,
        alias="CRM_SAGAS_DEFAULT_HOME_STORE_CITY",
        description="City of the default home store, when the saga opens it.",
    )  # fmt: skip
    onboarding_step_deadline: Duration = Field(
        default=timedelta(days=1), alias="CRM_SAGAS_ONBOARDING_STEP_DEADLINE",
        description="Each onboarding step must be confirmed within this, or the saga fails.",
    )  # fmt: skip
    unpaid_coupon_days: float = Field(
        default=7, gt=0, le=365, alias="CRM_SAGAS_UNPAID_COUPON_DAYS",
        description="Days the coupon of an unpaid order is valid: the wait for payment.",
    )  # fmt: skip

    requirement_review_deadline: Duration = Field(
        default=timedelta(days=2), alias="CRM_SAGAS_REQUIREMENT_REVIEW_DEADLINE",
        description="A requirement's sales review is escalated to the sales lead after this.",
    )  # fmt: skip
    requirement_rnd_deadline: Duration = Field(
        default=timedelta(days=5), alias="CRM_SAGAS_REQUIREMENT_RND_DEADLINE",
        description="R&D's estimate of a requirement is escalated after this.",
    )  # fmt: skip
    requirement_follow_up_deadline: Duration = Field(
        default=timedelta(days=3), alias="CRM_SAGAS_REQUIREMENT_FOLLOW_UP_DEADLINE",
        description="Service's follow-up of a scheduled requirement is escalated (the ticket "
        "assigned to the service lead) after this.",
    )  # fmt: skip
    requirement_sales_lead: str = Field(
        default="u_sales_lead", min_length=1, max_length=200,
        alias="CRM_SAGAS_REQUIREMENT_SALES_LEAD",
        description="User id of the sales lead: reviews requirements of customers without an "
        "owner and takes a late review over.",
    )  # fmt: skip
    requirement_service_lead: str = Field(
        default="u_service_lead", min_length=1, max_length=200,
        alias="CRM_SAGAS_REQUIREMENT_SERVICE_LEAD",
        description="User id of the service lead a late follow-up is assigned to.",
    )  # fmt: skip
    requirements_from: datetime | None = Field(
        default=None, alias="CRM_SAGAS_REQUIREMENTS_FROM",
        description="Requirement tickets opened before this time (ISO 8601) start no saga: "
        "set it at the first rollout, when the consumer reads the tickets topic from its "
        "beginning and older requirements were handled by hand.",
    )  # fmt: skip
    departure_step_deadline: Duration = Field(
        default=timedelta(hours=1), alias="CRM_SAGAS_DEPARTURE_STEP_DEADLINE",
        description="Each step of a rep's handover must be answered within this, or the saga "
        "fails for an operator.",
    )  # fmt: skip

    @field_validator(
        "onboarding_step_deadline",
        "requirement_review_deadline",
        "requirement_rnd_deadline",
        "requirement_follow_up_deadline",
        "departure_step_deadline",
    )
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 20s, 12h or 1d")
        return value

    def service_urls(self) -> dict[str, str]:
        return {
            "contacts": self.contacts_url,
            "pipeline": self.pipeline_url,
            "tickets": self.tickets_url,
            "loyalty": self.loyalty_url,
        }
