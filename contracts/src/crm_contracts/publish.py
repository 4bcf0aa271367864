"""Publish the contracts as JSON Schema and AsyncAPI, and check they stay compatible.

``python -m crm_contracts.publish`` writes ``contracts/schemas/`` (one JSON Schema
per event type and version, plus the envelope) and ``contracts/asyncapi.json``.
``python -m crm_contracts.publish --check`` fails when the published files are
stale or when a change would break an existing consumer (see ``compat``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crm_contracts import cloudevents, contacts, loyalty, pipeline, rnd, sagas, tickets
from crm_contracts.compat import breaking_changes
from crm_contracts.envelope import EventMetadata
from crm_contracts.registry import REGISTRY, DomainEvent

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
ASYNCAPI = ROOT / "asyncapi.json"


@dataclass(frozen=True)
class Channel:
    """A topic of the contract: the types that travel on it (by prefix of their name), what
    it carries, and what a party outside the CRM does there (AsyncAPI's ``action``):
    ``receive`` the CRM's events, or ``send`` (R&D's replies)."""

    types: tuple[str, ...]
    description: str
    action: Literal["receive", "send"] = "receive"

    def carries(self, model: type[DomainEvent]) -> bool:
        return model.event_type.startswith(self.types)


TOPICS: dict[str, Channel] = {
    contacts.TOPIC: Channel(
        ("crm.contacts.",), "Customer master data events of the contacts context."
    ),
    pipeline.TOPIC: Channel(
        ("crm.pipeline.",),
        "Sales pipeline events: leads, opportunities, quotes, orders and their receivables.",
    ),
    tickets.TOPIC: Channel(
        ("crm.tickets.",),
        "Customer service events: tickets, replies, SLA breaches, escalations and surveys.",
    ),
    loyalty.TOPIC: Channel(
        ("crm.loyalty.",),
        "Loyalty events: stores, members, tiers, the points ledger, rewards and coupons.",
    ),
    sagas.TOPIC: Channel(
        ("crm.sagas.",),
        "Events of the sagas where another party must act: a requirement's step escalated.",
    ),
    rnd.REQUESTS_TOPIC: Channel(
        (rnd.RequirementEstimateRequested.event_type,),
        "CRM to R&D: estimate and schedule a requirement whose business value sales "
        "confirmed. R&D consumes it and answers each request_id once on crm.rnd.replies.",
    ),
    rnd.REPLIES_TOPIC: Channel(
        (rnd.RequirementScheduled.event_type, rnd.RequirementDeclined.event_type),
        "R&D to CRM: a requirement was scheduled or declined. R&D sends one reply per "
        "request_id, correlated with the request (ce_correlationid) and caused by it "
        "(ce_causationid = the request's ce_id), its ce_id derived from the request_id and "
        "the outcome.",
        action="send",
    ),
}


def schema_file(model: type[DomainEvent]) -> str:
    return f"{model.event_type}.v{model.schema_version}.json"


def event_schema(model: type[DomainEvent]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["$id"] = cloudevents.dataschema(model.event_type, model.schema_version)
    schema["x-event-type"] = model.event_type
    schema["x-schema-version"] = model.schema_version
    return schema


def rendered() -> dict[Path, dict[str, Any]]:
    files: dict[Path, dict[str, Any]] = {
        SCHEMAS / schema_file(model): event_schema(model) for model in REGISTRY.types.values()
    }
    files[SCHEMAS / "envelope.json"] = EventMetadata.model_json_schema()
    files[ASYNCAPI] = asyncapi()
    return files


def asyncapi() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    headers = {
        "type": "object",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_subject",
            "ce_time",
            "ce_schemaversion",
            "ce_sequence",
            "ce_correlationid",
            "ce_causationid",
            "ce_actor",
            "content-type",
        ],
        "properties": {
            "ce_specversion": {"const": cloudevents.SPEC_VERSION},
            "content-type": {"const": cloudevents.CONTENT_TYPE},
            "traceparent": {"type": "string", "description": "W3C trace context"},
            cloudevents.POSITION: {
                "type": "string",
                "pattern": "^[1-9][0-9]*$",
                "description": "Optional: the global position of the event's commit in its "
                "context's event store (consumers measure how far behind the store they are; "
                "absent from events of older relays).",
            },
            **{
                f"ce_{name}": {"type": "string"}
                for name in (
                    "id",
                    "source",
                    "type",
                    "subject",
                    "time",
                    "dataschema",
                    "schemaversion",
                    "sequence",
                    "correlationid",
                    "causationid",
                    "actor",
                )
            },
        },
    }
    for topic, channel in TOPICS.items():
        channel_messages = {}
        for model in REGISTRY.types.values():
            if not channel.carries(model):
                continue
            name = model.event_type.rsplit(".", 1)[-1]
            messages[name] = {
                "name": model.event_type,
                "title": name,
                "summary": (model.__doc__ or "").strip(),
                "contentType": cloudevents.CONTENT_TYPE,
                "headers": headers,
                "payload": {"$ref": f"schemas/{schema_file(model)}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": "aggregate id"}}},
            }
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channels[topic] = {
            "address": topic,
            "description": channel.description,
            "messages": channel_messages,
        }
        operations[f"{channel.action}.{topic}"] = {
            "action": channel.action,
            "channel": {"$ref": f"#/channels/{topic}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CRM events",
            "version": "1.0.0",
            "description": "Events the CRM publishes on Kafka as CloudEvents 1.0 in binary mode, "
            "and its exchange with R&D (requests R&D receives, replies R&D sends) in the same "
            "binding. Operations are those of a party outside the CRM.",
        },
        "defaultContentType": cloudevents.CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def check() -> list[str]:
    problems: list[str] = []
    for path, document in rendered().items():
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)} is missing; run `make contracts`")
        elif path.read_text() != dump(document):
            problems.append(f"{path.relative_to(ROOT)} is stale; run `make contracts`")
    for path in sorted(SCHEMAS.glob("crm.*.v*.json")):
        published = json.loads(path.read_text())
        current_model = REGISTRY.types.get(published.get("x-event-type", ""))
        if current_model is None:
            problems.append(f"{path.name}: event type was removed")
            continue
        if current_model.schema_version == published["x-schema-version"]:
            problems += [
                f"{path.name}: {p}"
                for p in breaking_changes(published, event_schema(current_model))
            ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail on stale or breaking changes")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    SCHEMAS.mkdir(exist_ok=True)
    for path, document in rendered().items():
        # A published version is never rewritten with a breaking change.
        if path.exists() and path.parent == SCHEMAS and path.name.startswith("crm."):
            problems = breaking_changes(json.loads(path.read_text()), document)
            if problems:
                print(f"refusing to overwrite {path.name}: {problems}", file=sys.stderr)
                return 1
        path.write_text(dump(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
