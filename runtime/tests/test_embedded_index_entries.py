"""The embedded store's index entries: the path for plain documents gives what the general
path gives (``embedded_query.index_entries`` behind ``IndexSpec.covers``)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_runtime import embedded_query as q
from crm_runtime.embedded_store import IndexSpec

NAMES = st.sampled_from(["a", "b", "c"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.datetimes(timezones=st.just(UTC)),
    st.binary(max_size=3),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=8,
)
DOCUMENTS = st.dictionaries(NAMES, VALUES, max_size=3)
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(".".join)


def general(spec: IndexSpec, doc: dict[str, Any]) -> set[tuple[bytes, ...]]:
    return set(q.index_entries(doc, spec.fields)) if spec.covers(doc) else set()


@settings(max_examples=400, deadline=None)
@given(
    doc=DOCUMENTS,
    fields=st.lists(PATHS, min_size=1, max_size=2, unique=True),
    sparse=st.booleans(),
)
def test_the_plain_path_gives_the_entries_of_the_general_path(
    doc: dict[str, Any], fields: list[str], sparse: bool
) -> None:
    spec = IndexSpec("i", tuple((field, 1) for field in fields), sparse=sparse)
    plain = q.plain_entries(doc, spec.paths, sparse)
    if plain is not None:
        assert plain == general(spec, doc)
    try:
        expected = general(spec, doc)
    except Exception as error:  # parallel arrays: refused either way
        assert plain is None, error
        return
    assert spec.entries(doc) == expected


def test_plain_documents_take_the_plain_path() -> None:
    at = datetime(2026, 12, 8, tzinfo=UTC)
    doc = {"a": {"b": "x", "c": at}, "b": None, "c": 3}
    cases = [
        (("a.b", "a.c"), False, {(q.index_key("x"), q.index_key(at))}),
        (("c", "a.missing"), False, {(q.index_key(3), q.index_key(None))}),
        (("b",), True, {(q.index_key(None),)}),  # a null is a value: a sparse index holds it
        (("missing", "c.deeper"), True, set()),  # no field at all: a sparse index skips it
        (("missing",), False, {(q.index_key(None),)}),
    ]
    for fields, sparse, entries in cases:
        spec = IndexSpec("i", tuple((f, 1) for f in fields), sparse=sparse)
        assert q.plain_entries(doc, spec.paths, sparse) == entries
        assert general(spec, doc) == entries


def test_arrays_and_other_mappings_are_left_to_the_general_path() -> None:
    assert q.plain_entries({"a": [1, 2]}, (("a",),), False) is None
    assert q.plain_entries({"a": [{"b": 1}]}, (("a", "b"),), False) is None
    assert q.plain_entries({"a": MappingProxyType({"b": 1})}, (("a", "b"),), False) is None
    spec = IndexSpec("i", (("a", 1),))
    assert spec.entries({"a": [1, 2]}) == {(q.index_key(1),), (q.index_key(2),)}
