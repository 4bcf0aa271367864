"""The Kafka binding of our events: CloudEvents 1.0 in binary content mode.

Attributes travel as ``ce_*`` headers, the payload as the JSON body, the
aggregate id as the record key. Any Kafka client in any language can read them
without this package; Python consumers can use :func:`decode`.

One optional extension attribute is not part of the envelope: ``ce_position``,
the global position of the event's commit in its context's event store (every
event of one commit has the same). The relay sends it so a consumer can tell how
far behind the store it is (head position minus the last position it folded).
Consumers must accept events without it (older relays, other producers):
:func:`decode_position` answers None then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crm_contracts.envelope import EventMetadata
from crm_contracts.registry import REGISTRY, ContractViolation, DomainEvent, EventRegistry

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

# Extension attribute names must be lower-case alphanumerics (CloudEvents 1.0).
_EXTENSIONS = {
    "schemaversion": "schema_version",
    "sequence": "sequence",
    "correlationid": "correlation_id",
    "causationid": "causation_id",
    "actor": "actor",
}


def dataschema(event_type: str, version: int) -> str:
    """The URN naming the JSON Schema of one event version (see contracts/schemas)."""
    return f"urn:crm:schema:{event_type}:{version}"


POSITION = "ce_position"


def encode(
    metadata: EventMetadata, payload: Mapping[str, Any], *, position: int | None = None
) -> tuple[bytes, dict[str, str], bytes]:
    """Return (key, headers, body) of the Kafka record for one event; ``position`` is its
    commit's position in the event store (the optional ``ce_position`` attribute)."""
    headers: dict[str, str] = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": metadata.id,
        "ce_source": metadata.source,
        "ce_type": metadata.type,
        "ce_subject": metadata.subject,
        "ce_time": _format_time(metadata.time),
        "ce_dataschema": dataschema(metadata.type, metadata.schema_version),
        "content-type": CONTENT_TYPE,
    }
    for attribute, field in _EXTENSIONS.items():
        headers[f"ce_{attribute}"] = str(getattr(metadata, field))
    if position is not None:
        headers[POSITION] = str(position)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return metadata.subject.encode(), headers, body


def decode_metadata(headers: Mapping[str, str] | Iterable[tuple[str, bytes]]) -> EventMetadata:
    """Read the envelope from CloudEvents headers, or raise ContractViolation."""
    return _metadata(_as_text(headers))


def _metadata(values: Mapping[str, str]) -> EventMetadata:
    if values.get("ce_specversion") != SPEC_VERSION:
        raise ContractViolation(
            f"not a CloudEvents {SPEC_VERSION} message (ce_specversion="
            f"{values.get('ce_specversion')!r})"
        )
    raw: dict[str, Any] = {
        "id": values.get("ce_id"),
        "type": values.get("ce_type"),
        "source": values.get("ce_source"),
        "subject": values.get("ce_subject"),
        "time": values.get("ce_time"),
    }
    for attribute, field in _EXTENSIONS.items():
        raw[field] = values.get(f"ce_{attribute}")
    missing = sorted(f"ce_{_HEADER_OF.get(f, f)}" for f, value in raw.items() if value is None)
    if missing:
        raise ContractViolation(f"missing CloudEvents headers: {', '.join(missing)}")
    try:
        return EventMetadata.model_validate(raw)
    except ValidationError as error:
        raise ContractViolation(f"invalid CloudEvents attributes: {error}") from error


def decode_position(headers: Mapping[str, str] | Iterable[tuple[str, bytes]]) -> int | None:
    """The ``ce_position`` attribute: None when absent; ContractViolation when it is not a
    positive integer."""
    return _position(_as_text(headers))


def _position(values: Mapping[str, str]) -> int | None:
    value = values.get(POSITION)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ContractViolation(f"{POSITION} must be a positive integer, not {value!r}")
    return int(value)


def decode(
    headers: Mapping[str, str] | Iterable[tuple[str, bytes]],
    body: bytes,
    registry: EventRegistry = REGISTRY,
) -> tuple[EventMetadata, DomainEvent]:
    """Read one event from a Kafka record, upcasting old versions; or raise ContractViolation."""
    return _event(_as_text(headers), body, registry)


def decode_record(
    headers: Mapping[str, str] | Iterable[tuple[str, bytes]],
    body: bytes,
    registry: EventRegistry = REGISTRY,
) -> tuple[EventMetadata, DomainEvent, int | None]:
    """``decode`` and ``decode_position`` of one record, its headers read once."""
    values = _as_text(headers)
    event = _event(values, body, registry)
    return event[0], event[1], _position(values)


def _event(
    values: Mapping[str, str], body: bytes, registry: EventRegistry
) -> tuple[EventMetadata, DomainEvent]:
    metadata = _metadata(values)
    content_type = values.get("content-type", CONTENT_TYPE)
    if content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise ContractViolation(f"unsupported content-type {content_type!r}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ContractViolation(f"body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise ContractViolation("body is not a JSON object")
    return metadata, registry.parse(metadata.type, metadata.schema_version, data)


def _format_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _as_text(headers: Mapping[str, str] | Iterable[tuple[str, bytes]]) -> dict[str, str]:
    if isinstance(headers, Mapping):
        return {str(k).lower(): str(v) for k, v in headers.items()}
    text: dict[str, str] = {}
    for key, value in headers:
        try:
            text[key.lower()] = value.decode() if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError as error:
            raise ContractViolation(f"header {key} is not UTF-8") from error
    return text


_HEADER_OF = {field: attribute for attribute, field in _EXTENSIONS.items()}
"""An envelope field's extension attribute (``schema_version`` -> ``schemaversion``)."""
