"""What needs the customer directory: listing and search, duplicates, merges, handovers."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from crm_contacts.application import duplicates, handovers, merging
from crm_contacts.application.handovers import HandoverRequest
from crm_contacts.application.policy import (
    CONTACTS_POLICY,
    FIND_DUPLICATES,
    HAND_OVER,
    LIST,
    MERGE,
    READ,
)
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain import values
from crm_contacts.entrypoints.conventions import (
    Service,
    answer,
    answer_replay_correlation,
    decode_cursor,
    encode_cursor,
    ownership,
    record_unmasked,
    shown_entry,
)
from crm_contacts.entrypoints.schemas import (
    Customer,
    CustomerPage,
    Duplicates,
    Handover,
    HandoverRequestBody,
    MergeRequest,
)
from crm_contracts.contacts import LifecycleStage
from crm_runtime.auth import Principal
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.guard import Caller
from crm_runtime.policy import Forbidden, Ownership, Scope

NOTHING = {"_id": {"$in": []}}


def visible_to(caller: Principal, action: str) -> dict[str, Any]:
    """The directory query of the customers ``caller`` may see for ``action``."""
    match CONTACTS_POLICY.scope_of(caller, action):
        case Scope.ANY:
            return {}
        case Scope.TEAM:
            mine: list[dict[str, Any]] = [{"owner_id": caller.subject}]
            if caller.team is not None:
                mine.append({"team": caller.team})
            return {"$or": mine}
        case Scope.OWN:
            return {"owner_id": caller.subject}
        case Scope.ASSIGNED:
            return NOTHING  # the contacts context knows no assignments (tickets do)
    raise Forbidden(
        caller, action, f"not granted to {', '.join(sorted(caller.roles)) or 'no role'}"
    )


router = APIRouter(prefix="/contacts")


async def log_entries(
    service: ContactsService, caller: Principal, action: str, entries: list[dict[str, Any]]
) -> None:
    if not CONTACTS_POLICY.reveals(caller, READ):
        return
    for entry in entries:
        fields = [f for f in ("email", "phone") if entry.get(f)]
        if fields:
            await service.access_log.record(caller, action, str(entry["_id"]), fields)


@router.get("/customers", response_model=CustomerPage)
async def list_customers(
    service: Service,
    caller: Caller,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    stage: LifecycleStage | None = None,
    segment: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> dict[str, Any]:
    """Customers the caller may see, by name: filter by owner, stage, segment, tag, and
    search name, e-mail and company with ``q`` (every word must match)."""
    conditions: list[dict[str, Any]] = [visible_to(caller, LIST)]
    if owner:
        conditions.append({"owner_id": owner})
    if stage:
        conditions.append({"stage": stage.value})
    if segment:
        conditions.append({"segments": values.segment(segment)})
    if tag:
        conditions.append({"tags": values.tag(tag)})
    for word in values.name_tokens(q):
        conditions.append({"search": {"$regex": re.escape(word)}})
    entries = await service.deps.directory.page(
        {"$and": conditions}, after=decode_cursor(cursor), limit=limit + 1
    )
    page, more = entries[:limit], len(entries) > limit
    await log_entries(service, caller, LIST, page)
    last = page[-1] if page else None
    return {
        "customers": [shown_entry(caller, entry) for entry in page],
        "next_cursor": (encode_cursor((last["sort_name"], last["_id"])) if more and last else None),
    }


@router.get("/customers/{customer_id}/duplicates", response_model=Duplicates)
async def find_duplicates(service: Service, caller: Caller, customer_id: str) -> dict[str, Any]:
    """Likely duplicates with the reasons: same e-mail, same phone, similar name."""
    CONTACTS_POLICY.authorise(caller, FIND_DUPLICATES, await ownership(service.deps, customer_id))
    found = [
        candidate
        for candidate in await duplicates.duplicates_of(service.deps, customer_id)
        if CONTACTS_POLICY.allows(
            caller,
            READ,
            Ownership(candidate["entry"].get("owner_id"), candidate["entry"].get("team")),
        )
    ]
    await log_entries(service, caller, FIND_DUPLICATES, [c["entry"] for c in found])
    return {
        "customer_id": customer_id,
        "candidates": [
            {
                "customer": shown_entry(caller, c["entry"]),
                "reasons": c["reasons"],
                "name_similarity": c["score"],
            }
            for c in found
        ],
    }


@router.post("/customers/{customer_id}/merge", response_model=Customer)
async def merge(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: MergeRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Merge ``merged_id`` into this customer (the survivor), keeping both histories.

    The duplicate then answers reads with the survivor and refuses commands (409).
    If-Match is the survivor's version. Sending the same merge again finishes one
    that was interrupted.
    """
    CONTACTS_POLICY.authorise(caller, MERGE, await ownership(service.deps, customer_id))
    CONTACTS_POLICY.authorise(caller, MERGE, await ownership(service.deps, body.merged_id))
    idem = idempotency_of(request, caller, idempotency_key, body)
    outcome = await merging.merge(
        service.deps,
        customer_id,
        body.merged_id,
        context_of(request, caller),
        expected_version=version_from(if_match),
        idempotency=idem,
    )
    await answer_replay_correlation(service.deps, request, outcome, idem)
    shown = answer(response, caller, outcome)
    await record_unmasked(service, caller, MERGE, outcome.customer)
    return shown


@router.post(
    "/handovers",
    response_model=Handover,
    status_code=201,
    responses={200: {"description": "The handover existed: resumed or answered as it is."}},
)
async def hand_over(
    service: Service,
    caller: Caller,
    request: Request,
    response: Response,
    body: HandoverRequestBody,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Hand a leaving rep's customers over to successors, round-robin by customer id.

    Idempotent per handover id (``handover_id``, or one made from the Idempotency-Key).
    """
    if CONTACTS_POLICY.scope_of(caller, HAND_OVER) is None:
        CONTACTS_POLICY.authorise(caller, HAND_OVER)
    if (
        body.team is not None
        and body.team != caller.team
        and CONTACTS_POLICY.scope_of(caller, HAND_OVER) is not Scope.ANY
    ):
        raise Forbidden(caller, HAND_OVER, "only admins hand customers to another team")
    handover_id = body.handover_id or _handover_id(caller, idempotency_key, service.deps.new_id)

    async def authorise(customer_ids: list[str]) -> None:
        for customer_id in customer_ids:
            entry = await service.deps.directory.get(customer_id)
            owner = Ownership(
                entry.get("owner_id") if entry else None, entry.get("team") if entry else None
            )
            CONTACTS_POLICY.authorise(caller, HAND_OVER, owner)

    outcome = await handovers.hand_over(
        service.deps,
        HandoverRequest(
            handover_id=handover_id,
            leaving_rep_id=body.leaving_rep_id,
            successor_ids=tuple(body.successor_ids),
            reason=body.reason,
            team=body.team,
        ),
        context_of(request, caller),
        authorise,
    )
    response.headers["Location"] = f"/contacts/handovers/{handover_id}"
    if not outcome.created:
        response.status_code = 200
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.record


@router.get("/handovers/{handover_id}", response_model=Handover)
async def get_handover(service: Service, caller: Caller, handover_id: str) -> dict[str, Any]:
    if CONTACTS_POLICY.scope_of(caller, HAND_OVER) is None:
        CONTACTS_POLICY.authorise(caller, HAND_OVER)
    return handovers.record_view(await handovers.load_handover(service.deps, handover_id))


def _handover_id(caller: Principal, key: str | None, new_id: Any) -> str:
    """The same caller and Idempotency-Key name the same handover."""
    if not key:
        return str(new_id("hov"))
    return "hov_" + hashlib.sha256(f"{caller.actor}:{key}".encode()).hexdigest()[:32]
