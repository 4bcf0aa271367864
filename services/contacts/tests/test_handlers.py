"""Command handlers through bootstrap: load, decide, append, with a fixed clock and ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from contacts_testing import NEW_PROFILE
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_contacts.application.handlers import execute, load_customer
from crm_contacts.bootstrap import ContactsService, bootstrap
from crm_contacts.config import ContactsSettings
from crm_contacts.domain.customer import (
    ChangeCustomerDetails,
    CustomerNotFound,
    RegisterCustomer,
)
from crm_contracts.contacts import CustomerKind, CustomerOwnerAssigned, CustomerRegistered
from crm_runtime.eventstore import CommandContext, Idempotency, WrongExpectedVersion
from crm_runtime.telemetry import build_tracer_provider, context_from_traceparent

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
ADA = "cus_ada"
REGISTER_ADA = RegisterCustomer(
    customer_id=ADA,
    name="Ada Lovelace",
    kind=CustomerKind.PERSON,
    email="ada@example.com",
    phone="+4930901820",
    owner_id="u1",
    team="north",
)
SIGNUP = CommandContext(
    command_id="cmd_signup",
    correlation_id="corr_onboarding",
    causation_id="evt_form_submitted",
    actor="user:clerk-1",
)


def sequential_ids() -> Callable[[str], str]:
    numbers = count(1)
    return lambda prefix: f"{prefix}_{next(numbers)}"


@pytest.fixture
async def service(memory_client: Any, span_exporter: InMemorySpanExporter) -> ContactsService:
    service = bootstrap(
        ContactsSettings(embedded_backend="memory"),
        document_client=memory_client,
        tracer_provider=build_tracer_provider("crm-contacts-test", exporter=span_exporter),
        clock=lambda: NOW,
        id_factory=sequential_ids(),
    )
    await service.start()
    return service


async def test_registering_appends_customer_registered_and_its_owner_with_their_metadata(
    service: ContactsService,
) -> None:
    outcome = await execute(service.deps, REGISTER_ADA, SIGNUP, expected_version=0)

    assert (outcome.version, outcome.replayed) == (2, False)
    assert outcome.customer == {
        "id": ADA,
        "kind": "person",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+4930901820",
        "owner_id": "u1",
        "team": "north",
        "version": 2,
        **NEW_PROFILE,
    }
    registered, owner_assigned = await service.store.load(ADA)
    metadata = {
        "schema_version": 1,
        "source": "/crm/contacts",
        "subject": ADA,
        "time": NOW,
        "correlation_id": "corr_onboarding",
        "causation_id": "evt_form_submitted",
        "actor": "user:clerk-1",
    }
    assert registered.metadata.model_dump() == {
        **metadata,
        "id": "evt_1",
        "type": "crm.contacts.CustomerRegistered",
        "sequence": 1,
    }
    assert owner_assigned.metadata.model_dump() == {
        **metadata,
        "id": "evt_2",
        "type": "crm.contacts.CustomerOwnerAssigned",
        "sequence": 2,
    }
    revealed = await service.deps.sealed.reveal(registered)
    assert CustomerRegistered.model_validate(revealed.data) == CustomerRegistered(
        customer_id=ADA,
        name="Ada Lovelace",
        kind=CustomerKind.PERSON,
        email="ada@example.com",
        phone="+4930901820",
    )
    assert CustomerOwnerAssigned.model_validate(owner_assigned.data) == CustomerOwnerAssigned(
        customer_id=ADA, owner_id="u1", team="north"
    )


async def test_personal_fields_are_stored_sealed(service: ContactsService) -> None:
    await execute(service.deps, REGISTER_ADA, SIGNUP)

    registered, _ = await service.store.load(ADA)
    for field in ("name", "email", "phone"):
        assert registered.data[field].startswith("pii:v1:")
    assert (registered.data["customer_id"], registered.data["kind"]) == (ADA, "person")


async def test_a_registration_without_an_owner_appends_only_customer_registered(
    service: ContactsService,
) -> None:
    outcome = await execute(service.deps, replace(REGISTER_ADA, owner_id=None, team=None), SIGNUP)

    assert outcome.version == 1
    assert (outcome.customer["owner_id"], outcome.customer["team"]) == (None, None)
    assert [e.metadata.type for e in await service.store.load(ADA)] == [
        "crm.contacts.CustomerRegistered"
    ]


async def test_a_change_that_changes_nothing_appends_nothing(service: ContactsService) -> None:
    registered = await execute(service.deps, REGISTER_ADA, SIGNUP)
    same_again = ChangeCustomerDetails(ADA, name="Ada Lovelace", email="ada@example.com")

    outcome = await execute(service.deps, same_again, SIGNUP, expected_version=2)

    assert (outcome.customer, outcome.version, outcome.replayed) == (
        registered.customer,
        2,
        False,
    )
    assert await service.store.head_position() == 1
    assert len(await service.store.load(ADA)) == 2


@pytest.mark.parametrize("expected_version", [1, 3])
async def test_a_change_from_another_version_is_refused(
    service: ContactsService, expected_version: int
) -> None:
    await execute(service.deps, REGISTER_ADA, SIGNUP)

    with pytest.raises(WrongExpectedVersion) as refused:
        await execute(
            service.deps,
            ChangeCustomerDetails(ADA, name="Ada King"),
            SIGNUP,
            expected_version=expected_version,
        )

    assert (refused.value.expected, refused.value.actual) == (expected_version, 2)
    assert (await load_customer(service.deps, ADA)).name == "Ada Lovelace"


async def test_a_change_of_an_unregistered_customer_is_not_found(
    service: ContactsService,
) -> None:
    with pytest.raises(CustomerNotFound):
        await execute(service.deps, ChangeCustomerDetails(ADA, name="Ada King"), SIGNUP)
    assert await service.store.head_position() == 0


async def test_a_command_repeated_under_its_key_answers_the_first_outcome(
    service: ContactsService,
) -> None:
    key = Idempotency(key="clerk-1:signup-7", fingerprint="sha-of-the-request")
    first = await execute(service.deps, REGISTER_ADA, SIGNUP, idempotency=key)
    again = await execute(service.deps, REGISTER_ADA, SIGNUP, expected_version=0, idempotency=key)

    assert again.replayed
    assert (again.customer, again.version) == (first.customer, first.version)
    assert await service.store.head_position() == 1


async def test_the_append_is_traced_as_a_child_of_the_command(
    service: ContactsService, span_exporter: InMemorySpanExporter
) -> None:
    await execute(service.deps, REGISTER_ADA, SIGNUP)

    by_name = {span.name: span for span in span_exporter.get_finished_spans()}
    command, append = by_name["contacts.RegisterCustomer"], by_name["eventstore.append"]
    assert command.attributes is not None
    assert dict(command.attributes) == {"crm.customer_id": ADA, "crm.command_id": "cmd_signup"}
    assert append.parent is not None
    assert append.parent.span_id == command.context.span_id
    assert append.context.trace_id == command.context.trace_id
    for stored in await service.store.load(ADA):  # both events of the registration's commit
        parent = trace.get_current_span(context_from_traceparent(stored.traceparent))
        assert parent.get_span_context().span_id == append.context.span_id
        assert parent.get_span_context().trace_id == append.context.trace_id
