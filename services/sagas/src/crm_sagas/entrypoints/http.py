"""HTTP API of the sagas under /sagas: each saga's state, history and pending deadline, and
the operators' retry and cancel. Errors are problem+json (RFC 9457) in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from crm_runtime.guard import Caller
from crm_runtime.http import Problem
from crm_runtime.service_app import create_service_app, store_health
from crm_sagas.application.policy import OPERATE, READ, SAGAS_POLICY
from crm_sagas.application.runner import SagaConflict, SagaNotFound
from crm_sagas.bootstrap import SagasService
from crm_sagas.domain.saga import SagaNotCancellable, SagaNotRetryable, Status

PREFIX = "/sagas"


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str = Field(min_length=1, max_length=500, examples=["customer asked us to stop"])


def view(document: dict[str, Any], *, with_history: bool = True) -> dict[str, Any]:
    """A saga as the API shows it (times as ISO 8601)."""
    shown: dict[str, Any] = {
        "id": document["_id"],
        "type": document["type"],
        "status": document["status"],
        "state": document["state"],
        "correlation_id": document["correlation_id"],
        "started_at": _iso(document["started_at"]),
        "updated_at": _iso(document["updated_at"]),
        "pending_deadline": _deadline(document.get("deadline")),
        "next_attempt_at": _iso(document.get("retry_at")),
        "outstanding": document.get("outstanding", []),
        "stuck": document.get("stuck"),
        "revision": document["revision"],
    }
    if with_history:
        shown["history"] = [_jsonable(entry) for entry in document["history"]]
    return shown


def saga_routes(service: SagasService) -> APIRouter:
    router = APIRouter(tags=["sagas"])
    runner = service.runner

    @router.get("")
    async def list_sagas(
        caller: Caller,
        type: Annotated[str | None, Query(max_length=100)] = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Sagas, newest first, filtered by type and status (without their histories)."""
        SAGAS_POLICY.authorise(caller, READ)
        found = await service.documents.search(
            type_=type, status=status.value if status else None, limit=limit
        )
        return {"sagas": [view(doc, with_history=False) for doc in found]}

    @router.get("/{saga_id}")
    async def get_saga(caller: Caller, saga_id: str) -> dict[str, Any]:
        """The saga's state, history of steps with times, and pending deadline."""
        SAGAS_POLICY.authorise(caller, READ)
        document = await service.documents.load(saga_id)
        if document is None:
            raise SagaNotFound(saga_id)
        return view(document)

    @router.post("/{saga_id}/retry", status_code=202)
    async def retry(caller: Caller, saga_id: str) -> dict[str, Any]:
        """Try a failed (stuck) saga again: the runner sends its outstanding step at once."""
        SAGAS_POLICY.authorise(caller, OPERATE)
        return view((await runner.retry(saga_id, caller.actor)).document)

    @router.post("/{saga_id}/cancel")
    async def cancel(caller: Caller, saga_id: str, body: CancelRequest) -> dict[str, Any]:
        """Stop a running or failed saga: nothing more is sent (no compensation)."""
        SAGAS_POLICY.authorise(caller, OPERATE)
        return view((await runner.cancel(saga_id, caller.actor, body.reason)).document)

    return router


def create_app(service: SagasService) -> FastAPI:
    return create_service_app(
        "sagas",
        service,
        title="CRM sagas",
        version="0.1.0",
        description="The process managers coordinating the contexts: state, history, pending "
        "deadline; operators retry or cancel. Errors are application/problem+json (RFC 9457).",
        domain_errors=DOMAIN_ERRORS,
        routers=[store_health("sagas", service), saga_routes(service)],
        prefix=PREFIX,
    )


def _wrong_state(error: Exception) -> Problem:
    return Problem(
        409, getattr(error, "title", "Wrong state"), str(error), type_="urn:crm:problem:wrong-state"
    )


DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], Problem]] = {
    SagaNotFound: lambda e: Problem(404, "Not found", str(e), type_="urn:crm:problem:not-found"),
    SagaNotRetryable: _wrong_state,
    SagaNotCancellable: _wrong_state,
    SagaConflict: lambda e: Problem(
        409, "Version conflict", f"{e}; try again", type_="urn:crm:problem:version-conflict"
    ),
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _deadline(deadline: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if deadline is None else {"name": deadline["name"], "at": _iso(deadline["at"])}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
