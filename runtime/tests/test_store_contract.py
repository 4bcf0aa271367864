"""Every store behaviour the code relies on, pinned against each store (see ARCHITECTURE.md).

Runs on the embedded store always and on real MongoDB through testcontainers
where a Docker engine exists. A behaviour we found to differ (TinyMongo's
upsert on a filter that misses an existing _id overwrites instead of raising a
duplicate key) is pinned as 'not relied upon' by the code paths tested below.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from crm_runtime.documents import is_duplicate_key


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


async def test_nested_documents_and_dotted_queries(database: Any) -> None:
    await database.commits.insert_one(
        {"_id": "x", "events": [{"id": "e1", "correlation_id": "c"}], "meta": {"k": 1}}
    )
    assert await database.commits.find_one({"meta.k": 1}) is not None
    assert await database.commits.find_one({"events.id": "e1"}) is not None
