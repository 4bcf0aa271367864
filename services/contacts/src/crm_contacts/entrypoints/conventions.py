"""What every contacts route shares: command ids, Idempotency-Key, If-Match, masking, the
access log, and the mapping of domain errors to problem+json (RFC 9457) in one place."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from crm_contacts.application import handlers
from crm_contacts.application.policy import CONTACTS_POLICY, READ
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain import customer, handover, values
from crm_contacts.domain.customer import (
    ContactPersonNotFound,
    CustomerAlreadyRegistered,
    CustomerNotFound,
    CustomerWasErased,
    CustomerWasMerged,
    InvalidCommand,
    RuleViolated,
)
from crm_runtime.auth import Principal
from crm_runtime.eventstore import Idempotency, IdempotencyKeyReused, WrongExpectedVersion
from crm_runtime.http import Problem, answer_correlation
from crm_runtime.policy import Ownership, mask_email, mask_phone, masked

MASKED = "***"


def _service(request: Request) -> ContactsService:
    service: ContactsService = request.app.state.contacts
    return service


Service = Annotated[ContactsService, Depends(_service)]
"""The service ``create_app`` was given: routes are built once and serve any app."""


async def answer_replay_correlation(
    deps: handlers.Dependencies,
    request: Request,
    outcome: handlers.Outcome,
    idempotency: Idempotency | None,
) -> None:
    """A replayed answer names the correlation of the command that appended the events."""
    if not outcome.replayed or idempotency is None:
        return
    original = await deps.store.find_by_idempotency_key(idempotency)
    if original is not None and original.events:
        answer_correlation(request, original.events[0].metadata.correlation_id)


# --- what the caller may see -----------------------------------------------------------------


def shown(caller: Principal, view: dict[str, Any]) -> dict[str, Any]:
    """The customer as ``caller`` may see it: contact details, street, postal code and birth
    year masked unless the role reveals personal data (masking is never applied to storage)."""
    if view.get("erased") or CONTACTS_POLICY.reveals(caller, READ):
        return view
    copy = masked(view)
    if "contact_persons" in view:
        copy["contact_persons"] = [masked(person) for person in view["contact_persons"]]
    if "addresses" in view:
        copy["addresses"] = {
            kind: {
                **address,
                "street": MASKED,
                "postal_code": MASKED if address.get("postal_code") else None,
            }
            for kind, address in view["addresses"].items()
        }
    if view.get("birthday"):
        copy["birthday"] = "--" + str(view["birthday"])[5:]  # ISO 8601 without the year
    return copy


def shown_entry(caller: Principal, entry: dict[str, Any]) -> dict[str, Any]:
    """A directory entry as a customer summary the caller may see."""
    summary = {
        "id": entry["_id"],
        "kind": entry["kind"],
        "name": entry["name"],
        "email": entry.get("email"),
        "phone": entry.get("phone"),
        "company": entry.get("company"),
        "owner_id": entry.get("owner_id"),
        "team": entry.get("team"),
        "lifecycle_stage": entry.get("stage"),
        "classification": entry.get("classification"),
        "segments": entry.get("segments", []),
        "value_tier": entry.get("value_tier"),
        "tags": entry.get("tags", []),
        "version": entry["version"],
    }
    if CONTACTS_POLICY.reveals(caller, READ):
        return summary
    summary["email"] = mask_email(summary["email"])
    summary["phone"] = mask_phone(summary["phone"])
    return summary


def personal_fields_shown(view: dict[str, Any]) -> list[str]:
    """Which personal details an unmasked answer shows (what the access log records)."""
    fields = [f for f in ("email", "phone", "birthday") if view.get(f)]
    fields += [f for f in ("addresses", "contact_persons") if view.get(f)]
    return fields


async def record_unmasked(
    service: ContactsService, caller: Principal, action: str, view: dict[str, Any]
) -> None:
    """Log an answer that shows personal data unmasked (the access log's promise)."""
    fields = personal_fields_shown(view)
    if fields and CONTACTS_POLICY.reveals(caller, READ):
        await service.access_log.record(caller, action, str(view["id"]), fields)


def answer(response: Response, caller: Principal, outcome: handlers.Outcome) -> dict[str, Any]:
    """The customer a command left, with its ETag, as the caller may see it."""
    response.headers["ETag"] = f'"{outcome.version}"'
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if outcome.customer.get("erased"):
        raise CustomerWasErased(str(outcome.customer["id"]))
    return shown(caller, outcome.customer)


# --- cursors ---------------------------------------------------------------------------------


def encode_cursor(key: tuple[str, str]) -> str:
    """An opaque cursor: the sort key of the last item answered."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        first, second = json.loads(raw)
        if isinstance(first, str) and isinstance(second, str):
            return first, second
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        pass
    raise Problem(
        400, "Bad cursor", "the cursor is not one this API gave", type_="urn:crm:problem:cursor"
    )


# --- domain errors as problems ---------------------------------------------------------------


def _merged(error: Exception) -> Problem:
    survivor = getattr(error, "survivor_id", "")
    return Problem(
        409,
        "Merged",
        str(error),
        type_="urn:crm:problem:merged",
        extra={"merged_into": survivor, "survivor": f"/contacts/customers/{survivor}"},
    )


DOMAIN_ERRORS = {
    CustomerNotFound: lambda e: Problem(
        404, "Not found", str(e), type_="urn:crm:problem:not-found"
    ),
    ContactPersonNotFound: lambda e: Problem(
        404, "Not found", str(e), type_="urn:crm:problem:not-found"
    ),
    handover.HandoverNotFound: lambda e: Problem(
        404, "Not found", str(e), type_="urn:crm:problem:not-found"
    ),
    CustomerAlreadyRegistered: lambda e: Problem(409, "Conflict", str(e)),
    CustomerWasErased: lambda e: Problem(410, "Gone", str(e), type_="urn:crm:problem:erased"),
    CustomerWasMerged: _merged,
    RuleViolated: lambda e: Problem(409, "Conflict", str(e), type_="urn:crm:problem:rule-violated"),
    InvalidCommand: lambda e: Problem(
        422, "Invalid request", str(e), type_="urn:crm:problem:validation"
    ),
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


# --- whose customer --------------------------------------------------------------------------

MAX_MERGE_HOPS = 10


async def existing(deps: handlers.Dependencies, customer_id: str) -> customer.CustomerState:
    """The customer's state, whatever it is; not found for an unknown id."""
    state = await handlers.load_state(deps, customer_id)
    if isinstance(state, customer.Unregistered):
        raise CustomerNotFound(customer_id)
    return state


def owner_of(state: customer.CustomerState) -> Ownership:
    """Who a customer belongs to, for the policy."""
    return Ownership(owner_id=getattr(state, "owner_id", None), team=getattr(state, "team", None))


async def ownership(deps: handlers.Dependencies, customer_id: str) -> Ownership:
    """Who a customer belongs to, for the policy; not found for an unknown id."""
    return owner_of(await existing(deps, customer_id))


async def resolve(deps: handlers.Dependencies, customer_id: str) -> customer.Registered:
    """The customer to show for ``customer_id``: itself, or the survivor it was merged into."""
    state = await handlers.load_state(deps, customer_id)
    for _ in range(MAX_MERGE_HOPS):
        if not isinstance(state, customer.Merged):
            break
        state = await handlers.load_state(deps, state.survivor_id)
    if isinstance(state, customer.Erased):
        raise CustomerWasErased(customer_id)
    if not isinstance(state, customer.Registered):
        raise CustomerNotFound(customer_id)
    return state
