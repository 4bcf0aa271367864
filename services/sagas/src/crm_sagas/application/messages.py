"""A saga's messages to a system with no API (R&D) and its own events: Kafka records.

A ``PUBLISH`` command is a CloudEvent of its contract type, validated against the contract
before it is sent. Its id derives from the saga and the step and its time is the moment
the saga decided to send it (``SagaCommand.at``), so a resend after a crash is the same
message and the receiver deduplicates it. The broker's acknowledgement is its success; a
message that breaks its contract is refused (a bug the saga stops on), the broker
unreachable a transient failure. Only the runner process has a started broker to send with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from crm_contracts import REGISTRY, ContractViolation, cloudevents
from crm_contracts.envelope import EventMetadata
from crm_sagas.domain.saga import Entry, SagaCommand, StepFailed, StepRefused, StepSucceeded

SOURCE = "/crm/sagas"
ACTOR = "service:sagas"
ACCEPTED = 202


class Publish(Protocol):
    def __call__(
        self, topic: str, key: bytes, headers: dict[str, str], body: bytes
    ) -> Awaitable[None]: ...


def idempotency_key(saga_id: str, step: str) -> str:
    return f"{saga_id}:{step}"


def message_id(saga_id: str, step: str) -> str:
    """The CloudEvent id of a saga's message: the same for every resend of the step."""
    digest = hashlib.sha256(idempotency_key(saga_id, step).encode()).hexdigest()
    return f"evt_{digest[:32]}"


class Messages:
    def __init__(self, publish: Publish | None, clock: Callable[[], datetime]) -> None:
        self._publish = publish
        self._clock = clock

    async def send(
        self, saga_id: str, command: SagaCommand, *, correlation_id: str, causation_id: str
    ) -> Entry:
        if self._publish is None:
            return StepFailed(self._clock(), command.step, "no Kafka publisher in this process")
        event_type = command.event_type or ""
        try:
            version = REGISTRY.model_for(event_type).schema_version
            payload = REGISTRY.parse(event_type, version, command.body or {})
        except ContractViolation as broken:
            return StepRefused(self._clock(), command.step, 400, f"breaks its contract: {broken}")
        metadata = EventMetadata(
            id=message_id(saga_id, command.step),
            type=event_type,
            schema_version=version,
            source=SOURCE,
            subject=command.subject or saga_id,
            sequence=1,
            time=command.at or self._clock(),
            correlation_id=correlation_id,
            causation_id=causation_id,
            actor=ACTOR,
        )
        key, headers, body = cloudevents.encode(metadata, payload.model_dump(mode="json"))
        try:
            await self._publish(command.path, key, headers, body)
        except Exception as error:  # the broker's errors are many; all mean "not yet"
            reason = f"Kafka publish to {command.path} failed: {type(error).__name__}: {error}"
            return StepFailed(self._clock(), command.step, reason)
        return StepSucceeded(self._clock(), command.step, ACCEPTED, {"message_id": metadata.id})
