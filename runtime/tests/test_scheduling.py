"""The leased scheduler: one replica works at a time, rounds survive failures, stop is prompt."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from crm_runtime.leases import Lease
from crm_runtime.scheduler_process import create_scheduler_app
from crm_runtime.scheduling import LeaderMetrics, LeasedScheduler

TTL = timedelta(seconds=10)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class CountingScheduler(LeasedScheduler):
    """Counts its rounds; the first ``failures`` of them raise."""

    def __init__(
        self, lease: Lease, registry: CollectorRegistry, *, interval: float, failures: int = 0
    ) -> None:
        self.metrics = LeaderMetrics(registry, "test")
        ids = iter(range(1_000_000))
        super().__init__(
            "test",
            lease,
            self.metrics,
            interval_seconds=interval,
            new_id=lambda prefix: f"{prefix}_{next(ids)}",
        )
        self.rounds = 0
        self.failures = failures

    async def check_due(self) -> int:
        self.rounds += 1
        if self.rounds <= self.failures:
            raise ConnectionError("store went away")
        return 1


def lease(memory_client: Any, owner: str, clock: Clock) -> Lease:
    return Lease(memory_client["scheduling"], "test-scheduler", owner, ttl=TTL, clock=clock)


def scheduler(
    memory_client: Any, owner: str, clock: Clock, *, interval: float = 0.01, failures: int = 0
) -> CountingScheduler:
    return CountingScheduler(
        lease(memory_client, owner, clock),
        CollectorRegistry(),
        interval=interval,
        failures=failures,
    )


async def until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def gauge(metrics: LeaderMetrics) -> float:
    return float(metrics.leader._value.get())


async def test_only_the_lease_holder_runs_a_round(memory_client: Any) -> None:
    clock = Clock()
    holder, waiting = scheduler(memory_client, "a", clock), scheduler(memory_client, "b", clock)

    assert await holder.tick() is True
    assert await waiting.tick() is False
    assert await holder.tick() is True  # renewing its own lease
    assert (holder.rounds, waiting.rounds) == (2, 0)
    assert (gauge(holder.metrics), gauge(waiting.metrics)) == (1, 0)
    assert holder.metrics.ticks._value.get() == 2
    assert waiting.metrics.ticks._value.get() == 0


async def test_two_replicas_running_together_never_both_work(memory_client: Any) -> None:
    clock = Clock()
    first, second = scheduler(memory_client, "a", clock), scheduler(memory_client, "b", clock)
    stop = asyncio.Event()
    running = [asyncio.create_task(s.run(stop)) for s in (first, second)]
    await until(lambda: first.rounds + second.rounds >= 10)
    stop.set()
    await asyncio.gather(*running)

    assert sorted([first.rounds, second.rounds])[0] == 0  # one of them led throughout
    assert gauge(first.metrics) == gauge(second.metrics) == 0  # nobody leads once stopped


async def test_a_stopped_holder_hands_the_lease_over_at_once(memory_client: Any) -> None:
    clock = Clock()
    holder, successor = scheduler(memory_client, "a", clock), scheduler(memory_client, "b", clock)
    stop = asyncio.Event()
    task = asyncio.create_task(holder.run(stop))
    await until(lambda: holder.rounds > 0)
    assert await successor.tick() is False
    stop.set()
    await task

    assert await successor.tick() is True  # released: no wait for the lease to expire


async def test_a_silent_holder_is_taken_over_once_its_lease_expires(memory_client: Any) -> None:
    clock = Clock()
    paused, successor = scheduler(memory_client, "a", clock), scheduler(memory_client, "b", clock)
    assert await paused.tick() is True

    clock.advance(seconds=9)
    assert await successor.tick() is False  # still within the holder's lease
    clock.advance(seconds=2)
    assert await successor.tick() is True
    assert await paused.tick() is False  # back from its pause: it does not work alongside
    assert gauge(paused.metrics) == 0
    assert (paused.rounds, successor.rounds) == (1, 1)


async def test_a_failing_round_does_not_stop_the_loop(memory_client: Any) -> None:
    flaky = scheduler(memory_client, "a", Clock(), failures=3)
    stop = asyncio.Event()
    task = asyncio.create_task(flaky.run(stop))
    await until(lambda: flaky.rounds >= 5)
    assert not task.done()
    stop.set()
    await task

    assert flaky.metrics.ticks._value.get() == flaky.rounds  # failed rounds counted too


async def test_rounds_wait_for_the_interval_and_stop_does_not(memory_client: Any) -> None:
    slow = scheduler(memory_client, "a", Clock(), interval=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(slow.run(stop))
    await until(lambda: slow.rounds == 1)
    await asyncio.sleep(0.1)
    assert slow.rounds == 1  # the next round is an hour away
    stop.set()
    await asyncio.wait_for(task, 1)  # woken by the stop, not by the interval
    assert await lease(memory_client, "b", Clock()).hold()


async def test_commands_carry_the_scheduler_as_actor_and_their_own_correlation(
    memory_client: Any,
) -> None:
    checks = scheduler(memory_client, "a", Clock())
    first, second = checks.command_context(), checks.command_context()

    assert first.actor == "service:test-scheduler"
    assert first.command_id == first.correlation_id == first.causation_id == "cmd_0"
    assert second.command_id == "cmd_1"


def test_leader_metrics_are_named_after_the_context() -> None:
    registry = CollectorRegistry()
    LeaderMetrics(registry, "tickets")
    exposed = generate_latest(registry).decode()
    assert "crm_tickets_scheduler_is_leader 0.0" in exposed
    assert "crm_tickets_scheduler_ticks_total 0.0" in exposed


class Service:
    def __init__(self) -> None:
        self.metrics = CollectorRegistry()
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def close(self) -> None:
        self.calls.append("close")


class Follower:
    def __init__(self, position: int = 7, head: int = 9) -> None:
        self.at, self.head = position, head
        self.broken = False

    async def position(self) -> int:
        if self.broken:
            raise ConnectionError("no store")
        return self.at

    async def lag(self) -> int:
        if self.broken:
            raise ConnectionError("no store")
        return self.head - self.at


@pytest.fixture
def service() -> Service:
    return Service()


def process(memory_client: Any, service: Service, follower: Follower, **options: Any) -> Any:
    built: list[CountingScheduler] = []

    def build() -> CountingScheduler:
        built.append(
            CountingScheduler(lease(memory_client, "pod", Clock()), service.metrics, interval=0.01)
        )
        return built[0]

    return create_scheduler_app("tickets", service, build, follower, **options), built


def test_the_process_runs_its_scheduler_and_answers_health(
    memory_client: Any, service: Service
) -> None:
    app, built = process(memory_client, service, Follower())
    assert built == []  # built once the service has started, not at import
    with TestClient(app) as http:
        answer = http.get("/health")
        metrics = http.get("/metrics").text
        assert service.calls == ["start"]
    assert service.calls == ["start", "close"]
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "service": "tickets-scheduler",
        "scheduler": "running",
        "store": "ok",
        "position": 7,
        "lag_commits": 2,
    }
    assert "crm_test_scheduler_is_leader" in metrics  # the scheduler's, on the service's registry
    assert "crm_http_requests_total" in metrics  # and the process's own HTTP metrics


def test_the_process_is_unavailable_while_its_store_is_unreachable(
    memory_client: Any, service: Service
) -> None:
    follower = Follower()
    app, _ = process(memory_client, service, follower)
    with TestClient(app) as http:
        follower.broken = True
        answer = http.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert (body["status"], body["scheduler"], body["store"]) == (
        "unavailable",
        "running",
        "unreachable: no store",
    )
    assert (body["position"], body["lag_commits"]) == (None, None)


def test_a_process_may_leave_its_position_out_of_health(
    memory_client: Any, service: Service
) -> None:
    app, _ = process(memory_client, service, Follower(), reports_position=False)
    with TestClient(app) as http:
        body = http.get("/health").json()
    assert "position" not in body
    assert (body["status"], body["lag_commits"]) == ("ok", 2)


def test_the_process_releases_the_lease_when_it_shuts_down(
    memory_client: Any, service: Service
) -> None:
    app, built = process(memory_client, service, Follower())
    with TestClient(app):
        pass
    assert built[0].rounds >= 1
    assert asyncio.run(lease(memory_client, "next-pod", Clock()).hold())
