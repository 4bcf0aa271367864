"""Command handlers: load the stream, let the decider decide, append what it decided.

Each handler is a free function of (command, dependencies). An Idempotency-Key
seen before returns the first answer and appends nothing; the answer is stored
in the same commit as the events, so both are written atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry.trace import Tracer

from crm_contacts.domain import customer
from crm_contacts.domain.customer import CustomerCommand, CustomerNotFound, CustomerState
from crm_contracts import REGISTRY
from crm_runtime.eventstore import (
    CommandContext,
    EventStore,
    Idempotency,
    NewEvent,
    WrongExpectedVersion,
)
from crm_runtime.telemetry import current_traceparent


@dataclass(frozen=True)
class Dependencies:
    store: EventStore
    clock: Callable[[], datetime]
    new_id: Callable[[str], str]
    tracer: Tracer


@dataclass(frozen=True)
class Outcome:
    """What a command answered: the customer as it now is, and whether this is a replay."""

    customer: dict[str, Any]
    version: int
    replayed: bool = False


def customer_view(state: CustomerState) -> dict[str, Any]:
    if not isinstance(state, customer.Registered):
        raise TypeError("only a registered customer has a view")
    return {
        "id": state.customer_id,
        "kind": state.kind.value,
        "name": state.name,
        "email": state.email,
        "phone": state.phone,
        "version": state.version,
    }


async def load_customer(deps: Dependencies, customer_id: str) -> customer.Registered:
    state = await _load(deps, customer_id)
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
                return Outcome(previous.result["customer"], previous.version, replayed=True)
        state = await _load(deps, command.customer_id)
        if expected_version is not None and expected_version != state.version:
            raise WrongExpectedVersion(command.customer_id, expected_version, state.version)
        decided = customer.decide(command, state)
        if not decided:
            return Outcome(customer_view(state), state.version)
        new_state = customer.fold(decided, state)
        view = customer_view(new_state)
        with deps.tracer.start_as_current_span(
            "eventstore.append",
            attributes={"crm.stream_id": command.customer_id, "crm.events": len(decided)},
        ):
            commit = await deps.store.append(
                command.customer_id,
                state.version,
                [
                    NewEvent(e.event_type, e.schema_version, e.model_dump(mode="json"))
                    for e in decided
                ],
                _with_traceparent(context),
                now=deps.clock(),
                event_ids=[deps.new_id("evt") for _ in decided],
                idempotency=idempotency,
                result={"customer": view},
            )
        replayed = commit.result.get("customer", view) != view
        return Outcome(commit.result["customer"], commit.version, replayed=replayed)


async def _load(deps: Dependencies, customer_id: str) -> CustomerState:
    history = await deps.store.load(customer_id)
    events = [REGISTRY.parse(e.metadata.type, e.metadata.schema_version, e.data) for e in history]
    return customer.fold(events)


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
