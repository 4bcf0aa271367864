"""Events of the tickets bounded context (customer service)."""

from __future__ import annotations

SOURCE = "/crm/tickets"
TOPIC = "crm.tickets.events"
