"""Sending a saga's command to the service that owns the step, over its HTTP API.

Every command carries a service token (role ``service``), ``X-Correlation-Id`` (the saga's
correlation id), ``X-Causation-Id`` (the event that caused it), the ``traceparent`` of
the saga step's span and, unless it is a read, an ``Idempotency-Key`` derived from the saga
id and the step: the owning service answers a repeat with the first answer, so a resend
after a crash or a redelivery never doubles an effect.

The answer becomes a history entry: a 2xx ``StepSucceeded`` (only the fields the command
keeps), a 4xx problem ``StepRefused`` (the flow may expect it; else the saga fails for an
operator), anything else (unreachable, timeout, 5xx, 408/425/429) ``StepFailed``, which is
sent again after a pause.

A command to a system with no API (R&D) is a message on a Kafka topic (``PUBLISH``): a
CloudEvent of its contract type whose id derives from the saga and the step, so a resend
after a crash is the same message and the receiver deduplicates it. The broker's
acknowledgement is its success; a message that breaks its contract is refused (a bug the
saga stops on), the broker unreachable a transient failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import httpx
from opentelemetry.propagate import inject

from crm_contracts import REGISTRY, ContractViolation, cloudevents
from crm_contracts.envelope import EventMetadata
from crm_sagas.domain.saga import (
    PUBLISH,
    Entry,
    SagaCommand,
    StepFailed,
    StepRefused,
    StepSucceeded,
)

TRANSIENT = frozenset({408, 425, 429})
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


class ServiceCommands:
    """``clients`` by service name (``contacts``, ``loyalty``, ...), each on its base URL."""

    def __init__(
        self,
        clients: Mapping[str, httpx.AsyncClient],
        token: Callable[[], str],
        clock: Callable[[], datetime],
        publish: Publish | None = None,
    ) -> None:
        self._clients = clients
        self._token = token
        self._clock = clock
        self._publish = publish

    async def send(
        self, saga_id: str, command: SagaCommand, *, correlation_id: str, causation_id: str
    ) -> Entry:
        if command.method == PUBLISH:
            return await self._publish_message(
                saga_id, command, correlation_id=correlation_id, causation_id=causation_id
            )
        client = self._clients.get(command.service)
        if client is None:
            return StepFailed(self._clock(), command.step, f"no URL for {command.service}")
        headers = {
            "Authorization": f"Bearer {self._token()}",
            "X-Correlation-Id": correlation_id,
            "X-Causation-Id": causation_id,
        }
        if command.method != "GET":
            headers["Idempotency-Key"] = idempotency_key(saga_id, command.step)
        inject(headers)
        try:
            answer = await client.request(
                command.method,
                command.path,
                json=dict(command.body) if command.body is not None else None,
                headers=headers,
            )
        except httpx.HTTPError as error:
            reason = f"{command.service} unreachable: {type(error).__name__}: {error}"
            return StepFailed(self._clock(), command.step, reason)
        return self.entry_of(command, answer)

    async def _publish_message(
        self, saga_id: str, command: SagaCommand, *, correlation_id: str, causation_id: str
    ) -> Entry:
        if self._publish is None:
            return StepFailed(self._clock(), command.step, "no Kafka publisher in this process")
        event_type = command.event_type or ""
        payload = dict(command.body or {})
        try:
            version = REGISTRY.model_for(event_type).schema_version
            payload = REGISTRY.parse(event_type, version, payload).model_dump(mode="json")
        except ContractViolation as broken:
            return StepRefused(self._clock(), command.step, 400, f"breaks its contract: {broken}")
        metadata = EventMetadata(
            id=message_id(saga_id, command.step),
            type=event_type,
            schema_version=version,
            source=SOURCE,
            subject=command.subject or saga_id,
            sequence=1,
            time=self._clock(),
            correlation_id=correlation_id,
            causation_id=causation_id,
            actor=ACTOR,
        )
        key, headers, body = cloudevents.encode(metadata, payload)
        try:
            await self._publish(command.path, key, headers, body)
        except Exception as error:  # the broker's errors are many; all mean "not yet"
            reason = f"Kafka publish to {command.path} failed: {type(error).__name__}: {error}"
            return StepFailed(self._clock(), command.step, reason)
        return StepSucceeded(self._clock(), command.step, ACCEPTED, {"message_id": metadata.id})

    def entry_of(self, command: SagaCommand, answer: httpx.Response) -> Entry:
        at, status = self._clock(), answer.status_code
        if 200 <= status < 300:
            return StepSucceeded(at, command.step, status, _kept(answer, command.keep))
        detail = _detail(answer)
        if 400 <= status < 500 and status not in TRANSIENT:
            return StepRefused(at, command.step, status, detail)
        return StepFailed(at, command.step, f"{command.service} answered {status}: {detail}")


def _kept(answer: httpx.Response, keep: tuple[str, ...]) -> dict[str, Any]:
    if not keep:
        return {}
    try:
        body = answer.json()
    except ValueError:
        return {}
    return {name: body[name] for name in keep if isinstance(body, dict) and name in body}


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:500]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:500]
    return str(body)[:500]
