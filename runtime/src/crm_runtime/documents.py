"""The document store client: real MongoDB through PyMongo's async API, or the embedded store.

Application code only sees the PyMongo ``AsyncMongoClient`` interface. When
``CRM_MONGODB_URL`` is unset, the embedded store of ``crm_runtime.embedded_store``
stands in: the same async interface over SQLite files with real indexes (durable,
safe for several processes), or over private memory for tests. See docs/adr/0002.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_runtime.settings import RuntimeSettings

DUPLICATE_KEY = 11000


def open_document_client(settings: RuntimeSettings, *, app_name: str = "crm") -> Any:
    """Create (not connect) the client; callers close it in their lifespan."""
    if settings.mongodb_url:
        return AsyncMongoClient(settings.mongodb_url, tz_aware=True, appname=app_name)
    from crm_runtime.embedded_store import EmbeddedClient

    if settings.embedded_backend == "memory":
        return EmbeddedClient(None)
    if settings.embedded_backend != "sqlite":
        raise ValueError(
            f"CRM_EMBEDDED_BACKEND must be sqlite or memory, not {settings.embedded_backend!r}"
        )
    return EmbeddedClient(settings.data_dir.resolve())


def describe_store(settings: RuntimeSettings) -> str:
    if settings.mongodb_url:
        return "MongoDB (CRM_MONGODB_URL)"
    if settings.embedded_backend == "memory":
        return "embedded store in memory"
    return f"embedded store (SQLite) in {settings.data_dir.resolve()}"


def is_duplicate_key(error: BaseException) -> bool:
    """True for a unique-index violation, whichever store and write call raised it."""
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        return any(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", []))
    code = getattr(error, "code", None)
    return code == DUPLICATE_KEY
