"""The embedded store's database files, shared by the processes that open them."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_runtime import embedded_store
from crm_runtime.embedded_store import SUFFIX, EmbeddedClient, IndexSpec, _Database

OPENERS, FILES = 8, 150


def test_connections_opening_a_new_file_together_all_open_it(tmp_path: Path) -> None:
    """A rebuild's jobs open a new projections database at the same moment. Each switches
    the new file to write-ahead logging, and SQLite refuses one of two connections that
    switch at once, without waiting. Without the turns the write lock gives them, about one
    file in fifteen failed here."""
    failed: list[Exception] = []
    for number in range(FILES):
        path = tmp_path / f"db{number}.crm.sqlite3"
        ready = threading.Barrier(OPENERS)

        def open_it(path: Path = path, ready: threading.Barrier = ready) -> None:
            ready.wait()
            try:
                _Database(path).close()
            except Exception as error:  # collected: a thread's exception fails nothing
                failed.append(error)

        threads = [threading.Thread(target=open_it) for _ in range(OPENERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failed == []
    journal = _Database(tmp_path / "db0.crm.sqlite3")
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    journal.close()


async def test_a_database_keeps_each_family_of_collections_in_a_file_of_its_own(
    tmp_path: Path,
) -> None:
    """A collection lives in its database's folder, in the file of its family (its name up
    to a double underscore): a rebuild's generations share their read model's file, other
    collections have their own; the database lists, finds and drops them all as one."""
    client = EmbeddedClient(tmp_path)
    try:
        shop = client["shop"]
        await shop["orders"].insert_one({"_id": "o1"})
        await shop["orders__g2"].insert_one({"_id": "o2"})
        await shop["customers"].create_index([("email", ASCENDING)], unique=True)
        await shop["customers"].insert_one({"_id": "c1", "email": "ada@example.com"})
        assert sorted(p.name for p in (tmp_path / "shop").glob(f"*{SUFFIX}")) == [
            f"customers{SUFFIX}",
            f"orders{SUFFIX}",
        ]
        assert not (tmp_path / f"shop{SUFFIX}").exists()
        assert await shop.list_collection_names() == ["customers", "orders", "orders__g2"]
        assert await client.list_database_names() == ["shop"]
        reopened = EmbeddedClient(tmp_path)
        try:  # another process finds them where this one put them, indexes included
            again = reopened["shop"]
            assert await again["orders__g2"].find_one({}) == {"_id": "o2"}
            with pytest.raises(DuplicateKeyError):
                await again["customers"].insert_one({"_id": "c2", "email": "ada@example.com"})
        finally:
            await reopened.close()
        await client.drop_database("shop")
        assert await shop.list_collection_names() == []
    finally:
        await client.close()


async def test_writers_of_different_families_do_not_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write lock is a file's: while another process writes one family of a database,
    a write to another family of it goes on at once; one to the same family waits."""
    monkeypatch.setattr(embedded_store, "BUSY_TIMEOUT_MS", 50)
    client = EmbeddedClient(tmp_path)
    try:
        await client["crm_projections"]["deal_rows"].insert_one({"_id": "d0"})
        await client["crm_projections"]["customer360"].insert_one({"_id": "c0"})
        folder = tmp_path / "crm_projections"
        other = embedded_store._WriteLock(folder / f"customer360{SUFFIX}")
        other.acquire()  # another process, in the middle of writing the 360's file
        try:
            await client["crm_projections"]["deal_rows"].insert_one({"_id": "d1"})
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                await client["crm_projections"]["customer360__g1"].insert_one({"_id": "c1"})
        finally:
            other.release()
            other.close()
        assert await client["crm_projections"]["deal_rows"].count_documents({}) == 2
    finally:
        await client.close()


async def test_a_collection_of_the_single_file_layout_stays_there_until_dropped(
    tmp_path: Path,
) -> None:
    """A data directory written before files were kept per family has every collection of a
    database in ``<database>.crm.sqlite3``. Each such collection is read and written there,
    indexes included, for as long as that file holds it; a new collection (a rebuild's
    generation) goes to its family's file, and so does one recreated after its drop, so a
    rebuild moves a read model out of the old file without copying anything."""
    old = _Database(tmp_path / f"shop{SUFFIX}")
    spec = IndexSpec("email_1", (("email", 1),), unique=True)
    with old.write():
        old.create_index("customers", spec)
        old.insert("customers", {"_id": "c1", "email": "ada@example.com"})
        old.ensure_collection("orders")
        old.insert("orders", {"_id": "o1", "total": 3})
    old.close()
    client = EmbeddedClient(tmp_path)
    try:
        shop = client["shop"]
        assert await shop["customers"].find_one({"email": "ada@example.com"}) is not None
        with pytest.raises(DuplicateKeyError):
            await shop["customers"].insert_one({"_id": "c2", "email": "ada@example.com"})
        await shop["orders"].update_one({"_id": "o1"}, {"$inc": {"total": 1}})
        assert await shop["orders"].find_one({"total": 4}) == {"_id": "o1", "total": 4}
        await shop["orders__g1"].insert_one({"_id": "o1", "total": 4})
        assert await shop.list_collection_names() == ["customers", "orders", "orders__g1"]
        assert (tmp_path / "shop" / f"orders{SUFFIX}").exists()  # the generation's file
        await shop.drop_collection("orders")
        await shop["orders"].insert_one({"_id": "o9"})  # recreated: in the family's file
        assert await shop["orders"].find_one({}) == {"_id": "o9"}
        assert await client.list_database_names() == ["shop"]
    finally:
        await client.close()
    old = _Database(tmp_path / f"shop{SUFFIX}")
    old.refresh()
    assert old.collections == {"customers"}  # the old file got nothing new
    old.close()


async def test_reading_a_collection_that_does_not_exist_makes_no_file(tmp_path: Path) -> None:
    """A read of a collection none of whose family was ever stored finds nothing and leaves
    no file behind; once another process writes it, the next read finds what it wrote."""
    reader, writer = EmbeddedClient(tmp_path), EmbeddedClient(tmp_path)
    try:
        leases = reader["crm_projections"]["leases"]
        assert await leases.find_one({"_id": "settle"}) is None
        assert await leases.count_documents({}) == 0
        assert [doc async for doc in leases.find({})] == []
        await reader["crm_projections"].drop_collection("leases")
        assert _files_under(tmp_path) == []
        assert await reader.list_database_names() == []
        await writer["crm_projections"]["leases"].insert_one({"_id": "settle", "holder": "a"})
        assert await leases.find_one({"_id": "settle"}) == {"_id": "settle", "holder": "a"}
    finally:
        await reader.close()
        await writer.close()


def _files_under(folder: Path) -> list[Path]:
    """Every database file under ``folder``, in any layout."""
    return sorted(folder.glob(f"**/*{SUFFIX}"))
