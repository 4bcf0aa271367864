"""Malformed requests to every pipeline endpoint, from random callers (property-based).

Whatever arrives, the service never answers 5xx, every 4xx is problem+json, and a caller
who may not see personal data unmasked never finds a seeded lead's e-mail address or phone
number anywhere in an answer, its headers included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import hypothesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from pipeline_testing import LEADS, OPPORTUNITIES, ORDERS, QUOTES

from crm_contracts.pipeline import LeadSource
from crm_pipeline.application import handlers
from crm_pipeline.application.policy import PIPELINE_POLICY, READ_LEAD
from crm_pipeline.application.streams import execute, load
from crm_pipeline.bootstrap import PipelineService, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_pipeline.domain.lead import CaptureLead
from crm_pipeline.domain.opportunity import OpenOpportunity
from crm_pipeline.domain.quote import LineItem, SendQuote
from crm_pipeline.entrypoints.http import create_app
from crm_runtime.auth import Principal
from crm_runtime.eventstore import CommandContext
from crm_runtime.policy import Role
from crm_runtime.testing import (
    UNLIMITED,
    Body,
    Served,
    assert_no_server_error,
    assert_shows_none,
    in_memory,
    local_settings,
    serving,
)

FUZZ = hypothesis.settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking through HTTP is slow
)
SEEDED_LEADS = [
    CaptureLead("lead_ada", LeadSource.WEB, "Ada Lovelace", "u1", "north",
                email="ada@example.com", phone="+4930901820", customer_id="cus_ada"),
    CaptureLead("lead_grace", LeadSource.EVENT, "Grace Hopper", "u2", "south",
                email="grace.hopper@example.org", phone="+41446681800"),
]  # fmt: skip
SECRETS = ["ada@example.com", "+4930901820", "4930901820", "grace.hopper@example.org",
           "+41446681800", "41446681800"]  # fmt: skip
IDS = {
    "lead": ["lead_ada", "lead_grace"],
    "opportunity": ["opp_north", "opp_south"],
    "quote": ["quo_draft", "quo_sent"],
    "order": ["ord_sold"],
}


@dataclass(frozen=True)
class Caller:
    roles: frozenset[str]
    subject: str
    team: str | None

    @property
    def sees_personal_data(self) -> bool:
        principal = Principal(subject=self.subject, roles=self.roles, team=self.team)
        return PIPELINE_POLICY.reveals(principal, READ_LEAD)


TYPICAL = [
    Caller(frozenset({"admin"}), "root", None),
    Caller(frozenset({"service"}), "sagas", None),
    Caller(frozenset({"sales_manager"}), "m1", "north"),
    Caller(frozenset({"sales_rep"}), "u1", "north"),
    Caller(frozenset({"sales_rep"}), "u2", "south"),
    Caller(frozenset({"marketing"}), "k1", None),
    Caller(frozenset({"auditor"}), "x1", None),
]
any_roles = st.builds(
    Caller,
    roles=st.frozensets(st.sampled_from(sorted(Role.ALL)), max_size=3),
    subject=st.sampled_from(["u1", "u2", "m1", "root"]),
    team=st.sampled_from(["north", "south", None]),
)
callers = st.one_of(st.sampled_from([*TYPICAL, None, "Bearer a.b.c", "Basic cm9vdA=="]), any_roles)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.sampled_from(["12.50", "0.01", "1e3", "-1", "9999999999999.99", "10000000000000", " 1"]),
    st.text(max_size=12),
)
header_values = st.one_of(
    st.none(),
    st.sampled_from(['"1"', '"2"', 'W/"2"', "*", '"99"', "", "2.0", "-1"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.integers(min_value=4300, max_value=5000).map(lambda n: "9" * n),
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "source": st.sampled_from(["web", "event", "referral", "tv", ""]),
    "name": st.text(max_size=40),
    "company": st.one_of(st.none(), st.text(max_size=20)),
    "email": st.one_of(st.none(), st.emails(), st.text(max_size=20)),
    "phone": st.one_of(st.none(), st.sampled_from(["+4930901820", "030", "+1 555"])),
    "customer_id": st.one_of(st.sampled_from(["cus_ada", "c:1"]), st.text(max_size=20)),
    "owner_id": st.one_of(st.sampled_from(["u1", "u2", "m1"]), st.text(max_size=10)),
    "team": st.one_of(st.sampled_from(["north", "south"]), st.none(), st.text(max_size=8)),
    "title": st.text(max_size=30),
    "amount": numbers,
    "currency": st.sampled_from(["EUR", "USD", "eur", "", "EURO"]),
    "expected_close_date": st.one_of(
        st.dates().map(str), st.sampled_from(["2027-02-30", "tomorrow", "0"]), st.integers()
    ),
    "stage": st.sampled_from(["qualification", "proposal", "won", "lost", "closed", ""]),
    "reason": st.one_of(st.none(), st.text(max_size=30)),
    "opportunity_id": st.sampled_from([*IDS["opportunity"], "opp_none", ""]),
    "payment_id": st.one_of(st.none(), st.text(max_size=20)),
    "lines": st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "sku": st.text(max_size=10),
                "description": st.text(max_size=10),
                "quantity": numbers,
                "unit_price": numbers,
                "discount_percent": numbers,
            },
        ),
        max_size=3,
    ),
}


exact_amounts = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**6), places=2).map(str),
    st.integers(min_value=1, max_value=10**6),
)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "source": st.sampled_from(["web", "event", "referral", "partner", "other"]),
    "name": st.text(min_size=1, max_size=30).filter(str.strip),
    "company": st.sampled_from(["Acme AG", "Initech"]),
    "email": st.sampled_from(["lead@example.com", "x.y@example.org"]),
    "phone": st.sampled_from(["+41446681801", "+33142685300"]),
    "customer_id": st.sampled_from(["cus_ada", "cus_x"]),
    "owner_id": st.sampled_from(["u1", "u2", "m1"]),
    "team": st.sampled_from(["north", "south"]),
    "title": st.text(min_size=1, max_size=20).filter(str.strip),
    "amount": exact_amounts,
    "currency": st.just("EUR"),
    "expected_close_date": st.dates(date(2020, 1, 1), date(2030, 1, 1)).map(str),
    "stage": st.sampled_from(["qualification", "needs_analysis", "proposal", "negotiation"]),
    "reason": st.text(min_size=1, max_size=20).filter(str.strip),
    "opportunity_id": st.sampled_from(IDS["opportunity"]),
    "payment_id": st.text(alphabet="abc123-", min_size=1, max_size=8),
    "lines": st.lists(
        st.fixed_dictionaries(
            {
                "sku": st.sampled_from(["A", "B-1"]),
                "description": st.just("Thing"),
                "quantity": st.integers(min_value=1, max_value=50),
                "unit_price": exact_amounts,
            },
            optional={"discount_percent": st.integers(min_value=0, max_value=100)},
        ),
        min_size=1,
        max_size=3,
    ),
}


REQUIRED = frozenset(
    {"source", "name", "amount", "currency", "expected_close_date", "reason", "stage",
     "opportunity_id", "lines", "payment_id", "title"}
)  # fmt: skip
well_formed_headers = st.fixed_dictionaries(
    {
        "If-Match": st.one_of(st.none(), st.sampled_from(['"1"', '"2"', '"3"', "*"])),
        "Idempotency-Key": st.one_of(st.none(), st.text(alphabet="abc123", min_size=1, max_size=4)),
    }
)


def bodies(*fields: str) -> st.SearchStrategy[Body | None]:
    """Nearly valid objects of these fields, any JSON, any bytes, or nothing."""
    known = st.fixed_dictionaries(
        {}, optional={name: st.one_of(FIELDS[name], json_values) for name in fields}
    )
    unknown = st.dictionaries(st.text(max_size=8), json_values, max_size=1)
    objects = st.builds(lambda a, b: {**b, **a}, known, unknown)
    return st.one_of(
        objects.map(lambda v: Body(json.dumps(v).encode(), "application/json")),
        json_values.map(lambda v: Body(json.dumps(v).encode(), "application/json")),
        st.builds(Body, st.binary(max_size=100), st.sampled_from(["application/json", None])),
        st.none(),
    )


def valid(*fields: str) -> st.SearchStrategy[Body | None]:
    """Bodies that pass validation, with any amounts, dates and stages the rules may refuse."""
    objects = st.fixed_dictionaries(
        {name: VALID[name] for name in fields if name in REQUIRED},
        optional={name: VALID[name] for name in fields if name not in REQUIRED},
    )
    return objects.map(lambda v: Body(json.dumps(v).encode(), "application/json"))


def ids(kind: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(IDS[kind]), st.text(max_size=20), st.sampled_from(["", "..", "%00"])
    )


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Body | None
    headers: dict[str, Any]


def call(
    method: str, kind: str, suffix: str, *fields: str, well_formed: bool = False
) -> st.SearchStrategy[Call]:
    base = {"lead": LEADS, "opportunity": OPPORTUNITIES, "quote": QUOTES, "order": ORDERS}[kind]
    known = st.sampled_from(IDS[kind]) if well_formed else ids(kind)
    paths = known.map(lambda i: f"{base}/{quote(i, safe='')}{suffix}")
    if well_formed:
        return st.builds(Call, st.just(method), paths, valid(*fields), well_formed_headers)
    headers = st.fixed_dictionaries({"If-Match": header_values, "Idempotency-Key": header_values})
    return st.builds(Call, st.just(method), paths, bodies(*fields), headers)


def create(path: str, *fields: str, well_formed: bool = False) -> st.SearchStrategy[Call]:
    if well_formed:
        keys = well_formed_headers.map(lambda h: {"Idempotency-Key": h["Idempotency-Key"]})
        return st.builds(Call, st.just("POST"), st.just(path), valid(*fields), keys)
    headers = st.fixed_dictionaries({"Idempotency-Key": header_values})
    return st.builds(Call, st.just("POST"), st.just(path), bodies(*fields), headers)


def commands(well_formed: bool) -> st.SearchStrategy[Call]:
    return st.one_of(
        create(LEADS, "source", "name", "company", "email", "phone", "customer_id", "owner_id",
               "team", well_formed=well_formed),
        call("POST", "lead", "/qualification", "customer_id", "title", "amount", "currency",
             "expected_close_date", "stage", well_formed=well_formed),
        call("POST", "lead", "/disqualification", "reason", well_formed=well_formed),
        create(OPPORTUNITIES, "customer_id", "title", "amount", "currency", "expected_close_date",
               "stage", "owner_id", "team", well_formed=well_formed),
        call("PATCH", "opportunity", "", "amount", "expected_close_date", well_formed=well_formed),
        call("POST", "opportunity", "/stage", "stage", well_formed=well_formed),
        call("POST", "opportunity", "/won", well_formed=well_formed),
        call("POST", "opportunity", "/lost", "reason", well_formed=well_formed),
        call("POST", "opportunity", "/reopen", "stage", well_formed=well_formed),
        call("POST", "opportunity", "/owner", "owner_id", "team", "reason",
             well_formed=well_formed),
        create(QUOTES, "opportunity_id", "lines", "currency", well_formed=well_formed),
        call("POST", "quote", "/sent", well_formed=well_formed),
        call("POST", "quote", "/accepted", well_formed=well_formed),
        call("POST", "quote", "/rejected", "reason", well_formed=well_formed),
        call("POST", "order", "/payments", "amount", "currency", "payment_id",
             well_formed=well_formed),
    )  # fmt: skip


list_queries = st.fixed_dictionaries(
    {},
    optional={
        "owner_id": st.one_of(st.sampled_from(["u1", "u2"]), st.text(max_size=10)),
        "customer_id": st.one_of(st.just("cus_ada"), st.text(max_size=10)),
        "status": st.one_of(st.sampled_from(["open", "won", "lost"]), st.text(max_size=6)),
        "limit": st.one_of(st.integers(min_value=-5, max_value=600), st.text(max_size=4)),
        "after": st.one_of(st.sampled_from(IDS["opportunity"]), st.text(max_size=10)),
    },
)
READS = st.one_of(
    *(call("GET", kind, "") for kind in IDS),
    st.just(Call("GET", "/pipeline/access-log", None, {})),
    list_queries.map(lambda query: Call("GET", f"{OPPORTUNITIES}?{urlencode(query)}", None, {})),
)


def send(pipeline: Served, caller: Caller | str | None, request: Call) -> httpx.Response:
    return pipeline.send(request.method, request.path, caller, request.body, request.headers)


async def seed(service: PipelineService) -> None:
    deps = service.deps
    numbers = count()

    def seeding() -> CommandContext:
        command_id = f"cmd_seed_{next(numbers)}"
        return CommandContext(command_id, command_id, command_id, "user:root")

    for lead in SEEDED_LEADS:
        await execute(deps, deps.deciders.lead, lead.lead_id, lead, seeding())
    for opportunity_id, owner, team in (("opp_north", "u1", "north"), ("opp_south", "u2", "south")):
        opening = OpenOpportunity(opportunity_id, "cus_ada", "Deal", Decimal(900), "EUR",
                                  date(2027, 1, 1), owner, team)  # fmt: skip
        await execute(deps, deps.deciders.opportunity, opportunity_id, opening, seeding())
    north = await load(deps, deps.deciders.opportunity, "opp_north")
    line = [LineItem("S", "Seats", Decimal(3), Decimal("100.00"))]
    for quote_id in ("quo_draft", "quo_sent", "quo_sold"):
        await handlers.draft_quote(deps, north.state, quote_id, line, seeding())
    for quote_id in ("quo_sent", "quo_sold"):
        await execute(deps, deps.deciders.quote, quote_id, SendQuote(quote_id), seeding())
    await handlers.accept_quote(deps, "quo_sold", seeding())


@contextmanager
def running_pipeline(tmp_path: Path) -> Iterator[Served]:
    settings = local_settings(PipelineSettings, tmp_path, rate_limit=UNLIMITED)
    service = bootstrap(settings, **in_memory("fuzz"))
    with serving(service, create_app, "http://pipeline.test", seed=seed) as pipeline:
        yield pipeline


def assert_safe(answer: httpx.Response, caller: Caller | str | None) -> None:
    hypothesis.event(f"status {answer.status_code}")
    assert_no_server_error(answer)
    if not (isinstance(caller, Caller) and caller.sees_personal_data):
        assert_shows_none(answer, SECRETS)


def test_commands_with_anything(tmp_path: Path) -> None:
    with running_pipeline(tmp_path) as pipeline:

        @hypothesis.settings(FUZZ, max_examples=250)
        @given(caller=callers, request=commands(well_formed=False))
        def command(caller: Caller | str | None, request: Call) -> None:
            assert_safe(send(pipeline, caller, request), caller)

        command()


def test_well_formed_commands_from_typical_callers(tmp_path: Path) -> None:
    """Requests that pass validation reach the rules, whatever state the fuzzing left."""
    with running_pipeline(tmp_path) as pipeline:

        @hypothesis.settings(FUZZ, max_examples=120)
        @given(caller=st.sampled_from(TYPICAL), request=commands(well_formed=True))
        def command(caller: Caller, request: Call) -> None:
            assert_safe(send(pipeline, caller, request), caller)

        command()


def test_reads_with_anything(tmp_path: Path) -> None:
    with running_pipeline(tmp_path) as pipeline:

        @FUZZ
        @given(caller=callers, request=READS)
        def read(caller: Caller | str | None, request: Call) -> None:
            assert_safe(send(pipeline, caller, request), caller)

        read()


def test_a_caller_who_sees_masked_data_never_gets_more(tmp_path: Path) -> None:
    masked_callers = st.builds(
        Caller,
        roles=st.frozensets(
            st.sampled_from(["sales_rep", "marketing", "auditor"]), min_size=1, max_size=2
        ),
        subject=st.sampled_from(["u1", "u2", "k1"]),
        team=st.sampled_from(["north", "south", None]),
    )
    lead_calls = st.one_of(
        call("GET", "lead", ""),
        call("POST", "lead", "/disqualification", "reason"),
        call("POST", "lead", "/qualification", "customer_id", "amount", "currency",
             "expected_close_date"),
        create(LEADS, "source", "name", "email", "phone"),
    )  # fmt: skip
    with running_pipeline(tmp_path) as pipeline:

        @FUZZ
        @given(caller=masked_callers, request=lead_calls)
        def masked(caller: Caller, request: Call) -> None:
            assert not caller.sees_personal_data
            assert_safe(send(pipeline, caller, request), caller)

        masked()
