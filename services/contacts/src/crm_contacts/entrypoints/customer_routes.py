"""The customer itself over HTTP: register, read, change, erase; and the access log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from crm_contacts.application import erasure, handlers
from crm_contacts.application.policy import (
    CHANGE,
    CONTACTS_POLICY,
    ERASE,
    READ,
    READ_ACCESS_LOG,
    REGISTER,
)
from crm_contacts.domain.customer import ChangeCustomerDetails, RegisterCustomer
from crm_contacts.entrypoints.conventions import (
    Service,
    answer,
    answer_replay_correlation,
    existing,
    owner_of,
    ownership,
    record_unmasked,
    resolve,
    shown,
)
from crm_contacts.entrypoints.schemas import (
    ChangeCustomerRequest,
    Customer,
    EraseCustomerRequest,
    ErasedCustomer,
    RegisterCustomerRequest,
)
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.guard import Caller
from crm_runtime.http import Problem
from crm_runtime.policy import Forbidden, Ownership, Scope

router = APIRouter(prefix="/contacts")


@router.post("/customers", status_code=201, response_model=Customer)
async def register_customer(
    service: Service,
    caller: Caller,
    request: Request,
    response: Response,
    body: RegisterCustomerRequest,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    owner = Ownership(owner_id=body.owner_id or caller.subject, team=body.team or caller.team)
    widest = CONTACTS_POLICY.scope_of(caller, REGISTER)
    if owner.team != caller.team and widest is not Scope.ANY:
        raise Forbidden(caller, REGISTER, "only admins register customers into another team")
    CONTACTS_POLICY.authorise(caller, REGISTER, owner)
    command = RegisterCustomer(
        customer_id=service.deps.new_id("cus"),
        name=body.name,
        kind=body.kind,
        email=body.email,
        phone=body.phone,
        owner_id=owner.owner_id,
        team=owner.team,
    )
    idem = idempotency_of(request, caller, idempotency_key, body)
    outcome = await handlers.execute(
        service.deps, command, context_of(request, caller), expected_version=0, idempotency=idem
    )
    await answer_replay_correlation(service.deps, request, outcome, idem)
    response.headers["Location"] = f"/contacts/customers/{outcome.customer['id']}"
    return answer(response, caller, outcome)


@router.get(
    "/customers/{customer_id}",
    response_model=Customer,
    responses={
        410: {"description": "The customer was erased."},
        200: {
            "description": "The customer; for a merged duplicate, its survivor (the "
            "Content-Location header names it)."
        },
    },
)
async def get_customer(
    service: Service, caller: Caller, customer_id: str, response: Response
) -> dict[str, Any]:
    state = await resolve(service.deps, customer_id)  # a merged duplicate answers with its survivor
    survivor_id = state.customer_id
    CONTACTS_POLICY.authorise(caller, READ, Ownership(state.owner_id, state.team))
    response.headers["ETag"] = f'"{state.version}"'
    if survivor_id != customer_id:
        response.headers["Content-Location"] = f"/contacts/customers/{survivor_id}"
    view = handlers.customer_view(state)
    await record_unmasked(service, caller, READ, view)
    return shown(caller, view)


@router.patch("/customers/{customer_id}", response_model=Customer)
async def change_customer(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: Annotated[ChangeCustomerRequest, Body()],
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    state = await existing(service.deps, customer_id)
    CONTACTS_POLICY.authorise(caller, CHANGE, owner_of(state))
    given = body.model_fields_set
    command = ChangeCustomerDetails(
        customer_id=customer_id,
        name=body.name if "name" in given else None,
        email=body.email if "email" in given else None,
        phone=body.phone if "phone" in given else None,
        company=body.company if "company" in given else None,
        birthday=body.birthday if "birthday" in given else None,
        preferred_channel=body.preferred_channel if "preferred_channel" in given else None,
        clear=frozenset(f for f in given if getattr(body, f) is None and f != "name"),
        today=service.deps.clock().date(),
    )
    idem = idempotency_of(request, caller, idempotency_key, body)
    outcome = await handlers.execute(
        service.deps,
        command,
        context_of(request, caller),
        expected_version=version_from(if_match),
        idempotency=idem,
        state=state,
    )
    await answer_replay_correlation(service.deps, request, outcome, idem)
    shown_answer = answer(response, caller, outcome)
    await record_unmasked(service, caller, CHANGE, outcome.customer)
    return shown_answer


@router.post("/customers/{customer_id}/erasure", response_model=ErasedCustomer)
async def erase_customer(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: Annotated[EraseCustomerRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Erase the customer's personal data (crypto-shredding); the id and history stay.

    A merged duplicate and its survivor are one data subject: erasing either erases
    both (and every other duplicate merged into the survivor).
    """
    CONTACTS_POLICY.authorise(caller, ERASE, await ownership(service.deps, customer_id))
    reference = body.request_reference if body else None
    outcome = await erasure.erase(service.deps, customer_id, reference, context_of(request, caller))
    response.headers["ETag"] = f'"{outcome.version}"'
    return outcome.customer


@router.get("/access-log")
async def access_log(
    service: Service,
    caller: Caller,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Who read unmasked personal data, newest first (auditors and admins)."""
    CONTACTS_POLICY.authorise(caller, READ_ACCESS_LOG)
    entries = await service.access_log.entries(customer_id=customer_id, actor=actor, limit=limit)
    return {"entries": entries}


@router.get("/health", include_in_schema=False)
async def health(service: Service) -> dict[str, Any]:
    try:
        await service.client[service.settings.database].command("ping")
    except Exception as error:
        raise Problem(503, "Unavailable", f"document store unreachable: {error}") from error
    return {"status": "ok", "service": "contacts", "store": "ok"}
