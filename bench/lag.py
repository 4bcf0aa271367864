"""Command-to-read-model lag: register customers at a fixed rate, wait for each one's view.

Lag is the time from the contacts API's 201 answer (the commit is durable) to
the first 200 from ``GET /views/customers/{id}`` on the projections service:
append, outbox relay, Kafka, consumer, customer 360 upsert, query.

Polling every pending view over HTTP would load the very processes being
measured (a lag of seconds at 20 commands/s means thousands of GETs/s), so
one watcher queries the read model's store for all pending customers at once
every ``poll`` seconds, and each view is then fetched over HTTP until it
answers 200. A lag is thus known to within ``poll`` plus one GET.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from bench.client import CrmClient
from bench.load import LoadResult, Tally, finish, paced
from bench.stats import Latencies


class ViewNeverAppeared(Exception):
    pass


@dataclass(frozen=True)
class LagResult:
    commands: LoadResult  # latency here runs from the scheduled send to the view's 200
    lag: Latencies


class ViewWatcher:
    """One query per tick tells every waiting task whether its customer's view exists."""

    def __init__(self, customer360: Any, poll: float) -> None:
        self._documents = customer360
        self._poll = poll
        self._waiting: dict[str, asyncio.Event] = {}

    async def wait_for(self, customer_id: str) -> None:
        seen = self._waiting.setdefault(customer_id, asyncio.Event())
        try:
            await seen.wait()
        finally:
            self._waiting.pop(customer_id, None)

    async def run(self) -> None:
        while True:
            if self._waiting:
                cursor = self._documents.find(
                    {"_id": {"$in": list(self._waiting)}}, projection={"_id": 1}
                )
                for document in await cursor.to_list(length=None):
                    if (event := self._waiting.get(document["_id"])) is not None:
                        event.set()
            await asyncio.sleep(self._poll)


async def measure_lag(
    client: CrmClient,
    customer360: Any,
    count: int,
    rate: float,
    poll: float,
    grace: float,
    first: int,
) -> LagResult:
    lags: list[float] = []
    watcher = ViewWatcher(customer360, poll)

    async def command_then_view(index: int) -> None:
        customer_id = await client.register(first + index)
        answered = time.perf_counter()
        try:
            async with asyncio.timeout(grace):
                await watcher.wait_for(customer_id)
                while not await client.view_exists(customer_id):
                    await asyncio.sleep(poll)
        except TimeoutError:
            raise ViewNeverAppeared(f"no view of {customer_id} after {grace:.0f} s") from None
        lags.append(time.perf_counter() - answered)

    watching = asyncio.create_task(watcher.run())
    try:
        tally = Tally()
        tasks = [
            asyncio.create_task(tally.run(command_then_view, i, due))
            async for i, due in paced(count, rate)
        ]
        unfinished = await finish(tasks, grace)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    return LagResult(tally.result(count, unfinished), Latencies.of(lags))
