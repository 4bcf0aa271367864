"""The R&D exchange: what R&D implements from contracts/ (requests, replies, their ids)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from crm_contracts import REGISTRY, ContractViolation, EventMetadata, cloudevents, rnd
from crm_contracts.keys import personal_key_field
from crm_contracts.publish import SCHEMAS, TOPICS, schema_file
from crm_contracts.registry import DomainEvent, personal_fields

REQUESTED_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
REQUEST = rnd.RequirementEstimateRequested(
    request_id="rrq_1",
    requirement_id="tkt_1",
    customer_id="cus_1",
    priority="high",
    business_value="medium",
    value_note="Blocks the roll-out to 40 stores.",
    confirmed_by="u1",
    reply_by=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
)
REQUEST_METADATA = EventMetadata(
    id="evt_request_1",
    type=rnd.RequirementEstimateRequested.event_type,
    schema_version=1,
    source=rnd.REQUEST_SOURCE,
    subject="tkt_1",
    sequence=1,
    time=REQUESTED_AT,
    correlation_id="corr_1",
    causation_id="evt_value_confirmed",
    actor="service:sagas",
)
SCHEDULED = rnd.RequirementScheduled(
    request_id="rrq_1",
    requirement_id="tkt_1",
    estimate_days=8,
    scheduled_for=date(2026, 12, 7),
    delivery_by=date(2026, 12, 18),
    rnd_team="platform",
)
DECLINED = rnd.RequirementDeclined(request_id="rrq_1", requirement_id="tkt_1", reason="No.")
REQUESTED = rnd.RequirementEstimateRequested
REQUEST_PAYLOAD = REQUEST.model_dump(mode="json")
SCHEDULED_PAYLOAD = SCHEDULED.model_dump(mode="json")
DECLINED_PAYLOAD = DECLINED.model_dump(mode="json")
MODELS: list[type[DomainEvent]] = [
    rnd.RequirementEstimateRequested,
    rnd.RequirementScheduled,
    rnd.RequirementDeclined,
]


def record_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    """Headers as a Kafka client hands them over."""
    return [(name, value.encode()) for name, value in headers.items()]


def without(payload: dict[str, Any], field: str) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if name != field}


def published_schema(model: type[DomainEvent]) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / schema_file(model)).read_text())
    return schema


def schema_validate(payload: dict[str, Any], model: type[DomainEvent]) -> None:
    """Validate as a consumer in another language would, against contracts/schemas (formats
    such as ``date`` checked; ``date-time`` needs a package this environment lacks)."""
    schema = published_schema(model)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(payload)


def test_a_request_round_trips_as_a_cloudevent_keyed_by_the_requirement() -> None:
    key, headers, body = cloudevents.encode(REQUEST_METADATA, REQUEST.model_dump(mode="json"))
    assert key == b"tkt_1"
    assert headers["ce_type"] == "crm.rnd.RequirementEstimateRequested"
    assert headers["ce_dataschema"] == "urn:crm:schema:crm.rnd.RequirementEstimateRequested:1"
    metadata, decoded = cloudevents.decode(record_headers(headers), body)
    assert metadata == REQUEST_METADATA
    assert decoded == REQUEST
    assert json.loads(body)["reply_by"] == "2026-12-01T09:30:00Z"


@pytest.mark.parametrize("reply", [SCHEDULED, DECLINED], ids=["scheduled", "declined"])
def test_a_reply_answers_its_request_in_the_same_correlation(reply: rnd.RndReply) -> None:
    answered_at = datetime(2026, 11, 24, 9, 31, tzinfo=UTC)
    metadata = rnd.reply_metadata(REQUEST_METADATA, reply, at=answered_at, actor="service:rnd")
    assert (metadata.type, metadata.subject, metadata.source) == (
        reply.event_type,
        "tkt_1",
        "/rnd",
    )
    assert metadata.correlation_id == "corr_1"
    assert metadata.causation_id == "evt_request_1"
    assert metadata.id == rnd.reply_event_id("rrq_1", reply.event_type)
    key, headers, body = cloudevents.encode(metadata, reply.model_dump(mode="json"))
    assert key == b"tkt_1"
    assert cloudevents.decode(record_headers(headers), body) == (metadata, reply)


def test_a_reply_id_is_the_same_for_a_redelivered_request_and_differs_by_outcome() -> None:
    later = datetime(2026, 11, 25, tzinfo=UTC)
    first = rnd.reply_metadata(REQUEST_METADATA, SCHEDULED, at=REQUESTED_AT, actor="service:rnd")
    redelivered = REQUEST_METADATA.model_copy(update={"id": "evt_request_1_sent_again"})
    again = rnd.reply_metadata(redelivered, SCHEDULED, at=later, actor="service:rnd")
    declined = rnd.reply_metadata(REQUEST_METADATA, DECLINED, at=later, actor="service:rnd")
    other = SCHEDULED.model_copy(update={"request_id": "rrq_2"})
    assert again.id == first.id
    assert declined.id != first.id
    assert rnd.reply_metadata(REQUEST_METADATA, other, at=later, actor="x").id != first.id
    # what R&D reproduces in any language: the UUIDv5 of this name in the URL namespace
    name = "urn:crm:rnd:reply:rrq_1:crm.rnd.RequirementScheduled"
    assert first.id == str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def test_only_replies_have_reply_ids_and_only_requests_are_answered() -> None:
    with pytest.raises(ValueError, match="no reply type"):
        rnd.reply_event_id("rrq_1", rnd.RequirementEstimateRequested.event_type)
    not_a_request = REQUEST_METADATA.model_copy(update={"type": "crm.tickets.TicketOpened"})
    with pytest.raises(ValueError, match="no request of the R&D exchange"):
        rnd.reply_metadata(not_a_request, DECLINED, at=REQUESTED_AT, actor="service:rnd")


@pytest.mark.parametrize(
    ("model", "payload", "field"),
    [
        (REQUESTED, {**REQUEST_PAYLOAD, "business_value": "huge"}, "business_value"),
        (REQUESTED, {**REQUEST_PAYLOAD, "priority": "critical"}, "priority"),
        (REQUESTED, {**REQUEST_PAYLOAD, "value_note": ""}, "value_note"),
        (REQUESTED, {**REQUEST_PAYLOAD, "value_note": "x" * 1001}, "value_note"),
        (REQUESTED, {**REQUEST_PAYLOAD, "request_id": ""}, "request_id"),
        (REQUESTED, {**REQUEST_PAYLOAD, "reply_by": None}, "reply_by"),
        (REQUESTED, {**REQUEST_PAYLOAD, "name": "Ada"}, "name"),
        (REQUESTED, without(REQUEST_PAYLOAD, "confirmed_by"), "confirmed_by"),
        (rnd.RequirementScheduled, {**SCHEDULED_PAYLOAD, "estimate_days": 0}, "estimate_days"),
        (rnd.RequirementScheduled, {**SCHEDULED_PAYLOAD, "scheduled_for": "soon"}, "scheduled_for"),
        (rnd.RequirementScheduled, {**SCHEDULED_PAYLOAD, "rnd_team": ""}, "rnd_team"),
        (rnd.RequirementScheduled, {**SCHEDULED_PAYLOAD, "note": "x" * 1001}, "note"),
        (rnd.RequirementDeclined, {**DECLINED_PAYLOAD, "reason": ""}, "reason"),
        (rnd.RequirementDeclined, {**DECLINED_PAYLOAD, "reason": "x" * 1001}, "reason"),
        (rnd.RequirementDeclined, without(DECLINED_PAYLOAD, "reason"), "reason"),
        (rnd.RequirementDeclined, {**DECLINED_PAYLOAD, "estimate_days": 3}, "estimate_days"),
    ],
)  # fmt: skip
def test_a_payload_that_breaks_the_contract_is_refused_by_both_the_models_and_the_schemas(
    model: type[DomainEvent], payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ContractViolation, match=field):
        REGISTRY.parse(model.event_type, 1, payload)
    with pytest.raises(jsonschema.ValidationError):
        schema_validate(payload, model)


def test_delivery_cannot_come_before_the_start() -> None:
    backwards = {**SCHEDULED_PAYLOAD, "scheduled_for": "2026-12-18", "delivery_by": "2026-12-07"}
    with pytest.raises(
        ContractViolation, match=r"delivery_by \(2026-12-07\) is before scheduled_for"
    ):
        REGISTRY.parse(rnd.RequirementScheduled.event_type, 1, backwards)
    same_day = {**SCHEDULED_PAYLOAD, "scheduled_for": "2026-12-18", "delivery_by": "2026-12-18"}
    assert REGISTRY.parse(rnd.RequirementScheduled.event_type, 1, same_day)


def test_a_reply_on_a_wire_with_a_broken_body_says_what_is_wrong() -> None:
    metadata = rnd.reply_metadata(REQUEST_METADATA, DECLINED, at=REQUESTED_AT, actor="service:rnd")
    _, headers, _ = cloudevents.encode(metadata, DECLINED_PAYLOAD)
    with pytest.raises(ContractViolation, match=r"invalid crm\.rnd\.RequirementDeclined payload"):
        cloudevents.decode(headers, json.dumps({"request_id": "rrq_1"}).encode())


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_documented_with_a_valid_example(model: type[DomainEvent]) -> None:
    example = {}
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__name__}.{name} has no description"
        assert info.examples, f"{model.__name__}.{name} has no example"
        example[name] = info.examples[0]
    assert model.model_validate(example)  # the examples together make a valid message
    schema_validate(example, model)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_published_schema_accepts_what_the_model_writes(model: type[DomainEvent]) -> None:
    written = {
        rnd.RequirementEstimateRequested: REQUEST_PAYLOAD,
        rnd.RequirementScheduled: SCHEDULED_PAYLOAD,
        rnd.RequirementDeclined: DECLINED_PAYLOAD,
    }[model]
    schema_validate(written, model)
    schema = published_schema(model)
    assert schema["x-event-type"] == model.event_type
    assert schema["additionalProperties"] is False


def test_no_message_of_the_exchange_carries_personal_data() -> None:
    for model in MODELS:
        assert personal_fields(model) == frozenset(), model.__name__
    # nothing is sealed, so no key owner other than the subject is named
    assert personal_key_field(rnd.REQUEST_SOURCE) is None
    assert personal_key_field(rnd.REPLY_SOURCE) is None


def test_requests_and_replies_travel_on_their_own_topics() -> None:
    carried_by = {
        model.event_type: [topic for topic, channel in TOPICS.items() if channel.carries(model)]
        for model in REGISTRY.types.values()
    }
    assert all(len(topics) == 1 for topics in carried_by.values()), carried_by
    assert carried_by["crm.rnd.RequirementEstimateRequested"] == ["crm.rnd.requests"]
    assert carried_by["crm.rnd.RequirementScheduled"] == ["crm.rnd.replies"]
    assert carried_by["crm.rnd.RequirementDeclined"] == ["crm.rnd.replies"]
    assert (rnd.REQUESTS_TOPIC, rnd.REPLIES_TOPIC) == ("crm.rnd.requests", "crm.rnd.replies")


def test_the_asyncapi_document_says_who_sends_what() -> None:
    document = json.loads((Path(__file__).parents[1] / "asyncapi.json").read_text())
    requests = document["channels"]["crm.rnd.requests"]["messages"]
    replies = document["channels"]["crm.rnd.replies"]["messages"]
    assert set(requests) == {"RequirementEstimateRequested"}
    assert set(replies) == {"RequirementScheduled", "RequirementDeclined"}
    # as a party outside the CRM (R&D) sees it: it receives requests and sends replies
    assert document["operations"]["receive.crm.rnd.requests"]["action"] == "receive"
    assert document["operations"]["send.crm.rnd.replies"]["action"] == "send"
    message = document["components"]["messages"]["RequirementScheduled"]
    assert message["payload"] == {"$ref": "schemas/crm.rnd.RequirementScheduled.v1.json"}
    assert "ce_correlationid" in message["headers"]["required"]
