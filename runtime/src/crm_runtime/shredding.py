"""Crypto-shredding: erase a person's data from an event store that never rewrites history.

Personal fields are written into events encrypted with a key per data subject, and the
keys live outside the event store. Erasure (GDPR art. 17, PIPL art. 47) destroys the
subject's key: every event stays byte-for-byte in place, but its personal fields can no
longer be read from the store or its backups. Copies already published to Kafka (in
plaintext, as the contract promises subscribers) age out with the topic's retention;
subscribers act on the erasure event. See docs/adr/0008.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crm_runtime.documents import is_duplicate_key

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
TOKEN_PREFIX = "pii:v1:"
LOOKUP_BATCH = 500
"""Subjects ``MongoKeyVault.keys_for`` asks the store for in one query."""


class KeyDestroyed(Exception):
    """The subject was erased; no key will ever be made for it again."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"the data key of subject {subject!r} was destroyed (erased)")
        self.subject = subject


class SealBroken(ValueError):
    """A sealed value does not open with its subject's key for its field.

    Raised for tampering, for a token copied to another subject or field, and for a token
    whose subject has no key and no erasure on record: that is a lost or wrong key vault,
    which must fail loudly rather than pass for a mass erasure.
    """

    def __init__(self, subject: str, field: str, reason: str) -> None:
        super().__init__(f"sealed field {field!r} of subject {subject!r}: {reason}")
        self.subject = subject
        self.field = field


class KeyVault(Protocol):
    """Per-subject data keys kept outside the event store; a KMS can implement this."""

    async def key_for(self, subject: str) -> bytes | None:
        """The subject's key; None if it was never created or was destroyed."""
        ...

    async def create_key(self, subject: str) -> bytes:
        """The subject's key, made on first use; raises KeyDestroyed after an erasure."""
        ...

    async def destroy(self, subject: str, *, at: datetime) -> None:
        """Forget the key for good, leaving a tombstone so it is never made again."""
        ...

    async def is_destroyed(self, subject: str) -> bool: ...


@runtime_checkable
class BatchKeyVault(KeyVault, Protocol):
    """A KeyVault that can also look many subjects up at once (a rebuild reads thousands)."""

    async def keys_for(self, subjects: Collection[str]) -> dict[str, bytes | None]:
        """Each subject on record: its key, or None when it was erased. Subjects never
        given a key are left out."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MongoKeyVault:
    """A KeyVault on a PyMongo-shaped async collection, one document per subject.

    Documents: ``{"_id": subject, "key": base64 str | None, "created_at": datetime,
    "destroyed_at": datetime | None}``. The unique ``_id`` settles races: concurrent
    first uses agree on one key, and a tombstone written first stops any later key.

    ``cache_seconds`` > 0 keeps keys found in memory. Only keys are cached, never their
    absence, and ``destroy`` drops the cache of this process at once; but another replica
    can keep using its cached key for up to ``cache_seconds`` after an erasure, so leave it
    at 0 (the default) unless that delay is acceptable.
    """

    def __init__(
        self,
        collection: Any,
        *,
        cache_seconds: float = 0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._keys = collection
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[bytes, datetime]] = {}
        self._destroys = 0  # lets a read that overlapped a destroy skip the cache

    async def key_for(self, subject: str) -> bytes | None:
        cached = self._cached(subject)
        if cached is not None:
            return cached
        destroys_before = self._destroys
        doc = await self._keys.find_one({"_id": subject})
        key = _decode_key(doc)
        if key is not None and self._destroys == destroys_before:
            self._remember(subject, key)
        return key

    async def create_key(self, subject: str) -> bytes:
        existing = await self.key_for(subject)
        if existing is not None:
            return existing
        key = os.urandom(KEY_BYTES)
        destroys_before = self._destroys
        try:
            await self._keys.insert_one(
                {
                    "_id": subject,
                    "key": base64.b64encode(key).decode("ascii"),
                    "created_at": self._clock(),
                    "destroyed_at": None,
                }
            )
        except Exception as error:
            if not is_duplicate_key(error):
                raise
            found = _decode_key(await self._keys.find_one({"_id": subject}))
            if found is None:
                raise KeyDestroyed(subject) from None
            key = found
        if self._destroys == destroys_before:
            self._remember(subject, key)
        return key

    async def destroy(self, subject: str, *, at: datetime) -> None:
        self._destroys += 1  # reads in flight now will not cache what they find
        self._cache.pop(subject, None)
        await self._keys.update_one(
            {"_id": subject},
            {"$set": {"key": None, "destroyed_at": at}},
            upsert=True,
        )

    async def is_destroyed(self, subject: str) -> bool:
        doc = await self._keys.find_one({"_id": subject})
        return doc is not None and doc.get("destroyed_at") is not None

    async def keys_for(self, subjects: Collection[str]) -> dict[str, bytes | None]:
        """Many subjects in one read per ``LOOKUP_BATCH`` of them (the cache is not used:
        a rebuild reads each subject's key about once)."""
        wanted = sorted(set(subjects))
        found: dict[str, bytes | None] = {}
        for start in range(0, len(wanted), LOOKUP_BATCH):
            chunk = wanted[start : start + LOOKUP_BATCH]
            async for doc in self._keys.find({"_id": {"$in": chunk}}):
                found[doc["_id"]] = _decode_key(doc)
        return found

    def _cached(self, subject: str) -> bytes | None:
        entry = self._cache.get(subject)
        if entry is None:
            return None
        key, cached_at = entry
        age = (self._clock() - cached_at).total_seconds()
        if 0 <= age < self._cache_seconds:
            return key
        del self._cache[subject]  # expired, or the clock went back: ask the store again
        return None

    def _remember(self, subject: str, key: bytes) -> None:
        if self._cache_seconds > 0:
            self._cache[subject] = (key, self._clock())


def _decode_key(doc: Mapping[str, Any] | None) -> bytes | None:
    if doc is None or doc.get("destroyed_at") is not None or doc.get("key") is None:
        return None
    return base64.b64decode(doc["key"])


class PersonalDataCipher:
    """Encrypts the personal fields of a payload with its subject's key (AES-256-GCM).

    The subject and field name are bound in as associated data, so a token only opens
    where it was written: not under another subject, not moved to another field.
    """

    def __init__(self, vault: KeyVault) -> None:
        self._vault = vault

    async def seal(
        self, subject: str, data: Mapping[str, Any], fields: Collection[str]
    ) -> dict[str, Any]:
        """A copy with each named top-level str field sealed; None and absent stay as they are.

        Makes the subject's key on first use; raises KeyDestroyed for an erased subject,
        so nothing new about them can be written.
        """
        aead = AESGCM(await self._vault.create_key(subject))
        sealed = dict(data)
        for field in fields:
            value = sealed.get(field)
            if isinstance(value, str):
                nonce = os.urandom(NONCE_BYTES)
                box = aead.encrypt(nonce, value.encode("utf-8"), _associated(subject, field))
                sealed[field] = TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + box).decode()
        return sealed

    async def reveal(
        self, subject: str, data: Mapping[str, Any], placeholders: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A copy with every sealed top-level value opened.

        Values that are not sealed pass through, so events written before sealing keep
        working. After an erasure each sealed field becomes ``placeholders.get(field)``.
        """
        sealed = sealed_fields(data)
        if not sealed:
            return dict(data)
        key = await self._vault.key_for(subject)
        if key is None and not await self._vault.is_destroyed(subject):
            raise SealBroken(subject, sealed[0], "the subject has no key and was not erased")
        return _opened(subject, data, placeholders, key, sealed)

    async def reveal_many(
        self, items: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]]
    ) -> list[dict[str, Any]]:
        """``reveal`` of each ``(subject, data, placeholders)``, in order, with the keys of
        all their subjects read at once when the vault can (``BatchKeyVault``)."""
        fields = [sealed_fields(data) for _, data, _ in items]
        sealed = {subject for (subject, _, _), found in zip(items, fields, strict=True) if found}
        if not sealed or not isinstance(self._vault, BatchKeyVault):
            return [await self.reveal(*item) for item in items]
        keys = await self._vault.keys_for(sealed)
        revealed: list[dict[str, Any]] = []
        for (subject, data, placeholders), found in zip(items, fields, strict=True):
            if not found:
                revealed.append(dict(data))
            elif subject not in keys:
                raise SealBroken(subject, found[0], "the subject has no key and was not erased")
            else:
                revealed.append(_opened(subject, data, placeholders, keys[subject], found))
        return revealed

    @staticmethod
    def is_sealed(value: object) -> bool:
        return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def sealed_fields(data: Mapping[str, Any]) -> list[str]:
    """The top-level fields of ``data`` whose values are sealed (``is_sealed``), in order."""
    return [field for field, value in data.items() if PersonalDataCipher.is_sealed(value)]


def _opened(
    subject: str,
    data: Mapping[str, Any],
    placeholders: Mapping[str, Any],
    key: bytes | None,
    sealed: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A copy of ``data`` with its sealed values (``sealed``: those fields, found already)
    opened with ``key`` (None: the subject was erased, so each becomes its placeholder)."""
    revealed = dict(data)
    fields = sealed_fields(data) if sealed is None else sealed
    if key is None:
        for field in fields:
            revealed[field] = placeholders.get(field)
        return revealed
    aead = AESGCM(key)
    for field in fields:
        revealed[field] = _open(aead, subject, field, data[field])
    return revealed


def _associated(subject: str, field: str) -> bytes:
    return f"{subject}|{field}".encode()


def _open(aead: AESGCM, subject: str, field: str, token: str) -> str:
    try:
        raw = base64.b64decode(token.removeprefix(TOKEN_PREFIX), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise SealBroken(subject, field, "the token is not valid base64url") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise SealBroken(subject, field, "the token is too short")
    try:
        plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(subject, field))
    except InvalidTag:
        raise SealBroken(
            subject, field, "it fails authentication (tampered, or sealed elsewhere)"
        ) from None
    return plain.decode("utf-8")
