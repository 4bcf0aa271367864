"""Settings of the tickets service (CRM_* environment variables)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from crm_contracts.tickets import TOPIC, Priority
from crm_runtime.settings import RuntimeSettings
from crm_tickets.domain.sla import SlaPolicy, Targets, sla_targets


class TicketsSettings(RuntimeSettings):
    http_host: str = Field(default="127.0.0.1", alias="CRM_TICKETS_HOST")
    http_port: int = Field(default=8104, alias="CRM_TICKETS_PORT")
    relay_health_port: int = Field(default=8114, alias="CRM_TICKETS_RELAY_PORT")
    scheduler_health_port: int = Field(default=8124, alias="CRM_TICKETS_SCHEDULER_PORT")
    database: str = Field(default="crm_tickets", alias="CRM_TICKETS_DATABASE")
    keys_database: str = Field(
        default="crm_keys",
        alias="CRM_KEYS_DATABASE",
        description="Database of the customers' data keys (shared with contacts, which "
        "destroys a customer's key on erasure).",
    )
    topic: str = Field(default=TOPIC, alias="CRM_TICKETS_TOPIC")
    topic_partitions: int = Field(default=3, alias="CRM_TICKETS_TOPIC_PARTITIONS")
    relay_batch_size: int = Field(default=500, alias="CRM_RELAY_BATCH_SIZE")
    relay_lease_seconds: float = Field(default=10.0, alias="CRM_RELAY_LEASE_SECONDS")
    sla_targets: dict[str, dict[str, timedelta]] = Field(
        default_factory=dict,
        alias="CRM_TICKETS_SLA_TARGETS",
        description="SLA targets per priority as JSON, overriding the defaults per priority "
        'and target; durations in ISO 8601 or seconds: {"urgent": {"first_response": '
        '"PT30M", "resolution": "PT4H"}, "high": {"resolution": 86400}}. Defaults: urgent '
        "1 h / 4 h, high 4 h / 1 d, normal 8 h / 3 d, low 1 d / 5 d.",
    )
    team_leads: dict[str, str] = Field(
        default_factory=dict,
        alias="CRM_TICKETS_TEAM_LEADS",
        description='Lead of each service team as JSON, {"support-north": "u-lead-1"}: an '
        "SLA breach reassigns the ticket to its team's lead.",
    )
    scheduler_interval_seconds: float = Field(
        default=30.0,
        ge=0.2,
        alias="CRM_TICKETS_SCHEDULER_INTERVAL_SECONDS",
        description="How often the scheduler looks for breached SLA deadlines.",
    )
    scheduler_lease_seconds: float = Field(
        default=60.0, gt=0, alias="CRM_TICKETS_SCHEDULER_LEASE_SECONDS"
    )

    @field_validator("sla_targets")
    @classmethod
    def _valid_targets(
        cls, table: dict[str, dict[str, timedelta]]
    ) -> dict[str, dict[str, timedelta]]:
        sla_targets(table)  # raises ValueError naming what is wrong
        return table

    @field_validator("team_leads")
    @classmethod
    def _valid_leads(cls, leads: dict[str, str]) -> dict[str, str]:
        empty = sorted(team for team, lead in leads.items() if not team.strip() or not lead.strip())
        if empty:
            raise ValueError(f"team leads need a team and a lead: {empty}")
        return leads

    def targets(self) -> dict[Priority, Targets]:
        return sla_targets(self.sla_targets)

    def sla_policy(self) -> SlaPolicy:
        return SlaPolicy(targets=self.targets(), team_leads=dict(self.team_leads))
