"""HTTP API of the contacts service: translate requests into commands, answers into JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Header, Query, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from crm_contacts.application import handlers
from crm_contacts.application.policy import (
    CHANGE,
    CONTACTS_POLICY,
    ERASE,
    READ,
    READ_ACCESS_LOG,
    REGISTER,
)
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain import customer, values
from crm_contacts.domain.customer import (
    ChangeCustomerDetails,
    CustomerAlreadyRegistered,
    CustomerNotFound,
    CustomerWasErased,
    EraseCustomer,
    RegisterCustomer,
)
from crm_contracts.contacts import CustomerKind
from crm_runtime.auth import Principal
from crm_runtime.eventstore import (
    CommandContext,
    Idempotency,
    IdempotencyKeyReused,
    WrongExpectedVersion,
)
from crm_runtime.guard import Caller, install_guard
from crm_runtime.http import Problem, install_observability, install_problem_handlers
from crm_runtime.policy import Forbidden, Ownership, Scope, masked

Name = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(values.display_name)]
UserId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.@:-]+$")]
Email = Annotated[str, Field(max_length=320), AfterValidator(values.email_address)]
Phone = Annotated[str, Field(max_length=32), AfterValidator(values.phone_number)]


class RegisterCustomerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(examples=["Ada Lovelace"])
    kind: CustomerKind = Field(examples=["person"])
    email: Email | None = Field(default=None, examples=["ada@example.com"])
    phone: Phone | None = Field(default=None, examples=["+4930901820"])
    owner_id: UserId | None = Field(
        default=None, description="Owning sales rep; defaults to the caller.", examples=["u1"]
    )
    team: UserId | None = Field(
        default=None, description="Owner's team; defaults to the caller's.", examples=["north"]
    )


class EraseCustomerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_reference: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[\w.:/-]+$",
        description="Reference of the data subject's request (no personal data).",
        examples=["dsr-2026-0042"],
    )


class ChangeCustomerRequest(BaseModel):
    """A JSON merge patch: a field set to null is removed (e-mail and phone only)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(default=None, examples=["Ada King"])
    email: Email | None = Field(default=None, examples=["ada@example.org"])
    phone: Phone | None = Field(default=None, examples=["+493090182099"])

    @field_validator("name", mode="before")
    @classmethod
    def _name_required(cls, value: object) -> object:
        if value is None:
            raise ValueError("name cannot be removed")
        return value


class Customer(BaseModel):
    """A customer as the caller may see it: e-mail and phone masked unless the role allows."""

    id: str
    kind: Literal["person", "company"]
    name: str
    email: str | None
    phone: str | None
    owner_id: str | None
    team: str | None
    version: int


class ErasedCustomer(BaseModel):
    id: str
    erased: Literal[True]
    version: int


def create_app(service: ContactsService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.close()

    app = FastAPI(
        title="CRM contacts",
        version="0.1.0",
        description="Customer master data. Errors are application/problem+json (RFC 9457).",
        lifespan=lifespan,
    )
    install_problem_handlers(app, _DOMAIN_ERRORS)
    install_guard(app, service.settings, service.verifier)
    install_observability(app, service.metrics, "contacts")
    app.include_router(_routes(service))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=service.tracer_provider, excluded_urls="health,metrics"
    )
    return app


def _routes(service: ContactsService) -> APIRouter:
    router = APIRouter(prefix="/contacts")
    deps = service.deps

    async def ownership(customer_id: str) -> Ownership:
        state = await handlers.load_state(deps, customer_id)
        if isinstance(state, customer.Unregistered):
            raise CustomerNotFound(customer_id)
        return Ownership(owner_id=state.owner_id, team=state.team)

    @router.post("/customers", status_code=201, response_model=Customer)
    async def register_customer(
        caller: Caller,
        request: Request,
        response: Response,
        body: RegisterCustomerRequest,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> dict[str, Any]:
        owner = Ownership(owner_id=body.owner_id or caller.subject, team=body.team or caller.team)
        widest = CONTACTS_POLICY.scope_of(caller, REGISTER)
        if owner.team != caller.team and widest is not Scope.ANY:
            raise Forbidden(caller, REGISTER, "only admins register customers into another team")
        CONTACTS_POLICY.authorise(caller, REGISTER, owner)
        command = RegisterCustomer(
            customer_id=deps.new_id("cus"),
            name=body.name,
            kind=body.kind,
            email=body.email,
            phone=body.phone,
            owner_id=owner.owner_id,
            team=owner.team,
        )
        outcome = await handlers.execute(
            deps,
            command,
            _context(request, caller, deps.new_id("cmd")),
            expected_version=0,
            idempotency=_idempotency(request, caller, idempotency_key, body),
        )
        response.headers["Location"] = f"/contacts/customers/{outcome.customer['id']}"
        return _answer(response, caller, outcome)

    @router.get(
        "/customers/{customer_id}",
        response_model=Customer,
        responses={410: {"description": "The customer was erased."}},
    )
    async def get_customer(caller: Caller, customer_id: str, response: Response) -> dict[str, Any]:
        state = await handlers.load_customer(deps, customer_id)
        CONTACTS_POLICY.authorise(caller, READ, Ownership(state.owner_id, state.team))
        response.headers["ETag"] = f'"{state.version}"'
        view = handlers.customer_view(state)
        if not CONTACTS_POLICY.reveals(caller, READ):
            return masked(view)
        await _record_unmasked(service, caller, READ, view)
        return view

    @router.patch("/customers/{customer_id}", response_model=Customer)
    async def change_customer(
        caller: Caller,
        customer_id: str,
        request: Request,
        response: Response,
        body: Annotated[ChangeCustomerRequest, Body()],
        if_match: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> dict[str, Any]:
        CONTACTS_POLICY.authorise(caller, CHANGE, await ownership(customer_id))
        given = body.model_fields_set
        command = ChangeCustomerDetails(
            customer_id=customer_id,
            name=body.name if "name" in given else None,
            email=body.email if "email" in given else None,
            phone=body.phone if "phone" in given else None,
            clear=frozenset(
                f for f in ("email", "phone") if f in given and getattr(body, f) is None
            ),
        )
        outcome = await handlers.execute(
            deps,
            command,
            _context(request, caller, deps.new_id("cmd")),
            expected_version=_version_from(if_match),
            idempotency=_idempotency(request, caller, idempotency_key, body),
        )
        answer = _answer(response, caller, outcome)
        if CONTACTS_POLICY.reveals(caller, READ):  # the answer shows what a GET would log
            await _record_unmasked(service, caller, CHANGE, answer)
        return answer

    @router.post("/customers/{customer_id}/erasure", response_model=ErasedCustomer)
    async def erase_customer(
        caller: Caller,
        customer_id: str,
        request: Request,
        response: Response,
        body: Annotated[EraseCustomerRequest | None, Body()] = None,
    ) -> dict[str, Any]:
        """Erase the customer's personal data (crypto-shredding); the id and history stay."""
        CONTACTS_POLICY.authorise(caller, ERASE, await ownership(customer_id))
        command = EraseCustomer(
            customer_id=customer_id, request_reference=body.request_reference if body else None
        )
        outcome = await handlers.execute(
            deps, command, _context(request, caller, deps.new_id("cmd"))
        )
        response.headers["ETag"] = f'"{outcome.version}"'
        return outcome.customer

    @router.get("/access-log")
    async def access_log(
        caller: Caller,
        customer_id: Annotated[str | None, Query(max_length=200)] = None,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Who read unmasked personal data, newest first (auditors and admins)."""
        CONTACTS_POLICY.authorise(caller, READ_ACCESS_LOG)
        entries = await service.access_log.entries(
            customer_id=customer_id, actor=actor, limit=limit
        )
        return {"entries": entries}

    @router.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        try:
            await service.client[service.settings.database].command("ping")
        except Exception as error:
            raise Problem(503, "Unavailable", f"document store unreachable: {error}") from error
        return {"status": "ok", "service": "contacts", "store": "ok"}

    return router


async def _record_unmasked(
    service: ContactsService, caller: Principal, action: str, view: dict[str, Any]
) -> None:
    """Log an answer that shows personal data unmasked (the access log's promise)."""
    shown = [f for f in ("email", "phone") if view.get(f) is not None]
    if shown:
        await service.access_log.record(caller, action, str(view["id"]), shown)


def _answer(response: Response, caller: Principal, outcome: handlers.Outcome) -> dict[str, Any]:
    response.headers["ETag"] = f'"{outcome.version}"'
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if outcome.customer.get("erased"):
        raise CustomerWasErased(str(outcome.customer["id"]))
    if CONTACTS_POLICY.reveals(caller, READ):
        return outcome.customer
    return masked(outcome.customer)


def _context(request: Request, caller: Principal, command_id: str) -> CommandContext:
    correlation = request.headers.get("x-correlation-id") or command_id
    return CommandContext(
        command_id=command_id,
        correlation_id=correlation[:200],
        causation_id=(request.headers.get("x-causation-id") or command_id)[:200],
        actor=caller.actor,
    )


def _idempotency(
    request: Request, caller: Principal, key: str | None, body: BaseModel
) -> Idempotency | None:
    """Keys are per caller: two callers reusing a key never see each other's answers."""
    if not key:
        return None
    canonical = json.dumps(body.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    digest = hashlib.sha256(f"{request.method} {request.url.path} {canonical}".encode()).hexdigest()
    return Idempotency(key=f"{caller.actor}:{key}", fingerprint=digest)


def _version_from(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None  # "*" matches any current version (RFC 9110)
    tag = if_match.strip().removeprefix("W/").strip('"')
    # isdigit alone admits "²" and digit strings int() refuses (over 4300 digits): a 500.
    if not (tag.isascii() and tag.isdigit() and len(tag) <= 18):
        raise Problem(
            400, "Bad If-Match", f'If-Match must be a version ETag such as "3", not {if_match!r}'
        )
    return int(tag)


_DOMAIN_ERRORS = {
    CustomerNotFound: lambda e: Problem(
        404, "Not found", str(e), type_="urn:crm:problem:not-found"
    ),
    CustomerAlreadyRegistered: lambda e: Problem(409, "Conflict", str(e)),
    CustomerWasErased: lambda e: Problem(410, "Gone", str(e), type_="urn:crm:problem:erased"),
    WrongExpectedVersion: lambda e: Problem(
        409,
        "Version conflict",
        f"{e}; read the customer again and retry with its current ETag",
        type_="urn:crm:problem:version-conflict",
        extra={"current_version": e.actual},  # type: ignore[attr-defined]
    ),
    IdempotencyKeyReused: lambda e: Problem(
        422, "Idempotency-Key reused", str(e), type_="urn:crm:problem:idempotency-key-reused"
    ),
    values.InvalidContactDetail: lambda e: Problem(
        422, "Invalid request", str(e), type_="urn:crm:problem:validation"
    ),
}
