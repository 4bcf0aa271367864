"""The document store client: real MongoDB through PyMongo's async API, or the embedded store.

Application code only sees the PyMongo ``AsyncMongoClient`` interface. When
``CRM_MONGODB_URL`` is unset, TinyMongo's PyMongo-shaped async client over SQLite
files stands in (durable, safe for several processes). See docs/adr/0002.
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
    import tinymongo

    if settings.embedded_backend == "memory":
        return tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return tinymongo.AsyncMongoClient(
        tinymongo_folder=str(settings.data_dir.resolve()),
        backend=settings.embedded_backend,
        tz_aware=True,
    )


def describe_store(settings: RuntimeSettings) -> str:
    if settings.mongodb_url:
        return "MongoDB (CRM_MONGODB_URL)"
    return f"embedded TinyMongo/{settings.embedded_backend} in {settings.data_dir.resolve()}"


def is_duplicate_key(error: BaseException) -> bool:
    """True for a unique-index violation, whichever store and write call raised it."""
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        return any(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", []))
    code = getattr(error, "code", None)
    return code == DUPLICATE_KEY
