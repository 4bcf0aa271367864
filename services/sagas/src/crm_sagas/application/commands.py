"""Sending a saga's command to the service that owns the step, over its HTTP API.

Every command carries a service token (role ``service``), ``X-Correlation-Id`` (the saga's
correlation id), ``X-Causation-Id`` (the event that caused it), the ``traceparent`` of
the saga step's span and, unless it is a read, an ``Idempotency-Key`` derived from the saga
id and the step: the owning service answers a repeat with the first answer, so a resend
after a crash or a redelivery never doubles an effect.

The answer becomes a history entry: a 2xx ``StepSucceeded`` (only the fields the command
keeps), a 4xx problem ``StepRefused`` (the flow may expect it; else the saga fails for an
operator), anything else (unreachable, timeout, 5xx, 408/425/429, and a 409 version
conflict: another writer got to the stream first) ``StepFailed``, which is sent again after
a pause.

A command to a system with no API (R&D) is a message on a Kafka topic (``PUBLISH``), sent
by ``crm_sagas.application.messages``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from opentelemetry.propagate import inject

from crm_sagas.application.messages import Messages, Publish, idempotency_key
from crm_sagas.domain.saga import (
    PUBLISH,
    Entry,
    SagaCommand,
    StepFailed,
    StepRefused,
    StepSucceeded,
)

TRANSIENT = frozenset({408, 425, 429})
VERSION_CONFLICT = "urn:crm:problem:version-conflict"


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
        self._messages = Messages(publish, clock)

    async def send(
        self, saga_id: str, command: SagaCommand, *, correlation_id: str, causation_id: str
    ) -> Entry:
        if command.method == PUBLISH:
            return await self._messages.send(
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

    def entry_of(self, command: SagaCommand, answer: httpx.Response) -> Entry:
        at, status = self._clock(), answer.status_code
        if 200 <= status < 300:
            return StepSucceeded(at, command.step, status, _kept(answer, command.keep))
        detail = _detail(answer)
        if 400 <= status < 500 and status not in TRANSIENT and not _raced(answer):
            return StepRefused(at, command.step, status, detail)
        return StepFailed(at, command.step, f"{command.service} answered {status}: {detail}")


def _raced(answer: httpx.Response) -> bool:
    """A version conflict: another writer appended to the stream between the callee's read
    and its write. Nothing was refused; the same command (same key) is sent again."""
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("type") == VERSION_CONFLICT


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
