"""What loyalty's rules refuse, in a few kinds the entry points map to HTTP in one place."""

from __future__ import annotations


class LoyaltyError(Exception):
    """A command that the rules or the aggregate's current state do not allow."""


class NotFound(LoyaltyError):
    """No store, member or coupon with that id."""

    def __init__(self, kind: str, aggregate_id: str) -> None:
        super().__init__(f"no {kind} with id {aggregate_id}")
        self.kind = kind
        self.aggregate_id = aggregate_id


class AlreadyExists(LoyaltyError):
    def __init__(self, kind: str, aggregate_id: str, why: str = "") -> None:
        super().__init__(f"{kind} {aggregate_id} already exists{why}")
        self.kind = kind
        self.aggregate_id = aggregate_id


class WrongState(LoyaltyError):
    """The command makes no sense in the current state (e.g. redeeming a coupon twice)."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title = title


class InvalidInput(LoyaltyError, ValueError):
    """A value the rules refuse, naming the field it came in."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotEnoughPoints(LoyaltyError):
    """Spending more points than the member has: the balance never goes below zero."""

    def __init__(self, customer_id: str, points: int, balance: int) -> None:
        super().__init__(f"member {customer_id} has {balance} points, not enough to spend {points}")
        self.customer_id = customer_id
        self.points = points
        self.balance = balance
