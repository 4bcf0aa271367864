"""The embedded store's database files, shared by the processes that open them."""

from __future__ import annotations

import threading
from pathlib import Path

from crm_runtime.embedded_store import _Database

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
