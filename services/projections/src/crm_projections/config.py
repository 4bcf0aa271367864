"""Settings of the projections service (CRM_* environment variables)."""

from __future__ import annotations

from pydantic import Field, field_validator

from crm_contracts.contacts import TOPIC as CONTACTS_TOPIC
from crm_contracts.loyalty import TOPIC as LOYALTY_TOPIC
from crm_contracts.pipeline import TOPIC as PIPELINE_TOPIC
from crm_contracts.tickets import TOPIC as TICKETS_TOPIC
from crm_runtime.collector import FIRST
from crm_runtime.settings import RuntimeSettings

READ_MODELS = (
    "customer360",
    "receivables_by_rep",
    "forecast",
    "stores",
    "deals",
    "tickets",
    "members",
    "customer_rows",
    "order_rows",
)
"""Every read model, in the order an event is folded into them."""


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
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        alias="CRM_PROJECTIONS_FETCH_MAX_WAIT_MS",
        description="How long the broker may hold a fetch for fetch_min_bytes to arrive.",
    )
    fetch_min_bytes: int = Field(
        default=1,
        ge=1,
        alias="CRM_PROJECTIONS_FETCH_MIN_BYTES",
        description=(
            "Bytes of records a fetch waits for (at most fetch_max_wait_ms): larger batches "
            "cost less per record, for up to fetch_max_wait_ms of lag."
        ),
    )
    max_attempts: int = Field(default=5, alias="CRM_PROJECTIONS_MAX_ATTEMPTS")
    settle_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        alias="CRM_PROJECTIONS_SETTLE_LEASE_SECONDS",
        description="How long the replica refreshing pending boards holds that job.",
    )
    fold: str = Field(
        default="",
        alias="CRM_PROJECTIONS_FOLD",
        description="The read models this process folds, comma-separated (all when empty). "
        "A process folding some of them consumes in a consumer group of its own "
        "(group_id), so each such group of read models gets every record; every process "
        "serves the views of all of them.",
    )
    databases: str = Field(
        default="",
        alias="CRM_PROJECTIONS_DATABASES",
        description="Read models kept in a database other than CRM_PROJECTIONS_DATABASE: "
        "read_model=database, comma-separated. Every process of the deployment must be "
        "given the same.",
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

    @field_validator("fold")
    @classmethod
    def _known_read_models(cls, value: str) -> str:
        _names(value, "CRM_PROJECTIONS_FOLD")
        return value

    @field_validator("databases")
    @classmethod
    def _read_model_databases(cls, value: str) -> str:
        _placed(value)
        return value

    @property
    def folded(self) -> tuple[str, ...]:
        """The read models this process folds, in fold order."""
        chosen = set(_names(self.fold, "CRM_PROJECTIONS_FOLD")) or set(READ_MODELS)
        return tuple(name for name in READ_MODELS if name in chosen)

    @property
    def group_id(self) -> str:
        """The consumer group: ``consumer_group``, suffixed with the read models folded when
        they are not all of them (``crm-projections.deals+forecast``), so two processes
        folding different read models never share the records between them."""
        return self.consumer_group + self.fold_suffix

    @property
    def fold_suffix(self) -> str:
        """What sets the processes folding these read models apart: ``""`` when they fold
        all of them, else ``.`` and the names sorted (``.deals+forecast``)."""
        return "" if self.folded == READ_MODELS else "." + "+".join(sorted(self.folded))

    def database_of(self, read_model: str) -> str:
        """The database holding ``read_model``'s collections."""
        return _placed(self.databases).get(read_model, self.database)

    @property
    def topics(self) -> list[str]:
        """Every context's topic. A process consumes those whose events its read models
        fold (``ProjectionsService.topics``), in this order."""
        return list(self.topic_of.values())

    @property
    def topic_of(self) -> dict[str, str]:
        """Each context's topic, by the context's name (``contacts``, ...)."""
        return {
            "contacts": self.contacts_topic,
            "pipeline": self.pipeline_topic,
            "tickets": self.tickets_topic,
            "loyalty": self.loyalty_topic,
        }


def _names(value: str, variable: str) -> list[str]:
    """Read model names, comma-separated; ValueError naming what is unknown."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(READ_MODELS))
    if unknown:
        raise ValueError(
            f"{variable}: unknown read model {', '.join(unknown)}; one of {', '.join(READ_MODELS)}"
        )
    return names


def _placed(value: str) -> dict[str, str]:
    """``read_model=database`` pairs, comma-separated; ValueError on anything else."""
    placed: dict[str, str] = {}
    for pair in (part.strip() for part in value.split(",") if part.strip()):
        name, equals, database = (x.strip() for x in pair.partition("="))
        if not equals or not database:
            raise ValueError(f"CRM_PROJECTIONS_DATABASES: {pair!r} is not read_model=database")
        _names(name, "CRM_PROJECTIONS_DATABASES")
        if name in placed:
            raise ValueError(f"CRM_PROJECTIONS_DATABASES: {name} is placed twice")
        placed[name] = database
    return placed
