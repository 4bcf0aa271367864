"""What the pipeline's rules refuse, in four kinds the entry points map to HTTP once."""

from __future__ import annotations

from decimal import Decimal


class PipelineError(Exception):
    """A command that the rules or the aggregate's current state do not allow."""


class NotFound(PipelineError):
    """No aggregate of that kind with that id."""

    def __init__(self, kind: str, aggregate_id: str) -> None:
        super().__init__(f"no {kind} with id {aggregate_id}")
        self.kind = kind
        self.aggregate_id = aggregate_id


class AlreadyExists(PipelineError):
    def __init__(self, kind: str, aggregate_id: str) -> None:
        super().__init__(f"{kind} {aggregate_id} already exists")
        self.kind = kind
        self.aggregate_id = aggregate_id


class WrongState(PipelineError):
    """The aggregate is in a state where the command makes no sense (e.g. winning a lost deal)."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title = title


class InvalidInput(PipelineError, ValueError):
    """A value the rules refuse, naming the field it came in."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Overpayment(PipelineError):
    """A payment larger than what is still owed."""

    def __init__(self, order_id: str, amount: Decimal, balance: Decimal, currency: str) -> None:
        super().__init__(
            f"a payment of {amount} {currency} is more than the open balance of "
            f"{balance} {currency} of order {order_id}"
        )
        self.amount = amount
        self.balance = balance
        self.currency = currency
