"""What every pipeline route does the same way: ownership and the answer (ETag, replay marks);
command ids, Idempotency-Key and If-Match come from ``crm_runtime.commands_http``."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from crm_pipeline.application.streams import Dependencies, Outcome
from crm_runtime.eventstore import Idempotency
from crm_runtime.http import answer_correlation
from crm_runtime.policy import Ownership


def owner_of(state: Any) -> Ownership:
    """Who an existing lead, opportunity, quote or order belongs to."""
    return Ownership(owner_id=state.owner_id, team=state.team)


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
