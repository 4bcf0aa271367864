"""MongoDB query semantics in Python for the embedded store (see embedded_store.py).

Matching, update operators, projections, sort keys and the sortable SQLite keys
of index entries, for the subset of the query language the services use (and
a little more: what a reviewer would expect next to it). Documents here are
already BSON-normalised (decoded from BSON): datetimes are aware UTC with
millisecond precision, tuples are lists.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import struct
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.datetime_ms import DatetimeMS
from bson.objectid import ObjectId
from bson.regex import Regex
from pymongo.errors import OperationFailure

CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
"""How documents are decoded: as ``AsyncMongoClient(tz_aware=True)`` decodes them, times
aware in BSON's own UTC (``bson.tz_util.utc``). Asking for ``tzinfo=timezone.utc`` instead
converts every time after decoding it, which made decoding a commit 40 % slower."""
MISSING: Any = object()

# BSON comparison order of types (MongoDB's "sort order across types").
_NULL, _NUMBER, _STRING, _OBJECT, _ARRAY, _BINARY, _OID, _BOOL, _DATE, _REGEX = range(1, 11)


def normalise(value: Mapping[str, Any]) -> dict[str, Any]:
    """What MongoDB would see: the value round-tripped through BSON."""
    return bson.decode(bson.encode(value), codec_options=CODEC)


def type_rank(value: Any) -> int:
    if value is None or value is MISSING:
        return _NULL
    return _rank_of_type(type(value))


@functools.cache
def _rank_of_type(kind: type) -> int:
    """The rank of a type (a rank depends on the value's type only: cached per type)."""
    if issubclass(kind, bool):
        return _BOOL
    if issubclass(kind, int | float | bson.Int64 | bson.Decimal128):
        return _NUMBER
    if issubclass(kind, str):
        return _STRING
    if issubclass(kind, Mapping):
        return _OBJECT
    if issubclass(kind, list | tuple):
        return _ARRAY
    if issubclass(kind, bytes):
        return _BINARY
    if issubclass(kind, ObjectId):
        return _OID
    if issubclass(kind, datetime | DatetimeMS):
        return _DATE
    if issubclass(kind, re.Pattern | Regex):
        return _REGEX
    if kind is type(None):
        return _NULL
    return 99


def sort_key(value: Any) -> tuple[Any, ...]:
    """A Python key ordering values as MongoDB orders BSON values."""
    rank = type_rank(value)
    if rank == _NUMBER:
        number = float(value.to_decimal()) if isinstance(value, bson.Decimal128) else value
        return (rank, number)
    if rank in (_STRING, _BOOL, _DATE, _BINARY):
        return (rank, value)
    if rank == _OID:
        return (rank, value.binary)
    if rank == _OBJECT:
        return (rank, tuple((k, sort_key(v)) for k, v in value.items()))
    if rank == _ARRAY:
        return (rank, tuple(sort_key(v) for v in value))
    if rank == _REGEX:
        return (rank, str(value.pattern))
    return (rank,)


def values_equal(left: Any, right: Any) -> bool:
    if type_rank(left) != type_rank(right):
        return False
    return sort_key(left) == sort_key(right)


# ---------------------------------------------------------------- paths


def path_values(doc: Any, path: str) -> list[Any]:
    """Every value at a dotted path, traversing arrays (MISSING when nothing is there).

    An array found at the end is returned itself *and* expanded into its elements,
    as MongoDB matches a query value against both.
    """
    found: list[Any] = []
    _walk(doc, path.split("."), found)
    return found or [MISSING]


def _walk(value: Any, parts: list[str], found: list[Any]) -> None:
    if not parts:
        found.append(value)
        if isinstance(value, list):
            found.extend(value)
        return
    head, rest = parts[0], parts[1:]
    if isinstance(value, Mapping):
        if head in value:
            _walk(value[head], rest, found)
        elif not rest:
            return
    elif isinstance(value, list):
        if head.isdigit() and int(head) < len(value):
            _walk(value[int(head)], rest, found)
        for item in value:
            if isinstance(item, Mapping):
                _walk(item, parts, found)


def _present(doc: Any, path: str) -> list[Any]:
    return [v for v in path_values(doc, path) if v is not MISSING]


# ---------------------------------------------------------------- matching


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(doc, part) for part in _clauses(key, condition)):
                return False
        elif key == "$or":
            if not any(matches(doc, part) for part in _clauses(key, condition)):
                return False
        elif key == "$nor":
            if any(matches(doc, part) for part in _clauses(key, condition)):
                return False
        elif key == "$comment":
            continue
        elif key.startswith("$"):
            raise OperationFailure(f"unknown top level operator: {key}", code=2)
        elif not _field_matches(doc, key, condition):
            return False
    return True


def _clauses(operator: str, condition: Any) -> list[Mapping[str, Any]]:
    if not isinstance(condition, list) or not condition:
        raise OperationFailure(f"{operator} must be a nonempty array", code=2)
    return condition


def is_operator_document(condition: Any) -> bool:
    return (
        isinstance(condition, Mapping)
        and bool(condition)
        and all(str(k).startswith("$") for k in condition)
    )


def _field_matches(doc: Mapping[str, Any], path: str, condition: Any) -> bool:
    if isinstance(condition, re.Pattern | Regex):
        return _regex_matches(path_values(doc, path), condition, "")
    if not is_operator_document(condition):
        return _equals_any(path_values(doc, path), condition)
    values = path_values(doc, path)
    options = str(condition.get("$options", ""))
    for operator, operand in condition.items():
        if operator == "$options":
            continue
        if not _operator_matches(doc, path, values, operator, operand, options):
            return False
    return True


def _equals_any(values: list[Any], expected: Any) -> bool:
    if expected is None:
        return any(v is None or v is MISSING for v in values)
    return any(v is not MISSING and values_equal(v, expected) for v in values)


def _compare_any(values: list[Any], operand: Any, test: Any) -> bool:
    rank = type_rank(operand)
    key = sort_key(operand)
    for value in values:
        if value is MISSING:
            if operand is None and test(0, 0):
                return True
            continue
        if type_rank(value) == rank and test(sort_key(value), key):
            return True
    return False


_COMPARISONS = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _operator_matches(
    doc: Mapping[str, Any], path: str, values: list[Any], operator: str, operand: Any, options: str
) -> bool:
    if operator == "$eq":
        return _equals_any(values, operand)
    if operator == "$ne":
        return not _equals_any(values, operand)
    if operator in _COMPARISONS:
        return _compare_any(values, operand, _COMPARISONS[operator])
    if operator == "$in":
        if not isinstance(operand, list):
            raise OperationFailure("$in needs an array", code=2)
        return any(
            _regex_matches(values, item, "")
            if isinstance(item, re.Pattern | Regex)
            else _equals_any(values, item)
            for item in operand
        )
    if operator == "$nin":
        return not _operator_matches(doc, path, values, "$in", operand, options)
    if operator == "$exists":
        return bool(_present(doc, path)) == bool(operand)
    if operator == "$regex":
        return _regex_matches(values, operand, options)
    if operator == "$not":
        if isinstance(operand, re.Pattern | Regex):
            return not _regex_matches(values, operand, "")
        return not _field_matches(doc, path, operand)
    if operator == "$size":
        return any(isinstance(v, list) and len(v) == operand for v in _top_values(doc, path))
    if operator == "$all":
        return all(_equals_any(values, item) for item in operand)
    if operator == "$elemMatch":
        for value in _top_values(doc, path):
            if isinstance(value, list):
                for item in value:
                    if is_operator_document(operand):
                        if _field_matches({"v": item}, "v", operand):
                            return True
                    elif isinstance(item, Mapping) and matches(item, operand):
                        return True
        return False
    if operator == "$type":
        names = operand if isinstance(operand, list) else [operand]
        return any(_type_name(v) in names for v in values if v is not MISSING)
    raise OperationFailure(f"unknown operator: {operator}", code=2)


def _top_values(doc: Mapping[str, Any], path: str) -> list[Any]:
    """Values at a path without expanding a final array into its elements."""
    parts = _parts(path)
    value: Any = doc
    for index, part in enumerate(parts):  # plain nested fields: no walk needed
        if isinstance(value, dict):
            if part not in value:
                return []
            value = value[part]
        elif isinstance(value, list | Mapping):
            found: list[Any] = []
            _walk_top(value, parts, index, found)
            return found
        else:
            return []
    return [value]


@functools.cache
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _walk_top(value: Any, parts: tuple[str, ...], index: int, found: list[Any]) -> None:
    """Collect the values at ``parts[index:]`` below ``value``, through arrays of documents."""
    if index == len(parts):
        found.append(value)
    elif isinstance(value, Mapping) and parts[index] in value:
        _walk_top(value[parts[index]], parts, index + 1, found)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                _walk_top(item, parts, index, found)


_TYPE_NAMES = {
    _NULL: "null",
    _STRING: "string",
    _OBJECT: "object",
    _ARRAY: "array",
    _BINARY: "binData",
    _OID: "objectId",
    _BOOL: "bool",
    _DATE: "date",
    _REGEX: "regex",
}


def _type_name(value: Any) -> str:
    rank = type_rank(value)
    if rank == _NUMBER:
        if isinstance(value, float):
            return "double"
        return "int" if isinstance(value, int) and -(2**31) <= value < 2**31 else "long"
    return _TYPE_NAMES.get(rank, "unknown")


def _regex_matches(values: list[Any], pattern: Any, options: str) -> bool:
    if isinstance(pattern, Regex):
        compiled = pattern.try_compile()
    elif isinstance(pattern, re.Pattern):
        compiled = pattern
    else:
        flags = 0
        for letter, flag in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)):
            if letter in options:
                flags |= flag
        compiled = re.compile(str(pattern), flags)
    return any(isinstance(v, str) and compiled.search(v) is not None for v in values)


# ---------------------------------------------------------------- updates


def is_update_document(update: Mapping[str, Any]) -> bool:
    keys = list(update)
    if keys and all(k.startswith("$") for k in keys):
        return True
    if any(k.startswith("$") for k in keys):
        raise OperationFailure("an update mixes operators and fields", code=9)
    return False


def apply_update(doc: dict[str, Any], update: Mapping[str, Any], *, inserting: bool) -> None:
    for operator, fields in update.items():
        if not isinstance(fields, Mapping):
            raise OperationFailure(f"{operator} needs a document", code=9)
        for path, operand in fields.items():
            if (path == "_id" or path.startswith("_id.")) and (
                operator != "$set" or doc.get("_id", operand) != operand
            ):
                raise OperationFailure(
                    "Performing an update on the path '_id' would modify the immutable field '_id'",
                    code=66,
                )
            _apply(doc, operator, path, operand, inserting)


def _apply(doc: dict[str, Any], operator: str, path: str, operand: Any, inserting: bool) -> None:
    parent, leaf = _parent(doc, path, create=operator not in ("$unset", "$pull"))
    if parent is None:
        return
    current = parent.get(leaf, MISSING)
    if operator == "$set":
        parent[leaf] = operand
    elif operator == "$setOnInsert":
        if inserting:
            parent[leaf] = operand
    elif operator == "$unset":
        parent.pop(leaf, None)
    elif operator == "$inc":
        _number(operator, operand)
        if current is MISSING:
            parent[leaf] = operand
        else:
            _number(operator, current, path)
            parent[leaf] = current + operand
    elif operator in ("$min", "$max"):
        if current is MISSING:
            parent[leaf] = operand
        else:
            lower = sort_key(operand) < sort_key(current)
            if lower == (operator == "$min") and not values_equal(operand, current):
                parent[leaf] = operand
    elif operator in ("$push", "$addToSet"):
        items = operand["$each"] if is_operator_document(operand) else [operand]
        if current is MISSING:
            current = parent[leaf] = []
        if not isinstance(current, list):
            raise OperationFailure(f"{operator} to a non-array field {path}", code=2)
        for item in items:
            if operator == "$push" or not any(values_equal(item, v) for v in current):
                current.append(item)
    elif operator == "$pull":
        if isinstance(current, list):
            parent[leaf] = [
                v
                for v in current
                if not (
                    _field_matches({"v": v}, "v", operand)
                    if is_operator_document(operand)
                    else values_equal(v, operand)
                )
            ]
    else:
        raise OperationFailure(f"unknown update operator: {operator}", code=9)


def _number(operator: str, value: Any, path: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OperationFailure(f"{operator} applies to numbers only ({path or value!r})", code=14)


def _parent(doc: dict[str, Any], path: str, *, create: bool) -> tuple[Any, Any]:
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)]
            continue
        nxt = node.get(part, MISSING)
        if nxt is MISSING:
            if not create:
                return None, None
            nxt = node[part] = {}
        node = nxt
    leaf: Any = parts[-1]
    if isinstance(node, list) and leaf.isdigit():
        leaf = int(leaf)
        if leaf >= len(node):
            node.extend([None] * (leaf + 1 - len(node)))
        return _ListSlot(node), leaf
    return node, leaf


class _ListSlot:
    """A list seen through the mapping methods _apply uses."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def get(self, index: int, default: Any) -> Any:
        return self.items[index] if index < len(self.items) else default

    def __setitem__(self, index: int, value: Any) -> None:
        self.items[index] = value

    def pop(self, index: int, default: Any) -> Any:
        value = self.items[index]
        self.items[index] = None
        return value


def upsert_seed(query: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert starts from: the query's equality conditions."""
    seed: dict[str, Any] = {}
    for field, value in equalities(query).items():
        _apply(seed, "$set", field, value, True)
    return seed


def equalities(query: Mapping[str, Any]) -> dict[str, Any]:
    """Fields the query pins to one value (top level and inside $and)."""
    found: dict[str, Any] = {}
    for key, condition in query.items():
        if key == "$and":
            for part in condition:
                found.update(equalities(part))
        elif key.startswith("$"):
            continue
        elif is_operator_document(condition):
            if "$eq" in condition:
                found[key] = condition["$eq"]
        elif not isinstance(condition, re.Pattern | Regex):
            found[key] = condition
    return found


# ---------------------------------------------------------------- projection


def project(doc: dict[str, Any], projection: Mapping[str, Any] | None) -> dict[str, Any]:
    if not projection:
        return doc
    fields = {k: v for k, v in projection.items() if k != "_id"}
    keep_id = bool(projection.get("_id", True))
    if not fields and keep_id:
        return {"_id": doc["_id"]} if "_id" in doc else {}
    if fields and all(bool(v) for v in fields.values()):
        out: dict[str, Any] = {}
        if keep_id and "_id" in doc:
            out["_id"] = doc["_id"]
        for path in fields:
            _copy_path(doc, out, path.split("."))
        return out
    if any(bool(v) for v in fields.values()):
        raise OperationFailure("a projection cannot mix inclusion and exclusion", code=31254)
    out = dict(doc)
    if not keep_id:
        out.pop("_id", None)
    for path in fields:
        _drop_path(out, path.split("."))
    return out


def _copy_path(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if not isinstance(source, Mapping) or head not in source:
        return
    value = source[head]
    if len(parts) == 1:
        target[head] = value
    elif isinstance(value, Mapping):
        _copy_path(value, target.setdefault(head, {}), parts[1:])
    elif isinstance(value, list):
        items = target.setdefault(head, [])
        for item in value:
            if isinstance(item, Mapping):
                part: dict[str, Any] = {}
                _copy_path(item, part, parts[1:])
                items.append(part)


def _drop_path(target: Any, parts: list[str]) -> None:
    if isinstance(target, list):
        for item in target:
            _drop_path(item, parts)
    elif isinstance(target, dict):
        if len(parts) == 1:
            target.pop(parts[0], None)
        elif parts[0] in target:
            target[parts[0]] = (
                dict(target[parts[0]]) if isinstance(target[parts[0]], dict) else target[parts[0]]
            )
            _drop_path(target[parts[0]], parts[1:])


# ---------------------------------------------------------------- sorting


def sort_documents(docs: list[dict[str, Any]], spec: list[tuple[str, int]]) -> None:
    for field, direction in reversed(spec):
        descending = direction < 0

        def key(doc: dict[str, Any], f: str = field, r: bool = descending) -> tuple[Any, ...]:
            return _field_sort_key(doc, f, r)

        docs.sort(key=key, reverse=descending)


def _field_sort_key(doc: Mapping[str, Any], path: str, descending: bool) -> tuple[Any, ...]:
    values = [v for v in _top_values(doc, path)]
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(value or [None])
        else:
            flat.append(value)
    keys = [sort_key(v) for v in flat] or [sort_key(None)]
    return max(keys) if descending else min(keys)


# ---------------------------------------------------------------- index keys


def index_key(value: Any) -> bytes:
    """A byte string that sorts like the BSON value among other index keys (SQLite BLOB)."""
    if type(value) is str:  # the most common key, without the rank lookup
        return _STRING_HEAD + value.encode("utf-8")
    rank = type_rank(value)
    if rank == _STRING:
        return _STRING_HEAD + str(value).encode("utf-8")
    if rank == _NUMBER:
        number = float(value.to_decimal()) if isinstance(value, bson.Decimal128) else float(value)
        if math.isnan(number):
            return _NUMBER_HEAD
        (bits,) = _UNSIGNED.unpack(_DOUBLE.pack(number))
        return _NUMBER_HEAD + _UNSIGNED.pack(bits ^ _ALL_BITS if bits >> 63 else bits | _SIGN)
    if rank == _DATE:
        millis = int(value) if isinstance(value, DatetimeMS) else _millis(value)
        return _DATE_HEAD + _UNSIGNED.pack((millis + _SIGN) & _ALL_BITS)
    head = bytes((rank,))
    if rank == _NULL:
        return head
    if rank == _BOOL:
        return head + (b"\x01" if value else b"\x00")
    if rank == _OID:
        return head + bytes(value.binary)
    if rank == _BINARY:
        return head + bytes(value)
    return head + bson.encode({"": value})


_STRING_HEAD, _NUMBER_HEAD, _DATE_HEAD = bytes((_STRING,)), bytes((_NUMBER,)), bytes((_DATE,))
_DOUBLE, _UNSIGNED = struct.Struct(">d"), struct.Struct(">Q")
_SIGN, _ALL_BITS = 1 << 63, 0xFFFFFFFFFFFFFFFF
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)


EMPTY_ARRAY_KEY = bytes((_ARRAY,))


def index_entries(doc: Mapping[str, Any], fields: list[str]) -> Iterator[tuple[bytes, ...]]:
    """The keys of a document in a (compound) index: one per array element (multikey)."""
    per_field: list[list[bytes]] = []
    arrays = 0
    for field in fields:
        values = _top_values(doc, field)
        if len(values) == 1 and not isinstance(values[0], list):  # one value, most often
            per_field.append([index_key(values[0])])
            continue
        keys: list[bytes] = []
        for value in values or [None]:
            if isinstance(value, list):
                arrays += 1
                keys.extend(index_key(v) for v in value)
                if not value:
                    keys.append(EMPTY_ARRAY_KEY)
            else:
                keys.append(index_key(value))
        per_field.append(list(dict.fromkeys(keys)))
    if arrays > 1 and len(fields) > 1:
        raise OperationFailure("cannot index parallel arrays", code=171)
    return itertools.product(*per_field)


def plain_entries(
    doc: Mapping[str, Any], paths: tuple[tuple[str, ...], ...], sparse: bool
) -> set[tuple[bytes, ...]] | None:
    """``index_entries`` of a document in a (compound, ``sparse``) index on ``paths`` (each
    field split at its dots) in the usual case, where each path leads through nested dicts
    to one value that is not an array, or to nothing: the single entry, or none for a sparse
    index that finds no field. None where a path meets an array or another kind of mapping:
    those need ``index_entries`` (multikey, arrays of documents)."""
    keys: list[bytes] = []
    present = False
    for parts in paths:
        value: Any = doc
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part, MISSING)
                if value is MISSING:
                    break
            elif isinstance(value, list | Mapping):
                return None
            else:
                value = MISSING
                break
        if value is MISSING:
            keys.append(_NULL_KEY)
            continue
        if isinstance(value, list):
            return None
        present = True
        keys.append(index_key(value))
    if sparse and not present:
        return set()
    return {tuple(keys)}


_NULL_KEY = bytes((_NULL,))


def same_index_values(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: list[str]
) -> bool:
    """Whether two documents hold identical values (same types too) at an index's fields, so
    their index entries are the same without computing them."""
    for field in fields:
        old, new = _top_values(before, field), _top_values(after, field)
        if old != new:
            return False
        if not old or (len(old) == 1 and type(old[0]) is type(new[0]) in _PLAIN):
            continue  # absent from both, or one equal value of one plain type
        # equal values may still differ in type (1 and True, 1 and 1.0): their BSON differs
        if not _identical(old, new) and bson.encode({"": old}) != bson.encode({"": new}):
            return False
    return True


_PLAIN = frozenset({str, int, bool, type(None), datetime})
"""Types whose equal values of the same type have the same BSON (unlike floats: -0.0)."""


def _identical(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_identical(a[k], b[k]) for k in a)
    return bool(a == b)


def has_any_field(doc: Mapping[str, Any], fields: list[str]) -> bool:
    return any(_present(doc, f) for f in fields)


def is_scalar_key(value: Any) -> bool:
    """An equality on this value is decided exactly by comparing index keys."""
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return False  # keys hold numbers as doubles
    return type_rank(value) in (_NUMBER, _STRING, _BOOL, _DATE, _OID, _BINARY)
