"""Every store behaviour the code relies on, pinned against each store (see ARCHITECTURE.md).

Runs on the embedded store always and on real MongoDB through testcontainers
where a Docker engine exists. A behaviour we found to differ (TinyMongo's
upsert on a filter that misses an existing _id overwrites instead of raising a
duplicate key) is pinned as 'not relied upon' by the code paths tested below; the
embedded store of ADR 2's second decision raises there, as MongoDB does.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pymongo import (
    ASCENDING,
    DESCENDING,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
)
from pymongo.errors import BulkWriteError

from crm_runtime.documents import is_duplicate_key, open_document_client
from crm_runtime.settings import RuntimeSettings
from crm_runtime.testing import loop_turns


async def test_unique_index_violation_is_a_duplicate_key_error(database: Any) -> None:
    await database.things.create_index([("key", ASCENDING)], unique=True)
    await database.things.insert_one({"_id": "a", "key": 1})
    with pytest.raises(Exception) as by_index:
        await database.things.insert_one({"_id": "b", "key": 1})
    with pytest.raises(Exception) as by_id:
        await database.things.insert_one({"_id": "a", "key": 2})
    assert is_duplicate_key(by_index.value)
    assert is_duplicate_key(by_id.value)
    assert await database.things.count_documents({}) == 1


async def test_counter_increments_atomically_with_upsert(database: Any) -> None:
    values = []
    for _ in range(3):
        doc = await database.counters.find_one_and_update(
            {"_id": "position"},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        values.append(doc["value"])
    assert values == [1, 2, 3]


async def test_update_operators_set_inc_push_and_upsert(database: Any) -> None:
    await database.views.update_one(
        {"_id": "c1"},
        {"$set": {"name": "Ada"}, "$inc": {"n": 2}, "$push": {"log": "a"}},
        upsert=True,
    )
    await database.views.update_one(
        {"_id": "c1"}, {"$set": {"name": "Ada K"}, "$inc": {"n": 1}, "$push": {"log": "b"}}
    )
    doc = await database.views.find_one({"_id": "c1"})
    assert (doc["name"], doc["n"], doc["log"]) == ("Ada K", 3, ["a", "b"])


async def test_compare_and_set_replace_only_matches_the_expected_revision(database: Any) -> None:
    await database.views.insert_one({"_id": "c1", "revision": 1, "v": "first"})
    stale = await database.views.replace_one(
        {"_id": "c1", "revision": 0}, {"revision": 1, "v": "x"}
    )
    fresh = await database.views.replace_one(
        {"_id": "c1", "revision": 1}, {"_id": "c1", "revision": 2, "v": "second"}
    )
    assert (stale.matched_count, fresh.matched_count) == (0, 1)
    assert (await database.views.find_one({"_id": "c1"}))["v"] == "second"


async def test_plain_equalities_on_unindexed_fields_match_as_mongodb_does(database: Any) -> None:
    """A guarded replace's filter (``_id`` and ``revision``, no index on ``revision``): a
    number of another type is equal, an array holds the value, a missing field is None, a
    boolean is no number and a string no number."""
    await database.views.insert_many(
        [
            {"_id": "float", "revision": 3.0},
            {"_id": "array", "revision": [1, 3]},
            {"_id": "missing"},
            {"_id": "bool", "revision": True},
            {"_id": "text", "revision": "3"},
            {"_id": "int", "revision": 3},
        ]
    )

    async def matched(document_id: str, revision: Any) -> int:
        guard = {"_id": document_id, "revision": revision}
        return (await database.views.replace_one(guard, {"revision": revision})).matched_count

    assert [await matched(i, 3) for i in ("float", "array", "int")] == [1, 1, 1]
    assert await matched("missing", None) == 1
    assert [await matched(i, 1) for i in ("bool", "text")] == [0, 0]
    assert await matched("text", 3) == 0
    assert await matched("int", 4) == 0


async def test_conditional_update_without_upsert_misses_quietly(database: Any) -> None:
    await database.leases.insert_one({"_id": "relay", "owner": "a"})
    taken = await database.leases.find_one_and_update(
        {"_id": "relay", "owner": "b"}, {"$set": {"owner": "b"}}
    )
    assert taken is None
    assert (await database.leases.find_one({"_id": "relay"}))["owner"] == "a"


async def test_sort_limit_range_and_in_queries(database: Any) -> None:
    await database.commits.insert_many(
        [
            {"_id": f"s@{i}", "stream_id": "s" if i % 2 else "t", "position": i, "published": i > 3}
            for i in range(1, 8)
        ]
    )
    after = (
        await database.commits.find({"position": {"$gt": 2}})
        .sort("position", ASCENDING)
        .limit(3)
        .to_list(None)
    )
    assert [d["position"] for d in after] == [3, 4, 5]
    head = await database.commits.find_one({"stream_id": "s"}, sort=[("position", DESCENDING)])
    assert head["position"] == 7
    unpublished = await database.commits.find({"published": False}).sort("position").to_list(None)
    assert [d["position"] for d in unpublished] == [1, 2, 3]
    chosen = await database.commits.update_many(
        {"_id": {"$in": ["s@1", "s@3"]}}, {"$set": {"published": True}}
    )
    assert chosen.modified_count == 2
    assert await database.commits.count_documents({"published": False}) == 1


async def test_or_filters_and_datetimes_keep_utc(database: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await database.leases.insert_one({"_id": "l", "owner": None, "expires_at": now})
    found = await database.leases.find_one(
        {"_id": "l", "$or": [{"owner": "me"}, {"expires_at": {"$lt": now + timedelta(seconds=1)}}]}
    )
    assert found is not None
    assert found["expires_at"] == now
    assert found["expires_at"].tzinfo is not None


async def test_or_of_compound_equalities_on_indexed_fields(database: Any) -> None:
    """A board's rows read at once: each arm a compound equality an index answers (one of
    them on an array), a document in the answer once however many arms pick it."""
    rows = database.rows
    await rows.create_index([("status", ASCENDING), ("won_month", ASCENDING)])
    await rows.create_index([("periods", ASCENDING)])
    await rows.insert_many(
        [
            {"_id": "won-nov", "status": "won", "won_month": "2026-11", "periods": ["2026-11"]},
            {"_id": "won-dec", "status": "won", "won_month": "2026-12", "periods": ["2026-12"]},
            {"_id": "lost-nov", "status": "lost", "won_month": "2026-11", "periods": []},
            {"_id": "open", "status": "open", "periods": ["2026-11", "2026-12"]},
            {"_id": "other", "status": "won", "won_month": "2026-10", "periods": ["2026-10"]},
        ]
    )
    query = {
        "$or": [
            {"status": "won", "won_month": "2026-11"},
            {"status": "won", "won_month": "2026-12"},
            {"periods": "2026-11"},
            {"status": "lost", "won_month": "2026-12"},
        ]
    }
    found = [row["_id"] async for row in rows.find(query).sort("_id", 1)]
    assert found == ["open", "won-dec", "won-nov"]
    assert await rows.count_documents(query) == 3
    partly = {"$or": [{"status": "won", "won_month": "2026-11"}, {"status": "open", "x": 1}]}
    assert [row["_id"] async for row in rows.find(partly)] == ["won-nov"]


async def test_nested_documents_and_dotted_queries(database: Any) -> None:
    await database.commits.insert_one(
        {"_id": "x", "events": [{"id": "e1", "correlation_id": "c"}], "meta": {"k": 1}}
    )
    assert await database.commits.find_one({"meta.k": 1}) is not None
    assert await database.commits.find_one({"events.id": "e1"}) is not None


async def test_insert_many_reports_duplicates_as_a_bulk_write_error(database: Any) -> None:
    await database.things.create_index([("key", ASCENDING)], unique=True)
    await database.things.insert_one({"_id": "a", "key": 1})
    with pytest.raises(BulkWriteError) as ordered:
        await database.things.insert_many(
            [{"_id": "b", "key": 2}, {"_id": "c", "key": 1}, {"_id": "d", "key": 3}]
        )
    assert is_duplicate_key(ordered.value)
    assert ordered.value.details["nInserted"] == 1  # ordered: stops at the first error
    assert ordered.value.details["writeErrors"][0]["index"] == 1
    assert sorted(d["_id"] for d in await database.things.find({}).to_list(None)) == ["a", "b"]


async def test_unordered_insert_many_writes_all_but_the_duplicates(database: Any) -> None:
    """Duplicates within the batch too (of ``_id`` and of a unique key): each is a write
    error naming its index, every other document is written with its index entries."""
    await database.things.create_index([("key", ASCENDING)], unique=True)
    await database.things.create_index([("tags", ASCENDING)])
    await database.things.insert_one({"_id": "a", "key": 1})
    with pytest.raises(BulkWriteError) as unordered:
        await database.things.insert_many(
            [
                {"_id": "b", "key": 2, "tags": ["x", "x", "y"]},
                {"_id": "c", "key": 2, "tags": ["x"]},
                {"_id": "b", "key": 9},
                {"_id": "d", "key": 3, "tags": ["y"]},
                {"_id": "e", "key": 1},
            ],
            ordered=False,
        )
    details = unordered.value.details
    assert [e["index"] for e in details["writeErrors"]] == [1, 2, 4]
    assert details["nInserted"] == 2

    async def ids(query: dict[str, Any]) -> list[str]:
        return sorted(d["_id"] for d in await database.things.find(query).to_list(None))

    assert await ids({}) == ["a", "b", "d"]
    assert (await ids({"tags": "x"}), await ids({"tags": "y"})) == (["b"], ["b", "d"])
    assert (await ids({"key": 2}), await ids({"key": 9})) == (["b"], [])
    await database.things.insert_many([{"_id": "f", "key": 4, "tags": ["x"]}, {"_id": "g"}])
    assert await ids({"tags": "x"}) == ["b", "f"]


async def test_bulk_write_counts_guarded_replaces_and_reports_duplicates(database: Any) -> None:
    """The live projections write a batch's documents with one ``bulk_write``: inserts of new
    documents and replaces guarded by the revision read; a replace whose guard no longer
    holds matches nothing, a duplicate insert is a write error, the rest stays written."""
    await database.views.create_index([("team", ASCENDING)])
    await database.views.insert_many([{"_id": "a", "revision": 1}, {"_id": "b", "revision": 4}])
    result = await database.views.bulk_write(
        [
            ReplaceOne({"_id": "a", "revision": 1}, {"_id": "a", "revision": 2, "team": "n"}),
            ReplaceOne({"_id": "b", "revision": 3}, {"_id": "b", "revision": 4, "team": "s"}),
            InsertOne({"_id": "c", "revision": 1, "team": "n"}),
            UpdateOne({"_id": "c"}, {"$inc": {"revision": 1}}),
        ],
        ordered=False,
    )
    assert (result.inserted_count, result.matched_count, result.modified_count) == (1, 2, 2)
    assert [d["_id"] async for d in database.views.find({"team": "n"}).sort("_id", 1)] == ["a", "c"]
    assert (await database.views.find_one({"_id": "b"})) == {"_id": "b", "revision": 4}
    with pytest.raises(BulkWriteError) as raised:
        await database.views.bulk_write(
            [
                InsertOne({"_id": "a", "revision": 9}),
                InsertOne({"_id": "d", "revision": 1}),
                DeleteOne({"_id": "b"}),
            ],
            ordered=False,
        )
    assert is_duplicate_key(raised.value)
    details = raised.value.details
    assert (details["nInserted"], details["nRemoved"]) == (1, 1)
    assert [error["index"] for error in details["writeErrors"]] == [0]
    assert sorted(d["_id"] for d in await database.views.find({}).to_list(None)) == ["a", "c", "d"]
    assert (await database.views.find_one({"_id": "a"}))["revision"] == 2


async def test_a_bulk_write_of_inserts_and_guarded_replaces_keeps_every_index(
    database: Any,
) -> None:
    """A batch of folds writes only inserts and replaces guarded by ``_id`` and revision
    (the embedded store writes such a batch with a few statements): the outcome is that of
    each operation in turn, the index entries follow every change (multikey ones too), and
    a duplicate insert leaves the batch written one operation at a time."""
    views = database.views
    await views.create_index([("team", ASCENDING)])
    await views.create_index([("tags", ASCENDING), ("team", ASCENDING)])
    await views.insert_many(
        [
            {"_id": "a", "revision": 1, "team": "n", "tags": ["x", "y"]},
            {"_id": "b", "revision": 4, "team": "s", "tags": ["y"]},
            {"_id": "c", "revision": 2, "team": "s", "tags": []},
        ]
    )
    result = await views.bulk_write(
        [
            ReplaceOne({"_id": "a", "revision": 1}, {"_id": "a", "revision": 2, "team": "s"}),
            ReplaceOne({"_id": "b", "revision": 3}, {"_id": "b", "revision": 4, "team": "n"}),
            ReplaceOne({"revision": 2, "_id": "c"}, {"revision": 2, "team": "s", "tags": []}),
            InsertOne({"_id": "d", "revision": 1, "team": "n", "tags": ["x", "x", "z"]}),
            ReplaceOne({"_id": "e", "revision": 1}, {"_id": "e", "revision": 2}),
        ],
        ordered=True,
    )
    assert (result.inserted_count, result.matched_count, result.modified_count) == (1, 2, 1)

    async def ids(query: dict[str, Any]) -> list[str]:
        return [d["_id"] async for d in views.find(query).sort("_id", 1)]

    assert await ids({"team": "s"}) == ["a", "b", "c"]
    assert await ids({"team": "n"}) == ["d"]
    assert (await ids({"tags": "x"}), await ids({"tags": "y"})) == (["d"], ["b"])
    assert await ids({"tags": "z", "team": "n"}) == ["d"]
    assert await views.find_one({"_id": "a"}) == {"_id": "a", "revision": 2, "team": "s"}
    assert await views.find_one({"_id": "c"}) == {
        "_id": "c",
        "revision": 2,
        "team": "s",
        "tags": [],
    }
    with pytest.raises(BulkWriteError) as raised:
        await views.bulk_write(
            [
                ReplaceOne({"_id": "a", "revision": 2}, {"_id": "a", "revision": 3, "team": "n"}),
                InsertOne({"_id": "b", "revision": 1}),
                InsertOne({"_id": "f", "revision": 1, "team": "n"}),
            ],
            ordered=False,
        )
    assert is_duplicate_key(raised.value)
    details = raised.value.details
    assert (details["nInserted"], details["nMatched"], details["nModified"]) == (1, 1, 1)
    assert [error["index"] for error in details["writeErrors"]] == [1]
    assert await ids({"team": "n"}) == ["a", "d", "f"]
    assert (await views.find_one({"_id": "b"}))["revision"] == 4


async def test_a_bulk_write_naming_a_document_twice_does_each_operation_in_turn(
    database: Any,
) -> None:
    """Two operations on one document, or a unique index two replaces trade a value of:
    the second sees what the first wrote, as on MongoDB."""
    await database.views.insert_one({"_id": "a", "revision": 1})
    result = await database.views.bulk_write(
        [
            ReplaceOne({"_id": "a", "revision": 1}, {"_id": "a", "revision": 2}),
            ReplaceOne({"_id": "a", "revision": 2}, {"_id": "a", "revision": 3}),
            ReplaceOne({"_id": "a", "revision": 2}, {"_id": "a", "revision": 9}),
        ]
    )
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert (await database.views.find_one({"_id": "a"}))["revision"] == 3
    await database.ranks.create_index([("place", ASCENDING)], unique=True)
    await database.ranks.insert_many([{"_id": "p", "place": 1}, {"_id": "q", "place": 2}])
    with pytest.raises(BulkWriteError) as raised:
        await database.ranks.bulk_write(
            [
                ReplaceOne({"_id": "p"}, {"_id": "p", "place": 2}),
                ReplaceOne({"_id": "q"}, {"_id": "q", "place": 3}),
            ],
            ordered=False,
        )
    assert [error["index"] for error in raised.value.details["writeErrors"]] == [0]
    places = {d["_id"]: d["place"] async for d in database.ranks.find({})}
    assert places == {"p": 1, "q": 3}


async def test_a_replace_that_changes_nothing_matches_but_modifies_nothing(
    database: Any,
) -> None:
    when = datetime(2026, 11, 5, 9, 30, 0, 123000, tzinfo=UTC)
    document = {"_id": "v1", "revision": 1, "at": when, "tags": ["a", "b"], "n": 1}
    await database.views.insert_one(dict(document))
    same = await database.views.replace_one({"_id": "v1"}, dict(document))
    without_id = await database.views.replace_one({"_id": "v1"}, {"revision": 2, "at": when})
    again = await database.views.replace_one({"_id": "v1"}, {"revision": 2, "at": when})
    assert [r.modified_count for r in (same, without_id, again)] == [0, 1, 0]
    assert [r.matched_count for r in (same, without_id, again)] == [1, 1, 1]
    assert await database.views.find_one({"_id": "v1"}) == {"_id": "v1", "revision": 2, "at": when}


async def test_upsert_that_misses_an_existing_id_is_a_duplicate_key(database: Any) -> None:
    """MongoDB raises here; TinyMongo overwrote (ADR 2). No code path relies on either."""
    await database.views.insert_one({"_id": "c1", "revision": 3})
    with pytest.raises(Exception) as raised:
        await database.views.replace_one({"_id": "c1", "revision": 2}, {"revision": 3}, upsert=True)
    assert is_duplicate_key(raised.value)
    assert (await database.views.find_one({"_id": "c1"}))["revision"] == 3


async def test_multikey_index_compound_sort_and_range(database: Any) -> None:
    await database.entries.create_index([("name_tokens", ASCENDING)])
    await database.entries.create_index([("active", ASCENDING), ("sort_name", ASCENDING)])
    await database.entries.insert_many(
        [
            {"_id": "1", "name_tokens": ["ada", "lovelace"], "active": True, "sort_name": "b"},
            {"_id": "2", "name_tokens": ["alan", "turing"], "active": True, "sort_name": "a"},
            {"_id": "3", "name_tokens": ["ada", "byron"], "active": False, "sort_name": "c"},
        ]
    )
    ada = await database.entries.find({"name_tokens": "ada"}).to_list(None)
    assert sorted(d["_id"] for d in ada) == ["1", "3"]
    either = database.entries.find(
        {"$and": [{"active": True}, {"$or": [{"name_tokens": {"$in": ["turing"]}}, {"_id": "1"}]}]}
    )
    assert sorted(d["_id"] for d in await either.to_list(None)) == ["1", "2"]
    page = database.entries.find({"active": True, "sort_name": {"$gt": "a"}}).sort("sort_name")
    assert [d["_id"] for d in await page.to_list(None)] == ["1"]
    newest = database.entries.find({"active": True}).sort("sort_name", DESCENDING).limit(1)
    assert [d["_id"] for d in await newest.to_list(None)] == ["1"]
    assert await database.entries.count_documents({"active": True}) == 2
    assert await database.entries.count_documents({"name_tokens": "ada", "active": True}) == 1


async def test_updates_keep_index_entries_current(database: Any) -> None:
    await database.rows.create_index([("status", ASCENDING), ("due", ASCENDING)])
    await database.rows.create_index([("code", ASCENDING)], unique=True)
    now = datetime.now(UTC).replace(microsecond=0)
    await database.rows.insert_one({"_id": "r", "status": "open", "due": now, "code": "x"})
    await database.rows.update_one({"_id": "r"}, {"$set": {"status": "closed", "code": "y"}})
    assert await database.rows.count_documents({"status": "open"}) == 0
    assert await database.rows.count_documents({"status": "closed"}) == 1
    late = database.rows.find({"status": "closed", "due": {"$lte": now}}, projection={"_id": 1})
    assert await late.to_list(None) == [{"_id": "r"}]
    await database.rows.insert_one({"_id": "s", "status": "open", "code": "x"})  # x is free again
    with pytest.raises(Exception) as taken:
        await database.rows.update_one({"_id": "s"}, {"$set": {"code": "y"}})
    assert is_duplicate_key(taken.value)
    await database.rows.delete_many({"status": "closed"})
    await database.rows.insert_one({"_id": "t", "code": "y"})
    assert await database.rows.count_documents({}) == 2


async def test_equalities_on_indexed_fields_answer_by_type_and_array_element(
    database: Any,
) -> None:
    """What an index alone may answer (the embedded store skips its matcher then): equality
    on every field of the query, an array matching when one of its elements is equal, a
    boolean never equal to a number nor a string to a number, and reads by ``_id``."""
    await database.rows.create_index([("tags", ASCENDING), ("n", ASCENDING)])
    now = datetime.now(UTC).replace(microsecond=0)
    await database.rows.insert_many(
        [
            {"_id": "a", "tags": ["x", "y"], "n": 1, "at": now},
            {"_id": "b", "tags": "x", "n": True},
            {"_id": "c", "tags": ["y"], "n": "1"},
            {"_id": "d", "tags": [["x"]], "n": 1},
            {"_id": "e", "n": 1},
        ]
    )

    async def ids(query: dict[str, Any]) -> list[str]:
        return sorted([d["_id"] async for d in database.rows.find(query)])

    assert await ids({"tags": "x"}) == ["a", "b"]
    assert await ids({"tags": "x", "n": 1}) == ["a"]
    assert await ids({"tags": "y", "n": "1"}) == ["c"]
    assert await ids({"n": 1, "tags": "y"}) == ["a"]
    assert await ids({"_id": {"$in": ["e", "a", "zz"]}}) == ["a", "e"]
    await database.rows.update_one({"_id": "a"}, {"$set": {"at": now + timedelta(days=1)}})
    await database.rows.update_one({"_id": "a"}, {"$set": {"tags": ["y"]}})
    assert await ids({"tags": "x"}) == ["b"]
    assert await ids({"tags": "y", "n": 1}) == ["a"]
    await database.rows.update_one({"_id": "a"}, {"$set": {"n": True}})  # equal, not the same
    assert await ids({"tags": "y", "n": 1}) == []
    assert await ids({"tags": "y", "n": True}) == ["a"]


async def test_sparse_indexes_answer_what_a_document_without_their_fields_never_matches(
    database: Any,
) -> None:
    """A sparse index leaves out the documents that have none of its fields: a query asking
    for a value (an equality, ``$in``, a bound) is answered as without it, and a query a
    document without the fields may match (a null, no condition, a sort) still finds them."""
    await database.rows.create_index([("signal", ASCENDING)], sparse=True)
    await database.rows.create_index([("store", ASCENDING), ("since", ASCENDING)], sparse=True)
    await database.rows.insert_many(
        [
            {"_id": "a", "signal": "late", "store": "s1", "since": 1},
            {"_id": "b", "signal": None, "store": "s1"},
            {"_id": "c", "signal": ["late", "unpaid"], "since": 3},
            {"_id": "d", "n": 1},
            {"_id": "e", "signal": 2, "store": "s2", "since": 2},
        ]
    )

    async def ids(query: dict[str, Any], sort: str | None = None) -> list[str]:
        cursor = database.rows.find(query)
        if sort is not None:  # ties (a null and a missing field, an array's least) by _id
            cursor = cursor.sort([(sort, ASCENDING), ("_id", ASCENDING)])
        found = [d["_id"] async for d in cursor]
        return found if sort else sorted(found)

    assert await ids({"signal": "late"}) == ["a", "c"]
    assert await ids({"signal": {"$in": ["unpaid", 2]}}) == ["c", "e"]
    assert await ids({"signal": {"$lt": 5}}) == ["e"]
    assert await ids({"signal": None}) == ["b", "d"]
    assert await ids({"signal": {"$exists": False}}) == ["d"]
    assert await ids({"store": "s1"}) == ["a", "b"]
    assert await ids({"store": "s1", "since": {"$gte": 1}}) == ["a"]
    assert await ids({"since": {"$gt": 1}}) == ["c", "e"]
    assert await ids({"store": None}) == ["c", "d"]
    assert await ids({"$or": [{"signal": {"$in": ["unpaid"]}}, {"store": "s2"}]}) == ["c", "e"]
    assert await ids({"$or": [{"signal": "late"}, {"signal": None}]}) == ["a", "b", "c", "d"]
    assert await ids({}, sort="signal") == ["b", "d", "e", "a", "c"]
    assert await database.rows.count_documents({"store": "s1"}) == 2
    assert await database.rows.count_documents({"signal": "late"}) == 2
    await database.rows.update_one({"_id": "d"}, {"$set": {"signal": "late", "store": "s2"}})
    await database.rows.update_one({"_id": "a"}, {"$unset": {"signal": "", "store": ""}})
    assert await ids({"signal": "late"}) == ["c", "d"]
    assert await ids({"store": "s2"}) == ["d", "e"]
    assert await ids({"store": None}) == ["a", "c"]
    assert await ids({"since": {"$lte": 1}}) == ["a"]


def test_a_sparse_index_holds_and_reads_only_the_documents_with_its_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded store: a sparse index has no entry for a document without its fields,
    and a query asking for a value reads the index's candidates only, not every document."""
    from crm_runtime import embedded_store

    fetched = {"rows": 0}
    candidates = embedded_store._Database._candidates

    def counted(self: Any, collection: str, query: Any, sort: Any) -> Any:
        rows, ordered = candidates(self, collection, query, sort)
        rows = list(rows)
        fetched["rows"] += len(rows)
        return rows, ordered

    async def scenario() -> None:
        client = open_document_client(RuntimeSettings(data_dir=tmp_path / "store"))
        try:
            rows = client["shared"]["rows"]
            await rows.create_index([("signal", ASCENDING)], sparse=True)
            await rows.create_index([("csat", ASCENDING)], sparse=True)
            await rows.insert_many(
                [{"_id": i} for i in range(200)]
                + [{"_id": 200, "signal": "late", "csat": 2}, {"_id": 201, "csat": 5}]
            )
            store = rows._store
            entries = store.conn.execute(
                f"SELECT count(*) FROM {store.index_table('rows', 'signal_1')}"
            ).fetchone()[0]
            assert entries == 1
            monkeypatch.setattr(embedded_store._Database, "_candidates", counted)
            either = {"$or": [{"signal": {"$in": ["late"]}}, {"csat": {"$lt": 3}}]}
            assert [d["_id"] async for d in rows.find(either)] == [200]
            assert [d["_id"] async for d in rows.find({"csat": {"$gt": 1}}).sort("csat")] == [
                200,
                201,
            ]
            assert fetched["rows"] == 3
            assert len([d async for d in rows.find({"signal": None})]) == 201  # every one read
            assert fetched["rows"] == 3 + 202
        finally:
            await client.close()

    asyncio.run(scenario())


async def test_insert_many_indexes_values_as_they_are_stored(database: Any) -> None:
    """A batch of new documents is indexed by the values as stored: a tuple is an array, a
    str enum its string, a date its millisecond, a nested tuple an array too; plain values
    and documents mixing both kinds are indexed alike."""

    class Colour(StrEnum):
        RED = "red"

    at = datetime(2026, 12, 7, 10, 30, 0, 123_456, tzinfo=UTC)
    rows = database.rows
    await rows.create_index([("tags", ASCENDING)])
    await rows.create_index([("colour", ASCENDING)])
    await rows.create_index([("at", ASCENDING)])
    await rows.create_index([("home.stores", ASCENDING)])
    await rows.insert_many(
        [
            {"_id": "tuple", "tags": ("x", "y"), "home": {"stores": ("s1",)}},
            {"_id": "enum", "colour": Colour.RED, "at": at},
            {"_id": "plain", "tags": ["x"], "colour": "red", "home": {"stores": ["s1", "s2"]}},
            {"_id": 7, "at": at.replace(microsecond=123_000), "tags": []},
        ]
    )
    assert sorted(map(str, await rows.distinct("_id", {"tags": "x"}))) == ["plain", "tuple"]
    assert sorted(await rows.distinct("_id", {"colour": "red"})) == ["enum", "plain"]
    assert sorted(
        map(str, await rows.distinct("_id", {"at": at.replace(microsecond=123_000)}))
    ) == [
        "7",
        "enum",
    ]
    assert sorted(await rows.distinct("_id", {"home.stores": "s1"})) == ["plain", "tuple"]
    assert await rows.count_documents({"tags": "y"}) == 1
    assert await rows.count_documents({"tags": []}) == 1


async def test_an_index_declared_on_existing_documents_and_drop(database: Any) -> None:
    await database.things.insert_many([{"_id": i, "key": i % 2} for i in range(4)])
    with pytest.raises(Exception) as clash:
        await database.things.create_index([("key", ASCENDING)], unique=True)
    assert is_duplicate_key(clash.value)
    await database.things.create_index([("key", ASCENDING)])
    assert await database.things.count_documents({"key": 1}) == 2
    assert "things" in await database.list_collection_names()
    await database.things.drop()
    assert await database.things.count_documents({}) == 0
    assert await database.things.find_one({"key": 1}) is None
    await database.things.insert_one({"_id": 1, "key": 1})
    await database.things.insert_one({"_id": 2, "key": 1})  # the index went with the drop


async def test_head_by_index_order_and_regex_prefix(database: Any) -> None:
    await database.commits.create_index([("position", ASCENDING)], unique=True)
    await database.commits.create_index([("traceparent", ASCENDING)])
    await database.commits.insert_many(
        [{"_id": f"c{i}", "position": i, "traceparent": f"00-{i:032x}-01"} for i in range(1, 30)]
    )
    head = await database.commits.find_one(
        sort=[("position", DESCENDING)], projection={"position": 1}
    )
    assert head == {"_id": "c29", "position": 29}
    traced = database.commits.find({"traceparent": {"$regex": f"^00-{7:032x}-"}})
    assert [d["_id"] for d in await traced.to_list(None)] == ["c7"]
    window = database.commits.find({"position": {"$gt": 10}}).sort("position").skip(2).limit(3)
    assert [d["position"] for d in await window.to_list(None)] == [13, 14, 15]


_COUNTER_WRITER = """
import asyncio, sys
from pathlib import Path
from pymongo import ReturnDocument
from crm_runtime.documents import open_document_client
from crm_runtime.settings import RuntimeSettings

async def main() -> None:
    client = open_document_client(RuntimeSettings(data_dir=Path(sys.argv[1])))
    counters = client["shared"]["counters"]
    for _ in range(int(sys.argv[2])):
        doc = await counters.find_one_and_update(
            {"_id": "position"}, {"$inc": {"value": 1}},
            upsert=True, return_document=ReturnDocument.AFTER,
        )
        await client["shared"]["claims"].insert_one({"_id": doc["value"]})
    await client.close()

asyncio.run(main())
"""


async def test_processes_sharing_the_embedded_files(tmp_path: Path) -> None:
    """Several processes write the same SQLite files: atomic counters, one index catalog."""
    folder = tmp_path / "shared-store"
    first = open_document_client(RuntimeSettings(data_dir=folder))
    second = open_document_client(RuntimeSettings(data_dir=folder))
    try:
        await first["shared"]["things"].insert_one({"_id": "a", "key": 1})
        await second["shared"]["things"].create_index([("key", ASCENDING)], unique=True)
        with pytest.raises(Exception) as clash:  # the first client learns the new index
            await first["shared"]["things"].insert_one({"_id": "b", "key": 1})
        assert is_duplicate_key(clash.value)
        writers = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _COUNTER_WRITER, str(folder), "40"
            )
            for _ in range(2)
        ]
        assert [await writer.wait() for writer in writers] == [0, 0]
        assert await first["shared"]["claims"].count_documents({}) == 80
        counter = await second["shared"]["counters"].find_one({"_id": "position"})
        assert counter["value"] == 80
    finally:
        await first.close()
        await second.close()


@pytest.fixture
async def two_clients(tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """Two clients of one embedded data directory, as two processes sharing its files."""
    folder = tmp_path / "shared-store"
    first = open_document_client(RuntimeSettings(data_dir=folder))
    second = open_document_client(RuntimeSettings(data_dir=folder))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_write_from_another_client_is_seen_by_the_next_update(
    two_clients: tuple[Any, Any],
) -> None:
    """A client keeps the documents it wrote decoded, for its next update of them; one that
    another process changed since is read as stored, so its index entries stay right."""
    first, second = two_clients
    mine, theirs = first["shared"]["rows"], second["shared"]["rows"]
    await mine.create_index([("period", ASCENDING)])
    await mine.insert_one({"_id": "r", "revision": 1, "period": ["2026-11"]})
    await theirs.replace_one(
        {"_id": "r", "revision": 1}, {"_id": "r", "revision": 2, "period": ["2026-12"]}
    )
    stale = await mine.replace_one(
        {"_id": "r", "revision": 1}, {"_id": "r", "revision": 2, "period": ["x"]}
    )
    fresh = await mine.bulk_write(
        [ReplaceOne({"_id": "r", "revision": 2}, {"_id": "r", "revision": 3, "period": []})]
    )
    assert (stale.matched_count, fresh.matched_count) == (0, 1)
    for period in ("2026-11", "2026-12", "x"):
        assert await mine.count_documents({"period": period}) == 0
        assert await theirs.count_documents({"period": period}) == 0
    assert (await theirs.find_one({"_id": "r"}))["revision"] == 3


async def test_an_insert_many_gives_entries_to_an_index_declared_as_it_prepared(
    two_clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``insert_many`` prepares a batch for the indexes it knows before taking the write
    lock (a document whose indexed fields are plain is not decoded); an index another
    client declared just before the lock was taken still gets the entries of the values as
    stored (a tuple's elements), and refuses duplicates."""
    from crm_runtime import embedded_store

    first, second = two_clients
    mine, theirs = first["shared"]["rows"], second["shared"]["rows"]
    await mine.create_index([("tag", ASCENDING)])
    await mine.insert_one({"_id": "a", "tag": "t", "key": "k0"})
    await theirs.create_index([("key", ASCENDING)], unique=True)
    real = embedded_store._Database.refresh
    stale = iter([True])  # the look before the lock misses the new index

    def refresh(self: Any) -> None:
        if not next(stale, False):
            real(self)

    monkeypatch.setattr(embedded_store._Database, "refresh", refresh)
    await mine.insert_many([{"_id": "b", "tag": "t", "key": ("k1",)}, {"_id": 7, "key": "k2"}])
    counts = [await theirs.count_documents({"key": key}) for key in ("k0", "k1", "k2")]
    assert counts == [1, 1, 1]
    assert await theirs.count_documents({"tag": "t"}) == 2
    with pytest.raises(BulkWriteError):
        await mine.insert_many([{"_id": "c", "key": "k2"}])
    assert await theirs.count_documents({}) == 3


def test_a_writer_waits_for_the_file_lock_at_most_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers of one embedded file take turns through its lock; one that cannot get it
    within the busy timeout fails as SQLite would, and gets it once it is released."""
    import sqlite3

    from crm_runtime import embedded_store

    monkeypatch.setattr(embedded_store, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "shared.crm.sqlite3"
    holder, waiter = embedded_store._WriteLock(path), embedded_store._WriteLock(path)
    try:
        holder.acquire()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            waiter.acquire()
        holder.release()
        waiter.acquire()  # free again: taken at once
        waiter.release()
    finally:
        holder.close()
        waiter.close()


async def test_other_tasks_run_while_a_long_cursor_is_read(database: Any) -> None:
    """A driver awaits the server for each batch of a cursor; the embedded store lets the
    loop run between two batches too, so a long read does not hold up a consumer."""
    await database.rows.insert_many([{"_id": i, "n": i} for i in range(2_000)])
    async with loop_turns() as turns:
        seen = [row["n"] async for row in database.rows.find({}).sort("_id", ASCENDING)]
        during = turns()
    assert seen == list(range(2_000))
    assert during >= 2


async def test_cursor_lengths_limits_and_skips_across_batches(database: Any) -> None:
    await database.rows.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(1_500)])
    cursor = database.rows.find({"even": True}).sort("_id", ASCENDING)
    first = await cursor.to_list(length=600)
    rest = await cursor.to_list(length=None)
    assert [r["_id"] for r in first + rest] == list(range(0, 1_500, 2))
    assert await cursor.to_list(length=10) == []
    limited = database.rows.find({}).sort("_id", ASCENDING).skip(400).limit(700)
    assert [r["_id"] async for r in limited] == list(range(400, 1_100))
    small = database.rows.find({"even": False}).sort("_id", ASCENDING).limit(3)
    assert [r["_id"] for r in await small.to_list(length=None)] == [1, 3, 5]


async def test_an_embedded_cursor_returns_what_was_stored_when_it_started(tmp_path: Path) -> None:
    """Writes between two batches of a cursor (the loop runs there) change nothing it
    returns: each document comes once, as it was stored when the cursor started."""
    from crm_runtime.embedded_store import CURSOR_BATCH

    client = open_document_client(RuntimeSettings(data_dir=tmp_path / "store"))
    try:
        rows = client["shared"]["rows"]
        count = 3 * CURSOR_BATCH
        await rows.create_index([("n", ASCENDING)])
        await rows.insert_many([{"_id": i, "n": i, "v": 0} for i in range(count)])
        seen: list[tuple[int, int]] = []
        async for row in rows.find({"n": {"$gte": 0}}).sort("n", ASCENDING):
            seen.append((row["_id"], row["v"]))
            if len(seen) == CURSOR_BATCH:  # between two batches: move every row, add some
                await rows.update_many({}, {"$set": {"v": 1}, "$inc": {"n": count}})
                await rows.insert_many([{"_id": count + i, "n": i, "v": 2} for i in range(5)])
        assert seen == [(i, 0) for i in range(count)]
        assert await rows.count_documents({"v": 1}) == count
    finally:
        await client.close()


async def test_a_limited_embedded_cursor_reads_up_to_its_limit_as_stored_when_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A limit longer than a batch (``EventStore.read_all``'s 1,000 commits): writes
    between two batches change nothing it returns, and no stored row past the limit is
    fetched, so reading a store batch after batch costs each batch, not the whole rest."""
    from crm_runtime import embedded_store

    fetched = {"rows": 0}
    candidates = embedded_store._Database._candidates

    def counted(self: Any, collection: str, query: Any, sort: Any) -> Any:
        rows, ordered = candidates(self, collection, query, sort)

        def each() -> Any:
            for row in rows:
                fetched["rows"] += 1
                yield row

        return (each() if "n" in query else rows), ordered  # the find's, not the updates'

    client = open_document_client(RuntimeSettings(data_dir=tmp_path / "store"))
    try:
        rows = client["shared"]["rows"]
        count, limit = 10 * embedded_store.CURSOR_BATCH, 3 * embedded_store.CURSOR_BATCH
        await rows.create_index([("n", ASCENDING)])
        await rows.insert_many([{"_id": i, "n": i, "v": 0} for i in range(count)])
        monkeypatch.setattr(embedded_store._Database, "_candidates", counted)
        seen: list[tuple[int, int]] = []
        async for row in rows.find({"n": {"$gt": 99}}).sort("n", ASCENDING).limit(limit):
            seen.append((row["_id"], row["v"]))
            if len(seen) == embedded_store.CURSOR_BATCH:
                await rows.update_many({}, {"$set": {"v": 1}})
        assert seen == [(i, 0) for i in range(100, 100 + limit)]
        assert fetched["rows"] <= limit + 1
    finally:
        await client.close()
