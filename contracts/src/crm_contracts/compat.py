"""The compatibility rule for a published event version.

Consumers validate payloads strictly (unknown fields refused), so once a
version is published its shape is frozen: no field may be added, removed,
renamed, retyped, or change between optional and required. Descriptions and
examples may change. Any other change needs a new schema version with an
upcaster from the previous one (``upcast_v1_to_v2``).
"""

from __future__ import annotations

from typing import Any

_DOCUMENTATION = {
    "description",
    "examples",
    "title",
    "$id",
    "x-event-type",
    "x-schema-version",
    "x-personal",
}


def breaking_changes(published: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What in ``current`` would break a consumer of ``published`` (empty when none)."""
    return _compare(_strip(published), _strip(current), "")


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _DOCUMENTATION}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _compare(old: Any, new: Any, where: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        problems = []
        if where.endswith("properties"):
            for name in sorted(old.keys() - new.keys()):
                problems.append(f"field {name!r} was removed")
            for name in sorted(new.keys() - old.keys()):
                problems.append(f"field {name!r} was added (needs a new schema version)")
        for key in sorted(old.keys() & new.keys()):
            problems += _compare(old[key], new[key], f"{where}.{key}" if where else key)
        if not where.endswith("properties"):
            for key in sorted(old.keys() ^ new.keys()):
                problems.append(f"{where or 'schema'}: keyword {key!r} changed")
        return problems
    if isinstance(old, list) and isinstance(new, list) and where.endswith("required"):
        removed, added = set(old) - set(new), set(new) - set(old)
        return [f"field {f!r} became required" for f in sorted(added)] + [
            f"field {f!r} became optional" for f in sorted(removed)
        ]
    if old != new:
        return [f"{where}: {old!r} became {new!r}"]
    return []
