"""Command handlers: load the stream, let the decider decide, append what it decided.

Each handler is a free function of (command, dependencies). An Idempotency-Key
seen before returns the first answer and appends nothing; the answer is stored
in the same commit as the events, so both are written atomically. Personal
fields are sealed with the customer's key before they are stored, the stored
answer included, and revealed when the stream is loaded (docs/adr/0008).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry.trace import Tracer

from crm_contacts.domain import customer
from crm_contacts.domain.customer import (
    CustomerCommand,
    CustomerNotFound,
    CustomerState,
    CustomerWasErased,
    EraseCustomer,
)
from crm_contracts import REGISTRY
from crm_contracts.contacts import ERASED_NAME
from crm_runtime.eventstore import (
    CommandContext,
    EventStore,
    Idempotency,
    NewEvent,
    WrongExpectedVersion,
)
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import KeyVault
from crm_runtime.telemetry import current_traceparent

VIEW_PERSONAL = frozenset({"name", "email", "phone"})
VIEW_PLACEHOLDERS = {"name": ERASED_NAME, "email": None, "phone": None}


@dataclass(frozen=True)
class Dependencies:
    store: EventStore
    clock: Callable[[], datetime]
    new_id: Callable[[str], str]
    tracer: Tracer
    sealed: SealedEvents
    vault: KeyVault


@dataclass(frozen=True)
class Outcome:
    """What a command answered: the customer as it now is, and whether this is a replay."""

    customer: dict[str, Any]
    version: int
    replayed: bool = False


def customer_view(state: CustomerState) -> dict[str, Any]:
    if isinstance(state, customer.Erased):
        return {"id": state.customer_id, "erased": True, "version": state.version}
    if not isinstance(state, customer.Registered):
        raise TypeError("only a registered customer has a view")
    return {
        "id": state.customer_id,
        "kind": state.kind.value,
        "name": state.name,
        "email": state.email,
        "phone": state.phone,
        "owner_id": state.owner_id,
        "team": state.team,
        "version": state.version,
    }


async def load_state(deps: Dependencies, customer_id: str) -> CustomerState:
    """The customer as its history says, erased or not; Unregistered for an unknown id."""
    return await _load(deps, customer_id)


async def load_customer(deps: Dependencies, customer_id: str) -> customer.Registered:
    state = await _load(deps, customer_id)
    if isinstance(state, customer.Erased):
        raise CustomerWasErased(customer_id)
    if not isinstance(state, customer.Registered):
        raise CustomerNotFound(customer_id)
    return state


async def execute(
    deps: Dependencies,
    command: CustomerCommand,
    context: CommandContext,
    *,
    expected_version: int | None = None,
    idempotency: Idempotency | None = None,
) -> Outcome:
    """Run one command against its customer's stream."""
    with deps.tracer.start_as_current_span(
        f"contacts.{type(command).__name__}",
        attributes={"crm.customer_id": command.customer_id, "crm.command_id": context.command_id},
    ):
        if idempotency is not None:
            previous = await deps.store.find_by_idempotency_key(idempotency)
            if previous is not None:
                answer = await _revealed_answer(deps, previous.stream_id, previous.result)
                return Outcome(answer, previous.version, replayed=True)
        state = await _load(deps, command.customer_id)
        if expected_version is not None and expected_version != state.version:
            raise WrongExpectedVersion(command.customer_id, expected_version, state.version)
        if isinstance(command, EraseCustomer) and not isinstance(state, customer.Unregistered):
            # The key goes first: a crash before the append leaves the data unreadable and
            # a retry appends the event; the other order could leave it readable.
            await deps.vault.destroy(command.customer_id, at=deps.clock())
        decided = customer.decide(command, state)
        if not decided:
            return Outcome(customer_view(state), state.version)
        new_state = customer.fold(decided, state)
        view = customer_view(new_state)
        with deps.tracer.start_as_current_span(
            "eventstore.append",
            attributes={"crm.stream_id": command.customer_id, "crm.events": len(decided)},
        ):
            events = [
                await deps.sealed.seal(
                    command.customer_id,
                    NewEvent(e.event_type, e.schema_version, e.model_dump(mode="json")),
                )
                for e in decided
            ]
            stored_view = (
                view
                if view.get("erased")
                else await deps.sealed.seal_fields(command.customer_id, view, VIEW_PERSONAL)
            )
            commit = await deps.store.append(
                command.customer_id,
                state.version,
                events,
                _with_traceparent(context),
                now=deps.clock(),
                event_ids=[deps.new_id("evt") for _ in decided],
                idempotency=idempotency,
                result={"customer": stored_view},
            )
        if commit.result.get("customer") == stored_view:
            return Outcome(view, commit.version)
        # A concurrent request with the same Idempotency-Key won the race: answer as it did.
        answer = await _revealed_answer(deps, commit.stream_id, commit.result)
        return Outcome(answer, commit.version, replayed=True)


async def _load(deps: Dependencies, customer_id: str) -> CustomerState:
    history = await deps.store.load(customer_id)
    events = []
    for stored in history:
        revealed = await deps.sealed.reveal(stored)
        events.append(
            REGISTRY.parse(stored.metadata.type, stored.metadata.schema_version, revealed.data)
        )
    return customer.fold(events)


async def _revealed_answer(
    deps: Dependencies, customer_id: str, result: Mapping[str, Any]
) -> dict[str, Any]:
    answer = dict(result["customer"])
    return await deps.sealed.reveal_fields(customer_id, answer, VIEW_PLACEHOLDERS)


def _with_traceparent(context: CommandContext) -> CommandContext:
    if context.traceparent is not None:
        return context
    return CommandContext(
        command_id=context.command_id,
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
        actor=context.actor,
        traceparent=current_traceparent(),
    )
