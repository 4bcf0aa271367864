"""HTTP API of the loyalty service under /loyalty: stores and members; errors in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from crm_loyalty.bootstrap import LoyaltyService
from crm_loyalty.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotEnoughPoints,
    NotFound,
    WrongState,
)
from crm_loyalty.entrypoints.routes import member_routes, store_routes
from crm_runtime.http import Problem
from crm_runtime.service_app import context_problems, create_service_app, store_health

PREFIX = "/loyalty"


def create_app(service: LoyaltyService) -> FastAPI:
    return create_service_app(
        "loyalty",
        service,
        title="CRM loyalty",
        version="0.1.0",
        description="Stores, members, tiers, the points ledger and coupons. Errors are "
        "application/problem+json (RFC 9457).",
        domain_errors=DOMAIN_ERRORS,
        routers=[store_routes(service), member_routes(service), store_health("loyalty", service)],
        prefix=PREFIX,
    )


DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], Problem]] = {
    **context_problems(
        not_found=NotFound,
        already_exists=AlreadyExists,
        wrong_state=WrongState,
        invalid_input=InvalidInput,
    ),
    NotEnoughPoints: lambda e: Problem(
        422,
        "Not enough points",
        str(e),
        type_="urn:crm:problem:not-enough-points",
        extra={"balance": e.balance, "points": e.points},
    ),
}
