"""What the contacts HTTP tests share: Ada's details, registering her, reading a problem.

The problem reader and ``ClientFactory`` are those of every service, from crm_runtime.testing.
"""

from __future__ import annotations

from typing import Any

import httpx

from crm_runtime.testing import PROBLEM_JSON as PROBLEM_JSON
from crm_runtime.testing import ClientFactory as ClientFactory
from crm_runtime.testing import problem as problem

CUSTOMERS = "/contacts/customers"
ACCESS_LOG = "/contacts/access-log"

NAME = "Ada Lovelace"
EMAIL = "ada@example.com"
PHONE = "+4930901820"
MASKED_EMAIL = "a***@example.com"
MASKED_PHONE = "******1820"  # ten digits, the last four shown
ADA = {"name": NAME, "kind": "person", "email": EMAIL, "phone": PHONE}

NEW_PROFILE: dict[str, Any] = {
    "company": None,
    "birthday": None,
    "preferred_channel": None,
    "contact_persons": [],
    "addresses": {},
    "consents": {},
    "preferences": {},
    "tags": [],
    "lifecycle_stage": "prospect",
    "purchases": 0,
    "purchased_opportunity_ids": [],
    "classification": None,
    "segments": [],
    "value_tier": None,
    "merged_ids": [],
    "data_quality": [],
}
"""What a customer view holds beyond the registration's details, right after registering."""


async def register(
    http: httpx.AsyncClient, owner_id: str | None = None, team: str | None = None
) -> dict[str, Any]:
    """Register Ada (owned by ``owner_id`` of ``team`` if given) and answer her as shown."""
    body: dict[str, Any] = {**ADA}
    if owner_id is not None:
        body["owner_id"] = owner_id
    if team is not None:
        body["team"] = team
    answer = await http.post(CUSTOMERS, json=body)
    assert answer.status_code == 201, answer.text
    customer: dict[str, Any] = answer.json()
    return customer
