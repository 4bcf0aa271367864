"""Settings of the contacts service (CRM_* environment variables)."""

from __future__ import annotations

from pydantic import Field

from crm_contracts.contacts import TOPIC
from crm_runtime.settings import RuntimeSettings


class ContactsSettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_CONTACTS_HOST")
    http_port: int = Field(default=8101, alias="CRM_CONTACTS_PORT")
    relay_health_port: int = Field(default=8111, alias="CRM_CONTACTS_RELAY_PORT")
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
