"""Events of the loyalty bounded context."""

from __future__ import annotations

SOURCE = "/crm/loyalty"
TOPIC = "crm.loyalty.events"
