"""The parts of a customer's profile: contact persons, addresses, consent, preferences, tags,
lifecycle stage, purchases, classification, owner and the interaction timeline.

Every command answers the customer as it now is (masked as the caller may see it) with
its ETag, honours If-Match (optimistic concurrency) and Idempotency-Key, and is refused
with problem+json: 404 unknown, 409 a rule or a merged customer, 410 erased, 422 invalid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from crm_contacts.application import handlers, timeline
from crm_contacts.application.policy import (
    ASSIGN_OWNER,
    CHANGE,
    CHANGE_STAGE,
    CLASSIFY,
    CONTACTS_POLICY,
    LOG_INTERACTION,
    READ_INTERACTIONS,
    RECORD_PURCHASE,
)
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain import values
from crm_contacts.domain.customer import (
    AddContactPerson,
    AssignOwner,
    AssignSegments,
    ChangeContactPerson,
    ChangeLifecycleStage,
    ChangeTags,
    ClassifyCustomer,
    CustomerCommand,
    LogInteraction,
    RecordConsent,
    RecordPurchase,
    RemoveAddress,
    RemoveContactPerson,
    RemovePreference,
    SetAddress,
    SetPreference,
    SetValueTier,
)
from crm_contacts.entrypoints.conventions import (
    Service,
    answer,
    answer_replay_correlation,
    decode_cursor,
    encode_cursor,
    existing,
    owner_of,
    ownership,
    record_unmasked,
    resolve,
)
from crm_contacts.entrypoints.schemas import (
    AddressRequest,
    ChangeContactPersonRequest,
    ClassificationRequest,
    ConsentRequest,
    ContactPersonRequest,
    Customer,
    Interaction,
    InteractionPage,
    InteractionRequest,
    LifecycleStageRequest,
    OwnerRequest,
    PreferenceRequest,
    PurchaseRequest,
    SegmentsRequest,
    TagsRequest,
    ValueTierRequest,
)
from crm_contracts.contacts import (
    AddressType,
    ContactChannel,
    ContactPersonAdded,
    InteractionLogged,
)
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.guard import Caller
from crm_runtime.policy import Forbidden, Scope


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


router = APIRouter(prefix="/contacts/customers/{customer_id}")


async def run(
    service: ContactsService,
    caller: Caller,
    request: Request,
    response: Response,
    action: str,
    command: CustomerCommand,
    body: BaseModel | None,
    if_match: str | None,
    key: str | None,
) -> handlers.Outcome:
    """Authorise ``action`` on the customer, run the command, answer with its ETag."""
    deps = service.deps
    state = await existing(deps, command.customer_id)
    CONTACTS_POLICY.authorise(caller, action, owner_of(state))
    idem = idempotency_of(request, caller, key, body)
    outcome = await handlers.execute(
        deps,
        command,
        context_of(request, caller),
        expected_version=version_from(if_match),
        idempotency=idem,
        state=state,
    )
    await answer_replay_correlation(deps, request, outcome, idem)
    return outcome


async def customer_answer(
    service: ContactsService,
    caller: Caller,
    response: Response,
    action: str,
    outcome: handlers.Outcome,
) -> dict[str, Any]:
    shown = answer(response, caller, outcome)
    await record_unmasked(service, caller, action, outcome.customer)
    return shown


# --- contact persons ---------------------------------------------------------------------


@router.post("/contact-persons", status_code=201, response_model=Customer)
async def add_contact_person(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: ContactPersonRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Add a contact person to a company customer; Location names the person."""
    command = AddContactPerson(
        customer_id=customer_id,
        person_id=service.deps.new_id("cp"),
        name=body.name,
        role=body.role,
        email=body.email,
        phone=body.phone,
    )
    outcome = await run(
        service, caller, request, response, CHANGE, command, body, if_match, idempotency_key
    )
    added = [e for e in outcome.events if isinstance(e, ContactPersonAdded)]
    if added:
        response.headers["Location"] = (
            f"/contacts/customers/{customer_id}/contact-persons/{added[0].person_id}"
        )
    return await customer_answer(service, caller, response, CHANGE, outcome)


@router.patch("/contact-persons/{person_id}", response_model=Customer)
async def change_contact_person(
    service: Service,
    caller: Caller,
    customer_id: str,
    person_id: str,
    request: Request,
    response: Response,
    body: ChangeContactPersonRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    given = body.model_fields_set
    command = ChangeContactPerson(
        customer_id=customer_id,
        person_id=person_id,
        name=body.name,
        role=body.role,
        email=body.email,
        phone=body.phone,
        clear=frozenset(f for f in given if getattr(body, f) is None and f != "name"),
    )
    outcome = await run(
        service, caller, request, response, CHANGE, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


@router.delete("/contact-persons/{person_id}", response_model=Customer)
async def remove_contact_person(
    service: Service,
    caller: Caller,
    customer_id: str,
    person_id: str,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = RemoveContactPerson(customer_id=customer_id, person_id=person_id)
    outcome = await run(
        service, caller, request, response, CHANGE, command, None, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


# --- addresses, consent, preferences, tags -----------------------------------------------


@router.put("/addresses/{address_type}", response_model=Customer)
async def set_address(
    service: Service,
    caller: Caller,
    customer_id: str,
    address_type: AddressType,
    request: Request,
    response: Response,
    body: AddressRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = SetAddress(
        customer_id=customer_id,
        address_type=address_type,
        street=body.street,
        city=body.city,
        postal_code=body.postal_code,
        country=body.country,
    )
    outcome = await run(
        service, caller, request, response, CHANGE, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


@router.delete("/addresses/{address_type}", response_model=Customer)
async def remove_address(
    service: Service,
    caller: Caller,
    customer_id: str,
    address_type: AddressType,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = RemoveAddress(customer_id=customer_id, address_type=address_type)
    outcome = await run(
        service, caller, request, response, CHANGE, command, None, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


@router.put("/consents/{channel}", response_model=Customer)
async def record_consent(
    service: Service,
    caller: Caller,
    customer_id: str,
    channel: ContactChannel,
    request: Request,
    response: Response,
    body: ConsentRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Record consent given or withdrawn for a channel, with when and where."""
    now = service.deps.clock()
    command = RecordConsent(
        customer_id=customer_id,
        channel=channel,
        given=body.given,
        at=_utc(body.at) if body.at else now,
        source=body.source,
        now=now,
    )
    outcome = await run(
        service, caller, request, response, CHANGE, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


@router.put("/preferences/{key}", response_model=Customer)
async def set_preference(
    service: Service,
    caller: Caller,
    customer_id: str,
    key: str,
    request: Request,
    response: Response,
    body: PreferenceRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Record a personal preference, e.g. ``PUT .../preferences/spice {"text": "mild"}``."""
    command = SetPreference(
        customer_id=customer_id,
        key=values.preference_key(key),
        text=values.text("text", body.text, 500),
    )
    outcome = await run(
        service, caller, request, response, CHANGE, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


@router.delete("/preferences/{key}", response_model=Customer)
async def remove_preference(
    service: Service,
    caller: Caller,
    customer_id: str,
    key: str,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = RemovePreference(customer_id=customer_id, key=values.preference_key(key))
    outcome = await run(
        service, caller, request, response, CHANGE, command, None, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


@router.post("/tags", response_model=Customer)
async def change_tags(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: TagsRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Add and remove tags (normalised to lower case; at most 50 per customer)."""
    command = ChangeTags(
        customer_id=customer_id, add=frozenset(body.add), remove=frozenset(body.remove)
    )
    outcome = await run(
        service, caller, request, response, CHANGE, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE, outcome)


# --- lifecycle and purchases -------------------------------------------------------------


@router.put("/lifecycle-stage", response_model=Customer)
async def change_lifecycle_stage(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: LifecycleStageRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Move the customer by hand: interested, at_risk or churned (with a reason), or
    from at_risk back to the stage its purchases earned."""
    command = ChangeLifecycleStage(customer_id=customer_id, stage=body.stage, reason=body.reason)
    outcome = await run(
        service, caller, request, response, CHANGE_STAGE, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CHANGE_STAGE, outcome)


@router.post("/purchases", response_model=Customer)
async def record_purchase(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: PurchaseRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Record a placed order or a won deal: ``order_id``, ``opportunity_id`` or both (422
    with neither). Counted once per deal: a purchase whose order or opportunity was
    recorded before changes nothing. Orders usually arrive from Kafka, won deals from
    the onboarding saga."""
    command = RecordPurchase(
        customer_id=customer_id,
        order_id=body.order_id,
        at=_utc(body.at),
        opportunity_id=body.opportunity_id,
    )
    outcome = await run(
        service,
        caller,
        request,
        response,
        RECORD_PURCHASE,
        command,
        body,
        if_match,
        idempotency_key,
    )
    return await customer_answer(service, caller, response, RECORD_PURCHASE, outcome)


# --- classification and owner ------------------------------------------------------------


@router.put("/classification", response_model=Customer)
async def classify(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: ClassificationRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = ClassifyCustomer(customer_id=customer_id, classification=body.classification)
    outcome = await run(
        service, caller, request, response, CLASSIFY, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CLASSIFY, outcome)


@router.put("/segments", response_model=Customer)
async def assign_segments(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: SegmentsRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Replace the customer's segments ("dimension:value" labels, at most 20)."""
    command = AssignSegments(customer_id=customer_id, segments=frozenset(body.segments))
    outcome = await run(
        service, caller, request, response, CLASSIFY, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CLASSIFY, outcome)


@router.put("/value-tier", response_model=Customer)
async def set_value_tier(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: ValueTierRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    command = SetValueTier(customer_id=customer_id, value_tier=body.value_tier)
    outcome = await run(
        service, caller, request, response, CLASSIFY, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, CLASSIFY, outcome)


@router.put("/owner", response_model=Customer)
async def assign_owner(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: OwnerRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Make another rep the owner (the previous one is named in the event)."""
    current = await ownership(service.deps, customer_id)
    team = body.team or current.team
    if team != caller.team and CONTACTS_POLICY.scope_of(caller, ASSIGN_OWNER) is not Scope.ANY:
        raise Forbidden(caller, ASSIGN_OWNER, "only admins move customers into another team")
    command = AssignOwner(customer_id=customer_id, owner_id=body.owner_id, team=body.team)
    outcome = await run(
        service, caller, request, response, ASSIGN_OWNER, command, body, if_match, idempotency_key
    )
    return await customer_answer(service, caller, response, ASSIGN_OWNER, outcome)


# --- the timeline ------------------------------------------------------------------------


@router.post("/interactions", status_code=201, response_model=Interaction)
async def log_interaction(
    service: Service,
    caller: Caller,
    customer_id: str,
    request: Request,
    response: Response,
    body: InteractionRequest,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Log a visit, call, e-mail, note, quote sent, contract or complaint."""
    now = service.deps.clock()
    command = LogInteraction(
        customer_id=customer_id,
        interaction_id=service.deps.new_id("int"),
        kind=body.kind,
        at=_utc(body.at) if body.at else now,
        summary=values.text("summary", body.summary, 1000),
        notes=body.notes.strip() or None if body.notes else None,
        logged_by=caller.actor,
        now=now,
    )
    outcome = await run(
        service,
        caller,
        request,
        response,
        LOG_INTERACTION,
        command,
        body,
        if_match,
        idempotency_key,
    )
    response.headers["ETag"] = f'"{outcome.version}"'
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    (logged,) = [e for e in outcome.events if isinstance(e, InteractionLogged)]
    return {
        "id": logged.interaction_id,
        "customer_id": logged.customer_id,
        "kind": logged.kind.value,
        "at": logged.at.isoformat(),
        "summary": logged.summary,
        "notes": logged.notes,
        "logged_by": logged.logged_by,
    }


@router.get("/interactions", response_model=InteractionPage)
async def interactions(
    service: Service,
    caller: Caller,
    customer_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """The timeline, newest first (a merged duplicate's included), a page at a time."""
    state = await resolve(service.deps, customer_id)
    CONTACTS_POLICY.authorise(
        caller, READ_INTERACTIONS, await ownership(service.deps, state.customer_id)
    )
    page = await timeline.interactions(
        service.deps, state.customer_id, limit=limit, before=decode_cursor(cursor)
    )
    return {
        "interactions": page.items,
        "next_cursor": encode_cursor(page.next_key) if page.next_key else None,
    }
