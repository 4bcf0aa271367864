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
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from crm_contacts.bootstrap import ContactsService
from crm_contacts.entrypoints import customer_routes, directory_routes, profile_routes
from crm_contacts.entrypoints.conventions import DOMAIN_ERRORS
from crm_runtime.guard import install_guard
from crm_runtime.http import install_correlation, install_observability, install_problem_handlers

ROUTERS = (customer_routes.router, directory_routes.router, profile_routes.router)


def create_app(service: ContactsService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
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
            await service.close()

    app = FastAPI(
        title="CRM contacts",
        version="0.2.0",
        description="Customer master data. Errors are application/problem+json (RFC 9457).",
        lifespan=lifespan,
    )
    install_problem_handlers(app, DOMAIN_ERRORS)
    install_guard(app, service.settings, service.verifier)
    install_correlation(app, lambda: service.deps.new_id("cmd"))
    install_observability(app, service.metrics, "contacts")
    app.state.contacts = service  # what the routes' ``Service`` dependency fetches
    for router in ROUTERS:  # built once per process: building routes costs more than an app
        app.router.routes.extend(router.routes)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app
