"""The contacts HTTP API, wired by bootstrap on the in-memory document store."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from contacts_testing import NEW_PROFILE
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_contacts.bootstrap import ContactsService, bootstrap
from crm_contacts.config import ContactsSettings
from crm_contacts.entrypoints.http import create_app
from crm_runtime.auth import mint_token
from crm_runtime.eventstore import StoredEvent
from crm_runtime.telemetry import build_tracer_provider
from crm_runtime.testing import memory_document_client

CUSTOMERS = "/contacts/customers"
ADA = {
    "name": "Ada  Lovelace",
    "kind": "person",
    "email": "ada@EXAMPLE.com",
    "phone": "+49 30 901820",
}
PROBLEM_JSON = "application/problem+json"

T = TypeVar("T")


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def service(spans: InMemorySpanExporter, settings: ContactsSettings) -> ContactsService:
    return bootstrap(
        settings,
        document_client=memory_document_client(),
        tracer_provider=build_tracer_provider("crm-contacts-test", exporter=spans),
    )


@pytest.fixture
def api(service: ContactsService, settings: ContactsSettings) -> Iterator[TestClient]:
    """The app with its lifespan running, called by a sales manager of team north."""
    token = mint_token(settings, subject="m1", roles=["sales_manager"], team="north")
    with TestClient(create_app(service), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def in_app_loop(api: TestClient, call: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await ``call`` on the event loop the app runs on (the store belongs to it)."""
    assert api.portal is not None
    return api.portal.call(call, *args)


def commits_stored(api: TestClient, service: ContactsService) -> int:
    commits = service.client[service.settings.database]["commits"]
    return int(in_app_loop(api, commits.count_documents, {}))


def events_of(api: TestClient, service: ContactsService, customer_id: str) -> list[StoredEvent]:
    return in_app_loop(api, service.store.load, customer_id)


def register(api: TestClient, body: dict[str, Any] = ADA, **headers: str) -> httpx.Response:
    answer = api.post(CUSTOMERS, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer


def problem(answer: httpx.Response, status: int, type_: str = "about:blank") -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert (body["status"], body["type"]) == (status, type_)
    return body


def invalid_fields(answer: httpx.Response) -> list[str]:
    body = problem(answer, 422, "urn:crm:problem:validation")
    fields = [error["field"] for error in body["errors"]]
    for field in fields:
        assert field in body["detail"]
    return fields


# --- register and read ---------------------------------------------------------------------


def test_registering_answers_the_new_customer_with_its_location_and_etag(api: TestClient) -> None:
    answer = register(api)
    customer = answer.json()
    assert re.fullmatch(r"cus_[0-9a-f]{32}", customer["id"])
    assert answer.headers["location"] == f"{CUSTOMERS}/{customer['id']}"
    assert answer.headers["etag"] == '"2"'  # registered, then its owner assigned
    assert customer == {
        "id": customer["id"],
        "kind": "person",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+4930901820",
        "owner_id": "m1",
        "team": "north",
        "version": 2,
        **NEW_PROFILE,
    }


def test_registering_for_an_owner_of_the_team_assigns_that_owner(api: TestClient) -> None:
    customer = register(api, {**ADA, "owner_id": "u2"}).json()
    assert (customer["owner_id"], customer["team"]) == ("u2", "north")


def test_a_registered_customer_reads_back_with_its_etag(api: TestClient) -> None:
    registered = register(api)
    answer = api.get(registered.headers["location"])
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"2"'
    assert answer.json() == registered.json()


def test_a_company_without_contact_details_can_be_registered(api: TestClient) -> None:
    customer = register(api, {"name": "Analytical Engines Ltd", "kind": "company"}).json()
    assert (customer["kind"], customer["email"], customer["phone"]) == ("company", None, None)


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_an_unknown_customer_is_a_not_found_problem(api: TestClient, method: str) -> None:
    answer = api.request(method, f"{CUSTOMERS}/cus_nobody", json={"name": "Nobody"})
    body = problem(answer, 404, "urn:crm:problem:not-found")
    assert "cus_nobody" in body["detail"]
    assert body["instance"] == f"{CUSTOMERS}/cus_nobody"


# --- change --------------------------------------------------------------------------------


@pytest.mark.parametrize("if_match", ['"2"', 'W/"2"', "2"])
def test_a_change_with_the_current_etag_is_applied(api: TestClient, if_match: str) -> None:
    location = register(api).headers["location"]
    answer = api.patch(location, json={"name": "Ada King"}, headers={"If-Match": if_match})
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"3"'
    assert (answer.json()["name"], answer.json()["version"]) == ("Ada King", 3)
    assert api.get(location).json() == answer.json()


def test_a_change_without_if_match_is_applied_to_the_latest_version(api: TestClient) -> None:
    location = register(api).headers["location"]
    api.patch(location, json={"name": "Ada King"})
    answer = api.patch(location, json={"email": "ada@example.org"})
    assert answer.status_code == 200
    assert (answer.json()["email"], answer.json()["version"]) == ("ada@example.org", 4)


def test_a_change_from_a_stale_etag_is_a_version_conflict(api: TestClient) -> None:
    location = register(api).headers["location"]
    api.patch(location, json={"name": "Ada King"}, headers={"If-Match": '"2"'})
    answer = api.patch(location, json={"name": "Ada Byron"}, headers={"If-Match": '"2"'})
    body = problem(answer, 409, "urn:crm:problem:version-conflict")
    assert body["current_version"] == 3
    assert api.get(location).json()["name"] == "Ada King"


@pytest.mark.parametrize(
    "if_match",
    [
        '"abc"',
        '"2", "3"',
        '"-1"',
        "",
        pytest.param("9" * 5000, id="more digits than int() reads"),
        pytest.param("9" * 19, id="past a 64-bit version"),
    ],
)
def test_an_if_match_that_is_not_a_version_is_a_bad_request(api: TestClient, if_match: str) -> None:
    location = register(api).headers["location"]
    answer = api.patch(location, json={"name": "Ada King"}, headers={"If-Match": if_match})
    assert "If-Match" in problem(answer, 400)["detail"]
    assert api.get(location).json()["version"] == 2


def test_a_null_phone_removes_the_phone(api: TestClient) -> None:
    location = register(api).headers["location"]
    answer = api.patch(location, json={"phone": None}, headers={"If-Match": '"2"'})
    assert answer.status_code == 200
    customer = answer.json()
    assert (customer["phone"], customer["email"], customer["version"]) == (
        None,
        "ada@example.com",
        3,
    )
    assert api.get(location).json()["phone"] is None


def test_a_change_to_the_details_already_there_appends_nothing(
    api: TestClient, service: ContactsService
) -> None:
    location = register(api, {"name": "Ada Lovelace", "kind": "person"}).headers["location"]
    answer = api.patch(location, json={"name": " Ada   Lovelace ", "email": None})
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"2"'
    assert answer.json()["version"] == 2
    assert commits_stored(api, service) == 1


def test_the_name_cannot_be_removed(api: TestClient) -> None:
    location = register(api).headers["location"]
    assert invalid_fields(api.patch(location, json={"name": None})) == ["name"]
    assert api.get(location).json()["name"] == "Ada Lovelace"


# --- refused requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("email", "ada.example.com", id="e-mail without @"),
        pytest.param("phone", "030 901820", id="phone without country code"),
        pytest.param("phone", "+1 555 0100", id="phone invalid for its country"),
        pytest.param("name", "   ", id="blank name"),
        pytest.param("name", "x" * 201, id="overlong name"),
        pytest.param("kind", "robot", id="kind neither person nor company"),
    ],
)
def test_registering_an_invalid_detail_is_refused_naming_the_field(
    api: TestClient, service: ContactsService, field: str, value: str
) -> None:
    answer = api.post(CUSTOMERS, json={**ADA, field: value})
    assert invalid_fields(answer) == [field]
    assert commits_stored(api, service) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "ada@"), ("phone", "ada"), ("name", "")],
)
def test_changing_to_an_invalid_detail_is_refused_naming_the_field(
    api: TestClient, field: str, value: str
) -> None:
    location = register(api).headers["location"]
    assert invalid_fields(api.patch(location, json={field: value})) == [field]
    assert api.get(location).json()["version"] == 2


def test_registering_without_a_name_or_kind_names_both(api: TestClient) -> None:
    assert sorted(invalid_fields(api.post(CUSTOMERS, json={"email": "ada@example.com"}))) == [
        "kind",
        "name",
    ]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        pytest.param("POST", {**ADA, "nickname": "Countess"}, id="registration"),
        pytest.param("PATCH", {"nickname": "Countess"}, id="change"),
    ],
)
def test_an_unknown_field_is_refused_naming_it(
    api: TestClient, method: str, body: dict[str, Any]
) -> None:
    location = register(api).headers["location"]
    url = CUSTOMERS if method == "POST" else location
    assert invalid_fields(api.request(method, url, json=body)) == ["nickname"]


# --- idempotency ---------------------------------------------------------------------------


def test_a_repeated_registration_with_the_same_key_replays_the_first_answer(
    api: TestClient, service: ContactsService
) -> None:
    first = register(api, ADA, **{"Idempotency-Key": "signup-7"})
    again = register(api, ADA, **{"Idempotency-Key": "signup-7"})
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert commits_stored(api, service) == 1
    assert in_app_loop(api, service.store.head_position) == 1


def test_a_repeated_change_with_the_same_key_replays_the_first_answer(
    api: TestClient, service: ContactsService
) -> None:
    location = register(api).headers["location"]
    headers = {"If-Match": '"2"', "Idempotency-Key": "rename-1"}
    first = api.patch(location, json={"name": "Ada King"}, headers=headers)
    again = api.patch(location, json={"name": "Ada King"}, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert commits_stored(api, service) == 2


def test_the_same_key_with_another_request_is_refused(
    api: TestClient, service: ContactsService
) -> None:
    register(api, ADA, **{"Idempotency-Key": "signup-7"})
    answer = api.post(
        CUSTOMERS, json={**ADA, "name": "Charles Babbage"}, headers={"Idempotency-Key": "signup-7"}
    )
    body = problem(answer, 422, "urn:crm:problem:idempotency-key-reused")
    assert "signup-7" in body["detail"]
    assert commits_stored(api, service) == 1


def test_different_keys_register_different_customers(
    api: TestClient, service: ContactsService
) -> None:
    first = register(api, ADA, **{"Idempotency-Key": "signup-7"}).json()
    second = register(api, ADA, **{"Idempotency-Key": "signup-8"}).json()
    assert first["id"] != second["id"]
    assert commits_stored(api, service) == 2


# --- metadata and observability ------------------------------------------------------------


def test_appended_events_carry_the_callers_correlation_id(
    api: TestClient, service: ContactsService
) -> None:
    customer = register(api, ADA, **{"X-Correlation-Id": "onboarding-42"}).json()
    api.patch(
        f"{CUSTOMERS}/{customer['id']}",
        json={"phone": None},
        headers={"X-Correlation-Id": "onboarding-42", "X-Causation-Id": "evt_form_submitted"},
    )
    events = events_of(api, service, customer["id"])
    assert [e.metadata.type for e in events] == [
        "crm.contacts.CustomerRegistered",
        "crm.contacts.CustomerOwnerAssigned",
        "crm.contacts.CustomerDetailsChanged",
    ]
    assert {e.metadata.correlation_id for e in events} == {"onboarding-42"}
    assert events[2].metadata.causation_id == "evt_form_submitted"
    assert {e.metadata.actor for e in events} == {"user:m1"}
    assert in_app_loop(api, service.store.by_correlation, "onboarding-42") == events


def test_without_a_correlation_id_the_command_starts_its_own_correlation(
    api: TestClient, service: ContactsService
) -> None:
    customer = register(api).json()
    registered, owner_assigned = events_of(api, service, customer["id"])
    assert registered.metadata.correlation_id.startswith("cmd_")
    assert registered.metadata.correlation_id == registered.metadata.causation_id
    assert owner_assigned.metadata.model_dump(include={"correlation_id", "causation_id"}) == (
        registered.metadata.model_dump(include={"correlation_id", "causation_id"})
    )
    assert registered.metadata.actor == "user:m1"  # the caller the token names


def test_registration_assigns_the_owner_in_the_same_commit(
    api: TestClient, service: ContactsService
) -> None:
    customer = register(api).json()
    registered, owner_assigned = events_of(api, service, customer["id"])
    assert [registered.metadata.sequence, owner_assigned.metadata.sequence] == [1, 2]
    assert registered.position == owner_assigned.position
    assert owner_assigned.data == {
        "customer_id": customer["id"],
        "owner_id": "m1",
        "team": "north",
        "previous_owner_id": None,
    }
    assert commits_stored(api, service) == 1


def test_metrics_are_served_as_prometheus_text(api: TestClient) -> None:
    register(api)
    answer = api.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert re.search(
        r'^crm_http_requests_total\{method="POST",route="/contacts/customers",'
        r'service="contacts",status="201"\} 1\.0$',
        answer.text,
        re.MULTILINE,
    )


def test_every_api_answer_names_its_trace(api: TestClient, spans: InMemorySpanExporter) -> None:
    created = register(api)
    location = created.headers["location"]
    answers = [
        created,
        api.get(location),
        api.patch(location, json={"name": "Ada King"}, headers={"If-Match": '"2"'}),
        api.patch(location, json={"name": "Ada Byron"}, headers={"If-Match": '"2"'}),
        api.patch(location, json={"name": "Ada Byron"}, headers={"If-Match": "latest"}),
        api.post(CUSTOMERS, json={**ADA, "kind": "robot"}),
        api.get(f"{CUSTOMERS}/cus_nobody"),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 409, 400, 422, 404]
    recorded = {format(span.context.trace_id, "032x") for span in spans.get_finished_spans()}
    trace_ids = [a.headers["x-trace-id"] for a in answers]
    assert len(set(trace_ids)) == len(answers)
    for answer, trace_id in zip(answers, trace_ids, strict=True):
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        assert trace_id in recorded
        if answer.status_code >= 400:
            assert answer.json()["trace_id"] == trace_id
