"""Why the customer decider refuses a command; entry points map each kind to one HTTP status."""

from __future__ import annotations


class CustomerError(Exception):
    """A command that the customer's current state does not allow."""


class CustomerAlreadyRegistered(CustomerError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} is already registered")


class CustomerNotFound(CustomerError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer with id {customer_id}")
        self.customer_id = customer_id


class CustomerWasErased(CustomerError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} was erased; their personal data is gone")
        self.customer_id = customer_id


class CustomerWasMerged(CustomerError):
    """The customer was a duplicate; it lives on as the survivor, which takes the commands."""

    def __init__(self, customer_id: str, survivor_id: str) -> None:
        super().__init__(
            f"customer {customer_id} was merged into {survivor_id}; send commands to {survivor_id}"
        )
        self.customer_id = customer_id
        self.survivor_id = survivor_id


class ContactPersonNotFound(CustomerError):
    def __init__(self, customer_id: str, person_id: str) -> None:
        super().__init__(f"customer {customer_id} has no contact person {person_id}")
        self.customer_id = customer_id


class RuleViolated(CustomerError):
    """A business rule forbids the command in the customer's current state (a conflict)."""


class InvalidCommand(CustomerError, ValueError):
    """The command itself is wrong whatever the state: a date in the future, a blank reason."""
