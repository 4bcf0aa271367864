"""Per-operation cost of the embedded document stores, by collection size.

``python -m bench.store_ops`` fills a ``commits``-shaped collection (the event
store's indexes: two unique, four plain) to each size, then times the calls
the services make: ``insert_one``, ``insert_many`` (per document, batches of
500), ``find_one`` by ``_id``, ``replace_one`` guarded by a revision field, a
``find`` with an indexed equality + sort + limit, and ``count_documents`` with
an indexed filter. Each operation runs until ``--op-seconds`` or ``--repeat``
calls, whichever comes first; filling a size stops after ``--fill-seconds``
and the remaining sizes of that store are skipped (too slow to reach).

Stores: ``tinymongo-sqlite`` / ``tinymongo-memory`` (TinyMongo 1.3.1, what the
system used until ADR 2's second decision) and ``embedded-sqlite`` /
``embedded-memory`` (what ``crm_runtime.documents`` opens today). Not part of
the test suite; ``--profile STORE:SIZE`` prints a cProfile of the operations at
one size instead of the table.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING

from bench.stats import Latencies

STORES = ("tinymongo-sqlite", "tinymongo-memory", "embedded-sqlite", "embedded-memory")
SIZES = (1_000, 10_000, 100_000)
FILL_BATCH = 1000
MANY_BATCH = 500
STREAM_COMMITS = 4  # commits per stream: the sort has something to order
UNPUBLISHED_EVERY = 100  # one commit in 100 is unpublished (the relay's count)


def open_store(name: str, folder: Path) -> Any:
    if name.startswith("tinymongo-"):
        import tinymongo  # type: ignore[import-untyped]

        backend = name.removeprefix("tinymongo-")
        if backend == "memory":
            return tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)
        return tinymongo.AsyncMongoClient(
            tinymongo_folder=str(folder), backend="sqlite", tz_aware=True
        )
    from crm_runtime.documents import open_document_client
    from crm_runtime.settings import RuntimeSettings

    backend = name.removeprefix("embedded-")
    return open_document_client(RuntimeSettings(data_dir=folder, embedded_backend=backend))


def commit(position: int, now: datetime) -> dict[str, Any]:
    """A commit as the event store writes it (one event, a few fields of data)."""
    stream = f"customer:cus_{position // STREAM_COMMITS:09d}"
    first = position % STREAM_COMMITS + 1
    return {
        "_id": f"{stream}@{first}",
        "stream_id": stream,
        "first": first,
        "last": first,
        "position": position,
        "published": position % UNPUBLISHED_EVERY != 0,
        "revision": 1,
        "recorded_at": now,
        "correlation_id": f"cmd_{position:012d}",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "idempotency_key": f"auto:cmd_{position:012d}",
        "request_fingerprint": None,
        "result": {"customer": {"id": stream, "name": "sealed"}},
        "events": [
            {
                "id": f"evt_{position:012d}",
                "type": "CustomerRegistered",
                "schema_version": 1,
                "sequence": first,
                "time": now,
                "data": {"name": "Ada Lovelace", "email": "ada@example.com", "tags": ["a"]},
                "source": "urn:crm:contacts",
                "correlation_id": f"cmd_{position:012d}",
                "causation_id": None,
                "actor": "user:bench",
            }
        ],
    }


async def create_indexes(commits: Any) -> None:
    await commits.create_index([("stream_id", ASCENDING), ("first", ASCENDING)])
    await commits.create_index([("position", ASCENDING)], unique=True)
    await commits.create_index([("published", ASCENDING), ("position", ASCENDING)])
    await commits.create_index([("idempotency_key", ASCENDING)], unique=True)
    await commits.create_index([("correlation_id", ASCENDING)])
    await commits.create_index([("traceparent", ASCENDING)])


@dataclass
class Row:
    store: str
    size: int
    op: str
    latency: Latencies | None
    per: int = 1  # documents per call (insert_many)
    note: str = ""

    @property
    def docs_per_second(self) -> float | None:
        if self.latency is None or not self.latency.count:
            return None
        return self.per * 1000 / self.latency.mean_ms


class Positions:
    """Fresh positions for new documents, above every filled one."""

    def __init__(self, start: int) -> None:
        self.next = start

    def take(self, count: int) -> range:
        taken = range(self.next, self.next + count)
        self.next += count
        return taken


async def timed(call: Callable[[int], Awaitable[Any]], repeat: int, seconds: float) -> Latencies:
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    for i in range(repeat):
        before = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - before)
        if before > deadline:
            break
    return Latencies.of(samples)


async def fill(commits: Any, present: int, size: int, now: datetime, seconds: float) -> int:
    deadline = time.perf_counter() + seconds
    while present < size:
        if time.perf_counter() > deadline:
            return present
        batch = min(FILL_BATCH, size - present)
        await commits.insert_many([commit(p, now) for p in range(present, present + batch)])
        present += batch
    return present


async def operations(
    commits: Any, size: int, fresh: Positions, now: datetime, repeat: int, seconds: float
) -> list[tuple[str, Latencies, int]]:
    """Each operation at one collection size (inserts add at most a few hundred documents)."""
    step = max(1, size // repeat)
    out: list[tuple[str, Latencies, int]] = []

    async def insert_one(i: int) -> None:
        await commits.insert_one(commit(fresh.take(1)[0], now))

    async def insert_many(i: int) -> None:
        await commits.insert_many([commit(p, now) for p in fresh.take(MANY_BATCH)])

    def existing_id(i: int) -> str:
        position = (i * step) % size
        return str(commit(position, now)["_id"])

    async def find_one(i: int) -> None:
        assert await commits.find_one({"_id": existing_id(i)}) is not None

    async def replace_one(i: int) -> None:
        document = commit((i * step) % size, now)
        found = await commits.find_one({"_id": document["_id"]})
        result = await commits.replace_one(
            {"_id": document["_id"], "revision": found["revision"]},
            {**document, "revision": found["revision"] + 1},
        )
        assert result.matched_count == 1

    async def find_sorted(i: int) -> None:
        stream = commit((i * step) % size, now)["stream_id"]
        cursor = commits.find({"stream_id": stream}).sort("first", DESCENDING).limit(2)
        assert await cursor.to_list(None)

    async def count(i: int) -> None:
        assert await commits.count_documents({"published": False}) >= 1

    for name, call in (
        ("insert_one", insert_one),
        ("find_one _id", find_one),
        ("replace_one guarded", replace_one),
        ("find eq+sort+limit", find_sorted),
        ("count_documents", count),
    ):
        out.append((name, await timed(call, repeat, seconds), 1))
    out.append(
        ("insert_many /doc", await timed(insert_many, max(2, repeat // 20), seconds), MANY_BATCH)
    )
    return out


async def measure(
    store: str, sizes: list[int], repeat: int, op_seconds: float, fill_seconds: float
) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix="crm-store-ops-"))
    client = open_store(store, folder)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    rows: list[Row] = []
    try:
        commits = client["bench"]["commits"]
        await create_indexes(commits)
        present = 0
        fresh = Positions(10 * max(sizes))
        for size in sizes:
            started = time.perf_counter()
            present = await fill(commits, present, size, now, fill_seconds)
            if present < size:
                took = time.perf_counter() - started
                note = f"fill stopped at {present} docs after {took:.0f} s"
                rows.append(Row(store, size, "(skipped)", None, note=note))
                break
            for name, latency, per in await operations(
                commits, size, fresh, now, repeat, op_seconds
            ):
                per_doc = Latencies.of([]) if latency.count == 0 else latency
                rows.append(Row(store, size, name, per_doc, per))
    finally:
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def print_rows(rows: list[Row]) -> None:
    header = (
        f"{'store':<17} {'docs':>7}  {'operation':<20} {'n':>5} "
        f"{'p50 ms':>9} {'p99 ms':>9} {'docs/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.latency is None:
            print(f"{row.store:<17} {row.size:>7}  {row.op:<20} {row.note}")
            continue
        lat, per = row.latency, row.per
        rate = row.docs_per_second
        print(
            f"{row.store:<17} {row.size:>7}  {row.op:<20} {lat.count:>5} "
            f"{lat.p50_ms / per:>9.3f} {lat.p99_ms / per:>9.3f} "
            f"{(rate or 0):>9.0f}"
        )


def profile(store: str, size: int, repeat: int, op_seconds: float, fill_seconds: float) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(measure(store, [size], repeat, op_seconds, fill_seconds))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default=",".join(STORES), help="comma separated")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma separated")
    parser.add_argument("--repeat", type=int, default=200, help="calls per operation at most")
    parser.add_argument("--op-seconds", type=float, default=3.0, help="time per operation")
    parser.add_argument("--fill-seconds", type=float, default=90.0, help="time to fill a size")
    parser.add_argument("--profile", metavar="STORE:SIZE", help="cProfile one store and size")
    args = parser.parse_args()
    if args.profile:
        store, size = args.profile.split(":")
        profile(store, int(size), args.repeat, args.op_seconds, args.fill_seconds)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        "per call (insert_many: per document); docs/s = documents per second of back-to-back "
        "calls; inserts and replaces are timed with the event store's six indexes declared"
    )
    for store in args.stores.split(","):
        rows = asyncio.run(measure(store, sizes, args.repeat, args.op_seconds, args.fill_seconds))
        print_rows(rows)
        print()


if __name__ == "__main__":
    main()
