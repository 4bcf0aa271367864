"""Event types by name and version, and upcasting of old versions on read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.config import JsonDict

Upcaster = Callable[[Mapping[str, Any]], dict[str, Any]]


class ContractViolation(ValueError):
    """A message does not satisfy the published contract; the reason says why."""


class DomainEvent(BaseModel):
    """Base of every event payload: immutable, strict, named and versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]


PERSONAL: JsonDict = {"x-personal": True}
"""``json_schema_extra`` of a field that holds personal data: encrypted at rest, erasable."""


def personal_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of the fields of ``model`` marked as personal data."""
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("x-personal")
    )


class EventRegistry:
    """Knows every published event type, its latest version and its upcasters."""

    def __init__(self) -> None:
        self._latest: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def event(self, model: type[DomainEvent]) -> type[DomainEvent]:
        """Register the current version of an event type (usable as a decorator)."""
        current = self._latest.get(model.event_type)
        if current is not None and current is not model:
            raise ValueError(f"event type {model.event_type} is registered twice")
        self._latest[model.event_type] = model
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the function that turns version N of a payload into version N + 1."""

        def register(function: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = function
            return function

        return register

    @property
    def types(self) -> Mapping[str, type[DomainEvent]]:
        return dict(self._latest)

    def model_for(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._latest[event_type]
        except KeyError:
            raise ContractViolation(f"unknown event type {event_type!r}") from None

    def parse(self, event_type: str, schema_version: int, data: Mapping[str, Any]) -> DomainEvent:
        """Validate a stored or received payload, upcasting old versions first."""
        model = self.model_for(event_type)
        if schema_version > model.schema_version:
            raise ContractViolation(
                f"{event_type} version {schema_version} is newer than this consumer knows "
                f"({model.schema_version}); upgrade crm-contracts"
            )
        payload = dict(data)
        for version in range(schema_version, model.schema_version):
            upcast = self._upcasters.get((event_type, version))
            if upcast is None:
                raise ContractViolation(f"no upcaster for {event_type} from version {version}")
            payload = upcast(payload)
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            raise ContractViolation(f"invalid {event_type} payload: {error}") from error


REGISTRY = EventRegistry()
"""The registry of every event the CRM publishes."""


def _load_all_contexts() -> None:
    # Importing each context's module (and the R&D exchange's) registers its events.
    from crm_contracts import contacts, loyalty, pipeline, rnd, sagas, tickets  # noqa: F401


_load_all_contexts()
