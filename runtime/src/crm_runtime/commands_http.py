"""What every command route shares: its context from the request and the caller, the
Idempotency-Key as a per-caller key with a fingerprint of the request, and If-Match as the
expected version."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import Header, Request
from pydantic import BaseModel

from crm_runtime.auth import Principal
from crm_runtime.eventstore import CommandContext, Idempotency
from crm_runtime.http import Problem, command_ids

IdempotencyKey = Annotated[str | None, Header(max_length=200)]
"""The ``Idempotency-Key`` request header of a command route."""
IfMatch = Annotated[str | None, Header()]
"""The ``If-Match`` request header: the version (ETag) the command expects."""


def context_of(request: Request, caller: Principal) -> CommandContext:
    """The command's ids: X-Correlation-Id and X-Causation-Id, or the command id (see
    ``install_correlation``, which answers the correlation id as X-Correlation-Id)."""
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
    """The version an If-Match header expects; None for none or "*"."""
    if if_match is None or if_match.strip() == "*":
        return None  # "*" matches any current version (RFC 9110)
    tag = if_match.strip().removeprefix("W/").strip('"')
    # isdigit alone admits "²" and digit strings int() refuses (over 4300 digits): a 500.
    if not (tag.isascii() and tag.isdigit() and len(tag) <= 18):
        raise Problem(
            400, "Bad If-Match", f'If-Match must be a version ETag such as "3", not {if_match!r}'
        )
    return int(tag)
