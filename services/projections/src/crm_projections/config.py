"""Settings of the projections service (CRM_* environment variables)."""

from __future__ import annotations

from pydantic import Field

from crm_contracts.contacts import TOPIC as CONTACTS_TOPIC
from crm_contracts.loyalty import TOPIC as LOYALTY_TOPIC
from crm_contracts.pipeline import TOPIC as PIPELINE_TOPIC
from crm_contracts.tickets import TOPIC as TICKETS_TOPIC
from crm_runtime.collector import FIRST
from crm_runtime.settings import RuntimeSettings


class ProjectionsSettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_PROJECTIONS_HOST")
    http_port: int = Field(default=8102, alias="CRM_PROJECTIONS_PORT")
    database: str = Field(default="crm_projections", alias="CRM_PROJECTIONS_DATABASE")
    consumer_group: str = Field(default="crm-projections", alias="CRM_PROJECTIONS_GROUP")
    contacts_topic: str = Field(default=CONTACTS_TOPIC, alias="CRM_CONTACTS_TOPIC")
    pipeline_topic: str = Field(default=PIPELINE_TOPIC, alias="CRM_PIPELINE_TOPIC")
    tickets_topic: str = Field(default=TICKETS_TOPIC, alias="CRM_TICKETS_TOPIC")
    loyalty_topic: str = Field(default=LOYALTY_TOPIC, alias="CRM_LOYALTY_TOPIC")
    dead_letter_topic: str = Field(
        default="crm.projections.dlt", alias="CRM_PROJECTIONS_DEAD_LETTER_TOPIC"
    )
    fetch_max_wait_ms: int = Field(default=100, alias="CRM_PROJECTIONS_FETCH_MAX_WAIT_MS")
    max_attempts: int = Field(default=5, alias="CRM_PROJECTIONS_MAX_ATTEMPTS")
    settle_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        alias="CRM_PROJECTIONS_SETTLE_LEASE_SECONDS",
        description="How long the replica refreshing pending boards holds that job.",
    )
    gc_threshold: int = Field(
        default=FIRST,
        ge=0,
        alias="CRM_PROJECTIONS_GC_THRESHOLD",
        description="Allocations between two collections of Python's youngest generation "
        "(0: Python's own thresholds); see crm_runtime.collector.",
    )
    # Where a rebuild reads each context's history; by default the same deployment.
    contacts_mongodb_url: str | None = Field(default=None, alias="CRM_CONTACTS_MONGODB_URL")
    contacts_database: str = Field(default="crm_contacts", alias="CRM_CONTACTS_DATABASE")
    pipeline_mongodb_url: str | None = Field(default=None, alias="CRM_PIPELINE_MONGODB_URL")
    pipeline_database: str = Field(default="crm_pipeline", alias="CRM_PIPELINE_DATABASE")
    tickets_mongodb_url: str | None = Field(default=None, alias="CRM_TICKETS_MONGODB_URL")
    tickets_database: str = Field(default="crm_tickets", alias="CRM_TICKETS_DATABASE")
    loyalty_mongodb_url: str | None = Field(default=None, alias="CRM_LOYALTY_MONGODB_URL")
    loyalty_database: str = Field(default="crm_loyalty", alias="CRM_LOYALTY_DATABASE")
    # The data keys that seal personal fields at rest, in each source's deployment
    # (every context uses this database name).
    contacts_keys_database: str = Field(default="crm_keys", alias="CRM_KEYS_DATABASE")

    @property
    def topics(self) -> list[str]:
        """Every topic the read models fold, in the order the consumer subscribes."""
        return [self.contacts_topic, self.pipeline_topic, self.tickets_topic, self.loyalty_topic]
