"""Crypto-shredding: sealed personal fields open until their subject's key is destroyed."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_runtime.shredding import (
    KeyDestroyed,
    MongoKeyVault,
    PersonalDataCipher,
    SealBroken,
)

ERASED_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
PERSONAL = ("name", "email", "phone")
PAYLOAD: dict[str, Any] = {
    "customer_id": "cus-1",
    "name": "Zhang Wei",
    "email": "zhang.wei@example.cn",
    "phone": None,
    "tier": "gold",
}
HIDDEN = {"name": "[erased]", "email": "[erased]"}


class Clock:
    def __init__(self) -> None:
        self.now = ERASED_AT

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def vault(database: Any) -> MongoKeyVault:
    return MongoKeyVault(database["data_keys"])


@pytest.fixture
def cipher(vault: MongoKeyVault) -> PersonalDataCipher:
    return PersonalDataCipher(vault)


async def test_sealed_payload_round_trips(cipher: PersonalDataCipher) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)

    assert await cipher.reveal("cus-1", sealed, HIDDEN) == PAYLOAD


async def test_sealed_payload_holds_no_plaintext(cipher: PersonalDataCipher) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)

    for text in (repr(sealed), json.dumps(sealed)):
        assert "Zhang" not in text
        assert "zhang.wei" not in text
    assert cipher.is_sealed(sealed["name"])
    assert cipher.is_sealed(sealed["email"])


async def test_token_is_prefix_then_nonce_and_ciphertext(cipher: PersonalDataCipher) -> None:
    sealed = await cipher.seal("cus-1", {"name": "Ann"}, ["name"])

    token = sealed["name"]
    assert token.startswith("pii:v1:")
    raw = base64.urlsafe_b64decode(token.removeprefix("pii:v1:"))
    assert len(raw) == 12 + len("Ann") + 16  # nonce, ciphertext, GCM tag


async def test_the_same_value_seals_differently_each_time(cipher: PersonalDataCipher) -> None:
    first = await cipher.seal("cus-1", PAYLOAD, PERSONAL)
    second = await cipher.seal("cus-1", PAYLOAD, PERSONAL)

    assert first["name"] != second["name"]


async def test_seal_leaves_none_absent_and_unlisted_fields_alone(
    cipher: PersonalDataCipher,
) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, [*PERSONAL, "address"])

    assert sealed["phone"] is None
    assert "address" not in sealed
    assert sealed["customer_id"] == "cus-1"
    assert sealed["tier"] == "gold"
    assert PAYLOAD["name"] == "Zhang Wei"  # the input is not changed in place


async def test_reveal_passes_plaintext_of_old_events_through(
    cipher: PersonalDataCipher,
) -> None:
    # "cus-old" has no key at all: an event from before sealing must not need one
    assert await cipher.reveal("cus-old", PAYLOAD, HIDDEN) == PAYLOAD


async def test_after_erasure_reveal_gives_placeholders(
    cipher: PersonalDataCipher, vault: MongoKeyVault
) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)
    await cipher.seal("cus-2", PAYLOAD, PERSONAL)

    await vault.destroy("cus-1", at=ERASED_AT)

    assert await cipher.reveal("cus-1", sealed, {"name": "[erased]"}) == {
        **PAYLOAD,
        "name": "[erased]",
        "email": None,
    }
    assert await vault.key_for("cus-2") is not None  # only the erased subject is affected


async def test_after_erasure_nothing_new_can_be_sealed(
    cipher: PersonalDataCipher, vault: MongoKeyVault
) -> None:
    await cipher.seal("cus-1", PAYLOAD, PERSONAL)
    await vault.destroy("cus-1", at=ERASED_AT)

    with pytest.raises(KeyDestroyed, match="cus-1"):
        await cipher.seal("cus-1", PAYLOAD, PERSONAL)


async def test_a_token_does_not_open_for_another_subject(cipher: PersonalDataCipher) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)
    await cipher.seal("cus-2", {}, PERSONAL)  # cus-2 has a key of its own

    with pytest.raises(SealBroken, match="cus-2"):
        await cipher.reveal("cus-2", sealed, HIDDEN)


async def test_a_token_does_not_open_in_another_field(cipher: PersonalDataCipher) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)
    moved = {**sealed, "email": sealed["name"]}

    with pytest.raises(SealBroken, match="'email'"):
        await cipher.reveal("cus-1", moved, HIDDEN)


def _reencode(token: str, change: Any) -> str:
    raw = base64.urlsafe_b64decode(token.removeprefix("pii:v1:"))
    return "pii:v1:" + base64.urlsafe_b64encode(change(raw)).decode()


def _flip_last_byte(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: _reencode(t, _flip_last_byte), id="bit-flipped"),
        pytest.param(lambda t: _reencode(t, lambda raw: raw[:20]), id="truncated"),
        pytest.param(lambda t: "pii:v1:not*base64", id="garbled"),
    ],
)
async def test_a_tampered_token_is_refused(cipher: PersonalDataCipher, tamper: Any) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)
    broken = {**sealed, "name": tamper(sealed["name"])}

    with pytest.raises(SealBroken, match=r"'name' of subject 'cus-1'"):
        await cipher.reveal("cus-1", broken, HIDDEN)


async def test_a_token_without_key_or_erasure_is_refused(cipher: PersonalDataCipher) -> None:
    # a lost vault must not pass for a mass erasure
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)

    with pytest.raises(SealBroken, match="not erased"):
        await cipher.reveal("cus-9", sealed, HIDDEN)


async def test_create_key_is_idempotent(vault: MongoKeyVault) -> None:
    key = await vault.create_key("cus-1")

    assert len(key) == 32
    assert await vault.create_key("cus-1") == key
    assert await vault.key_for("cus-1") == key
    assert await vault.key_for("cus-2") is None
    assert not await vault.is_destroyed("cus-1")


async def test_racing_first_uses_agree_on_one_key(vault: MongoKeyVault) -> None:
    keys = await asyncio.gather(*(vault.create_key("cus-1") for _ in range(5)))

    assert len(set(keys)) == 1
    assert await vault.key_for("cus-1") == keys[0]


async def test_destroy_forgets_the_key_for_good(vault: MongoKeyVault) -> None:
    await vault.create_key("cus-1")

    await vault.destroy("cus-1", at=ERASED_AT)
    await vault.destroy("cus-1", at=ERASED_AT + timedelta(days=1))

    assert await vault.key_for("cus-1") is None
    assert await vault.is_destroyed("cus-1")
    with pytest.raises(KeyDestroyed, match="cus-1"):
        await vault.create_key("cus-1")


async def test_destroy_before_any_key_leaves_a_tombstone(vault: MongoKeyVault) -> None:
    await vault.destroy("cus-never", at=ERASED_AT)

    assert await vault.is_destroyed("cus-never")
    with pytest.raises(KeyDestroyed, match="cus-never"):
        await vault.create_key("cus-never")


async def test_vault_documents_keep_the_agreed_shape(database: Any) -> None:
    keys = database["data_keys"]
    vault = MongoKeyVault(keys, clock=Clock())
    key = await vault.create_key("cus-1")

    made = await keys.find_one({"_id": "cus-1"})
    assert base64.b64decode(made["key"]) == key
    assert made["created_at"] == ERASED_AT
    assert made["destroyed_at"] is None

    await vault.destroy("cus-1", at=ERASED_AT + timedelta(hours=1))
    erased = await keys.find_one({"_id": "cus-1"})
    assert erased["key"] is None
    assert erased["destroyed_at"] == ERASED_AT + timedelta(hours=1)


async def test_cached_keys_go_at_once_here_and_within_cache_seconds_elsewhere(
    database: Any,
) -> None:
    clock = Clock()
    here = MongoKeyVault(database["data_keys"], cache_seconds=30, clock=clock)
    elsewhere = MongoKeyVault(database["data_keys"], cache_seconds=30, clock=clock)
    key = await here.create_key("cus-1")
    assert await elsewhere.key_for("cus-1") == key

    await here.destroy("cus-1", at=ERASED_AT)

    assert await here.key_for("cus-1") is None
    clock.now += timedelta(seconds=29)
    assert await elsewhere.key_for("cus-1") == key  # the documented window
    clock.now += timedelta(seconds=1)
    assert await elsewhere.key_for("cus-1") is None


async def test_without_cache_seconds_every_replica_sees_erasure_at_once(database: Any) -> None:
    here = MongoKeyVault(database["data_keys"])
    elsewhere = MongoKeyVault(database["data_keys"])
    await elsewhere.create_key("cus-1")

    await here.destroy("cus-1", at=ERASED_AT)

    assert await elsewhere.key_for("cus-1") is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text())
async def test_any_text_round_trips(memory_client: Any, value: str) -> None:
    cipher = PersonalDataCipher(MongoKeyVault(memory_client["shredding"]["data_keys"]))

    sealed = await cipher.seal("cus-1", {"note": value}, ["note"])

    assert await cipher.reveal("cus-1", sealed, {}) == {"note": value}


async def test_many_payloads_open_with_one_key_lookup_as_each_would_alone(
    cipher: PersonalDataCipher, vault: MongoKeyVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await cipher.seal("cus-1", PAYLOAD, PERSONAL)
    second = await cipher.seal("cus-2", {**PAYLOAD, "name": "Li Na"}, PERSONAL)
    erased = await cipher.seal("cus-3", PAYLOAD, PERSONAL)
    await vault.destroy("cus-3", at=ERASED_AT)
    items = [
        ("cus-1", first, HIDDEN),
        ("cus-2", second, HIDDEN),
        ("cus-3", erased, HIDDEN),
        ("cus-4", {"tier": "gold"}, HIDDEN),  # nothing sealed: no key needed
        ("cus-1", second, HIDDEN),  # cus-2's token under cus-1: refused below, alone
    ]
    alone = [await cipher.reveal(*item) for item in items[:4]]
    lookups: list[Any] = []
    keys_for = vault.keys_for

    async def counted(subjects: Any) -> dict[str, bytes | None]:
        lookups.append(sorted(subjects))
        return await keys_for(subjects)

    monkeypatch.setattr(vault, "key_for", None)  # any lookup one by one would fail
    monkeypatch.setattr(vault, "keys_for", counted)

    assert await cipher.reveal_many(items[:4]) == alone
    assert alone[0] == PAYLOAD and alone[2] == {**PAYLOAD, "name": "[erased]", "email": "[erased]"}
    assert lookups == [["cus-1", "cus-2", "cus-3"]]
    with pytest.raises(SealBroken, match="'cus-1'"):
        await cipher.reveal_many(items)


async def test_many_payloads_refuse_a_subject_with_no_key_or_erasure(
    cipher: PersonalDataCipher,
) -> None:
    sealed = await cipher.seal("cus-1", PAYLOAD, PERSONAL)

    with pytest.raises(SealBroken, match=r"'cus-9'.*not erased"):
        await cipher.reveal_many([("cus-1", sealed, HIDDEN), ("cus-9", sealed, HIDDEN)])


async def test_the_vault_reads_many_subjects_beyond_one_query(
    vault: MongoKeyVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crm_runtime.shredding.LOOKUP_BATCH", 2)
    keys = {f"cus-{n}": await vault.create_key(f"cus-{n}") for n in range(5)}
    await vault.destroy("cus-4", at=ERASED_AT)
    await vault.destroy("cus-never", at=ERASED_AT)

    found = await vault.keys_for([*keys, "cus-never", "cus-unknown", "cus-0"])

    assert found == {**keys, "cus-4": None, "cus-never": None}
