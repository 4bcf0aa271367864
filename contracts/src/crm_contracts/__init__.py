"""The CRM's published event contracts.

Other internal services install this package to read our events: the payload
models, the envelope every event carries, and the CloudEvents binding used on
Kafka. Everything here is a public contract; see ``crm_contracts.compat`` for
the rule that keeps changes backwards compatible.
"""

from __future__ import annotations

from crm_contracts.envelope import EventMetadata
from crm_contracts.registry import REGISTRY, ContractViolation, DomainEvent, EventRegistry

__all__ = ["REGISTRY", "ContractViolation", "DomainEvent", "EventMetadata", "EventRegistry"]
