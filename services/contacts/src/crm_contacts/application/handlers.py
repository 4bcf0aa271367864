"""Command handlers: load the stream, let the decider decide, append what it decided.

Each handler is a free function of (command, dependencies). An Idempotency-Key
seen before returns the first answer and appends nothing; the answer is stored
in the same commit as the events, so both are written atomically. Personal
fields are sealed with the customer's key before they are stored, the stored
answer included, and revealed when the stream is loaded (docs/adr/0008).
Right after an append the customer's directory entry is refreshed, so the
lookups answer with what was just written (docs/adr/0010).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Tracer

from crm_contacts.domain import customer, values
from crm_contacts.domain.customer import (
    CustomerCommand,
    CustomerNotFound,
    CustomerState,
    CustomerWasErased,
    CustomerWasMerged,
    EraseCustomer,
)
from crm_contracts import REGISTRY
from crm_contracts.contacts import ERASED_NAME
from crm_contracts.registry import DomainEvent
from crm_runtime.eventstore import (
    CommandContext,
    Commit,
    EventStore,
    Idempotency,
    NewEvent,
    StoredEvent,
    WrongExpectedVersion,
)
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import KeyVault, PersonalDataCipher
from crm_runtime.telemetry import current_traceparent

if TYPE_CHECKING:
    from crm_contacts.application.directory import CustomerDirectory

SEALED_DETAILS = ("name", "email", "phone", "company", "birthday")
SEALED_PACKED: Mapping[str, Callable[[], Any]] = {
    "contact_persons": list,
    "addresses": dict,
    "preferences": dict,
}
VIEW_PERSONAL = frozenset(SEALED_DETAILS) | frozenset(SEALED_PACKED)
VIEW_PLACEHOLDERS: dict[str, Any] = {"name": ERASED_NAME}


@dataclass(frozen=True)
class Dependencies:
    store: EventStore
    clock: Callable[[], datetime]
    new_id: Callable[[str], str]
    tracer: Tracer
    sealed: SealedEvents
    vault: KeyVault
    directory: CustomerDirectory


@dataclass(frozen=True)
class Outcome:
    """What a command answered: the customer as it now is, whether this is a replay, and the
    events the command appended (for a replay: those the first request appended)."""

    customer: dict[str, Any]
    version: int
    replayed: bool = False
    events: tuple[DomainEvent, ...] = ()


def customer_view(state: CustomerState) -> dict[str, Any]:
    """The customer as JSON-ready data, personal details in full (masking is for answers)."""
    if isinstance(state, customer.Erased):
        return {"id": state.customer_id, "erased": True, "version": state.version}
    if isinstance(state, customer.Merged):
        return {"id": state.customer_id, "merged_into": state.survivor_id, "version": state.version}
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
        "company": state.company,
        "birthday": state.birthday.isoformat() if state.birthday else None,
        "preferred_channel": state.preferred_channel.value if state.preferred_channel else None,
        "contact_persons": [
            {
                "id": person.person_id,
                "name": person.name,
                "role": person.role,
                "email": person.email,
                "phone": person.phone,
            }
            for person in state.contact_persons.values()
        ],
        "addresses": {
            kind.value: {
                "street": address.street,
                "city": address.city,
                "postal_code": address.postal_code,
                "country": address.country,
            }
            for kind, address in sorted(state.addresses.items())
        },
        "consents": {
            channel.value: {
                "given": consent.given,
                "at": consent.at.isoformat(),
                "source": consent.source,
            }
            for channel, consent in sorted(state.consents.items())
        },
        "preferences": dict(sorted(state.preferences.items())),
        "tags": sorted(state.tags),
        "lifecycle_stage": state.stage.value,
        "purchases": len(state.order_ids),
        "purchased_opportunity_ids": sorted(state.opportunity_ids),
        "classification": state.classification.value if state.classification else None,
        "segments": sorted(state.segments),
        "value_tier": state.value_tier.value if state.value_tier else None,
        "merged_ids": list(state.merged_ids),
        "data_quality": values.contact_problems(state.email, state.phone),
    }


class _KeysOfOneCommand:
    """The key vault as one command sees it: each subject's key is fetched once, not once per
    sealed event (a command's loads and seals happen within milliseconds; nothing is kept
    after it, so an erasure is seen by the next command)."""

    def __init__(self, vault: KeyVault) -> None:
        self._vault = vault
        self._keys: dict[str, bytes | None] = {}

    async def key_for(self, subject: str) -> bytes | None:
        if subject not in self._keys:
            self._keys[subject] = await self._vault.key_for(subject)
        return self._keys[subject]

    async def create_key(self, subject: str) -> bytes:
        key = self._keys.get(subject) or await self._vault.create_key(subject)
        self._keys[subject] = key
        return key

    async def destroy(self, subject: str, *, at: datetime) -> None:
        self._keys.pop(subject, None)
        await self._vault.destroy(subject, at=at)

    async def is_destroyed(self, subject: str) -> bool:
        return await self._vault.is_destroyed(subject)


def seals_of_one_command(deps: Dependencies) -> SealedEvents:
    return SealedEvents(PersonalDataCipher(_KeysOfOneCommand(deps.vault)))


async def load_state(
    deps: Dependencies, customer_id: str, sealed: SealedEvents | None = None
) -> CustomerState:
    """The customer as its history says, erased or not; Unregistered for an unknown id."""
    return customer.fold(await load_events(deps, customer_id, sealed))


async def load_events(
    deps: Dependencies, stream_id: str, sealed: SealedEvents | None = None
) -> list[DomainEvent]:
    seals = sealed or seals_of_one_command(deps)
    return [await parse(seals, stored) for stored in await deps.store.load(stream_id)]


async def parse(sealed: SealedEvents, stored: StoredEvent) -> DomainEvent:
    revealed = await sealed.reveal(stored)
    return REGISTRY.parse(stored.metadata.type, stored.metadata.schema_version, revealed.data)


async def load_customer(deps: Dependencies, customer_id: str) -> customer.Registered:
    """A customer who takes commands: not unknown, not erased, not merged into another."""
    state = await load_state(deps, customer_id)
    if isinstance(state, customer.Erased):
        raise CustomerWasErased(customer_id)
    if isinstance(state, customer.Merged):
        raise CustomerWasMerged(customer_id, state.survivor_id)
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
    state: CustomerState | None = None,
) -> Outcome:
    """Run one command against its customer's stream.

    ``state`` is the customer as the caller just loaded it (to authorise the command), saved
    loading it twice; the append still fails if the stream moved on since.
    """
    with deps.tracer.start_as_current_span(
        f"contacts.{type(command).__name__}",
        attributes={"crm.customer_id": command.customer_id, "crm.command_id": context.command_id},
    ):
        if idempotency is not None:
            previous = await deps.store.find_by_idempotency_key(idempotency)
            if previous is not None:
                return await replayed(deps, previous)
        sealed = seals_of_one_command(deps)
        if state is None:
            state = await load_state(deps, command.customer_id, sealed)
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
        stored_view = await seal_view(sealed, str(view["id"]), view)
        commit = await append(
            deps,
            command.customer_id,
            state.version,
            decided,
            context,
            idempotency=idempotency,
            result={"customer": stored_view},
            sealed=sealed,
        )
        if commit.result.get("customer") != stored_view:
            # A concurrent request with the same Idempotency-Key won the race: answer as it did.
            return await replayed(deps, commit)
        await deps.directory.refresh(new_state)
        return Outcome(view, commit.version, events=tuple(decided))


async def append(
    deps: Dependencies,
    stream_id: str,
    expected_version: int,
    decided: list[DomainEvent],
    context: CommandContext,
    *,
    idempotency: Idempotency | None = None,
    result: Mapping[str, Any] | None = None,
    sealed: SealedEvents | None = None,
) -> Commit:
    """Seal and append events decided for one stream (the customer's key seals them)."""
    seals = sealed or deps.sealed
    with deps.tracer.start_as_current_span(
        "eventstore.append", attributes={"crm.stream_id": stream_id, "crm.events": len(decided)}
    ):
        events = [
            await seals.seal(
                stream_id, NewEvent(e.event_type, e.schema_version, e.model_dump(mode="json"))
            )
            for e in decided
        ]
        return await deps.store.append(
            stream_id,
            expected_version,
            events,
            _with_traceparent(context),
            now=deps.clock(),
            event_ids=[deps.new_id("evt") for _ in decided],
            idempotency=idempotency,
            result=result,
        )


async def replayed(deps: Dependencies, commit: Commit) -> Outcome:
    """The answer a commit's command gave, personal fields revealed (placeholders if erased)."""
    sealed = seals_of_one_command(deps)
    stored = commit.result.get("customer") or {}
    answer = await reveal_view(sealed, str(stored.get("id", commit.stream_id)), stored)
    events = tuple([await parse(sealed, stored_event) for stored_event in commit.events])
    return Outcome(answer, int(answer.get("version", commit.version)), True, events)


async def seal_view(sealed: SealedEvents, subject: str, view: dict[str, Any]) -> dict[str, Any]:
    """A customer view to store: personal details sealed, collections sealed as JSON."""
    if view.get("erased"):
        return view
    packed = {**view, **{k: json.dumps(view[k]) for k in SEALED_PACKED if k in view}}
    return await sealed.seal_fields(subject, packed, VIEW_PERSONAL)


async def reveal_view(
    sealed: SealedEvents, subject: str, stored: Mapping[str, Any]
) -> dict[str, Any]:
    answer = await sealed.reveal_fields(subject, dict(stored), VIEW_PLACEHOLDERS)
    for key, empty in SEALED_PACKED.items():
        if key in answer:
            value = answer[key]
            answer[key] = json.loads(value) if isinstance(value, str) else empty()
    return answer


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
