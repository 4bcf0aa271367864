"""What the pipeline tests share: a clock to move, request bodies, reading a problem.

The clock and the answer readers are those of every service, from crm_runtime.testing.
"""

from __future__ import annotations

from typing import Any

import httpx

from crm_runtime.testing import NOW as NOW
from crm_runtime.testing import PROBLEM_JSON as PROBLEM_JSON
from crm_runtime.testing import ClientFactory as ClientFactory
from crm_runtime.testing import Clock as Clock
from crm_runtime.testing import created as created
from crm_runtime.testing import ok as ok
from crm_runtime.testing import problem as problem

LEADS = "/pipeline/leads"
OPPORTUNITIES = "/pipeline/opportunities"
QUOTES = "/pipeline/quotes"
ORDERS = "/pipeline/orders"
ACCESS_LOG = "/pipeline/access-log"

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
