"""Settings of the contacts service (CRM_* environment variables)."""

from __future__ import annotations

from pydantic import Field

from crm_contracts.contacts import TOPIC
from crm_contracts.pipeline import TOPIC as PIPELINE_TOPIC
from crm_runtime.settings import RuntimeSettings


class ContactsSettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_CONTACTS_HOST")
    http_port: int = Field(default=8101, alias="CRM_CONTACTS_PORT")
    relay_health_port: int = Field(default=8111, alias="CRM_CONTACTS_RELAY_PORT")
    consumer_health_port: int = Field(default=8121, alias="CRM_CONTACTS_CONSUMER_PORT")
    database: str = Field(default="crm_contacts", alias="CRM_CONTACTS_DATABASE")
    keys_database: str = Field(
        default="crm_keys",
        alias="CRM_KEYS_DATABASE",
        description="Database of the customers' data keys, kept apart from the event store.",
    )
    topic: str = Field(default=TOPIC, alias="CRM_CONTACTS_TOPIC")
    topic_partitions: int = Field(default=3, alias="CRM_CONTACTS_TOPIC_PARTITIONS")
    relay_batch_size: int = Field(default=500, alias="CRM_RELAY_BATCH_SIZE")
    relay_lease_seconds: float = Field(default=10.0, alias="CRM_RELAY_LEASE_SECONDS")
    pipeline_topic: str = Field(default=PIPELINE_TOPIC, alias="CRM_PIPELINE_TOPIC")
    consumer_group: str = Field(default="crm-contacts", alias="CRM_CONTACTS_GROUP")
    dead_letter_topic: str = Field(
        default="crm.contacts.dlt", alias="CRM_CONTACTS_DEAD_LETTER_TOPIC"
    )
    fetch_max_wait_ms: int = Field(default=100, alias="CRM_CONTACTS_FETCH_MAX_WAIT_MS")
    max_attempts: int = Field(default=5, alias="CRM_CONTACTS_MAX_ATTEMPTS")
    directory_follow_seconds: float = Field(
        default=5.0,
        alias="CRM_CONTACTS_DIRECTORY_FOLLOW_SECONDS",
        description="How often the API catches the customer directory up with the event "
        "store (0: never; the rebuild-directory command still works).",
    )
    directory_gap_grace_seconds: float = Field(
        default=5.0,
        alias="CRM_CONTACTS_DIRECTORY_GAP_GRACE_SECONDS",
        description="How long the directory follower waits for a commit position that is "
        "missing (still being written, or never) before it moves past it.",
    )
