"""Malformed and well-formed requests to every loyalty endpoint, from random callers.

Whatever arrives, the service never answers 5xx, and every 4xx is problem+json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from loyalty_testing import MEMBERS, STORES

from crm_loyalty.application import handlers
from crm_loyalty.bootstrap import LoyaltyService, bootstrap
from crm_loyalty.config import LoyaltySettings
from crm_loyalty.domain.member import EarnPoints, Enrol
from crm_loyalty.domain.store import OpenStore
from crm_loyalty.entrypoints.http import create_app
from crm_runtime.eventstore import CommandContext
from crm_runtime.policy import Role
from crm_runtime.testing import (
    UNLIMITED,
    Body,
    Served,
    assert_no_server_error,
    in_memory,
    local_settings,
    serving,
)

FUZZ = hypothesis.settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
CUSTOMERS = ["cus_ada", "cus_bob"]
STORE_IDS = ["sto_mitte", "sto_hh"]
COUPONS = ["cpn_1", "cpn_2"]
LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()


@dataclass(frozen=True)
class Caller:
    roles: frozenset[str]
    subject: str
    team: str | None


TYPICAL = [
    Caller(frozenset({"admin"}), "root", None),
    Caller(frozenset({"store_manager"}), "m1", "sto_mitte"),
    Caller(frozenset({"marketing"}), "k1", None),
    Caller(frozenset({"service_agent"}), "a1", None),
]
callers = st.one_of(
    st.sampled_from([*TYPICAL, None, "Bearer a.b.c"]),
    st.builds(
        Caller,
        roles=st.frozensets(st.sampled_from(sorted(Role.ALL)), max_size=3),
        subject=st.sampled_from(["u1", "m1"]),
        team=st.sampled_from([*STORE_IDS, None]),
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "store_id": st.sampled_from([*STORE_IDS, "sto_new"]),
    "name": st.sampled_from(["Mitte", "Hamburg"]),
    "city": st.just("Berlin"),
    "customer_id": st.sampled_from([*CUSTOMERS, "cus_new"]),
    "home_store_id": st.sampled_from([*STORE_IDS, "sto_nowhere"]),
    "reason": st.sampled_from(["birthday", "referral", "survey_answered"]),
    "reference": st.sampled_from(["r1", "r2", "2026"]),
    "points": st.integers(min_value=1, max_value=500),
    "redemption_id": st.sampled_from(["red_1", "red_2"]),
    "description": st.sampled_from(["dessert", "Set menu"]),
    "coupon_id": st.sampled_from([*COUPONS, "cpn_3"]),
    "reward": st.sampled_from(["birthday_voucher", "set_menu_offer", "discount"]),
    "valid_until": st.sampled_from([LATER, "2020-01-01T00:00:00Z"]),
    "points_cost": st.integers(min_value=0, max_value=300),
}
ANY: dict[str, st.SearchStrategy[Any]] = {
    name: st.one_of(strategy, json_values) for name, strategy in VALID.items()
}
ENDPOINTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("POST", STORES, ("store_id", "name", "city")),
    ("POST", MEMBERS, ("customer_id", "home_store_id")),
    ("POST", f"{MEMBERS}/{{c}}/home-store", ("home_store_id",)),
    ("POST", f"{MEMBERS}/{{c}}/bonuses", ("reason", "reference", "points")),
    ("POST", f"{MEMBERS}/{{c}}/redemptions", ("redemption_id", "points", "description")),
    ("POST", f"{MEMBERS}/{{c}}/coupons",
     ("coupon_id", "reward", "description", "valid_until", "points_cost")),
    ("POST", f"{MEMBERS}/{{c}}/coupons/{{k}}/redeem", ()),
    ("POST", f"{MEMBERS}/{{c}}/coupons/{{k}}/withdraw", ("reason",)),
    ("GET", f"{MEMBERS}/{{c}}", ()),
    ("GET", f"{STORES}/{{s}}", ()),
]  # fmt: skip
weird_ids = st.one_of(st.text(max_size=15), st.sampled_from(["", "..", "%00", "a b"]))


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]


def calls(well_formed: bool) -> st.SearchStrategy[Call]:
    def one(method: str, template: str, fields: tuple[str, ...]) -> st.SearchStrategy[Call]:
        pick = (lambda known: st.sampled_from(known)) if well_formed else (
            lambda known: st.one_of(st.sampled_from(known), weird_ids)
        )  # fmt: skip
        path = st.builds(
            lambda c, k, s: template.format(
                c=quote(c, safe=""), k=quote(k, safe=""), s=quote(s, safe="")
            ),
            pick(CUSTOMERS), pick(COUPONS), pick(STORE_IDS),
        )  # fmt: skip
        source = VALID if well_formed else ANY
        if well_formed:
            objects = st.fixed_dictionaries({f: source[f] for f in fields})
        else:
            objects = st.fixed_dictionaries({}, optional={f: source[f] for f in fields})
        bodies = objects.map(lambda v: json.dumps(v).encode())
        if not well_formed:
            bodies = st.one_of(bodies, st.binary(max_size=50), json_values.map(
                lambda v: json.dumps(v).encode()))  # fmt: skip
        headers = st.fixed_dictionaries(
            {},
            optional={
                "If-Match": st.sampled_from(['"1"', '"3"', "*", "x", "9" * 30]),
                "Idempotency-Key": st.sampled_from(["k1", "k2", "x" * 300]),
            },
        )
        body = st.none() if method == "GET" else bodies
        return st.builds(Call, st.just(method), path, body, headers)

    return st.one_of(*(one(m, t, f) for m, t, f in ENDPOINTS))


def send(loyalty: Served, caller: Caller | str | None, request: Call) -> httpx.Response:
    body = None if request.body is None else Body(request.body, "application/json")
    return loyalty.send(request.method, request.path, caller, body, request.headers)


async def seed(service: LoyaltyService) -> None:
    numbers = count()

    def ctx() -> CommandContext:
        command_id = f"cmd_seed_{next(numbers)}"
        return CommandContext(command_id, command_id, command_id, "user:root")

    now = datetime.now(UTC)
    for store_id in STORE_IDS:
        await handlers.open_store(service.deps, OpenStore(store_id, store_id, "X", now), ctx())
    for customer, store_id in zip(CUSTOMERS, STORE_IDS, strict=True):
        await handlers.on_member(service.deps, Enrol(customer, store_id, now), ctx())
        earn = EarnPoints(customer, f"pay_{customer}", "ord_1", Decimal("300.00"), "EUR", now)
        await handlers.on_member(service.deps, earn, ctx())


@contextmanager
def running(tmp_path: Path) -> Iterator[Served]:
    settings = local_settings(LoyaltySettings, tmp_path, rate_limit=UNLIMITED)
    service = bootstrap(settings, **in_memory("fuzz"))
    with serving(service, create_app, "http://loyalty.test", seed=seed) as loyalty:
        yield loyalty


def assert_safe(answer: httpx.Response) -> None:
    hypothesis.event(f"status {answer.status_code}")
    assert_no_server_error(answer)


def test_anything_to_every_endpoint(tmp_path: Path) -> None:
    with running(tmp_path) as loyalty:

        @hypothesis.settings(FUZZ, max_examples=200)
        @given(caller=callers, request=calls(well_formed=False))
        def anything(caller: Caller | str | None, request: Call) -> None:
            assert_safe(send(loyalty, caller, request))

        anything()


def test_well_formed_requests_reach_the_rules_safely(tmp_path: Path) -> None:
    with running(tmp_path) as loyalty:

        @hypothesis.settings(FUZZ, max_examples=150)
        @given(caller=st.sampled_from(TYPICAL), request=calls(well_formed=True))
        def well_formed(caller: Caller, request: Call) -> None:
            assert_safe(send(loyalty, caller, request))

        well_formed()
