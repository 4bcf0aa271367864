"""Service-level targets per priority, and what an escalation does to a priority.

A target table gives, per priority, the time to the first public reply and the
time to resolution. The defaults below are overridden (per priority and target)
from settings; ``sla_targets`` checks a table and says exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from crm_contracts.tickets import PRIORITY_ORDER, Priority, SlaTarget


@dataclass(frozen=True)
class Targets:
    first_response: timedelta
    resolution: timedelta

    def of(self, target: SlaTarget) -> timedelta:
        return self.first_response if target is SlaTarget.FIRST_RESPONSE else self.resolution


DEFAULT_TARGETS: Mapping[Priority, Targets] = {
    Priority.URGENT: Targets(timedelta(hours=1), timedelta(hours=4)),
    Priority.HIGH: Targets(timedelta(hours=4), timedelta(days=1)),
    Priority.NORMAL: Targets(timedelta(hours=8), timedelta(days=3)),
    Priority.LOW: Targets(timedelta(days=1), timedelta(days=5)),
}


@dataclass(frozen=True)
class SlaPolicy:
    """Targets per priority, and who leads each team (the escalation goes to them)."""

    targets: Mapping[Priority, Targets] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    team_leads: Mapping[str, str] = field(default_factory=dict)

    def for_priority(self, priority: Priority) -> Targets:
        return self.targets[priority]

    def lead_of(self, team: str | None) -> str | None:
        return self.team_leads.get(team) if team is not None else None


DEFAULT_POLICY = SlaPolicy()


def raised(priority: Priority) -> Priority:
    """One level up; urgent stays urgent."""
    index = PRIORITY_ORDER.index(priority)
    return PRIORITY_ORDER[min(index + 1, len(PRIORITY_ORDER) - 1)]


def sla_targets(
    overrides: Mapping[str, Mapping[str, timedelta]],
    defaults: Mapping[Priority, Targets] = DEFAULT_TARGETS,
) -> dict[Priority, Targets]:
    """The defaults with ``overrides`` (priority -> target -> duration) applied.

    Raises ValueError naming every unknown priority or target, every duration that
    is not positive, and every priority whose first response would be due after
    its resolution.
    """
    problems: list[str] = []
    known_targets = {t.value for t in SlaTarget}
    table = dict(defaults)
    for name, given in overrides.items():
        try:
            priority = Priority(name)
        except ValueError:
            problems.append(f"unknown priority {name!r} (known: {', '.join(PRIORITY_ORDER)})")
            continue
        unknown = sorted(set(given) - known_targets)
        if unknown:
            problems.append(
                f"{name}: unknown target(s) {', '.join(unknown)} "
                "(known: first_response, resolution)"
            )
        current = table[priority]
        first = given.get(SlaTarget.FIRST_RESPONSE.value, current.first_response)
        resolution = given.get(SlaTarget.RESOLUTION.value, current.resolution)
        table[priority] = Targets(first, resolution)
    for priority, targets in table.items():
        for target in SlaTarget:
            if targets.of(target) <= timedelta(0):
                problems.append(f"{priority.value}.{target.value} must be longer than 0")
        if targets.first_response > targets.resolution:
            problems.append(
                f"{priority.value}: first_response ({targets.first_response}) is after "
                f"resolution ({targets.resolution})"
            )
    if problems:
        raise ValueError("invalid SLA targets: " + "; ".join(problems))
    return table
