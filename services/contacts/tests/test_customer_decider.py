"""The customer decider: given these events, when this command, then these events or an error."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pytest

from crm_contacts.domain.customer import (
    ChangeCustomerDetails,
    CustomerAlreadyRegistered,
    CustomerCommand,
    CustomerNotFound,
    CustomerWasErased,
    EraseCustomer,
    Erased,
    RegisterCustomer,
    Registered,
    Unregistered,
    decide,
    evolve,
    fold,
    initial_state,
)
from crm_contracts.contacts import (
    CustomerDetailsChanged,
    CustomerErased,
    CustomerKind,
    CustomerOwnerAssigned,
    CustomerRegistered,
)
from crm_contracts.registry import DomainEvent

ADA = "cus_ada"
ADA_REGISTERED = CustomerRegistered(
    customer_id=ADA,
    name="Ada Lovelace",
    kind=CustomerKind.PERSON,
    email="ada@example.com",
    phone="+4930901820",
)
ADA_REGISTERED_WITHOUT_CONTACTS = CustomerRegistered(
    customer_id=ADA, name="Ada Lovelace", kind=CustomerKind.PERSON
)
OWNED_BY_U1 = CustomerOwnerAssigned(customer_id=ADA, owner_id="u1", team="north")
ADA_ERASED = CustomerErased(customer_id=ADA, request_reference="dsr-2026-0042")


class CustomerFlagged(DomainEvent):
    """An event of the customer's stream that the decider does not fold (e.g. a newer type)."""

    event_type: ClassVar[str] = "crm.test.CustomerFlagged"
    schema_version: ClassVar[int] = 1

    customer_id: str


def given_when(given: list[DomainEvent], when: CustomerCommand) -> list[DomainEvent]:
    """The events the decider decides for ``when`` after the history ``given``."""
    return decide(when, fold(given))


@pytest.mark.parametrize(
    ("given", "when", "then"),
    [
        pytest.param(
            [],
            RegisterCustomer(
                ADA, "Ada Lovelace", CustomerKind.PERSON, "ada@example.com", "+4930901820"
            ),
            [ADA_REGISTERED],
            id="register on an empty stream",
        ),
        pytest.param(
            [],
            RegisterCustomer(ADA, "Ada Lovelace", CustomerKind.PERSON),
            [ADA_REGISTERED_WITHOUT_CONTACTS],
            id="register without e-mail or phone",
        ),
        pytest.param(
            [],
            RegisterCustomer(
                ADA,
                "Ada Lovelace",
                CustomerKind.PERSON,
                "ada@example.com",
                "+4930901820",
                owner_id="u1",
                team="north",
            ),
            [ADA_REGISTERED, OWNED_BY_U1],
            id="register for an owner: the owner is assigned right after",
        ),
        pytest.param(
            [],
            RegisterCustomer(ADA, "Ada Lovelace", CustomerKind.PERSON, owner_id="u1"),
            [
                ADA_REGISTERED_WITHOUT_CONTACTS,
                CustomerOwnerAssigned(customer_id=ADA, owner_id="u1"),
            ],
            id="register for an owner without a team",
        ),
        pytest.param(
            [ADA_REGISTERED, OWNED_BY_U1],
            EraseCustomer(ADA, request_reference="dsr-2026-0042"),
            [ADA_ERASED],
            id="erase a registered customer",
        ),
        pytest.param(
            [ADA_REGISTERED],
            EraseCustomer(ADA),
            [CustomerErased(customer_id=ADA)],
            id="erase without a request reference",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, name="Ada King"),
            [CustomerDetailsChanged(customer_id=ADA, name="Ada King")],
            id="change the name",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, email="ada@example.org"),
            [CustomerDetailsChanged(customer_id=ADA, email="ada@example.org")],
            id="change the e-mail",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, phone="+41446681800"),
            [CustomerDetailsChanged(customer_id=ADA, phone="+41446681800")],
            id="change the phone",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, name="Ada Lovelace", email="ada@example.org"),
            [CustomerDetailsChanged(customer_id=ADA, email="ada@example.org")],
            id="only the details that differ are in the event",
        ),
        pytest.param(
            [ADA_REGISTERED_WITHOUT_CONTACTS],
            ChangeCustomerDetails(ADA, email="ada@example.com"),
            [CustomerDetailsChanged(customer_id=ADA, email="ada@example.com")],
            id="add an e-mail the customer did not have",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, clear=frozenset({"email"})),
            [CustomerDetailsChanged(customer_id=ADA, cleared=("email",))],
            id="clear the e-mail",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, clear=frozenset({"phone", "email"})),
            [CustomerDetailsChanged(customer_id=ADA, cleared=("email", "phone"))],
            id="clear both, listed in a stable order",
        ),
        pytest.param(
            [ADA_REGISTERED, CustomerDetailsChanged(customer_id=ADA, cleared=("phone",))],
            ChangeCustomerDetails(ADA, clear=frozenset({"phone", "email"})),
            [CustomerDetailsChanged(customer_id=ADA, cleared=("email",))],
            id="only details that are there are cleared",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, email="ada@example.org", clear=frozenset({"email"})),
            [CustomerDetailsChanged(customer_id=ADA, email="ada@example.org")],
            id="a detail both given and cleared takes the given value",
        ),
    ],
)
def test_decides_events(
    given: list[DomainEvent], when: CustomerCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(
    ("given", "when"),
    [
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, name="Ada Lovelace", email="ada@example.com"),
            id="the same values again",
        ),
        pytest.param([ADA_REGISTERED], ChangeCustomerDetails(ADA), id="nothing given"),
        pytest.param(
            [ADA_REGISTERED_WITHOUT_CONTACTS],
            ChangeCustomerDetails(ADA, clear=frozenset({"email", "phone"})),
            id="clear details that are not there",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, phone="+4930901820", clear=frozenset({"phone"})),
            id="a detail both cleared and given its current value keeps it",
        ),
        pytest.param(
            [ADA_REGISTERED, OWNED_BY_U1, ADA_ERASED],
            EraseCustomer(ADA, request_reference="dsr-2026-0043"),
            id="erase an erased customer again",
        ),
    ],
)
def test_a_change_that_changes_nothing_decides_no_events(
    given: list[DomainEvent], when: CustomerCommand
) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [
        pytest.param(
            [ADA_REGISTERED],
            RegisterCustomer(ADA, "Ada Lovelace", CustomerKind.PERSON),
            CustomerAlreadyRegistered,
            "already registered",
            id="register twice",
        ),
        pytest.param(
            [],
            ChangeCustomerDetails(ADA, name="Ada King"),
            CustomerNotFound,
            "no customer with id cus_ada",
            id="change an unregistered customer",
        ),
        pytest.param(
            [ADA_REGISTERED],
            ChangeCustomerDetails(ADA, clear=frozenset({"name", "kind"})),
            ValueError,
            "cannot clear kind, name",
            id="clear a detail that cannot be cleared",
        ),
        pytest.param(
            [ADA_REGISTERED, ADA_ERASED],
            ChangeCustomerDetails(ADA, name="Ada King"),
            CustomerWasErased,
            "customer cus_ada was erased",
            id="change an erased customer",
        ),
        pytest.param(
            [ADA_REGISTERED, ADA_ERASED],
            RegisterCustomer(ADA, "Ada Lovelace", CustomerKind.PERSON),
            CustomerAlreadyRegistered,
            "already registered",
            id="register an erased customer again",
        ),
        pytest.param(
            [],
            EraseCustomer(ADA),
            CustomerNotFound,
            "no customer with id cus_ada",
            id="erase an unregistered customer",
        ),
    ],
)
def test_refuses_a_command_the_state_does_not_allow(
    given: list[DomainEvent], when: CustomerCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


def test_registered_state_holds_what_was_registered() -> None:
    assert fold([ADA_REGISTERED]) == Registered(
        customer_id=ADA,
        name="Ada Lovelace",
        kind=CustomerKind.PERSON,
        email="ada@example.com",
        phone="+4930901820",
        version=1,
    )


def test_the_owner_assigned_is_the_customers_owner() -> None:
    state = fold([ADA_REGISTERED, OWNED_BY_U1])
    assert isinstance(state, Registered)
    assert (state.owner_id, state.team, state.version) == ("u1", "north", 2)
    reassigned = CustomerOwnerAssigned(
        customer_id=ADA, owner_id="u2", team="south", previous_owner_id="u1"
    )
    assert evolve(state, reassigned) == replace(state, owner_id="u2", team="south", version=3)


def test_an_erased_customer_keeps_only_its_id_owner_and_version() -> None:
    assert fold([ADA_REGISTERED, OWNED_BY_U1, ADA_ERASED]) == Erased(
        customer_id=ADA, version=3, owner_id="u1", team="north"
    )


def test_history_folds_into_the_current_details() -> None:
    history: list[DomainEvent] = [
        ADA_REGISTERED,
        CustomerDetailsChanged(customer_id=ADA, name="Ada King", cleared=("phone",)),
        CustomerDetailsChanged(customer_id=ADA, email="ada@example.org"),
        CustomerDetailsChanged(customer_id=ADA, phone="+41446681800", cleared=("email",)),
    ]
    assert fold(history) == Registered(
        customer_id=ADA,
        name="Ada King",
        kind=CustomerKind.PERSON,
        email=None,
        phone="+41446681800",
        version=4,
    )


def test_folding_decided_events_gives_the_state_the_command_asked_for() -> None:
    state = fold([ADA_REGISTERED])
    command = ChangeCustomerDetails(ADA, name="Ada King", clear=frozenset({"email"}))
    after = fold(decide(command, state), state)
    assert isinstance(after, Registered)
    assert (after.name, after.email, after.phone, after.version) == (
        "Ada King",
        None,
        "+4930901820",
        2,
    )


@pytest.mark.parametrize(
    ("history", "expected_version"),
    [
        pytest.param([], 0, id="nothing happened"),
        pytest.param([CustomerFlagged(customer_id=ADA)], 1, id="an unknown event before"),
        pytest.param(
            [ADA_REGISTERED, CustomerFlagged(customer_id=ADA)], 2, id="an unknown event after"
        ),
        pytest.param(
            [ADA_REGISTERED, ADA_REGISTERED], 2, id="a registration of a registered customer"
        ),
        pytest.param(
            [CustomerDetailsChanged(customer_id=ADA, name="Ada King")],
            1,
            id="a change before any registration",
        ),
    ],
)
def test_every_event_counts_towards_the_version(
    history: list[DomainEvent], expected_version: int
) -> None:
    assert fold(history).version == expected_version


def test_an_event_it_does_not_fold_leaves_the_details_alone() -> None:
    registered = fold([ADA_REGISTERED])
    assert isinstance(registered, Registered)
    assert evolve(registered, CustomerFlagged(customer_id=ADA)) == replace(registered, version=2)
    assert evolve(initial_state, CustomerFlagged(customer_id=ADA)) == Unregistered(version=1)
