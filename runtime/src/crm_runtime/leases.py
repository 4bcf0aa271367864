"""A lease in MongoDB so that leader-only work (the relay, timers) runs once at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from crm_runtime.documents import is_duplicate_key


class Lease:
    """Held by one owner until it expires; the holder renews it while it works.

    Safe with several replicas: only the holder, or anyone once it has expired,
    can take it. Work guarded by it must still tolerate a second run (a holder
    can pause past its expiry), which the relay does by being at-least-once.
    """

    def __init__(
        self,
        database: Any,
        name: str,
        owner: str,
        *,
        ttl: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._leases = database["leases"]
        self._name = name
        self._owner = owner
        self._ttl = ttl
        self._clock = clock
        self._renew_after: datetime | None = None

    @property
    def owner(self) -> str:
        return self._owner

    async def hold(self) -> bool:
        """True while this owner holds the lease, renewing it once half its time is gone."""
        if self._renew_after is not None and self._clock() < self._renew_after:
            return True
        return await self.acquire()

    async def acquire(self) -> bool:
        """Take or renew the lease; False while someone else holds it."""
        now = self._clock()
        self._renew_after = None
        try:
            await self._leases.insert_one(
                {"_id": self._name, "owner": None, "expires_at": now - self._ttl}
            )
        except Exception as error:
            if not is_duplicate_key(error):
                raise
        taken = await self._leases.find_one_and_update(
            {
                "_id": self._name,
                "$or": [{"owner": self._owner}, {"expires_at": {"$lt": now}}],
            },
            {"$set": {"owner": self._owner, "expires_at": now + self._ttl}},
        )
        if taken is None:
            return False
        self._renew_after = now + self._ttl / 2
        return True

    async def release(self) -> None:
        self._renew_after = None
        await self._leases.update_one(
            {"_id": self._name, "owner": self._owner},
            {"$set": {"owner": None, "expires_at": self._clock() - self._ttl}},
        )
