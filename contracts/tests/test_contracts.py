"""The published contract: CloudEvents binding, upcasting and the compatibility check."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_contracts import ContractViolation, DomainEvent, EventMetadata, EventRegistry, cloudevents
from crm_contracts.compat import breaking_changes
from crm_contracts.contacts import CustomerRegistered
from crm_contracts.publish import check, event_schema

METADATA = EventMetadata(
    id="evt_1",
    type="crm.contacts.CustomerRegistered",
    schema_version=1,
    source="/crm/contacts",
    subject="cus_1",
    sequence=1,
    time=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
    correlation_id="req_1",
    causation_id="req_1",
    actor="user:u1",
)
PAYLOAD = CustomerRegistered(customer_id="cus_1", name="Ada", kind="person").model_dump(mode="json")


def as_record_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers.items()]


def test_binary_mode_round_trip() -> None:
    key, headers, body = cloudevents.encode(METADATA, PAYLOAD)
    assert key == b"cus_1"
    assert headers["ce_specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    assert headers["ce_time"] == "2026-11-24T09:30:00Z"
    metadata, event = cloudevents.decode(as_record_headers(headers), body)
    assert metadata == METADATA
    assert event == CustomerRegistered.model_validate(PAYLOAD)


def test_the_store_position_is_an_optional_extension_attribute() -> None:
    _, headers, body = cloudevents.encode(METADATA, PAYLOAD, position=4711)
    assert headers["ce_position"] == "4711"
    assert cloudevents.decode_position(as_record_headers(headers)) == 4711
    metadata, _ = cloudevents.decode(as_record_headers(headers), body)
    assert metadata == METADATA  # not part of the envelope

    _, without, body = cloudevents.encode(METADATA, PAYLOAD)
    assert "ce_position" not in without
    assert cloudevents.decode_position(without) is None  # older relays: accepted
    assert cloudevents.decode(without, body)[0] == METADATA
    record = cloudevents.decode_record(as_record_headers(headers), body)  # one read of both
    assert record == (METADATA, CustomerRegistered.model_validate(PAYLOAD), 4711)
    assert cloudevents.decode_record(without, body)[2] is None


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", "", "\u0663"])
def test_a_position_that_is_not_a_positive_integer_breaks_the_contract(value: str) -> None:
    _, headers, _ = cloudevents.encode(METADATA, PAYLOAD)
    with pytest.raises(ContractViolation, match="ce_position"):
        cloudevents.decode_position({**headers, "ce_position": value})


def test_the_asyncapi_headers_declare_the_position_without_requiring_it() -> None:
    document = json.loads((Path(__file__).parents[1] / "asyncapi.json").read_text())
    headers = document["components"]["messages"]["CustomerRegistered"]["headers"]
    assert "ce_position" in headers["properties"]
    assert "ce_position" not in headers["required"]


@given(name=st.text(min_size=1, max_size=50), sequence=st.integers(min_value=1, max_value=10**9))
def test_any_valid_event_round_trips(name: str, sequence: int) -> None:
    metadata = METADATA.model_copy(update={"sequence": sequence})
    payload = {**PAYLOAD, "name": name}
    _, headers, body = cloudevents.encode(metadata, payload)
    decoded_metadata, event = cloudevents.decode(headers, body)
    assert decoded_metadata.sequence == sequence
    assert event.name == name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h.pop("ce_id"), b)[1], "missing CloudEvents headers: ce_id"),
        (lambda h, b: (h.update(ce_specversion="0.3"), b)[1], "not a CloudEvents 1.0"),
        (lambda h, b: (h.update(ce_type="crm.nope.Unknown"), b)[1], "unknown event type"),
        (lambda h, b: (h.update(ce_sequence="zero"), b)[1], "invalid CloudEvents attributes"),
        (lambda h, b: (h.update(ce_schemaversion="9"), b)[1], "newer than this consumer knows"),
        (lambda h, b: (h.update({"content-type": "text/plain"}), b)[1], "unsupported content-type"),
        (lambda h, b: b"{not json", "body is not JSON"),
        (lambda h, b: b"[1, 2]", "body is not a JSON object"),
        (lambda h, b: json.dumps({**PAYLOAD, "kind": "robot"}).encode(), "invalid"),
        (lambda h, b: json.dumps({**PAYLOAD, "extra": 1}).encode(), "invalid"),
    ],
)
def test_violations_say_what_is_wrong(change: Any, reason: str) -> None:
    _, headers, body = cloudevents.encode(METADATA, PAYLOAD)
    headers = dict(headers)
    body = change(headers, body)
    with pytest.raises(ContractViolation, match=reason):
        cloudevents.decode(headers, body)


def test_old_versions_are_upcast_on_read() -> None:
    registry = EventRegistry()

    @registry.event
    class Renamed(DomainEvent):
        event_type: ClassVar[str] = "crm.test.Renamed"
        schema_version: ClassVar[int] = 2
        full_name: str

    @registry.upcaster("crm.test.Renamed", from_version=1)
    def upcast_v1_to_v2(data: Any) -> dict[str, Any]:
        return {"full_name": f"{data['first']} {data['last']}"}

    event = registry.parse("crm.test.Renamed", 1, {"first": "Ada", "last": "Lovelace"})
    assert event == Renamed(full_name="Ada Lovelace")
    assert registry.parse("crm.test.Renamed", 2, {"full_name": "X"}) == Renamed(full_name="X")


def test_published_contracts_are_current_and_compatible() -> None:
    assert check() == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s["properties"].pop("phone"), "field 'phone' was removed"),
        (lambda s: s["properties"].update(age={"type": "integer"}), "field 'age' was added"),
        (lambda s: s["required"].append("email"), "field 'email' became required"),
        (lambda s: s["properties"]["name"].update(type="integer"), "'string' became 'integer'"),
    ],
)
def test_breaking_changes_are_detected(edit: Any, expected: str) -> None:
    published = event_schema(CustomerRegistered)
    current = copy.deepcopy(published)
    edit(current)
    assert any(expected in problem for problem in breaking_changes(published, current))


def test_documentation_changes_are_not_breaking() -> None:
    published = event_schema(CustomerRegistered)
    current = copy.deepcopy(published)
    current["properties"]["name"]["description"] = "Reworded."
    current["properties"]["name"]["examples"] = ["Grace"]
    assert breaking_changes(published, current) == []
