"""The customer directory: one plaintext document per customer, for lookups the event store
cannot answer (sealed events cannot be searched): customers of a rep, duplicate candidates,
listing and search.

Every entry is a function of the customer's whole state (``entry``), written only when
its version is newer than the stored one, so refreshing twice, late or from two replicas
changes nothing. It holds personal data in plaintext: an erased or merged customer's
entry keeps no personal field. See docs/adr/0010-contacts-lookups.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING

from crm_contacts.domain import values
from crm_contacts.domain.customer import CustomerState, Erased, Merged, Registered
from crm_contracts.contacts import CustomerKind
from crm_runtime.documents import is_duplicate_key

Entry = dict[str, Any]


def entry(state: CustomerState) -> Entry | None:
    """The directory document of a customer (None for a stream that is no customer)."""
    match state:
        case Registered():
            company = state.name if state.kind is CustomerKind.COMPANY else state.company
            name_key = values.name_key(state.name)
            email_key = state.email.casefold() if state.email else None
            company_key = values.name_key(company) or None
            return {
                "_id": state.customer_id,
                "version": state.version,
                "active": True,
                "erased": False,
                "merged_into": None,
                "kind": state.kind.value,
                "name": state.name,
                "email": state.email,
                "phone": state.phone,
                "company": state.company,
                "owner_id": state.owner_id,
                "team": state.team,
                "stage": state.stage.value,
                "classification": state.classification.value if state.classification else None,
                "segments": sorted(state.segments),
                "value_tier": state.value_tier.value if state.value_tier else None,
                "tags": sorted(state.tags),
                "merged_ids": list(state.merged_ids),
                "sort_name": name_key,
                "name_tokens": list(values.name_tokens(state.name)),
                "email_key": email_key,
                "company_key": company_key,
                "search": " ".join(filter(None, (name_key, email_key, company_key))),
            }
        case Merged() | Erased():
            merged_into = state.survivor_id if isinstance(state, Merged) else state.merged_into
            # No personal field: the survivor's entry has the merged details; erasure drops them.
            return {
                "_id": state.customer_id,
                "version": state.version,
                "active": False,
                "erased": isinstance(state, Erased),
                "merged_into": merged_into,
                "owner_id": state.owner_id,
                "team": state.team,
            }
    return None


class CustomerDirectory:
    """The ``customer_directory`` collection of the contacts database."""

    def __init__(self, database: Any) -> None:
        self._entries = database["customer_directory"]

    async def create_indexes(self) -> None:
        await self._entries.create_index([("owner_id", ASCENDING)])
        await self._entries.create_index(
            [("active", ASCENDING), ("sort_name", ASCENDING), ("_id", ASCENDING)]
        )
        await self._entries.create_index([("email_key", ASCENDING)])
        await self._entries.create_index([("phone", ASCENDING)])
        await self._entries.create_index([("name_tokens", ASCENDING)])
        await self._entries.create_index([("company_key", ASCENDING)])

    async def refresh(self, state: CustomerState) -> bool:
        """Write the customer's entry unless a newer one is stored; True if written."""
        wanted = entry(state)
        if wanted is None:
            return False
        for _ in range(20):
            current = await self._entries.find_one({"_id": wanted["_id"]})
            if current is not None and int(current["version"]) >= wanted["version"]:
                return False
            if current is None:
                try:
                    await self._entries.insert_one(wanted)
                except Exception as error:
                    if not is_duplicate_key(error):
                        raise
                    continue  # another refresh inserted it first: compare again
                return True
            result = await self._entries.replace_one(
                {"_id": wanted["_id"], "version": current["version"]}, wanted
            )
            if result.matched_count:
                return True
        raise RuntimeError(f"directory entry of {wanted['_id']} kept changing under the refresh")

    async def get(self, customer_id: str) -> Entry | None:
        found: Entry | None = await self._entries.find_one({"_id": customer_id})
        return found

    async def customers_of(self, owner_id: str) -> list[str]:
        """Ids of the active customers the rep owns, in id order."""
        cursor = self._entries.find({"owner_id": owner_id, "active": True}, projection={"_id": 1})
        return sorted([str(doc["_id"]) async for doc in cursor])

    async def page(
        self, query: Mapping[str, Any], *, after: tuple[str, str] | None, limit: int
    ) -> list[Entry]:
        """Active entries matching ``query`` in (name, id) order, after a cursor's sort key."""
        conditions: list[Mapping[str, Any]] = [{"active": True}, query]
        if after is not None:
            name, customer_id = after
            conditions.append(
                {
                    "$or": [
                        {"sort_name": {"$gt": name}},
                        {"sort_name": name, "_id": {"$gt": customer_id}},
                    ]
                }
            )
        cursor = (
            self._entries.find({"$and": conditions})
            .sort([("sort_name", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def lookalikes(self, of: Entry) -> list[Entry]:
        """Active entries sharing the e-mail, the phone or a name word with ``of``."""
        alternatives: list[Mapping[str, Any]] = []
        if of.get("email_key"):
            alternatives.append({"email_key": of["email_key"]})
        if of.get("phone"):
            alternatives.append({"phone": of["phone"]})
        if of.get("name_tokens"):
            alternatives.append({"name_tokens": {"$in": list(of["name_tokens"])}})
        if of.get("company_key"):
            alternatives.append({"company_key": of["company_key"]})
        if not alternatives:
            return []
        query = {"$and": [{"active": True}, {"_id": {"$ne": of["_id"]}}, {"$or": alternatives}]}
        return [doc async for doc in self._entries.find(query)]

    async def clear(self) -> None:
        await self._entries.delete_many({})
