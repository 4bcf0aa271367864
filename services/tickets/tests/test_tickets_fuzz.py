"""Malformed requests to every tickets endpoint, from random callers (property-based).

Whatever arrives, the service never answers 5xx, every 4xx is problem+json, and an
auditor (masked reader) never finds a seeded ticket's personal text in an answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from tickets_testing import COMPLAINT, LEAD, PROBLEM_JSON, TEAM, TICKETS

from crm_runtime.auth import mint_token
from crm_runtime.policy import Role
from crm_runtime.testing import memory_document_client
from crm_tickets.bootstrap import bootstrap
from crm_tickets.config import TicketsSettings
from crm_tickets.entrypoints.http import create_app

FUZZ = hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
SECRET = "Secret subject of Ada"
COMMANDS = [
    "assign",
    "priority",
    "replies",
    "notes",
    "wait",
    "customer-response",
    "resolve",
    "close",
    "reopen",
    "survey",
]


class Fuzzed:
    def __init__(self, http: TestClient, settings: TicketsSettings, seeded: str) -> None:
        self.http = http
        self.settings = settings
        self.seeded = seeded

    def token(self, roles: list[str], subject: str, team: str | None) -> str:
        return mint_token(self.settings, subject=subject, roles=roles, team=team)


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[Fuzzed]:
    settings = TicketsSettings(
        embedded_backend="memory",
        data_dir=tmp_path,
        rate_limit="100000/second",
        team_leads={TEAM: LEAD},
    )
    numbers = count(1)
    service = bootstrap(
        settings,
        document_client=memory_document_client(),
        id_factory=lambda prefix: f"{prefix}_{next(numbers):04x}",
    )
    with TestClient(create_app(service), raise_server_exceptions=False) as http:
        admin = mint_token(settings, subject="root", roles=["admin"])
        answer = http.post(
            TICKETS,
            json={**COMPLAINT, "subject": SECRET, "assignee_id": "a1"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert answer.status_code == 201, answer.text
        yield Fuzzed(http, settings, answer.json()["id"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "customer_id", "kind", "channel", "priority", "subject", "description", "team",
        "assignee_id", "body", "message", "resolution", "reason", "csat", "would_recommend",
        "comment",
    ]
)  # fmt: skip
plausible = st.one_of(
    st.sampled_from(["complaint", "question", "email", "urgent", "low", "a1", TEAM, "x"]),
    st.integers(-3, 12),
    json_values,
)
bodies = st.one_of(
    st.dictionaries(fields, plausible, max_size=8),
    st.just(COMPLAINT).map(dict),
    json_values,
)


@FUZZ
@given(
    data=st.data(),
    roles=st.lists(st.sampled_from(sorted(Role.ALL)), max_size=2, unique=True),
    subject=st.sampled_from(["a1", "a2", "root"]),
    team=st.sampled_from([TEAM, "other", None]),
    body=bodies,
    if_match=st.none()
    | st.sampled_from(['"1"', '"2"', "*", 'W/"1"', "x", '"99999999999999999999"']),
    key=st.none() | st.text(min_size=1, max_size=20, alphabet="abc-_1"),
)
def test_no_request_makes_the_service_fail(
    fuzzed: Fuzzed,
    data: st.DataObject,
    roles: list[str],
    subject: str,
    team: str | None,
    body: Any,
    if_match: str | None,
    key: str | None,
) -> None:
    ticket = data.draw(st.sampled_from([fuzzed.seeded, "tkt_nope", "x" * 300, "é/..", "%00"]))
    target = quote(ticket, safe="")
    method, path = data.draw(
        st.sampled_from(
            [("POST", TICKETS), ("GET", TICKETS), ("GET", f"{TICKETS}/{target}")]
            + [("POST", f"{TICKETS}/{target}/{c}") for c in COMMANDS]
        )
    )
    headers = {"Authorization": f"Bearer {fuzzed.token(roles, subject, team)}"}
    if if_match is not None:
        headers["If-Match"] = if_match
    if key is not None:
        headers["Idempotency-Key"] = key
    params = data.draw(
        st.dictionaries(
            st.sampled_from(["customer_id", "assignee_id", "status", "team", "limit"]),
            st.text(max_size=10) | st.sampled_from(["new", "0", "1000", "open"]),
            max_size=3,
        )
    )
    if method == "GET":
        answer = fuzzed.http.get(path, headers=headers, params=params)
    else:
        answer = fuzzed.http.post(path, headers=headers, content=json.dumps(body))

    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == PROBLEM_JSON, answer.text
    if set(roles) <= {Role.AUDITOR, Role.MARKETING, Role.SALES_REP, Role.SALES_MANAGER}:
        assert SECRET not in answer.text
