"""The outbox relay process: publishes the tickets event store to Kafka (see crm_runtime)."""

from __future__ import annotations

from fastapi import FastAPI

from crm_runtime import relay_process
from crm_tickets.bootstrap import TicketsService


def create_relay_app(service: TicketsService) -> FastAPI:
    return relay_process.create_relay_app("tickets", service)
