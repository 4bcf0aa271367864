"""The outbox relay process: publishes the loyalty event store to Kafka (see crm_runtime)."""

from __future__ import annotations

from fastapi import FastAPI

from crm_loyalty.bootstrap import LoyaltyService
from crm_runtime import relay_process


def create_relay_app(service: LoyaltyService) -> FastAPI:
    return relay_process.create_relay_app("loyalty", service)
