"""The outbox relay process: publishes the contacts event store to Kafka (see crm_runtime)."""

from __future__ import annotations

from fastapi import FastAPI

from crm_contacts.bootstrap import ContactsService
from crm_runtime import relay_process


def create_relay_app(service: ContactsService) -> FastAPI:
    return relay_process.create_relay_app("contacts", service)
