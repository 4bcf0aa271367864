"""What every pipeline route does the same way: command ids, Idempotency-Key, If-Match, ETag."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from crm_pipeline.application.streams import Dependencies, Outcome
from crm_runtime.auth import Principal
from crm_runtime.eventstore import CommandContext, Idempotency
from crm_runtime.http import Problem, answer_correlation, command_ids
from crm_runtime.policy import Ownership


def owner_of(state: Any) -> Ownership:
    """Who an existing lead, opportunity, quote or order belongs to."""
    return Ownership(owner_id=state.owner_id, team=state.team)


def context_of(request: Request, caller: Principal) -> CommandContext:
    """The command's ids (X-Correlation-Id and X-Causation-Id, or the command id)."""
    command_id, correlation_id, causation_id = command_ids(request)
    return CommandContext(
        command_id=command_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=caller.actor,
    )


def idempotency_of(
    request: Request, caller: Principal, key: str | None, body: BaseModel | None
) -> Idempotency | None:
    """Keys are per caller: two callers reusing a key never see each other's answers."""
    if not key:
        return None
    content = body.model_dump(mode="json", exclude_unset=True) if body is not None else None
    canonical = json.dumps(content, sort_keys=True)
    digest = hashlib.sha256(f"{request.method} {request.url.path} {canonical}".encode()).hexdigest()
    return Idempotency(key=f"{caller.actor}:{key}", fingerprint=digest)


def version_from(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None  # "*" matches any current version (RFC 9110)
    tag = if_match.strip().removeprefix("W/").strip('"')
    # isdigit alone admits "²" and digit strings int() refuses (over 4300 digits): a 500.
    if not (tag.isascii() and tag.isdigit() and len(tag) <= 18):
        raise Problem(
            400, "Bad If-Match", f'If-Match must be a version ETag such as "3", not {if_match!r}'
        )
    return int(tag)


async def answer(
    deps: Dependencies,
    request: Request,
    response: Response,
    outcome: Outcome,
    idempotency: Idempotency | None,
    *,
    created: bool = False,
) -> dict[str, Any]:
    """Headers of a command's answer: ETag, 201 when it created something, replay marks."""
    response.headers["ETag"] = f'"{outcome.version}"'
    if created and (outcome.changed or outcome.replayed):
        response.status_code = 201
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        if idempotency is not None:  # answer with the correlation that appended the events
            original = await deps.store.find_by_idempotency_key(idempotency)
            if original is not None and original.events:
                answer_correlation(request, original.events[0].metadata.correlation_id)
    return outcome.view
