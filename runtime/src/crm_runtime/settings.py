"""Settings shared by every service, read from CRM_* environment variables only."""

from __future__ import annotations

import os
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_SHORT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*")


def _duration(value: Any) -> Any:
    """``20s``, ``15m``, ``12h``, ``365d`` or a bare number of seconds (``30``); anything
    else (ISO 8601 such as ``PT48H``, a timedelta) is left to pydantic."""
    if isinstance(value, str) and (found := _SHORT.fullmatch(value)):
        return timedelta(**{_UNITS[found.group(2) or "s"]: float(found.group(1))})
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
"""A setting holding a span of time, written the way operators write it."""


class RuntimeSettings(BaseSettings):
    """What every service needs to reach Kafka and MongoDB (or their embedded stand-ins)."""

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Kafka bootstrap servers, comma separated.",
    )
    mongodb_url: str | None = Field(
        default=None,
        description="MongoDB connection string; unset means the embedded document store.",
    )
    data_dir: Path = Field(
        default=Path(".crm-data"),
        description="Folder of the embedded document store (used when mongodb_url is unset).",
    )
    embedded_backend: str = Field(
        default="sqlite",
        description="Embedded store backend: sqlite (durable, shared across processes) or memory.",
    )
    instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="Identity of this process, e.g. for leases.",
    )
    log_level: str = Field(default="INFO", description="Log level of the service.")

    auth_issuer: str = Field(
        default="urn:crm:embedded",
        description="Issuer (iss) of accepted tokens; an https URL enables OIDC discovery.",
    )
    auth_audience: str = Field(default="crm", description="Audience (aud) tokens must name.")
    auth_jwks_url: str | None = Field(
        default=None, description="JWKS of the issuer; unset uses discovery or the local key."
    )
    auth_signing_key_file: Path | None = Field(
        default=None,
        description="Embedded default only: the local token signing key (PEM), shared by all "
        "processes; created on first use. Defaults to <data_dir>/keys/token-signing.pem.",
    )
    auth_roles_claim: str = Field(default="roles", description="Claim that lists the roles.")
    auth_team_claim: str = Field(default="team", description="Claim that names the team.")
    auth_leeway_seconds: int = Field(default=30, description="Clock skew tolerated on exp/nbf.")
    rate_limit: str = Field(
        default="50/second;1000/minute",
        description="Requests allowed per caller and replica (limits notation, ';' separated).",
    )
    max_body_bytes: int = Field(default=65536, description="Largest request body accepted.")
