"""HTTP API of the contacts service: translate requests into commands, answers into JSON.

``create_app`` wires one app around a service; the routes live by topic in
``customer_routes`` (the customer itself and the access log), ``profile_routes`` (the
parts of a profile, the timeline) and ``directory_routes`` (lists, duplicates, merges,
handovers), and fetch the service with the ``Service`` dependency. Shared conventions
(ids, Idempotency-Key, If-Match, masking, domain errors as problems) are in
``conventions``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from crm_contacts.bootstrap import ContactsService
from crm_contacts.entrypoints import customer_routes, directory_routes, profile_routes
from crm_contacts.entrypoints.conventions import DOMAIN_ERRORS
from crm_runtime.service_app import create_service_app

ROUTERS = (customer_routes.router, directory_routes.router, profile_routes.router)


def create_app(service: ContactsService) -> FastAPI:
    """The API; the routes' ``Service`` dependency fetches ``app.state.contacts``."""

    @asynccontextmanager
    async def following() -> AsyncIterator[None]:
        """The directory follows the event store every ``directory_follow_seconds`` (0: off)."""
        stop = asyncio.Event()
        every = service.settings.directory_follow_seconds
        follower = (
            asyncio.create_task(service.follower.follow(stop, every), name="directory-follower")
            if every > 0
            else None
        )
        try:
            yield
        finally:
            stop.set()
            if follower is not None:
                await follower

    return create_service_app(
        "contacts",
        service,
        title="CRM contacts",
        version="0.2.0",
        description="Customer master data. Errors are application/problem+json (RFC 9457).",
        domain_errors=DOMAIN_ERRORS,
        routers=ROUTERS,  # built once per process: building routes costs more than an app
        background=following,
    )
