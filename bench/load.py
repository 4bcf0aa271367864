"""Load generators: open loop at a fixed rate, and closed loop as fast as answers come back.

Open loop sends on a fixed schedule whatever the answers do, and measures each
latency from the *scheduled* send time, so a slow system cannot hide its
queueing delay by slowing the generator down (no coordinated omission).
Requests still unanswered ``grace`` seconds after the last send are cancelled
and counted as unfinished, which keeps every run bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from bench.stats import Latencies

Send = Callable[[int], Awaitable[None]]  # raises on failure


@dataclass(frozen=True)
class LoadResult:
    sent: int
    succeeded: int
    failed: int
    unfinished: int
    seconds: float  # from the first to the last successful answer
    latency: Latencies
    errors: tuple[str, ...]

    @property
    def rate(self) -> float:
        """Answers per second between the first and the last one: the offered rate when
        the system keeps up, its capacity when it does not (short runs are not biased by
        the latency of the first and last answers)."""
        return (self.succeeded - 1) / self.seconds if self.seconds > 0 else 0.0


class Tally:
    """Outcomes of one load phase."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.first_answer: float | None = None
        self.last_answer = self.started

    async def run(self, send: Send, index: int, since: float) -> None:
        try:
            await send(index)
        except Exception as error:
            self.errors[f"{type(error).__name__}: {error}"[:120]] += 1
            return
        answered = time.perf_counter()
        self.first_answer = self.first_answer or answered
        self.last_answer = max(self.last_answer, answered)
        self.latencies.append(answered - since)

    def result(self, sent: int, unfinished: int) -> LoadResult:
        failed = sum(self.errors.values())
        return LoadResult(
            sent=sent,
            succeeded=len(self.latencies),
            failed=failed,
            unfinished=unfinished,
            seconds=self.last_answer - (self.first_answer or self.last_answer),
            latency=Latencies.of(self.latencies),
            errors=tuple(f"{n}x {e}" for e, n in self.errors.most_common(3)),
        )


async def paced(count: int, rate: float) -> AsyncIterator[tuple[int, float]]:
    """Yield (index, scheduled time) at ``rate`` per second, whatever the consumer does."""
    start = time.perf_counter()
    for index in range(count):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield index, due


async def finish(tasks: Iterable[asyncio.Task[None]], grace: float) -> int:
    """Wait up to ``grace`` seconds, cancel the rest; returns how many were cancelled."""
    tasks = list(tasks)
    if not tasks:
        return 0
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return len(pending)


async def open_loop(send: Send, count: int, rate: float, grace: float) -> LoadResult:
    tally = Tally()
    tasks = [asyncio.create_task(tally.run(send, i, due)) async for i, due in paced(count, rate)]
    unfinished = await finish(tasks, grace)
    return tally.result(count, unfinished)


async def closed_loop(send: Send, count: int, concurrency: int, seconds: float) -> LoadResult:
    """``concurrency`` clients, each sending its next request when the last one is answered."""
    tally = Tally()
    deadline = tally.started + seconds
    issued = 0

    async def client() -> None:
        nonlocal issued
        while issued < count and time.perf_counter() < deadline:
            issued += 1
            await tally.run(send, issued, time.perf_counter())

    clients = [asyncio.create_task(client()) for _ in range(concurrency)]
    unfinished = await finish(clients, seconds + 10)
    return tally.result(issued, unfinished)
