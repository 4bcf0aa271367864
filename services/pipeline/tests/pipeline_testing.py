"""What the pipeline tests share: a clock to move, request bodies, reading a problem."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

LEADS = "/pipeline/leads"
OPPORTUNITIES = "/pipeline/opportunities"
QUOTES = "/pipeline/quotes"
ORDERS = "/pipeline/orders"
ACCESS_LOG = "/pipeline/access-log"
PROBLEM_JSON = "application/problem+json"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)

ADA_LEAD = {
    "source": "web",
    "name": "Ada Lovelace",
    "company": "Acme AG",
    "email": "ada@example.com",
    "phone": "+4930901820",
}
MASKED_EMAIL = "a***@example.com"
MASKED_PHONE = "******1820"
TERMS = {"amount": "48000.00", "currency": "EUR", "expected_close_date": "2027-03-31"}
DEAL = {"customer_id": "cus_acme", "title": "40 seats", **TERMS}
LINES = [
    {
        "sku": "SEAT-Y",
        "description": "Annual seat licence",
        "quantity": "40",
        "unit_price": "600.00",
        "discount_percent": "10",
    },
    {"sku": "SETUP", "description": "Onboarding", "quantity": 1, "unit_price": "1500"},
]
QUOTE_TOTAL = "23100.00"

ClientFactory = Callable[..., httpx.AsyncClient]
"""``signed_in(*roles, subject=..., team=...)`` or ``client(headers)`` of conftest.py."""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def problem(answer: httpx.Response, status: int, type_: str | None = None) -> dict[str, Any]:
    """The problem+json body of ``answer``, after checking its status (and type if given)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    if type_ is not None:
        assert body["type"] == type_, body
    return body


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def capture(http: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    return created(await http.post(LEADS, json={**ADA_LEAD, **changes}))


async def open_deal(http: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    return created(await http.post(OPPORTUNITIES, json={**DEAL, **changes}))


async def sent_quote(http: httpx.AsyncClient, opportunity_id: str) -> dict[str, Any]:
    quote = created(
        await http.post(QUOTES, json={"opportunity_id": opportunity_id, "lines": LINES})
    )
    return ok(await http.post(f"{QUOTES}/{quote['id']}/sent"))


async def placed_order(http: httpx.AsyncClient, **deal: Any) -> dict[str, Any]:
    """Open a deal, quote it, send and accept the quote: the order it became."""
    opportunity = await open_deal(http, **deal)
    quote = await sent_quote(http, opportunity["id"])
    return created(await http.post(f"{QUOTES}/{quote['id']}/accepted"))
