"""The embedded document store: the PyMongo async API subset the services use, on SQLite.

Why it exists and what it promises: docs/adr/0002 (second decision). In short:
a folder per database and a SQLite file per family of its collections
(``<data_dir>/<database>/<family>.crm.sqlite3``, WAL; ``family``, docs/adr/0029), one
table per collection holding BSON documents keyed by ``_id``, and one table per
declared index holding that index's keys (one row per array element: multikey),
so a unique index is a SQLite primary key and a query on an indexed field reads
only the rows it names. Several processes can share the files: every write is
one ``BEGIN IMMEDIATE`` transaction, taken under an exclusive ``flock`` of
``<file>.lock`` (``_WriteLock``: writers take turns promptly; writers of different
files never wait for each other), so find-and-modify is atomic across processes, and a
process notices indexes another one declared through SQLite's schema version. A data
directory of the earlier layout (``<data_dir>/<database>.crm.sqlite3``, every collection in
one file) is used in place: each collection it holds stays there until dropped
(``EmbeddedClient._home``). A connection keeps the documents it wrote
decoded for its next update of them, used only while the stored bytes are
exactly those it wrote (``_Database.remember``). Queries use an index to find
candidates and the Python matcher of ``embedded_query`` to decide, so the index
never changes an answer, only its cost. ``backend="memory"`` is the same code on
a private in-memory SQLite database per client (nothing shared, nothing kept).

SQLite calls run on the event loop: a point read or write costs tens of
microseconds, less than handing it to a thread; a write that waits for another
process's transaction waits at most ``BUSY_TIMEOUT_MS``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import bson
from bson.objectid import ObjectId
from pymongo import (
    DeleteMany,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
)
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    DuplicateKeyError,
    InvalidName,
    InvalidOperation,
    OperationFailure,
)
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from crm_runtime import embedded_query as q

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's own lock alone
    fcntl = None  # type: ignore[assignment]

DUPLICATE_KEY = 11000
BUSY_TIMEOUT_MS = 30_000
REMEMBERED = 8192
"""Documents a connection keeps decoded after writing them (see ``_Database.remember``)."""
CURSOR_BATCH = 500
"""Documents a cursor decodes at a time (``EmbeddedCursor``)."""
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,119}$")


def _encode(doc: Mapping[str, Any]) -> bytes:
    return bson.encode(doc, codec_options=q.CODEC)


def _decode(blob: bytes) -> dict[str, Any]:
    return bson.decode(blob, codec_options=q.CODEC)


def _id_key(value: Any) -> Any:
    """The SQLite value of an ``_id``: strings and numbers as themselves, others as BLOBs."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    return b"\x01" + _encode({"": value})


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise InvalidName(f"invalid {kind} name {name!r} for the embedded store")
    return name


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class IndexSpec:
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    sparse: bool = False
    partial: Mapping[str, Any] | None = None

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.keys]

    def document(self, collection: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"v": 2, "key": dict(self.keys), "name": self.name}
        if self.unique:
            doc["unique"] = True
        if self.sparse:
            doc["sparse"] = True
        if self.partial is not None:
            doc["partialFilterExpression"] = self.partial
        return doc

    def covers(self, doc: Mapping[str, Any]) -> bool:
        if self.sparse and not q.has_any_field(doc, self.fields):
            return False
        return self.partial is None or q.matches(doc, self.partial)

    @functools.cached_property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        """Each field split at its dots."""
        return tuple(tuple(field.split(".")) for field, _ in self.keys)

    def entries(self, doc: Mapping[str, Any]) -> set[tuple[bytes, ...]]:
        if self.partial is None:
            plain = q.plain_entries(doc, self.paths, self.sparse)
            if plain is not None:
                return plain
        return set(q.index_entries(doc, self.fields)) if self.covers(doc) else set()


# ====================================================================== storage


class _WriteLock:
    """Who may write a database's file now, among every process sharing it: an exclusive
    ``flock`` on ``<file>.lock``, taken before ``BEGIN IMMEDIATE``. SQLite's own lock makes
    a waiting writer sleep in steps of up to 100 ms; this one is retried within a
    millisecond of being released, so processes that write often take turns promptly.
    A writer waits at most ``BUSY_TIMEOUT_MS``, then fails as SQLite would ("database is
    locked"). The kernel releases the lock of a process that dies."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.00005
        while True:
            time.sleep(pause)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                pause = min(pause * 2, 0.001)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class _Database:
    """One SQLite connection to one database's file (or to private memory)."""

    def __init__(self, path: Path | None) -> None:
        self.conn = sqlite3.connect(
            ":memory:" if path is None else str(path),
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._schema = -1
        self.collections: set[str] = set()
        self.indexes: dict[str, list[IndexSpec]] = {}
        self._remembered: OrderedDict[tuple[str, Any], tuple[bytes, dict[str, Any]]] = (
            OrderedDict()
        )  # the oldest first: evicting it is O(1), as a plain dict's first key is not
        self._lock = None if path is None or fcntl is None else _WriteLock(path)
        if path is not None:
            self._write_ahead()
        with self._transaction():
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS _crm_catalog ("
                "collection TEXT NOT NULL, name TEXT NOT NULL, spec BLOB NOT NULL, "
                "PRIMARY KEY (collection, name))"
            )
            self.conn.execute("CREATE TABLE IF NOT EXISTS _crm_collections (name TEXT PRIMARY KEY)")

    def _write_ahead(self) -> None:
        """Put the file in write-ahead-log mode, under the file's write lock. A new file
        starts in rollback mode, and switching needs SQLite's exclusive lock: two connections
        switching at once each hold the shared lock the other waits on, and SQLite answers
        one of them "database is locked" at once, without waiting (the processes of a
        rebuild's jobs open a new database together). Taken in turns, the first switches and
        the others find the file switched already."""
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
        finally:
            if self._lock is not None:
                self._lock.release()
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self.conn.close()
        if self._lock is not None:
            self._lock.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, under the file's write lock."""
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        finally:
            if self._lock is not None:
                self._lock.release()

    # ---- schema knowledge, refreshed when any process changed the schema

    def refresh(self) -> None:
        version = self.conn.execute("PRAGMA schema_version").fetchone()[0]
        if version == self._schema:
            return
        self.collections = {r[0] for r in self.conn.execute("SELECT name FROM _crm_collections")}
        indexes: dict[str, list[IndexSpec]] = {}
        for collection, name, blob in self.conn.execute(
            "SELECT collection, name, spec FROM _crm_catalog ORDER BY rowid"
        ):
            spec = _decode(blob)
            indexes.setdefault(collection, []).append(
                IndexSpec(
                    name,
                    tuple((f, int(d)) for f, d in spec["keys"]),
                    bool(spec.get("unique")),
                    bool(spec.get("sparse")),
                    spec.get("partial"),
                )
            )
        self.indexes = indexes
        self._schema = version

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._transaction():
            try:
                self.refresh()
                yield
            except BaseException:
                self._schema = -1
                raise

    @staticmethod
    def table(collection: str) -> str:
        return _q("c:" + collection)

    @staticmethod
    def index_table(collection: str, index: str) -> str:
        return _q(f"x:{collection}:{index}")

    def ensure_collection(self, collection: str) -> None:
        if collection in self.collections:
            return
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table(collection)} "
            "(id PRIMARY KEY, doc BLOB NOT NULL)"
        )
        self.conn.execute("INSERT OR IGNORE INTO _crm_collections VALUES (?)", (collection,))
        self.collections.add(collection)

    # ---- documents and their index entries

    def insert(
        self,
        collection: str,
        doc: dict[str, Any],
        encoded: bytes | None = None,
        *,
        remember: bool = False,
    ) -> None:
        """Insert ``doc`` (``encoded``: already encoded); ``remember``: see ``remember``."""
        key = _id_key(doc["_id"])
        blob = _encode(doc) if encoded is None else encoded
        try:
            self.conn.execute(
                f"INSERT INTO {self.table(collection)} (id, doc) VALUES (?, ?)", (key, blob)
            )
        except sqlite3.IntegrityError:
            raise _duplicate(collection, "_id_", {"_id": doc["_id"]}) from None
        for spec in self.indexes.get(collection, []):
            self._add_entries(collection, spec, key, spec.entries(doc), doc)
        if remember:
            self.remember(collection, key, blob, doc)

    def insert_all(
        self, collection: str, prepared: Sequence[_Prepared], specs: Sequence[IndexSpec] = ()
    ) -> bool:
        """Insert every document of ``prepared``: one statement for the documents and one
        per index, not one each per document. False, with nothing written, when one would
        be a duplicate key (the caller then inserts them one at a time, to say which). The
        last ``REMEMBERED`` of those decoded are remembered (see ``remember``): an earlier
        one would only be forgotten again within this call. ``specs``: the indexes the
        documents were prepared for; if the collection has others now (declared by another
        process meanwhile), every entry is computed from the stored form."""
        conn = self.conn
        prepared_for = list(specs) == self.indexes.get(collection, [])
        conn.execute("SAVEPOINT everything")
        try:
            conn.executemany(
                f"INSERT INTO {self.table(collection)} (id, doc) VALUES (?, ?)",
                [(item.key, item.blob) for item in prepared],
            )
            for spec in self.indexes.get(collection, []):
                rows = [
                    (*entry, item.key)
                    for item in prepared
                    for entry in spec.entries(item.indexed(prepared_for))
                ]
                if rows:
                    conn.executemany(self._adding(collection, spec), rows)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO everything")
            conn.execute("RELEASE everything")
            return False
        conn.execute("RELEASE everything")
        decoded = [item for item in prepared if item.doc is not None]
        for item in decoded[-REMEMBERED:]:
            self.remember(collection, item.key, item.blob, item.stored())
        return True

    def remember(self, collection: str, key: Any, blob: bytes, doc: dict[str, Any]) -> None:
        """Keep ``doc``, just written as ``blob``, decoded: an update that finds exactly
        these bytes stored reads it back without decoding them (``selecting``). Only
        for a document nothing outside the store holds, so nothing changes it; a write by
        another process (or one rolled back) stores other bytes, and the copy is ignored."""
        remembered = self._remembered
        remembered[(collection, key)] = (blob, doc)
        remembered.move_to_end((collection, key))
        if len(remembered) > REMEMBERED:
            remembered.popitem(last=False)

    def replace(
        self,
        collection: str,
        before: dict[str, Any],
        after: dict[str, Any],
        encoded: bytes | None = None,
        *,
        remember: bool = False,
    ) -> None:
        """Replace ``before`` by ``after`` (``encoded``: ``after`` already encoded;
        ``remember``: see ``remember``)."""
        key = _id_key(before["_id"])
        for spec in self.indexes.get(collection, []):
            if spec.partial is None and q.same_index_values(before, after, spec.fields):
                continue  # the same values: the same entries
            old, new = spec.entries(before), spec.entries(after)
            if old != new:
                self._remove_entries(collection, spec, key, old - new)
                self._add_entries(collection, spec, key, new - old, after)
        blob = _encode(after) if encoded is None else encoded
        self.conn.execute(f"UPDATE {self.table(collection)} SET doc = ? WHERE id = ?", (blob, key))
        if remember:
            self.remember(collection, key, blob, after)

    def delete(self, collection: str, doc: dict[str, Any]) -> None:
        key = _id_key(doc["_id"])
        for spec in self.indexes.get(collection, []):
            self.conn.execute(
                f"DELETE FROM {self.index_table(collection, spec.name)} WHERE id = ?", (key,)
            )
        self.conn.execute(f"DELETE FROM {self.table(collection)} WHERE id = ?", (key,))

    def _add_entries(
        self,
        collection: str,
        spec: IndexSpec,
        key: Any,
        entries: Iterable[tuple[bytes, ...]],
        doc: Mapping[str, Any],
    ) -> None:
        rows = [(*entry, key) for entry in entries]
        if not rows:
            return
        try:
            self.conn.executemany(self._adding(collection, spec), rows)
        except sqlite3.IntegrityError:
            values = {f: q.path_values(doc, f)[0] for f in spec.fields}
            values = {f: None if v is q.MISSING else v for f, v in values.items()}
            raise _duplicate(collection, spec.name, values) from None

    def _adding(self, collection: str, spec: IndexSpec) -> str:
        """The statement that adds entries to ``spec``'s index (a unique one refuses a
        duplicate; another ignores an entry a multikey document repeats)."""
        marks = ", ".join("?" * (len(spec.keys) + 1))
        verb = "INSERT" if spec.unique else "INSERT OR IGNORE"
        return f"{verb} INTO {self.index_table(collection, spec.name)} VALUES ({marks})"

    def _remove_entries(
        self, collection: str, spec: IndexSpec, key: Any, entries: Iterable[tuple[bytes, ...]]
    ) -> None:
        where = " AND ".join(f"k{i} = ?" for i in range(len(spec.keys)))
        self.conn.executemany(
            f"DELETE FROM {self.index_table(collection, spec.name)} WHERE {where} AND id = ?",
            [(*entry, key) for entry in entries],
        )

    def create_index(self, collection: str, spec: IndexSpec) -> None:
        self.ensure_collection(collection)
        for existing in self.indexes.get(collection, []):
            if existing.name == spec.name or existing.keys == spec.keys:
                if existing == spec:
                    return
                raise OperationFailure(
                    f"an index {existing.name} with other options already exists", code=86
                )
        columns = ", ".join(f"k{i}" for i in range(len(spec.keys)))
        primary = columns if spec.unique else f"{columns}, id"
        table = self.index_table(collection, spec.name)
        self.conn.execute(
            f"CREATE TABLE {table} ({columns}, id NOT NULL, PRIMARY KEY ({primary})) WITHOUT ROWID"
        )
        self.conn.execute(f"CREATE INDEX {_q(f'x:{collection}:{spec.name}:id')} ON {table} (id)")
        stored = {"keys": [list(k) for k in spec.keys], "unique": spec.unique}
        if spec.sparse:
            stored["sparse"] = True
        if spec.partial is not None:
            stored["partial"] = spec.partial
        self.conn.execute(
            "INSERT INTO _crm_catalog VALUES (?, ?, ?)", (collection, spec.name, _encode(stored))
        )
        for key, blob in self.conn.execute(f"SELECT id, doc FROM {self.table(collection)}"):
            doc = _decode(blob)
            self._add_entries(collection, spec, key, spec.entries(doc), doc)
        self.indexes.setdefault(collection, []).append(spec)

    def drop_index(self, collection: str, name: str) -> None:
        specs = self.indexes.get(collection, [])
        for spec in specs:
            if spec.name == name:
                self.conn.execute(f"DROP TABLE {self.index_table(collection, name)}")
                self.conn.execute(
                    "DELETE FROM _crm_catalog WHERE collection = ? AND name = ?",
                    (collection, name),
                )
                specs.remove(spec)
                return
        raise OperationFailure(f"index not found with name [{name}]", code=27)

    def drop_collection(self, collection: str) -> None:
        for spec in list(self.indexes.get(collection, [])):
            self.drop_index(collection, spec.name)
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table(collection)}")
        self.conn.execute("DELETE FROM _crm_collections WHERE name = ?", (collection,))
        self.collections.discard(collection)
        self.indexes.pop(collection, None)

    # ---- reading: an index proposes candidates, the matcher decides

    def select(
        self, collection: str, query: Mapping[str, Any], *order: Any
    ) -> list[dict[str, Any]]:
        """The documents ``query`` selects; ``order``: sort, skip, limit (``selecting``)."""
        return [doc for doc, _ in self.selecting(collection, query, *order)]

    def selecting(
        self,
        collection: str,
        query: Mapping[str, Any],
        sort: Sequence[tuple[str, int]] = (),
        skip: int = 0,
        limit: int = 0,
        *,
        remembered: bool = False,
        snapshot: bool = False,
    ) -> Iterator[tuple[dict[str, Any], bytes]]:
        """The documents ``query`` selects, each with the BSON it is stored as, one at a time:
        each is decoded and matched when it is asked for (unless a sort the index does not
        give needs them all first), so a ``limit`` stops reading early. ``remembered``: a
        document this connection remembers as stored in these bytes is that copy, shared, so
        the caller must not change it (the update path, which only reads it). ``snapshot``:
        what it yields is what was stored when it started, for a caller that writes between
        two documents (a cursor between two batches). Without a limit, the stored rows the
        query reads are all fetched then (and decoded as asked for); with a limit the
        candidates give in order, the documents up to the limit are read then, and no row
        past them is fetched (a batch of ``EventStore.read_all`` reads its batch, not the
        rest of the store)."""
        if collection not in self.collections:
            self.refresh()
            if collection not in self.collections:
                return iter(())
        rows, ordered = self._candidates(collection, query, list(sort))
        bounded = bool(limit) and (ordered or not sort)
        if snapshot and not bounded:
            rows = list(rows)
        matching = self._matching(collection, query, rows, remembered)
        if sort and not ordered:
            found = list(matching)
            order = [doc for doc, _ in found]
            q.sort_documents(order, list(sort))
            stored = {id(doc): blob for doc, blob in found}
            matching = iter([(doc, stored[id(doc)]) for doc in order])
        elif snapshot and bounded:
            matching = iter(list(itertools.islice(matching, skip + limit)))
        return itertools.islice(matching, skip, skip + limit if limit else None)

    def _matching(
        self,
        collection: str,
        query: Mapping[str, Any],
        rows: Iterable[tuple[Any, bytes]],
        remembered: bool,
    ) -> Iterator[tuple[dict[str, Any], bytes]]:
        exact = self._decided_by_index(collection, query)
        plain = _plain_filter(query)
        seen: set[Any] = set()
        for key, blob in rows:
            if key in seen:
                continue
            seen.add(key)
            kept = self._remembered.get((collection, key)) if remembered else None
            doc = kept[1] if kept is not None and kept[0] == blob else _decode(blob)
            if exact:
                selected = True
            elif plain is not None:
                selected = _holds(doc, plain)
            else:
                selected = q.matches(doc, query)
            if selected:
                yield doc, blob

    def count(self, collection: str, query: Mapping[str, Any]) -> int:
        if collection not in self.collections:
            self.refresh()
            if collection not in self.collections:
                return 0
        if not query:
            return int(
                self.conn.execute(f"SELECT count(*) FROM {self.table(collection)}").fetchone()[0]
            )
        covered = self._covering_count(collection, query)
        if covered is not None:
            return covered
        return len(self.select(collection, query))

    def _covering_count(self, collection: str, query: Mapping[str, Any]) -> int | None:
        """A count an index answers alone: scalar equalities on a prefix of its fields."""
        if any(k.startswith("$") or q.is_operator_document(v) for k, v in query.items()):
            return None
        if not all(q.is_scalar_key(v) for v in query.values()):
            return None
        for spec in self.indexes.get(collection, []):
            if spec.partial is not None:
                continue  # a sparse one holds every document a scalar equality matches
            if set(spec.fields[: len(query)]) == set(query):
                where = " AND ".join(f"k{spec.fields.index(f)} = ?" for f in query)
                sql = (
                    f"SELECT count(DISTINCT id) FROM {self.index_table(collection, spec.name)} "
                    f"WHERE {where}"
                )
                params = [q.index_key(v) for v in query.values()]
                return int(self.conn.execute(sql, params).fetchone()[0])
        return None

    def _decided_by_index(self, collection: str, query: Mapping[str, Any]) -> bool:
        """Whether the candidates ``_best_index`` reads are exactly the answer, so the matcher
        need not check them again: scalar equalities on every field of the query, which are
        the leading fields of the index it picks (an equality picks the index with the
        longest such prefix; a multikey entry matches as MongoDB's equality on an array does:
        one of its elements equals the value)."""
        if set(query) == {"$or"}:  # the union of arms each decided by an index
            arms = query["$or"]
            return (
                isinstance(arms, list)
                and bool(arms)
                and all(
                    isinstance(a, Mapping) and self._decided_by_index(collection, a) for a in arms
                )
            )
        if set(query) == {"_id"}:  # read by primary key: exactly the ids named
            wanted = query["_id"]
            if q.is_operator_document(wanted):
                values = wanted.get("$in") if set(wanted) == {"$in"} else None
                return isinstance(values, list) and all(_is_key(v) for v in values)
            return _is_key(wanted)
        if not query or any(
            k.startswith("$") or k == "_id" or not q.is_scalar_key(v) or q.is_operator_document(v)
            for k, v in query.items()
        ):
            return False
        for spec in self.indexes.get(collection, []):
            if spec.partial is not None:
                continue  # a sparse one holds every document a scalar equality matches
            if set(spec.fields[: len(query)]) == set(query):
                return True
        return False

    def _candidates(
        self, collection: str, query: Mapping[str, Any], sort: list[tuple[str, int]]
    ) -> tuple[Iterable[tuple[Any, bytes]], bool]:
        table = self.table(collection)
        equal = q.equalities(query)
        if "_id" in equal and not isinstance(equal["_id"], Mapping | list):
            rows = self.conn.execute(
                f"SELECT id, doc FROM {table} WHERE id = ?", (_id_key(equal["_id"]),)
            )
            return rows, True
        id_condition = query.get("_id")
        if isinstance(id_condition, Mapping) and isinstance(id_condition.get("$in"), list):
            keys = [_id_key(v) for v in id_condition["$in"] if not isinstance(v, Mapping)]
            if len(keys) == len(id_condition["$in"]):
                marks = ", ".join("?" * len(keys))
                rows = self.conn.execute(
                    f"SELECT id, doc FROM {table} WHERE id IN ({marks}) ORDER BY id", keys
                )
                return rows, not sort
        plan = self._best_index(collection, query, sort)
        if plan is not None:
            return plan
        union = self._or_union(collection, query)
        if union is not None:
            return union, not sort
        if sort == [("_id", 1)] or sort == [("_id", -1)]:
            direction = "ASC" if sort[0][1] > 0 else "DESC"
            return self.conn.execute(f"SELECT id, doc FROM {table} ORDER BY id {direction}"), True
        return self.conn.execute(f"SELECT id, doc FROM {table}"), not sort

    def _best_index(
        self,
        collection: str,
        query: Mapping[str, Any],
        sort: list[tuple[str, int]],
        *,
        ids_only: bool = False,
    ) -> tuple[Iterable[tuple[Any, bytes]], bool] | None:
        """The candidates of the index that answers most of ``query`` (rows of id and
        document; of the id alone with ``ids_only``), and whether they come in ``sort``'s
        order; None when no index helps."""
        equal = {f: v for f, v in q.equalities(query).items() if q.is_scalar_key(v)}
        ranges = _ranges(query)
        best: tuple[tuple[int, int], IndexSpec, int, str | None, bool] | None = None
        for spec in self.indexes.get(collection, []):
            if spec.partial is not None:
                continue
            fields = spec.fields
            prefix = 0
            while prefix < len(fields) and fields[prefix] in equal:
                prefix += 1
            ranged = fields[prefix] if prefix < len(fields) and fields[prefix] in ranges else None
            if spec.sparse and not (prefix or ranged):
                continue  # it misses documents without its fields, which the query may match
            rest = [*fields[prefix:], "_id"]
            ordered = bool(sort) and [f for f, _ in sort] == rest[: len(sort)]
            score = (prefix * 2 + (1 if ranged else 0), 1 if ordered else 0)
            if score > (0, 0) and (best is None or score > best[0]):
                best = (score, spec, prefix, ranged, ordered)
        if best is None:
            return None
        _, spec, prefix, ranged, ordered = best
        where: list[str] = []
        params: list[Any] = []
        for i in range(prefix):
            where.append(f"x.k{i} = ?")
            params.append(q.index_key(equal[spec.fields[i]]))
        if ranged is not None:
            operator, bound = ranges[ranged]
            key = q.index_key(bound)
            low, high = key[:1], bytes((key[0] + 1,))
            if operator in ("$gt", "$gte"):
                where += [f"x.k{prefix} {'>' if operator == '$gt' else '>='} ?", f"x.k{prefix} < ?"]
                params += [key, high]
            else:
                where += [
                    f"x.k{prefix} >= ?",
                    f"x.k{prefix} {'<' if operator == '$lt' else '<='} ?",
                ]
                params += [low, key]
        order = ""
        if ordered:
            columns = [f"x.k{prefix + i}" for i in range(len(spec.fields) - prefix)] + ["x.id"]
            order = " ORDER BY " + ", ".join(
                f"{column} {'ASC' if direction > 0 else 'DESC'}"
                for column, (_, direction) in zip(columns, sort, strict=False)
            )
        joined = f"JOIN {self.table(collection)} AS c ON c.id = x.id"
        sql = (
            f"SELECT {'x.id' if ids_only else 'c.id, c.doc'} "
            f"FROM {self.index_table(collection, spec.name)} AS x {'' if ids_only else joined}"
            f"{' WHERE ' + ' AND '.join(where) if where else ''}{order}"
        )
        return self.conn.execute(sql, params), ordered or not sort

    def _or_union(
        self, collection: str, query: Mapping[str, Any]
    ) -> list[tuple[Any, bytes]] | None:
        """Candidates of a ``$or`` whose every arm an index or ``_id`` answers."""
        arms = query.get("$or")
        if arms is None:
            for part in query.get("$and", []):
                if isinstance(part, Mapping) and "$or" in part:
                    arms = part["$or"]
                    break
        if not isinstance(arms, list) or not arms:
            return None
        keys: set[Any] = set()
        for arm in arms:
            ids = self._arm_ids(collection, arm)
            if ids is None:
                return None
            keys |= ids
        if not keys:
            return []
        found: list[tuple[Any, bytes]] = []
        ordered = sorted(keys, key=repr)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found += self.conn.execute(
                f"SELECT id, doc FROM {self.table(collection)} WHERE id IN ({marks})", chunk
            ).fetchall()
        return found

    def _arm_ids(self, collection: str, arm: Mapping[str, Any]) -> set[Any] | None:
        """The ids of the candidates of one arm of a ``$or``: a field's equality or ``$in``,
        or whatever else the best index answers (None: no index does)."""
        if not isinstance(arm, Mapping) or not arm:
            return None
        if len(arm) == 1:
            found = self._field_ids(collection, arm)
            if found is not None:
                return found
        plan = self._best_index(collection, arm, [], ids_only=True)
        return None if plan is None else {row[0] for row in plan[0]}

    def _field_ids(self, collection: str, arm: Mapping[str, Any]) -> set[Any] | None:
        ((field, condition),) = arm.items()
        if q.is_operator_document(condition) and set(condition) == {"$in"}:
            values = condition["$in"]
        elif not q.is_operator_document(condition):
            values = [condition]
        else:
            return None
        if not isinstance(values, list) or not all(q.is_scalar_key(v) for v in values):
            return None
        if field == "_id":
            return {_id_key(v) for v in values}
        for spec in self.indexes.get(collection, []):
            if spec.fields[0] == field and spec.partial is None:  # sparse: no value is null
                marks = ", ".join("?" * len(values))
                rows = self.conn.execute(
                    f"SELECT id FROM {self.index_table(collection, spec.name)} "
                    f"WHERE k0 IN ({marks})",
                    [q.index_key(v) for v in values],
                )
                return {row[0] for row in rows}
        return None


def _is_key(value: Any) -> bool:
    """An ``_id`` value the primary key compares exactly as MongoDB does (strings, ObjectIds,
    integers stored as themselves; not documents, arrays, floats or booleans)."""
    return isinstance(value, str | ObjectId) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _ranges(query: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """One bound per field (a second bound could miss a multikey document)."""
    found: dict[str, tuple[str, Any]] = {}
    parts = [query] + [p for p in query.get("$and", []) if isinstance(p, Mapping)]
    for part in parts:
        for field, condition in part.items():
            if field.startswith("$") or not q.is_operator_document(condition):
                continue
            for operator in ("$gte", "$gt", "$lte", "$lt"):
                if operator in condition and q.is_scalar_key(condition[operator]):
                    found.setdefault(field, (operator, condition[operator]))
                    break
    return found


def _duplicate(collection: str, index: str, values: Mapping[str, Any]) -> DuplicateKeyError:
    message = (
        f"E11000 duplicate key error collection: {collection} index: {index} "
        f"dup key: {dict(values)!r}"
    )
    return DuplicateKeyError(
        message,
        DUPLICATE_KEY,
        {
            "code": DUPLICATE_KEY,
            "errmsg": message,
            "keyPattern": dict.fromkeys(values, 1),
            "keyValue": dict(values),
        },
    )


# ====================================================================== the API


def _sort_spec(key_or_list: Any, direction: int | None = None) -> list[tuple[str, int]]:
    if key_or_list is None:
        return []
    if isinstance(key_or_list, str):
        return [(key_or_list, 1 if direction is None else int(direction))]
    if isinstance(key_or_list, Mapping):
        return [(str(k), int(v)) for k, v in key_or_list.items()]
    return [(str(k), int(v)) for k, v in key_or_list]


def _filter(query: Mapping[str, Any] | None) -> dict[str, Any]:
    if query is None:
        return {}
    if not isinstance(query, Mapping):
        raise TypeError("filter must be a mapping")
    if not query:
        return {}
    if all(_plain(k, v) for k, v in query.items()):
        return dict(query)  # plain equalities come back from BSON as they are
    return q.normalise({"f": query})["f"]


def _plain(field: Any, value: Any) -> bool:
    """A filter's equality that BSON encodes and decodes to itself."""
    if type(field) is not str or field.startswith("$") or "\x00" in field:
        return False
    kind = type(value)
    return (
        kind is str or kind is bool or value is None or (kind is int and -(2**63) <= value < 2**63)
    )


def _plain_filter(query: Mapping[str, Any]) -> list[tuple[str, Any]] | None:
    """A filter of plain equalities on top-level fields (a guarded replace's ``_id`` and
    ``revision``), to test without the query engine; None for any other filter."""
    if len(query) > 4 or not all(_plain(k, v) and "." not in k for k, v in query.items()):
        return None
    return list(query.items())


def _holds(doc: Mapping[str, Any], equalities: list[tuple[str, Any]]) -> bool:
    """Whether ``doc`` matches plain equalities, as MongoDB decides them: a stored value of
    another type (an array holding the value, 3.0 for 3, a missing field for None) is left to
    the query engine."""
    for field, value in equalities:
        stored = doc.get(field, _ABSENT)
        if type(stored) is not type(value):
            return q.matches(doc, dict(equalities))
        if stored != value:
            return False
    return True


_ABSENT = object()


def _each_in_savepoints(
    store: _Database,
    count: int,
    write: Callable[[int], dict[str, Any]],
    op: Callable[[int], Any],
    *,
    ordered: bool,
    collection: str,
) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    """``write(index)`` for each index, each under a savepoint of the caller's transaction:
    a duplicate key undoes that one write and is a write error naming ``op(index)``, and
    ``ordered`` stops at the first. Answers what each write that held counted for, and
    the errors. A collection without a unique index besides ``_id`` needs no savepoints: a
    duplicate ``_id`` fails the write's first statement, before it changed anything."""
    done: list[tuple[int, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    savepoints = any(spec.unique for spec in store.indexes.get(collection, []))
    for index in range(count):
        if savepoints:
            store.conn.execute("SAVEPOINT one")
        try:
            outcome = write(index)
        except DuplicateKeyError as error:
            if savepoints:
                store.conn.execute("ROLLBACK TO one")
                store.conn.execute("RELEASE one")
            errors.append(
                {"index": index, "code": DUPLICATE_KEY, "errmsg": str(error), "op": op(index)}
            )
            if ordered:
                break
            continue
        if savepoints:
            store.conn.execute("RELEASE one")
        done.append((index, outcome))
    return done, errors


def _same_id(change: Mapping[str, Any], before: Mapping[str, Any]) -> bool:
    """Whether the replacement's ``_id`` is the stored one, type included."""
    given, stored = change["_id"], before["_id"]
    return type(given) is type(stored) and bool(given == stored)


def _stored_form(doc: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A new document as MongoDB stores it (``_id`` first), and its BSON."""
    blob = _new_blob(doc)
    stored = _decode(blob)
    if "_id" in stored and next(iter(stored)) != "_id":
        stored = {"_id": stored["_id"], **stored}
        blob = _encode(stored)
    return stored, blob


def _new_blob(doc: Mapping[str, Any]) -> bytes:
    """The BSON of a new document (refused with top-level ``$`` fields)."""
    if any(str(k).startswith("$") for k in doc):
        raise OperationFailure("a document cannot have top-level $ fields", code=2)
    return _encode(doc)


_SAME_ID_TYPES = (str, int, ObjectId)
"""``_id`` types whose stored form is the value itself, so its key needs no decoding."""


@dataclass
class _Prepared:
    """A new document of ``insert_many``: its ``_id`` key, its BSON, its stored form once
    decoded (``doc``) and, when that is known to give the same index entries, the document
    given (``given``). BSON puts ``_id`` first in a plain dict's encoding, so a dict whose
    ``_id`` is a string, an int or an ObjectId is stored as encoded; and where the fields
    an index reads hold only plain values (``_plain_value``), the stored form holds the same
    values, which give the same keys (``index_key`` counts a date in milliseconds, as BSON
    keeps it). Such a document is not decoded at all."""

    key: Any
    blob: bytes
    doc: dict[str, Any] | None
    given: dict[str, Any] | None = None

    @classmethod
    def of(cls, document: dict[str, Any], specs: Sequence[IndexSpec]) -> _Prepared:
        """``document`` prepared for a collection with the indexes ``specs``."""
        if type(document) is dict and type(document["_id"]) in _SAME_ID_TYPES:
            key, blob = _id_key(document["_id"]), _new_blob(document)
            if not specs:
                return cls(key, blob, None)
            if _indexed_plain(document, specs):
                return cls(key, blob, None, document)
        stored, blob = _stored_form(document)
        return cls(_id_key(stored["_id"]), blob, stored)

    def stored(self) -> dict[str, Any]:
        """The document as stored (decoded now if it was not)."""
        if self.doc is None:
            self.doc = _decode(self.blob)
        return self.doc

    def indexed(self, prepared_for: bool) -> dict[str, Any]:
        """What to compute index entries from: the document given if it was found plain for
        the indexes the collection has (``prepared_for``), else the stored form."""
        return self.given if prepared_for and self.given is not None else self.stored()


_PLAIN = frozenset({str, int, float, bool, type(None), datetime, ObjectId, bytes})
"""Types whose values BSON gives back with the same index keys (a date as the same
millisecond, timezone-aware)."""


def _plain_value(value: Any) -> bool:
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is list:
        return all(_plain_value(item) for item in value)
    if kind is dict:
        return all(type(name) is str and _plain_value(item) for name, item in value.items())
    return False


def _indexed_plain(document: dict[str, Any], specs: Sequence[IndexSpec]) -> bool:
    """Whether every top-level field the indexes read holds only plain values (no tuple, no
    subclass of str or int, no other mapping), so the stored form gives the same entries.
    A partial index's filter may read other fields: never for one."""
    if any(spec.partial is not None for spec in specs):
        return False
    tops = {field.partition(".")[0] for spec in specs for field in spec.fields}
    return all(_plain_value(document[top]) for top in tops if top in document)


SUFFIX = ".crm.sqlite3"
LEGACY = ""
"""The file name (in ``_Database``'s keys) of a database's single file of the earlier layout."""


def family(collection: str) -> str:
    """The file a collection is kept in, in its database's folder: its name up to the first
    double underscore, so ``customer360__g3`` and ``customer360__part_x`` share
    ``customer360``'s file (a rebuild's generations and parts), and others have their own."""
    return collection.partition("__")[0] or collection


class EmbeddedClient:
    """``AsyncMongoClient``-shaped client of the embedded store (folder=None: in memory)."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._files: dict[tuple[str, str], _Database] = {}
        """The files opened, by database and file name (in memory: one per database)."""
        self._homes: dict[tuple[str, str], _Database] = {}
        """The file of each collection (database and name) found outside a legacy file."""
        self._absent: _Database | None = None
        """What a read of a collection whose family has no file yet reads: nothing."""
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _path(self, database: str, name: str) -> Path:
        """Where file ``name`` of ``database`` is (``LEGACY``: the earlier layout's)."""
        assert self._folder is not None
        if name == LEGACY:
            return self._folder / f"{database}{SUFFIX}"
        return self._folder / database / f"{name}{SUFFIX}"

    def _file(self, database: str, name: str) -> _Database:
        store = self._files.get((database, name))
        if store is None:
            path = None if self._folder is None else self._path(database, name)
            if path is not None:
                path.parent.mkdir(exist_ok=True)
            store = self._files[(database, name)] = _Database(path)
        return store

    def _legacy(self, database: str) -> _Database | None:
        """The database's file of the earlier layout, if it has one (see ``_home``)."""
        if self._folder is None:
            return None
        if (database, LEGACY) in self._files:
            return self._files[(database, LEGACY)]
        if not self._path(database, LEGACY).exists():
            return None
        return self._file(database, LEGACY)

    def _home(self, database: str, collection: str, *, create: bool = True) -> _Database:
        """The file holding ``collection``: its family's (``family``), unless the
        database's file of the earlier layout (every collection in one file) holds it, as
        long as it does. In memory, the database's. ``create=False`` (a read): while its
        family has no file, an empty store that is never written, so reading a collection
        that does not exist makes no file."""
        home = self._homes.get((database, collection))
        if home is not None:
            return home
        if self._folder is None:
            return self._file(database, LEGACY)
        legacy = self._legacy(database)
        if legacy is not None:
            legacy.refresh()
            if collection in legacy.collections:
                return legacy  # looked up again next time: a drop moves it out
        name = family(collection)
        unmade = (database, name) not in self._files and not self._path(database, name).exists()
        if not create and unmade:
            if self._absent is None:
                self._absent = _Database(None)
            return self._absent
        home = self._homes[(database, collection)] = self._file(database, name)
        return home

    def _stores_of(self, database: str) -> list[_Database]:
        """Every file of ``database`` (opened), the legacy one first."""
        if self._folder is None:
            return [self._file(database, LEGACY)]
        legacy = self._legacy(database)
        folder = self._folder / database
        names = sorted(p.name.removesuffix(SUFFIX) for p in folder.glob(f"*{SUFFIX}"))
        return [*([legacy] if legacy else []), *(self._file(database, n) for n in names)]

    def __getitem__(self, name: str) -> EmbeddedDatabase:
        return EmbeddedDatabase(self, _check_name("database", name))

    def __getattr__(self, name: str) -> EmbeddedDatabase:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def get_database(self, name: str, **_: Any) -> EmbeddedDatabase:
        return self[name]

    async def list_database_names(self) -> list[str]:
        if self._folder is None:
            return sorted({database for database, _ in self._files})
        legacy = {p.name.removesuffix(SUFFIX) for p in self._folder.glob(f"*{SUFFIX}")}
        folders = {p.parent.name for p in self._folder.glob(f"*/*{SUFFIX}")}
        return sorted(legacy | folders)

    async def drop_database(self, name: str) -> None:
        database = self[name]
        for collection in await database.list_collection_names():
            await database.drop_collection(collection)

    async def close(self) -> None:
        for store in [*self._files.values(), *([self._absent] if self._absent else [])]:
            store.close()
        self._files.clear()
        self._homes.clear()
        self._absent = None

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> EmbeddedClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class EmbeddedDatabase:
    def __init__(self, client: EmbeddedClient, name: str) -> None:
        self.client = client
        self.name = name

    def __getitem__(self, name: str) -> EmbeddedCollection:
        return EmbeddedCollection(self, _check_name("collection", name))

    def __getattr__(self, name: str) -> EmbeddedCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def get_collection(self, name: str, **_: Any) -> EmbeddedCollection:
        return self[name]

    async def command(self, command: str | Mapping[str, Any], *_: Any, **__: Any) -> dict[str, Any]:
        name = command if isinstance(command, str) else next(iter(command))
        if name == "ping":
            for store in self.client._stores_of(self.name):
                store.refresh()
            return {"ok": 1.0}
        raise OperationFailure(f"command {name!r} is not supported by the embedded store", code=59)

    async def list_collection_names(self, **_: Any) -> list[str]:
        names: set[str] = set()
        for store in self.client._stores_of(self.name):
            store.refresh()
            names |= store.collections
        return sorted(names)

    async def create_collection(self, name: str, **_: Any) -> EmbeddedCollection:
        store = self.client._home(self.name, _check_name("collection", name))
        store.refresh()
        if name in store.collections:
            raise CollectionInvalid(f"collection {name} already exists")
        with store.write():
            store.ensure_collection(name)
        return self[name]

    async def drop_collection(self, name: str) -> None:
        store = self.client._home(self.name, _check_name("collection", name), create=False)
        if store is self.client._absent:
            return  # nothing of its family was ever stored
        with store.write():
            store.drop_collection(name)


class EmbeddedCollection:
    def __init__(self, database: EmbeddedDatabase, name: str) -> None:
        self.database = database
        self.name = name

    @property
    def full_name(self) -> str:
        return f"{self.database.name}.{self.name}"

    @property
    def _store(self) -> _Database:
        return self.database.client._home(self.database.name, self.name)

    def _read(self) -> _Database:
        store = self.database.client._home(self.database.name, self.name, create=False)
        store.refresh()
        return store

    # ---- inserts

    async def insert_one(self, document: dict[str, Any], **_: Any) -> InsertOneResult:
        if "_id" not in document:
            document["_id"] = ObjectId()
        doc, blob = _stored_form(document)
        store = self._store
        with store.write():
            store.ensure_collection(self.name)
            store.insert(self.name, doc, blob, remember=True)
        return InsertOneResult(document["_id"], True)

    async def insert_many(
        self, documents: Iterable[dict[str, Any]], ordered: bool = True, **_: Any
    ) -> InsertManyResult:
        documents = list(documents)
        if not documents:
            raise TypeError("documents must be a non-empty list")
        for document in documents:
            if "_id" not in document:
                document["_id"] = ObjectId()
        store = self._store
        # prepared before the write lock, for the indexes known now; ``insert_all`` takes
        # the entries from the stored form if another process declared others meanwhile
        store.refresh()
        specs = list(store.indexes.get(self.name, []))
        prepared = [_Prepared.of(d, specs) for d in documents]

        def insert(index: int) -> dict[str, Any]:
            item = prepared[index]
            store.insert(self.name, item.stored(), item.blob, remember=True)
            return {"nInserted": 1}

        done: list[tuple[int, dict[str, Any]]] = []
        errors: list[dict[str, Any]] = []
        with store.write():
            store.ensure_collection(self.name)
            if not store.insert_all(self.name, prepared, specs):  # a duplicate: one at a time
                done, errors = _each_in_savepoints(
                    store,
                    len(prepared),
                    insert,
                    documents.__getitem__,
                    ordered=ordered,
                    collection=self.name,
                )
        if errors:
            raise BulkWriteError(
                {
                    "writeErrors": errors,
                    "writeConcernErrors": [],
                    "nInserted": len(done),
                    "nUpserted": 0,
                    "nMatched": 0,
                    "nModified": 0,
                    "nRemoved": 0,
                    "upserted": [],
                }
            )
        return InsertManyResult([d["_id"] for d in documents], True)

    async def bulk_write(
        self, requests: Sequence[Any], ordered: bool = True, **_: Any
    ) -> BulkWriteResult:
        """PyMongo's ``bulk_write`` of InsertOne, ReplaceOne, UpdateOne/Many and
        DeleteOne/Many, in one transaction: a failed operation (a duplicate key) is a write
        error and the others stay written, as on MongoDB; ``ordered`` stops at the first."""
        requests = list(requests)
        if not requests:
            raise InvalidOperation("No operations to execute")
        counts = dict.fromkeys(("nInserted", "nUpserted", "nMatched", "nModified", "nRemoved"), 0)
        upserted: list[dict[str, Any]] = []
        store = self._store
        with store.write():
            store.ensure_collection(self.name)
            done, errors = _each_in_savepoints(
                store,
                len(requests),
                lambda index: self._one_request(store, requests[index]),
                requests.__getitem__,
                ordered=ordered,
                collection=self.name,
            )
        for index, outcome in done:
            for name, value in outcome.items():
                if name == "upserted":
                    upserted.append({"index": index, "_id": value})
                    counts["nUpserted"] += 1
                else:
                    counts[name] += value
        raw = {**counts, "upserted": upserted, "writeErrors": errors, "writeConcernErrors": []}
        if errors:
            raise BulkWriteError(raw)
        return BulkWriteResult(raw, True)

    def _one_request(self, store: _Database, request: Any) -> dict[str, Any]:
        """One operation of a bulk write, inside its transaction: what it counts for."""
        if isinstance(request, InsertOne):
            document = request._doc
            if "_id" not in document:
                document["_id"] = ObjectId()
            store.insert(self.name, *_stored_form(document), remember=True)
            return {"nInserted": 1}
        if isinstance(request, DeleteOne | DeleteMany):
            found = store.select(
                self.name,
                _filter(request._filter),
                (),
                0,
                1 if isinstance(request, DeleteOne) else 0,
            )
            for doc in found:
                store.delete(self.name, doc)
            return {"nRemoved": len(found)}
        if isinstance(request, ReplaceOne | UpdateOne | UpdateMany):
            replace = isinstance(request, ReplaceOne)
            change = request._doc
            if replace and q.is_update_document(change) and change:
                raise ValueError("replacement can not include $ operators")
            if not replace and (not change or not q.is_update_document(change)):
                raise ValueError("update only works with $ operators")
            matched, modified, upserted_id = self._update_in(
                store,
                request._filter,
                change,
                upsert=bool(request._upsert),
                many=isinstance(request, UpdateMany),
                replace=replace,
            )
            outcome: dict[str, Any] = {"nMatched": matched, "nModified": modified}
            if upserted_id is not None:
                outcome["upserted"] = upserted_id
            return outcome
        raise TypeError(f"{request!r} is not a valid request")

    # ---- reads

    def find(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        sort: Any = None,
        skip: int = 0,
        limit: int = 0,
        **_: Any,
    ) -> EmbeddedCursor:
        return EmbeddedCursor(
            self, _filter(filter), _projection(projection), _sort_spec(sort), skip, limit
        )

    async def find_one(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        sort: Any = None,
        **_: Any,
    ) -> dict[str, Any] | None:
        if filter is not None and not isinstance(filter, Mapping):
            filter = {"_id": filter}
        found = self._read().select(self.name, _filter(filter), _sort_spec(sort), 0, 1)
        return q.project(found[0], _projection(projection)) if found else None

    async def count_documents(
        self,
        filter: Mapping[str, Any],
        *,
        skip: int = 0,
        limit: int = 0,
        **_: Any,
    ) -> int:
        query = _filter(filter)
        if skip or limit:
            return len(self._read().select(self.name, query, (), skip, limit))
        return self._read().count(self.name, query)

    async def estimated_document_count(self, **_: Any) -> int:
        return self._read().count(self.name, {})

    async def distinct(
        self, key: str, filter: Mapping[str, Any] | None = None, **_: Any
    ) -> list[Any]:
        values: list[Any] = []
        for doc in self._read().select(self.name, _filter(filter)):
            for value in q.path_values(doc, key):
                if isinstance(value, list) or value is q.MISSING:
                    continue
                if not any(q.values_equal(value, v) for v in values):
                    values.append(value)
        return values

    # ---- updates

    async def update_one(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        upsert: bool = False,
        **_: Any,
    ) -> UpdateResult:
        return self._update(filter, update, upsert=upsert, many=False)

    async def update_many(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        upsert: bool = False,
        **_: Any,
    ) -> UpdateResult:
        return self._update(filter, update, upsert=upsert, many=True)

    async def replace_one(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        upsert: bool = False,
        **_: Any,
    ) -> UpdateResult:
        if q.is_update_document(replacement) and replacement:
            raise ValueError("replacement can not include $ operators")
        return self._update(filter, replacement, upsert=upsert, many=False, replace=True)

    def _update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        upsert: bool,
        many: bool,
        replace: bool = False,
        sort: list[tuple[str, int]] | None = None,
    ) -> UpdateResult:
        if not replace and (not update or not q.is_update_document(update)):
            raise ValueError("update only works with $ operators")
        store = self._store
        with store.write():
            matched, modified, upserted = self._update_in(
                store, filter, update, upsert=upsert, many=many, replace=replace, sort=sort
            )
        raw: dict[str, Any] = {
            "n": matched or (1 if upserted is not None else 0),
            "nModified": modified,
            "ok": 1.0,
        }
        if upserted is not None:
            raw["upserted"] = upserted
        raw["updatedExisting"] = bool(matched)
        return UpdateResult(raw, True)

    def _update_in(
        self,
        store: _Database,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        upsert: bool,
        many: bool,
        replace: bool,
        sort: list[tuple[str, int]] | None = None,
    ) -> tuple[int, int, Any]:
        """An update inside the caller's write transaction: (matched, modified, upserted id)."""
        query = _filter(filter)
        given = _encode(update)
        change = bson.decode(given, codec_options=q.CODEC)  # what MongoDB would see
        matched = modified = 0
        upserted: Any = None
        store.ensure_collection(self.name)
        targets = list(
            store.selecting(self.name, query, sort or (), 0, 0 if many else 1, remembered=True)
        )
        for before, stored in targets:
            after = self._changed(before, change, replace)
            matched += 1
            # a replacement that starts with the same _id is stored as it was given
            same = replace and next(iter(change), None) == "_id" and _same_id(change, before)
            encoded = given if same else _encode(after)
            if encoded != stored:
                store.replace(self.name, before, after, encoded, remember=True)
                modified += 1
        if not targets and upsert:
            doc = self._upserted(query, change, replace)
            store.insert(self.name, doc)
            upserted = doc["_id"]
        return matched, modified, upserted

    @staticmethod
    def _changed(
        before: dict[str, Any], change: Mapping[str, Any], replace: bool
    ) -> dict[str, Any]:
        if replace:
            if "_id" in change and not q.values_equal(change["_id"], before["_id"]):
                raise OperationFailure(
                    "the (immutable) field '_id' was found to have been altered", code=66
                )
            return {"_id": before["_id"], **{k: v for k, v in change.items() if k != "_id"}}
        after = q.normalise(before)
        q.apply_update(after, change, inserting=False)
        return after

    @staticmethod
    def _upserted(
        query: Mapping[str, Any], change: Mapping[str, Any], replace: bool
    ) -> dict[str, Any]:
        seed = q.upsert_seed(query)
        if replace:
            doc = {k: v for k, v in change.items()}
            if "_id" not in doc and "_id" in seed:
                doc["_id"] = seed["_id"]
        else:
            doc = seed
            q.apply_update(doc, change, inserting=True)
        if "_id" not in doc:
            doc["_id"] = ObjectId()
        return _stored_form(doc)[0]

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        **_: Any,
    ) -> dict[str, Any] | None:
        return self._find_and_modify(filter, update, projection, sort, upsert, return_document)

    async def find_one_and_replace(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        **_: Any,
    ) -> dict[str, Any] | None:
        return self._find_and_modify(
            filter, replacement, projection, sort, upsert, return_document, replace=True
        )

    def _find_and_modify(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        projection: Mapping[str, Any] | None,
        sort: Any,
        upsert: bool,
        return_document: bool,
        *,
        replace: bool = False,
    ) -> dict[str, Any] | None:
        if not replace and (not update or not q.is_update_document(update)):
            raise ValueError("update only works with $ operators")
        query = _filter(filter)
        change = q.normalise(update)
        store = self._store
        result: dict[str, Any] | None = None
        with store.write():
            store.ensure_collection(self.name)
            found = store.select(self.name, query, _sort_spec(sort), 0, 1)
            if found:
                before = found[0]
                after = self._changed(before, change, replace)
                if _encode(after) != _encode(before):
                    store.replace(self.name, before, after)
                result = after if return_document == ReturnDocument.AFTER else before
            elif upsert:
                doc = self._upserted(query, change, replace)
                store.insert(self.name, doc)
                result = doc if return_document == ReturnDocument.AFTER else None
        return None if result is None else q.project(result, _projection(projection))

    async def find_one_and_delete(
        self,
        filter: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
        sort: Any = None,
        **_: Any,
    ) -> dict[str, Any] | None:
        store = self._store
        with store.write():
            found = store.select(self.name, _filter(filter), _sort_spec(sort), 0, 1)
            if found:
                store.delete(self.name, found[0])
        return q.project(found[0], _projection(projection)) if found else None

    # ---- deletes

    async def delete_one(self, filter: Mapping[str, Any], **_: Any) -> DeleteResult:
        return self._delete(filter, 1)

    async def delete_many(self, filter: Mapping[str, Any], **_: Any) -> DeleteResult:
        return self._delete(filter, 0)

    def _delete(self, filter: Mapping[str, Any], limit: int) -> DeleteResult:
        store = self._store
        with store.write():
            if self.name not in store.collections:
                return DeleteResult({"n": 0, "ok": 1.0}, True)
            found = store.select(self.name, _filter(filter), (), 0, limit)
            for doc in found:
                store.delete(self.name, doc)
        return DeleteResult({"n": len(found), "ok": 1.0}, True)

    # ---- indexes and the collection itself

    async def create_index(self, keys: Any, **options: Any) -> str:
        spec = _index_spec(keys, options)
        store = self._store
        with store.write():
            store.create_index(self.name, spec)
        return spec.name

    async def create_indexes(self, indexes: Sequence[Any], **_: Any) -> list[str]:
        names = []
        for model in indexes:
            document = dict(model.document)
            keys = list(document.pop("key").items())
            names.append(await self.create_index(keys, **document))
        return names

    async def drop_index(self, index: str | Any) -> None:
        name = index if isinstance(index, str) else _index_spec(index, {}).name
        store = self._store
        with store.write():
            store.drop_index(self.name, name)

    async def list_indexes(self) -> EmbeddedListCursor:
        store = self._read()
        specs = (
            [{"v": 2, "key": {"_id": 1}, "name": "_id_"}] if self.name in store.collections else []
        )
        specs += [s.document(self.name) for s in store.indexes.get(self.name, [])]
        return EmbeddedListCursor(specs)

    async def index_information(self) -> dict[str, Any]:
        cursor = await self.list_indexes()
        info = {}
        for spec in await cursor.to_list(None):
            name = spec.pop("name")
            spec["key"] = list(spec["key"].items())
            info[name] = spec
        return info

    async def drop(self, **_: Any) -> None:
        await self.database.drop_collection(self.name)


def _projection(projection: Mapping[str, Any] | Sequence[str] | None) -> Mapping[str, Any] | None:
    if projection is None or isinstance(projection, Mapping):
        return projection
    return dict.fromkeys(projection, 1)


def _index_spec(keys: Any, options: Mapping[str, Any]) -> IndexSpec:
    pairs = (
        _sort_spec(keys)
        if not isinstance(keys, list | tuple) or (keys and not isinstance(keys[0], str))
        else [(str(k), 1) for k in keys]
    )
    if not pairs:
        raise ValueError("an index needs at least one key")
    for _, direction in pairs:
        if direction not in (1, -1):
            raise OperationFailure(
                "the embedded store has ascending and descending indexes only", code=67
            )
    name = options.get("name") or "_".join(f"{f}_{d}" for f, d in pairs)
    partial = options.get("partialFilterExpression")
    return IndexSpec(
        str(name),
        tuple(pairs),
        bool(options.get("unique", False)),
        bool(options.get("sparse", False)),
        None if partial is None else q.normalise({"p": partial})["p"],
    )


class EmbeddedCursor:
    """``find()``: lazy until iterated; sort/skip/limit chain as in PyMongo.

    As a driver fetches a cursor's documents in batches, awaiting the server for each,
    the documents are decoded ``CURSOR_BATCH`` at a time and the event loop runs between
    two batches, so reading many documents does not hold up the process's other tasks
    (a consumer waiting for its records) until the last is decoded. What the cursor
    returns is what was stored when it started (``_Database.selecting``)."""

    def __init__(
        self,
        collection: EmbeddedCollection,
        query: dict[str, Any],
        projection: Mapping[str, Any] | None,
        sort: list[tuple[str, int]],
        skip: int,
        limit: int,
    ) -> None:
        self._collection = collection
        self._query = query
        self._projection = projection
        self._sort = sort
        self._skip = skip
        self._limit = limit
        self._source: Iterator[tuple[dict[str, Any], bytes]] | None = None
        self._batch: deque[dict[str, Any]] = deque()
        self._exhausted = False

    def sort(self, key_or_list: Any, direction: int | None = None) -> EmbeddedCursor:
        self._sort = _sort_spec(key_or_list, direction)
        return self

    def skip(self, skip: int) -> EmbeddedCursor:
        self._skip = int(skip)
        return self

    def limit(self, limit: int) -> EmbeddedCursor:
        self._limit = abs(int(limit))
        return self

    async def _next_batch(self) -> bool:
        """Decode the next batch of documents; False when none is left."""
        if self._exhausted:
            return False
        if self._source is None:
            self._source = self._collection._read().selecting(
                self._collection.name,
                self._query,
                self._sort,
                self._skip,
                self._limit,
                snapshot=True,
            )
        else:
            await asyncio.sleep(0)  # the loop runs between two batches, as between getMores
        taken = [doc for doc, _ in itertools.islice(self._source, CURSOR_BATCH)]
        if len(taken) < CURSOR_BATCH:
            self._exhausted = True
            self._source = None
        self._batch.extend(q.project(doc, self._projection) for doc in taken)
        return bool(taken)

    def __aiter__(self) -> EmbeddedCursor:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if not self._batch and not await self._next_batch():
            raise StopAsyncIteration
        return self._batch.popleft()

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while length is None or len(found) < length:
            if not self._batch and not await self._next_batch():
                break
            wanted = len(self._batch) if length is None else length - len(found)
            found.extend(self._batch.popleft() for _ in range(min(wanted, len(self._batch))))
        return found

    async def close(self) -> None:
        self._batch.clear()
        self._source = None
        self._exhausted = True


class EmbeddedListCursor:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self._items = items

    def __aiter__(self) -> EmbeddedListCursor:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if not self._items:
            raise StopAsyncIteration
        return self._items.pop(0)

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        taken = self._items if length is None else self._items[:length]
        self._items = self._items[len(taken) :]
        return list(taken)
