"""The SLA check: rows that know what is due, schedulers that flag and escalate each once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from tickets_testing import LEAD, TEAM, Clock, opening

from crm_contracts.tickets import Priority, SlaTarget
from crm_runtime.eventstore import CommandContext
from crm_tickets.application.scheduler import SchedulerMetrics, SlaScheduler
from crm_tickets.application.streams import execute, existing
from crm_tickets.bootstrap import TicketsService
from crm_tickets.config import TicketsSettings
from crm_tickets.domain.ticket import ReplyToCustomer, WaitOnCustomer

BREACHED = "crm.tickets.SlaBreached"
ESCALATED = "crm.tickets.TicketEscalated"


def context(name: str) -> CommandContext:
    return CommandContext(f"cmd_{name}", f"corr_{name}", f"cmd_{name}", "user:a1")


async def open_one(service: TicketsService, n: int, **changes: object) -> str:
    tid = f"tkt_{n}"
    command = opening(ticket_id=tid, at=service.deps.clock(), **changes)
    await execute(service.deps, tid, command, context(tid))
    return tid


def scheduler(service: TicketsService, owner: str) -> SlaScheduler:
    return SlaScheduler(
        service.deps,
        service.rows,
        service.scheduler_lease(owner),
        SchedulerMetrics(CollectorRegistry()),
        interval_seconds=0.01,
    )


async def types(service: TicketsService, tid: str) -> Counter[str]:
    return Counter(stored.metadata.type for stored in await service.store.load(tid))


async def test_the_rows_know_what_is_due(service: TicketsService, clock: Clock) -> None:
    first = await open_one(service, 1)
    await open_one(service, 2, priority=Priority.LOW)
    clock.advance(hours=8)

    assert await service.rows.catch_up() == 2
    assert await service.rows.due(SlaTarget.FIRST_RESPONSE, clock(), 10) == [first]
    assert await service.rows.due(SlaTarget.RESOLUTION, clock(), 10) == []
    row = await service.rows.row(first)
    assert row is not None and (row["status"], row["team"]) == ("new", TEAM)
    assert await service.rows.catch_up() == 0  # nothing new


async def test_a_breach_is_flagged_once_and_escalated_to_the_team_lead(
    service: TicketsService, clock: Clock
) -> None:
    tid = await open_one(service, 1)
    check = scheduler(service, "one")
    clock.advance(hours=7, minutes=59)
    assert await check.check_due() == 0

    clock.advance(minutes=1)
    assert await check.check_due() == 1
    assert await check.check_due() == 0
    clock.advance(days=3)
    assert await check.check_due() == 1  # the resolution target now

    counted = await types(service, tid)
    assert (counted[BREACHED], counted[ESCALATED]) == (2, 2)
    ticket, _ = await existing(service.deps, tid)
    assert (ticket.assignee_id, ticket.priority) == (LEAD, Priority.URGENT)
    assert [b.target for b in ticket.breaches] == [SlaTarget.FIRST_RESPONSE, SlaTarget.RESOLUTION]


async def test_two_replicas_racing_flag_each_breach_once(
    service: TicketsService, clock: Clock
) -> None:
    tickets = [await open_one(service, n) for n in range(1, 6)]
    clock.advance(hours=9)

    flagged = await asyncio.gather(
        scheduler(service, "one").check_due(), scheduler(service, "two").check_due()
    )

    assert sum(flagged) == 5
    for tid in tickets:
        assert (await types(service, tid))[BREACHED] == 1


async def test_only_the_lease_holder_runs_the_check(service: TicketsService, clock: Clock) -> None:
    tid = await open_one(service, 1)
    clock.advance(hours=9)
    one, two = scheduler(service, "one"), scheduler(service, "two")

    assert await one.tick() is True
    assert await two.tick() is False
    assert (await types(service, tid))[BREACHED] == 1


async def test_answered_and_waiting_tickets_are_not_flagged(
    service: TicketsService, clock: Clock
) -> None:
    answered = await open_one(service, 1)
    waiting = await open_one(service, 2)
    await execute(
        service.deps, answered, ReplyToCustomer(answered, "r", "hi", "a1", clock()), context("r")
    )
    await execute(
        service.deps, waiting, ReplyToCustomer(waiting, "r", "?", "a1", clock()), context("w1")
    )
    await execute(service.deps, waiting, WaitOnCustomer(waiting, "a1", clock()), context("w2"))
    clock.advance(days=30)

    assert await scheduler(service, "one").check_due() == 1  # the answered one's resolution
    assert (await types(service, answered))[BREACHED] == 1
    assert (await types(service, waiting))[BREACHED] == 0


async def test_the_scheduler_runs_until_stopped(service: TicketsService, clock: Clock) -> None:
    tid = await open_one(service, 1)
    clock.advance(hours=9)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler(service, "one").run(stop))
    for _ in range(100):
        if (await types(service, tid))[BREACHED]:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert (await types(service, tid))[BREACHED] == 1


@pytest.mark.parametrize(
    ("env", "first_response", "resolution"),
    [
        ('{"urgent": {"first_response": "PT3S", "resolution": "PT10S"}}', 3, 10),
        ('{"urgent": {"first_response": 2, "resolution": 5}}', 2, 5),
        ('{"high": {"resolution": 172800}}', 3600, 4 * 3600),
    ],
)
def test_sla_targets_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, first_response: float, resolution: float
) -> None:
    monkeypatch.setenv("CRM_TICKETS_SLA_TARGETS", env)
    monkeypatch.setenv("CRM_TICKETS_TEAM_LEADS", '{"support-north": "lead-north"}')
    monkeypatch.setenv("CRM_TICKETS_SCHEDULER_INTERVAL_SECONDS", "1")
    settings = TicketsSettings()
    urgent = settings.sla_policy().for_priority(Priority.URGENT)
    assert urgent.first_response == timedelta(seconds=first_response)
    assert urgent.resolution == timedelta(seconds=resolution)
    assert settings.sla_policy().lead_of("support-north") == "lead-north"
    assert settings.scheduler_interval_seconds == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ('{"urgent": {"first_response": "soon"}}', "first_response"),
        ('{"critical": {"resolution": 60}}', "unknown priority 'critical'"),
        ('{"urgent": {"first_response": 600, "resolution": 60}}', "is after resolution"),
        ("not json", "sla_targets"),
    ],
)
def test_bad_sla_targets_stop_the_service_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, env: str, message: str
) -> None:
    monkeypatch.setenv("CRM_TICKETS_SLA_TARGETS", env)
    with pytest.raises(ValueError) as refused:
        TicketsSettings()
    assert message in str(refused.value)


def test_the_scheduler_process_answers_its_health(service: TicketsService) -> None:
    from fastapi.testclient import TestClient

    from crm_tickets.entrypoints.scheduler import create_scheduler_app

    with TestClient(create_scheduler_app(service)) as http:
        health = http.get("/health").json()
    assert (health["status"], health["scheduler"], health["service"]) == (
        "ok",
        "running",
        "tickets-scheduler",
    )
