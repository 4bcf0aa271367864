"""The contract of a deal handed to another rep: crm.pipeline.OpportunityReassigned v1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crm_contracts import REGISTRY, cloudevents
from crm_contracts.envelope import EventMetadata
from crm_contracts.pipeline import SOURCE, OpportunityReassigned
from crm_contracts.publish import event_schema, schema_file

SCHEMAS = Path(__file__).parents[1] / "schemas"
HANDED = {
    "opportunity_id": "opp_7f3a",
    "customer_id": "cus_1",
    "owner_id": "u2",
    "previous_owner_id": "u1",
    "team": "south",
    "previous_team": "north",
    "reason": "u1 left the company",
    "reassigned_by": "sagas",
}


def test_it_is_published_under_its_name_and_version() -> None:
    assert REGISTRY.model_for("crm.pipeline.OpportunityReassigned") is OpportunityReassigned
    published = json.loads((SCHEMAS / schema_file(OpportunityReassigned)).read_text())
    assert published == event_schema(OpportunityReassigned)
    assert set(published["required"]) == {
        "opportunity_id",
        "customer_id",
        "owner_id",
        "previous_owner_id",
        "reason",
        "reassigned_by",
    }
    assert published["additionalProperties"] is False


@pytest.mark.parametrize(
    "model",
    [m for name, m in REGISTRY.types.items() if name.startswith("crm.pipeline.")],
    ids=lambda m: m.__name__,
)
def test_every_pipeline_field_is_described_with_an_example(model: Any) -> None:
    undocumented = [
        name
        for name, info in model.model_fields.items()
        if not info.description or not info.examples
    ]
    assert undocumented == []


def test_the_examples_make_a_valid_event() -> None:
    example = {name: info.examples[0] for name, info in OpportunityReassigned.model_fields.items()}
    assert OpportunityReassigned.model_validate(example).owner_id == "u2"


def test_it_travels_as_a_cloudevent_keyed_by_the_opportunity() -> None:
    metadata = EventMetadata(
        id="evt_1",
        type=OpportunityReassigned.event_type,
        schema_version=1,
        source=SOURCE,
        subject="opp_7f3a",
        sequence=3,
        time="2026-11-24T09:30:00Z",  # type: ignore[arg-type]
        correlation_id="corr_departure_u1",
        causation_id="evt_departure_requested",
        actor="service:sagas",
    )
    key, headers, body = cloudevents.encode(metadata, HANDED)
    assert key == b"opp_7f3a"
    decoded_metadata, event = cloudevents.decode(headers, body)
    assert decoded_metadata == metadata
    assert event == OpportunityReassigned(**HANDED)


def test_a_team_left_out_is_no_team() -> None:
    event = OpportunityReassigned.model_validate(
        {k: v for k, v in HANDED.items() if k not in ("team", "previous_team")}
    )
    assert (event.team, event.previous_team) == (None, None)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"reason": ""}, id="no reason"),
        pytest.param({"reason": "x" * 501}, id="a reason over 500 characters"),
        pytest.param({"owner_id": None}, id="no new owner"),
        pytest.param({"at": "2026-11-24T09:30:00Z"}, id="an unknown field"),
    ],
)
def test_what_the_contract_refuses(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OpportunityReassigned.model_validate({**HANDED, **change})


def test_a_reason_of_500_characters_is_enough() -> None:
    assert len(OpportunityReassigned(**{**HANDED, "reason": "x" * 500}).reason) == 500


def test_it_cannot_be_changed_once_made() -> None:
    event = OpportunityReassigned(**HANDED)
    with pytest.raises(ValidationError):
        event.owner_id = "u3"  # type: ignore[misc]
