"""What the contacts HTTP tests share: Ada's details, registering her, reading a problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

CUSTOMERS = "/contacts/customers"
ACCESS_LOG = "/contacts/access-log"
PROBLEM_JSON = "application/problem+json"

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
    "classification": None,
    "segments": [],
    "value_tier": None,
    "merged_ids": [],
    "data_quality": [],
}
"""What a customer view holds beyond the registration's details, right after registering."""

ClientFactory = Callable[..., httpx.AsyncClient]
"""``signed_in(*roles, subject=..., team=...)`` or ``client(headers)`` of conftest.py."""


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


def problem(answer: httpx.Response, status: int, type_: str | None = None) -> dict[str, Any]:
    """The problem+json body of ``answer``, after checking its status (and type if given)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    if type_ is not None:
        assert body["type"] == type_
    return body
