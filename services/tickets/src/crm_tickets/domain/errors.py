"""What the tickets' rules refuse, in kinds the entry points map to HTTP in one place."""

from __future__ import annotations


class TicketError(Exception):
    """A command that the rules or the ticket's current state do not allow."""


class NotFound(TicketError):
    """No ticket with that id."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"no ticket with id {ticket_id}")
        self.ticket_id = ticket_id


class AlreadyExists(TicketError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"ticket {ticket_id} already exists")
        self.ticket_id = ticket_id


class WrongState(TicketError):
    """The ticket is in a status where the command makes no sense (e.g. closing a new one)."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title = title


class SurveyAlreadyAnswered(TicketError):
    """The survey of a ticket is answered once."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"the survey of ticket {ticket_id} was already answered")
        self.ticket_id = ticket_id


class InvalidInput(TicketError, ValueError):
    """A value the rules refuse, naming the field it came in."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
