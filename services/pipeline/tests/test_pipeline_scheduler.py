"""The scheduled checks: the deadlines follower, and schedulers that flag each thing once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pipeline_testing import NOW, Clock
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from crm_pipeline.application.deadlines import ReceivableDeadlines
from crm_pipeline.application.scheduler import DeadlineScheduler, SchedulerMetrics
from crm_pipeline.application.streams import execute
from crm_pipeline.bootstrap import PipelineService, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_pipeline.domain.order import PlaceOrder, RecordPayment
from crm_pipeline.entrypoints.scheduler import create_scheduler_app
from crm_runtime.eventstore import CommandContext
from crm_runtime.telemetry import build_tracer_provider
from crm_runtime.testing import memory_document_client

OVERDUE = "crm.pipeline.ReceivableOverdue"
UNPAID = "crm.pipeline.OrderUnpaidAfter48Hours"


def context(name: str) -> CommandContext:
    return CommandContext(f"cmd_{name}", f"corr_{name}", f"cmd_{name}", "user:m1")


async def place(service: PipelineService, n: int, owner_id: str = "u1") -> str:
    order_id = f"ord_{n}"
    command = PlaceOrder(
        order_id=order_id,
        quote_id=f"quo_{n}",
        opportunity_id=f"opp_{n}",
        customer_id="cus_acme",
        owner_id=owner_id,
        total=Decimal("1000.00"),
        currency="EUR",
        placed_at=service.deps.clock(),
        payment_terms_days=30,
        team="north",
    )
    await execute(service.deps, service.deps.deciders.order, order_id, command, context(order_id))
    return order_id


async def pay(service: PipelineService, order_id: str, amount: str, payment_id: str) -> None:
    command = RecordPayment(order_id, payment_id, Decimal(amount), "EUR")
    await execute(service.deps, service.deps.deciders.order, order_id, command, context(payment_id))


def scheduler(service: PipelineService, owner: str) -> DeadlineScheduler:
    return DeadlineScheduler(
        service.deps,
        service.deadlines,
        service.scheduler_lease(owner),
        SchedulerMetrics(CollectorRegistry()),
        interval_seconds=0.01,
    )


async def event_types(service: PipelineService, order_id: str) -> Counter[str]:
    return Counter(stored.metadata.type for stored in await service.store.load(order_id))


async def test_the_follower_keeps_one_row_per_order_with_its_deadlines(
    service: PipelineService,
) -> None:
    first, second = await place(service, 1), await place(service, 2, owner_id="u2")
    await pay(service, second, "1000", "p1")

    assert await service.deadlines.catch_up() == 3
    row = await service.deadlines.row(first)
    assert row is not None
    assert {k: row[k] for k in ("owner_id", "team", "balance", "open", "paid_any")} == {
        "owner_id": "u1",
        "team": "north",
        "balance": "1000.00",
        "open": True,
        "paid_any": False,
    }
    assert row["due_date"] == (NOW.date() + timedelta(days=30)).isoformat()
    assert row["overdue_from"] == NOW.replace(hour=0, minute=0) + timedelta(days=31)
    assert row["placed_at"] == NOW  # the unpaid window is applied when asking, not stored
    assert (row["overdue_flagged"], row["unpaid_flagged"], row["sequence"]) == (False, False, 2)
    settled = await service.deadlines.row(second)
    assert settled is not None
    assert (settled["balance"], settled["open"], settled["paid_any"], settled["sequence"]) == (
        "0.00",
        False,
        True,
        4,
    )
    assert await service.deadlines.lag() == 0


async def test_the_follower_applies_a_commit_twice_as_once(service: PipelineService) -> None:
    order_id = await place(service, 1)
    await pay(service, order_id, "100", "p1")
    await service.deadlines.catch_up()
    before = await service.deadlines.row(order_id)

    commits = [commit async for commit in service.store.read_all(0)]
    for commit in [*commits, *commits]:  # a crash before the checkpoint: everything again
        await service.deadlines.apply(commit)
    await service.deadlines.apply(commits[0])  # and an old commit after a newer one
    assert await service.deadlines.row(order_id) == before
    assert before is not None and before["balance"] == "900.00"

    checkpoints = service.client[service.settings.database]["checkpoints"]
    await checkpoints.update_one({"_id": "receivable-deadlines"}, {"$set": {"position": 0}})
    assert await service.deadlines.catch_up() == 2  # read again from the start...
    assert await service.deadlines.row(order_id) == before  # ...changing nothing


async def test_overdue_and_unpaid_orders_are_flagged_once_each(
    service: PipelineService, clock: Clock
) -> None:
    unpaid, part_paid, paid = [await place(service, n) for n in (1, 2, 3)]
    await pay(service, part_paid, "100", "p1")
    await pay(service, paid, "1000", "p2")
    checks = scheduler(service, "a")

    clock.advance(hours=47)
    assert await checks.check_due() == 0
    clock.advance(hours=1)
    assert await checks.check_due() == 1  # the order with no payment at all, 48 hours on
    assert await event_types(service, unpaid) == Counter(
        {"crm.pipeline.OrderPlaced": 1, "crm.pipeline.ReceivableOpened": 1, UNPAID: 1}
    )
    clock.advance(days=28)  # on the due date: not yet past it
    assert await checks.check_due() == 0
    clock.advance(days=1)
    assert await checks.check_due() == 2  # both orders still owing money
    assert await checks.check_due() == 0
    clock.advance(days=10)
    assert await checks.check_due() == 0
    assert (await event_types(service, unpaid))[OVERDUE] == 1
    assert (await event_types(service, part_paid))[OVERDUE] == 1
    assert (await event_types(service, part_paid))[UNPAID] == 0
    assert (await event_types(service, paid))[OVERDUE] == 0
    overdue = [s for s in await service.store.load(part_paid) if s.metadata.type == OVERDUE]
    assert (overdue[0].data["balance"], overdue[0].data["days_overdue"]) == ("900.00", 1)
    assert overdue[0].metadata.actor == "service:pipeline-scheduler"
    row = await service.deadlines.row(part_paid)
    assert row is not None and row["overdue_flagged"]


@pytest.mark.parametrize(
    ("value", "window"),
    [
        ("3s", timedelta(seconds=3)),
        ("1.5m", timedelta(seconds=90)),
        ("12h", timedelta(hours=12)),
        ("2d", timedelta(days=2)),
        ("PT48H", timedelta(hours=48)),
        ("30", timedelta(seconds=30)),
    ],
)
def test_the_unpaid_window_is_a_duration_setting(
    value: str, window: timedelta, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRM_PIPELINE_UNPAID_AFTER", value)
    assert PipelineSettings(data_dir=tmp_path).unpaid_after == window


def test_the_unpaid_window_is_48_hours_unless_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CRM_PIPELINE_UNPAID_AFTER", raising=False)
    assert PipelineSettings(data_dir=tmp_path).unpaid_after == timedelta(hours=48)


@pytest.mark.parametrize("value", ["0s", "0", "-5", "P0D", "soon", "3 weeks"])
def test_the_unpaid_window_must_be_a_positive_duration(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRM_PIPELINE_UNPAID_AFTER", value)
    with pytest.raises(ValidationError, match="CRM_PIPELINE_UNPAID_AFTER"):
        PipelineSettings(data_dir=tmp_path)


@pytest.mark.parametrize("settings", [{"unpaid_after": timedelta(seconds=30)}], indirect=True)
async def test_the_configured_unpaid_window_is_the_one_the_checks_use(
    service: PipelineService, clock: Clock
) -> None:
    """Follower and decider both take CRM_PIPELINE_UNPAID_AFTER: 30 s here, not 48 h."""
    assert service.deadlines.unpaid_after == timedelta(seconds=30)
    unpaid, paid = await place(service, 1), await place(service, 2)
    await pay(service, paid, "1", "p1")
    checks = scheduler(service, "a")

    clock.advance(seconds=29)
    assert await checks.check_due() == 0
    assert await service.deadlines.unpaid(clock(), 10) == []
    clock.advance(seconds=1)
    assert await service.deadlines.unpaid(clock(), 10) == [unpaid]
    assert await checks.check_due() == 1
    assert await event_types(service, unpaid) == Counter(
        {"crm.pipeline.OrderPlaced": 1, "crm.pipeline.ReceivableOpened": 1, UNPAID: 1}
    )
    assert (await event_types(service, paid))[UNPAID] == 0
    assert await service.deadlines.unpaid(clock(), 10) == []
    assert await checks.check_due() == 0  # flagged once


async def test_a_changed_window_applies_to_orders_already_followed(
    service: PipelineService, clock: Clock
) -> None:
    """The row keeps when the order was placed; the window is applied when asking."""
    first = await place(service, 1)
    clock.advance(minutes=10)
    second = await place(service, 2)
    await service.deadlines.catch_up()
    database = service.client[service.settings.database]

    shorter = ReceivableDeadlines(database, service.store, unpaid_after=timedelta(minutes=5))
    assert await shorter.unpaid(clock(), 10) == [first]
    clock.advance(minutes=5)
    assert await shorter.unpaid(clock(), 10) == [first, second]  # the longest waiting first
    assert await service.deadlines.unpaid(clock(), 10) == []  # 48 hours: not yet


async def test_two_schedulers_running_together_flag_each_thing_once(
    service: PipelineService, clock: Clock
) -> None:
    orders = [await place(service, n) for n in range(4)]
    clock.advance(days=31)
    first, second = scheduler(service, "replica-a"), scheduler(service, "replica-b")
    stop = asyncio.Event()
    running = [asyncio.create_task(s.run(stop)) for s in (first, second)]
    for _ in range(200):
        flagged = [await event_types(service, order_id) for order_id in orders]
        if all(types[OVERDUE] and types[UNPAID] for types in flagged):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # a few more rounds of both
    stop.set()
    await asyncio.gather(*running)

    for order_id in orders:
        types = await event_types(service, order_id)
        assert (types[OVERDUE], types[UNPAID]) == (1, 1), order_id


async def test_two_schedulers_acting_at_once_without_the_lease_still_flag_once(
    service: PipelineService, clock: Clock
) -> None:
    """A holder paused past its lease and its successor both run the checks at once."""
    orders = [await place(service, n) for n in range(3)]
    clock.advance(days=31)
    flags = await asyncio.gather(
        scheduler(service, "paused").check_due(), scheduler(service, "successor").check_due()
    )
    assert sum(flags) == 6  # three overdue, three unpaid: each raised by one of them
    for order_id in orders:
        types = await event_types(service, order_id)
        assert (types[OVERDUE], types[UNPAID]) == (1, 1), order_id


async def test_only_the_lease_holder_runs_the_checks(service: PipelineService) -> None:
    holder, waiting = scheduler(service, "a"), scheduler(service, "b")
    assert await holder.tick()
    assert not await waiting.tick()


def test_the_scheduler_process_serves_health_and_metrics(tmp_path: Path) -> None:
    settings = PipelineSettings(
        embedded_backend="memory", data_dir=tmp_path, scheduler_interval_seconds=0.05
    )
    service = bootstrap(
        settings,
        document_client=memory_document_client(),
        tracer_provider=build_tracer_provider("scheduler", exporter=InMemorySpanExporter()),
        clock=Clock(),
    )
    with TestClient(create_scheduler_app(service)) as http:
        health: dict[str, Any] = http.get("/health").json()
        assert (health["status"], health["scheduler"], health["lag_commits"]) == (
            "ok",
            "running",
            0,
        )
        metrics = http.get("/metrics").text
        assert "crm_pipeline_scheduler_is_leader" in metrics
        assert "crm_pipeline_deadline_flags" in metrics
