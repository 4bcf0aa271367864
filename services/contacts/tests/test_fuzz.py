"""Malformed requests to every contacts endpoint, from random callers (property-based).

Whatever arrives, the service never answers 5xx, every 4xx is problem+json, and a caller
who may not see personal data unmasked never finds a seeded customer's e-mail address or
phone number anywhere in an answer, its headers included (not even when they sent it in).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import hypothesis
from contacts_testing import ACCESS_LOG, CUSTOMERS
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import strategies as st

from crm_contacts.application import handlers
from crm_contacts.application.policy import CONTACTS_POLICY, READ
from crm_contacts.bootstrap import ContactsService, bootstrap
from crm_contacts.config import ContactsSettings
from crm_contacts.domain.customer import RegisterCustomer
from crm_contacts.entrypoints.http import create_app
from crm_contracts.contacts import CustomerKind
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
    # 60 keeps the contacts suite under a minute; CRM_FUZZ_EXAMPLES=1000 for a longer hunt.
    max_examples=int(os.environ.get("CRM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # Shrinking through HTTP takes minutes; a failure reports the example as generated.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)

SEEDED = [
    RegisterCustomer(
        "cus_ada",
        "Ada Lovelace",
        CustomerKind.PERSON,
        "ada@example.com",
        "+4930901820",
        owner_id="u1",
        team="north",
    ),
    RegisterCustomer(
        "cus_grace",
        "Grace Hopper",
        CustomerKind.PERSON,
        "grace.hopper@example.org",
        "+41446681800",
        owner_id="u2",
        team="south",
    ),
    RegisterCustomer(
        "cus_charles",
        "Charles Babbage",
        CustomerKind.PERSON,
        "charles@example.net",
        "+33142685300",
        owner_id="m1",
        team="north",
    ),
]
REQUIRED = ("name", "kind")
SEEDED_IDS = [command.customer_id for command in SEEDED]
SECRETS = [
    secret
    for command in SEEDED
    for secret in (command.email, command.phone, (command.phone or "").removeprefix("+"))
    if secret
]


# --- who calls -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    roles: frozenset[str]
    subject: str
    team: str | None

    @property
    def sees_personal_data(self) -> bool:
        principal = Principal(subject=self.subject, roles=self.roles, team=self.team)
        return CONTACTS_POLICY.reveals(principal, READ)


TYPICAL_CALLERS = [
    Caller(frozenset({"admin"}), "root", None),
    Caller(frozenset({"service"}), "sagas", None),
    Caller(frozenset({"sales_manager"}), "m1", "north"),
    Caller(frozenset({"sales_manager"}), "m2", "south"),
    Caller(frozenset({"sales_rep"}), "u1", "north"),
    Caller(frozenset({"sales_rep"}), "u2", "south"),
    Caller(frozenset({"marketing"}), "k1", None),
    Caller(frozenset({"auditor"}), "x1", None),
    Caller(frozenset({"service_agent"}), "a1", "north"),
    Caller(frozenset({"store_manager"}), "s1", "north"),
]
NOT_SIGNED_IN = [None, "", "Bearer", "Bearer a.b.c", "Basic cm9vdA==", "bearer  x"]
any_role_set = st.builds(
    Caller,
    roles=st.frozensets(st.sampled_from(sorted(Role.ALL)), max_size=3),
    subject=st.sampled_from(["u1", "u2", "m1", "root"]),
    team=st.sampled_from(["north", "south", None]),
)
signed_in_callers = st.one_of(st.sampled_from(TYPICAL_CALLERS), any_role_set)
callers = st.one_of(st.sampled_from([*TYPICAL_CALLERS, *NOT_SIGNED_IN]), any_role_set)

# --- what they send --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
header_values = st.one_of(
    st.none(),
    st.sampled_from(
        ['"1"', '"2"', 'W/"2"', "2", "*", '"99"', "", " ", "W/", '""', '"2", "3"', "-1", "2.0"]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.text(alphabet="0123456789", min_size=1, max_size=30),
    st.binary(max_size=30).map(lambda raw: bytes(b for b in raw if b not in b"\r\n\x00")),
    st.integers(min_value=4300, max_value=6000).map(lambda n: "9" * n),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=190, max_size=230),
)
customer_ids = st.one_of(
    st.sampled_from(SEEDED_IDS),
    st.sampled_from(SEEDED_IDS),  # twice: half the ids are of customers that exist
    st.text(max_size=60),
    st.sampled_from(["", ".", "..", "%", "cus_", "a/b", "?x=1", "#", "cus_ada/erasure"]),
)
VALID = {
    "name": st.text(min_size=1, max_size=60).filter(str.strip),
    "kind": st.sampled_from(["person", "company"]),
    "email": st.sampled_from(["ada@example.com", "lovelace@example.org", "a.b+c@d.example"]),
    "phone": st.sampled_from(["+4930901820", "+41446681800", "+33142685300"]),
    "owner_id": st.sampled_from(["u1", "u2", "m1", "m2"]),
    "team": st.sampled_from(["north", "south"]),
    "request_reference": st.sampled_from(["dsr-1", "ticket:42/a"]),
}
FIELDS = {
    "name": st.text(max_size=250),
    "kind": st.sampled_from(["person", "company", "robot", ""]),
    "email": st.one_of(st.emails(), st.text(max_size=40), st.none()),
    "phone": st.one_of(
        st.sampled_from(["+4930901820", "+41446681800", "030 901820", "+1 555 0100", "+"]),
        st.text(alphabet="+0123456789 -()", max_size=20),
        st.none(),
    ),
    "owner_id": st.one_of(st.sampled_from(["u1", "u2", "m1"]), st.text(max_size=30)),
    "team": st.one_of(st.sampled_from(["north", "south"]), st.text(max_size=30), st.none()),
    "request_reference": st.one_of(st.text(max_size=30), st.none()),
}


def near_valid(*fields: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of ``fields`` (plausible or random values) and maybe unknown ones."""
    known = st.fixed_dictionaries(
        {}, optional={name: st.one_of(FIELDS[name], json_values) for name in fields}
    )
    unknown = st.dictionaries(st.text(max_size=8), json_values, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


def valid(*fields: str, required: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {name: VALID[name] for name in required},
        optional={name: VALID[name] for name in fields if name not in required},
    )


def as_json(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Body]:
    return values.map(lambda value: Body(json.dumps(value).encode(), "application/json"))


def bodies(*fields: str, required: tuple[str, ...] = ()) -> st.SearchStrategy[Body | None]:
    """Valid bodies, nearly valid ones, any JSON, any bytes under any content type, none."""
    raw = st.builds(
        Body,
        st.binary(max_size=300),
        st.sampled_from(
            [
                "application/json",
                "application/merge-patch+json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                None,
            ]
        ),
    )
    return st.one_of(
        as_json(valid(*fields, required=required)),
        as_json(near_valid(*fields)),
        as_json(json_values),
        raw,
        st.none(),
    )


# --- the service under fuzz ------------------------------------------------------------------


async def seed(service: ContactsService) -> None:
    for command in SEEDED:
        seeding = f"cmd_seed_{command.customer_id}"
        context = CommandContext(seeding, seeding, seeding, "user:root")
        await handlers.execute(service.deps, command, context)


@contextmanager
def running_contacts(tmp_path: Path) -> Iterator[Served]:
    """The app over ASGI on a loop of its own, with Ada, Grace and Charles registered."""
    settings = local_settings(ContactsSettings, tmp_path, rate_limit=UNLIMITED)
    service = bootstrap(settings, **in_memory("fuzz"))
    with serving(service, create_app, "http://contacts.test", seed=seed) as contacts:
        yield contacts


def assert_safe(answer: httpx.Response, caller: Caller | str | None) -> None:
    status = answer.status_code
    hypothesis.event(f"status {status}")
    assert_no_server_error(answer)
    if isinstance(caller, Caller) and caller.sees_personal_data:
        return
    assert_shows_none(answer, SECRETS)
    shown = answer.json() if answer.headers.get("content-type") == "application/json" else None
    if isinstance(shown, dict) and status < 300 and shown.get("email") is not None:
        local, _, _ = str(shown["email"]).partition("@")
        assert local.endswith("***"), shown


# --- one property per endpoint ---------------------------------------------------------------


def test_registering_with_anything(tmp_path: Path) -> None:
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(
            caller=callers,
            body=bodies("name", "kind", "email", "phone", "owner_id", "team", required=REQUIRED),
            key=header_values,
        )
        def register(caller: Caller | str | None, body: Body | None, key: Any) -> None:
            answer = contacts.send(
                "POST", CUSTOMERS, caller, body, headers={"Idempotency-Key": key}
            )
            assert_safe(answer, caller)

        register()


def test_a_valid_registration_with_any_idempotency_key(tmp_path: Path) -> None:
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(
            caller=signed_in_callers,
            body=as_json(valid(*VALID, required=REQUIRED)),
            key=header_values,
        )
        def register(caller: Caller, body: Body, key: Any) -> None:
            answer = contacts.send(
                "POST", CUSTOMERS, caller, body, headers={"Idempotency-Key": key}
            )
            assert_safe(answer, caller)

        register()


def test_reading_anything(tmp_path: Path) -> None:
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(caller=callers, customer_id=customer_ids, body=bodies())
        def read(caller: Caller | str | None, customer_id: str, body: Body | None) -> None:
            answer = contacts.send(
                "GET", f"{CUSTOMERS}/{quote(customer_id, safe='')}", caller, body
            )
            assert_safe(answer, caller)

        read()


def test_changing_with_anything(tmp_path: Path) -> None:
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(
            caller=callers,
            customer_id=customer_ids,
            body=bodies("name", "email", "phone"),
            if_match=header_values,
            key=header_values,
        )
        def change(
            caller: Caller | str | None,
            customer_id: str,
            body: Body | None,
            if_match: Any,
            key: Any,
        ) -> None:
            answer = contacts.send(
                "PATCH",
                f"{CUSTOMERS}/{quote(customer_id, safe='')}",
                caller,
                body,
                headers={"If-Match": if_match, "Idempotency-Key": key},
            )
            assert_safe(answer, caller)

        change()


def test_a_valid_change_with_any_if_match_and_idempotency_key(tmp_path: Path) -> None:
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(
            caller=signed_in_callers,
            customer_id=st.sampled_from(SEEDED_IDS),
            body=as_json(valid("name", "email", "phone")),
            if_match=header_values,
            key=header_values,
        )
        def change(caller: Caller, customer_id: str, body: Body, if_match: Any, key: Any) -> None:
            answer = contacts.send(
                "PATCH",
                f"{CUSTOMERS}/{customer_id}",
                caller,
                body,
                headers={"If-Match": if_match, "Idempotency-Key": key},
            )
            assert_safe(answer, caller)

        change()


def test_erasing_with_anything(tmp_path: Path) -> None:
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(caller=callers, customer_id=customer_ids, body=bodies("request_reference"))
        # an id holding a seeded phone number: the 404 names it, which is no leak
        @example(caller=TYPICAL_CALLERS[4], customer_id="+493090182099", body=None)
        def erase(caller: Caller | str | None, customer_id: str, body: Body | None) -> None:
            path = f"{CUSTOMERS}/{quote(customer_id, safe='')}/erasure"
            answer = contacts.send("POST", path, caller, body)
            assert_safe(answer, caller)
            if answer.status_code == 200:
                assert answer.json() == {"id": customer_id, "erased": True, "version": 3}

        erase()


def test_reading_the_access_log_with_anything(tmp_path: Path) -> None:
    with running_contacts(tmp_path) as contacts:
        admin = Caller(frozenset({"admin"}), "root", None)
        for customer_id in SEEDED_IDS:  # entries to find: full reads by an admin
            assert contacts.send("GET", f"{CUSTOMERS}/{customer_id}", admin).status_code == 200

        @FUZZ
        @given(
            caller=callers,
            params=st.fixed_dictionaries(
                {},
                optional={
                    "customer_id": st.one_of(st.sampled_from(SEEDED_IDS), st.text(max_size=250)),
                    "actor": st.one_of(st.just("user:root"), st.text(max_size=250)),
                    "limit": st.one_of(
                        st.integers(min_value=-5, max_value=2000).map(str), st.text(max_size=6)
                    ),
                },
            ),
        )
        def read_access_log(caller: Caller | str | None, params: dict[str, str]) -> None:
            answer = contacts.send("GET", ACCESS_LOG, caller, params=params)
            assert_safe(answer, caller)

        read_access_log()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Body | None = None
    headers: dict[str, Any] | None = None


def calls_on(customer_id: str) -> st.SearchStrategy[Call]:
    url = f"{CUSTOMERS}/{customer_id}"
    change_headers = st.fixed_dictionaries(
        {"If-Match": header_values, "Idempotency-Key": header_values}
    )
    return st.one_of(
        st.just(Call("GET", url)),
        st.builds(
            Call, st.just("PATCH"), st.just(url), bodies("name", "email", "phone"), change_headers
        ),
        st.builds(Call, st.just("POST"), st.just(f"{url}/erasure"), bodies("request_reference")),
    )


def test_a_caller_who_sees_masked_data_never_gets_more(tmp_path: Path) -> None:
    """Reps (some own the seeded customers), marketing, auditors: valid and invalid calls."""
    masked_callers = st.builds(
        Caller,
        roles=st.frozensets(
            st.sampled_from(["sales_rep", "marketing", "auditor", "store_manager"]),
            min_size=1,
            max_size=2,
        ),
        subject=st.sampled_from(["u1", "u2", "m1", "k1"]),
        team=st.sampled_from(["north", "south", None]),
    )
    registrations = st.builds(
        Call,
        st.just("POST"),
        st.just(CUSTOMERS),
        bodies(*VALID, required=REQUIRED),
        st.fixed_dictionaries({"Idempotency-Key": header_values}),
    )
    calls = st.one_of(
        st.sampled_from(SEEDED_IDS).flatmap(calls_on),
        registrations,
        st.just(Call("GET", ACCESS_LOG)),
    )
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(caller=masked_callers, call=calls)
        def call_as_masked(caller: Caller, call: Call) -> None:
            assert not caller.sees_personal_data
            answer = contacts.send(call.method, call.path, caller, call.body, call.headers)
            assert_safe(answer, caller)

        call_as_masked()


# --- the profile, lifecycle, timeline and directory endpoints --------------------------------

PROFILE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "street": st.text(max_size=40),
    "city": st.sampled_from(["London", "", " "]),
    "postal_code": st.one_of(st.none(), st.text(max_size=12)),
    "country": st.sampled_from(["GB", "gb", "UK", "XK", "", "DEU"]),
    "given": st.booleans(),
    "source": st.sampled_from(["web", "paper form", "", "a/b:c"]),
    "at": st.sampled_from(["2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "yesterday", ""]),
    "text": st.text(max_size=30),
    "add": st.lists(st.text(max_size=12), max_size=3),
    "remove": st.lists(st.text(max_size=12), max_size=3),
    "stage": st.sampled_from(["interested", "at_risk", "churned", "customer", "prospect", "x"]),
    "reason": st.one_of(st.none(), st.text(max_size=20)),
    "order_id": st.sampled_from(["ord_1", "ord_2", "", "a b", None]),
    "opportunity_id": st.sampled_from(["opp_1", "opp_2", "", "a b", None]),
    "classification": st.sampled_from(["potential", "target", "key", "gold"]),
    "segments": st.lists(st.sampled_from(["need:training", "training", "a:b", ""]), max_size=3),
    "value_tier": st.sampled_from(["best", "uncertain", "gold"]),
    "owner_id": st.sampled_from(["u1", "u2", "m1", "", "a b"]),
    "team": st.sampled_from(["north", "south", None]),
    "name": st.text(max_size=30),
    "role": st.text(max_size=20),
    "email": st.sampled_from([*SECRETS[:1], "new@example.com", "bad"]),
    "phone": st.sampled_from([*SECRETS[1:2], "+41446681800", "123"]),
    "kind": st.sampled_from(["visit", "call", "complaint", "telepathy"]),
    "summary": st.text(max_size=30),
    "notes": st.one_of(st.none(), st.text(max_size=30)),
    "merged_id": st.sampled_from([*SEEDED_IDS, "cus_nobody", ""]),
    "leaving_rep_id": st.sampled_from(["u1", "u2", "m1"]),
    "successor_ids": st.lists(st.sampled_from(["u1", "u2", "u3"]), max_size=3),
    "company": st.one_of(st.none(), st.text(max_size=20)),
    "birthday": st.sampled_from(["1985-12-10", "2999-01-01", "x", None]),
    "preferred_channel": st.sampled_from(["email", "sms", "pigeon", None]),
}
PROFILE_CALLS: list[tuple[str, str, tuple[str, ...]]] = [
    ("PUT", "/addresses/{part}", ("street", "city", "postal_code", "country")),
    ("DELETE", "/addresses/{part}", ()),
    ("PUT", "/consents/{part}", ("given", "source", "at")),
    ("PUT", "/preferences/{part}", ("text",)),
    ("DELETE", "/preferences/{part}", ()),
    ("POST", "/tags", ("add", "remove")),
    ("PUT", "/lifecycle-stage", ("stage", "reason")),
    ("POST", "/purchases", ("order_id", "opportunity_id", "at")),
    ("PUT", "/classification", ("classification",)),
    ("PUT", "/segments", ("segments",)),
    ("PUT", "/value-tier", ("value_tier",)),
    ("PUT", "/owner", ("owner_id", "team")),
    ("POST", "/contact-persons", ("name", "role", "email", "phone")),
    ("PATCH", "/contact-persons/{part}", ("name", "role", "email", "phone")),
    ("POST", "/interactions", ("kind", "summary", "notes", "at")),
    ("GET", "/interactions", ()),
    ("GET", "/duplicates", ()),
    ("POST", "/merge", ("merged_id",)),
    ("PATCH", "", ("company", "birthday", "preferred_channel")),
]
path_parts = st.one_of(
    st.sampled_from(["billing", "visit", "email", "sms", "spice", "cp_1"]),
    st.text(max_size=20).map(lambda text: quote(text, safe="") or "x"),
)


def profile_bodies(fields: tuple[str, ...]) -> st.SearchStrategy[Body | None]:
    known = st.fixed_dictionaries(
        {}, optional={name: st.one_of(PROFILE_FIELDS[name], json_values) for name in fields}
    )
    return st.one_of(
        as_json(st.fixed_dictionaries({}, optional={n: PROFILE_FIELDS[n] for n in fields})),
        as_json(known),
        as_json(json_values),
        st.none(),
    )


@st.composite
def profile_calls(draw: st.DrawFn) -> Call:
    method, path, fields = draw(st.sampled_from(PROFILE_CALLS))
    customer_id = draw(customer_ids)
    url = f"{CUSTOMERS}/{quote(customer_id, safe='')}{path.format(part=draw(path_parts))}"
    headers = draw(
        st.fixed_dictionaries({"If-Match": header_values, "Idempotency-Key": header_values})
    )
    return Call(method, url, draw(profile_bodies(fields)), headers)


@st.composite
def directory_calls(draw: st.DrawFn) -> Call:
    if draw(st.booleans()):
        params = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    name: st.one_of(st.text(max_size=20), st.sampled_from(["u1", "vip", "ada"]))
                    for name in ("owner", "stage", "segment", "tag", "q", "limit", "cursor")
                },
            )
        )
        return Call("GET", f"{CUSTOMERS}?{urlencode(params)}")
    fields = ("leaving_rep_id", "successor_ids", "reason", "team")
    return Call("POST", "/contacts/handovers", draw(profile_bodies(fields[:2])))


def test_the_profile_and_directory_endpoints_with_anything(tmp_path: Path) -> None:
    """Any caller, any of the newer endpoints, any body: no 5xx, no leak to masked callers."""
    with running_contacts(tmp_path) as contacts:

        @FUZZ
        @given(caller=callers, call=st.one_of(profile_calls(), directory_calls()))
        def call_anything(caller: Caller | str | None, call: Call) -> None:
            answer = contacts.send(call.method, call.path, caller, call.body, call.headers)
            assert_safe(answer, caller)

        call_anything()
