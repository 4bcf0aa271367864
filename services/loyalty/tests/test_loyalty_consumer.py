"""The consumer of the pipeline's payments and refunds and the tickets' answered surveys,
through FastStream's TestKafkaBroker (in memory: a redelivery is written as publishing the
same record again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from loyalty_testing import NOW
from pydantic import ValidationError

from crm_contracts import EventMetadata, cloudevents
from crm_contracts.pipeline import OrderPlaced, PaymentReceived, PaymentRefunded
from crm_contracts.registry import DomainEvent
from crm_contracts.tickets import SurveyAnswered
from crm_loyalty.application import handlers
from crm_loyalty.bootstrap import LoyaltyService
from crm_loyalty.config import LoyaltySettings
from crm_loyalty.domain.member import Enrol, Member
from crm_loyalty.domain.store import OpenStore
from crm_loyalty.entrypoints import consumer
from crm_runtime.eventstore import CommandContext

SEEDS = count()


def seeding() -> CommandContext:
    command_id = f"cmd_seed_{next(SEEDS)}"
    return CommandContext(command_id, "corr_seed", command_id, "user:root")


@dataclass
class Pipeline:
    broker: Any
    service: LoyaltyService
    dead_letters: list[dict[str, str]] = field(default_factory=list)

    async def publish(
        self, record: tuple[bytes, dict[str, str], bytes], topic: str | None = None
    ) -> None:
        key, headers, body = record
        await self.broker.publish(
            body, topic=topic or self.service.settings.pipeline_topic, key=key, headers=headers
        )

    async def answer(self, survey: tuple[bytes, dict[str, str], bytes]) -> None:
        await self.publish(survey, self.service.settings.tickets_topic)

    def count(self, metric: str, outcome: str) -> float:
        found = self.service.metrics.get_sample_value(f"{metric}_total", {"outcome": outcome})
        return found or 0.0


@pytest.fixture
async def pipeline(service: LoyaltyService) -> AsyncIterator[Pipeline]:
    dead: list[dict[str, str]] = []

    @service.broker.subscriber(service.settings.dead_letter_topic)
    async def capture(message: KafkaMessage) -> None:
        dead.append(dict(message.headers))

    async with TestKafkaBroker(service.broker) as broker:
        yield Pipeline(broker, service, dead)


def record(
    event: DomainEvent, event_id: str, source: str = "/crm/pipeline"
) -> tuple[bytes, dict[str, str], bytes]:
    metadata = EventMetadata(
        id=event_id,
        type=event.event_type,
        schema_version=event.schema_version,
        source=source,
        subject=getattr(event, "order_id", "ord_1"),
        sequence=3,
        time=NOW,
        correlation_id="corr_pay",
        causation_id="cmd_pay",
        actor="user:u1",
    )
    return cloudevents.encode(metadata, event.model_dump(mode="json"))


def paid(customer: str = "cus_ada", payment: str = "pay_1", amount: str = "200.00",
         currency: str = "EUR") -> tuple[bytes, dict[str, str], bytes]:  # fmt: skip
    event = PaymentReceived(
        order_id="ord_1", customer_id=customer, payment_id=payment, amount=Decimal(amount),
        currency=currency, balance_after=Decimal("0.00"),
    )  # fmt: skip
    return record(event, f"evt_{payment}")


def refunded(
    refund: str, amount: str, payment: str = "pay_1"
) -> tuple[bytes, dict[str, str], bytes]:
    event = PaymentRefunded(
        order_id="ord_1", customer_id="cus_ada", payment_id=payment, refund_id=refund,
        amount=Decimal(amount), currency="EUR", refunded_at=datetime(2026, 12, 1, tzinfo=UTC),
    )  # fmt: skip
    return record(event, f"evt_{refund}")


def survey_answered(
    ticket: str = "tkt_1", customer: str = "cus_ada", event_id: str | None = None
) -> tuple[bytes, dict[str, str], bytes]:
    event = SurveyAnswered(
        ticket_id=ticket, customer_id=customer, kind="question", priority="normal",
        status="closed", csat=5, would_recommend=9, answered_at=NOW, recorded_by="user:u1",
    )  # fmt: skip
    return record(event, event_id or f"evt_survey_{ticket}", source="/crm/tickets")


async def a_member(service: LoyaltyService, customer: str = "cus_ada") -> None:
    await handlers.open_store(service.deps, OpenStore("sto_mitte", "Mitte", "Berlin", NOW),
                              seeding())  # fmt: skip
    await handlers.on_member(service.deps, Enrol(customer, "sto_mitte", NOW), seeding())


async def member(service: LoyaltyService, customer: str = "cus_ada") -> Member:
    loaded = await handlers.existing(service.deps, service.deps.deciders.member, customer)
    assert isinstance(loaded.state, Member)
    return loaded.state


async def test_a_payment_earns_points_once_even_when_redelivered(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    for _ in range(3):
        await pipeline.publish(paid())
    ada = await member(pipeline.service)
    assert ada.balance == 200 and len(ada.earnings) == 1
    earned = (await pipeline.service.store.load("cus_ada"))[-1]
    assert earned.metadata.type == "crm.loyalty.PointsEarned"
    assert (earned.metadata.actor, earned.metadata.causation_id) == ("service:loyalty", "evt_pay_1")
    assert earned.metadata.correlation_id == "corr_pay"
    assert pipeline.dead_letters == []


async def test_payments_of_non_members_and_other_events_are_ignored(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    await pipeline.publish(paid(customer="cus_stranger"))
    placed = OrderPlaced(
        order_id="ord_1", quote_id="quo_1", opportunity_id="opp_1", customer_id="cus_ada",
        owner_id="u1", total=Decimal("10.00"), currency="EUR", placed_at=NOW,
        payment_due_date=NOW.date(),
    )  # fmt: skip
    await pipeline.publish(record(placed, "evt_placed"))
    assert await pipeline.service.store.load("cus_stranger") == []
    assert (await member(pipeline.service)).balance == 0
    assert pipeline.dead_letters == []


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda k, h, b: (k, h, b'{"order_id": "ord_1"}'), "invalid crm.pipeline.PaymentReceived"),
        (lambda k, h, b: (k, {"content-type": "application/json"}, b), "not a CloudEvents 1.0"),
        (lambda k, h, b: (k, {**h, "ce_schemaversion": "9"}, b), "newer than this consumer"),
        (lambda k, h, b: (k, h, b.replace(b'"200.00"', b'"lots"')), "contract violation"),
    ],
)
async def test_poison_messages_go_to_the_dead_letter_topic_with_the_reason(
    pipeline: Pipeline, mangle: Any, reason: str
) -> None:
    await a_member(pipeline.service)
    await pipeline.publish(mangle(*paid()))
    [dead] = pipeline.dead_letters
    assert reason in dead["dlt_reason"]
    assert dead["dlt_consumer_group"] == "crm-loyalty"
    assert (await member(pipeline.service)).balance == 0


async def test_a_payment_the_rules_refuse_is_dead_lettered(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    await pipeline.publish(paid(currency="USD"))
    [dead] = pipeline.dead_letters
    assert "rejected" in dead["dlt_reason"] and "EUR" in dead["dlt_reason"]


async def test_a_refund_reverses_points_in_proportion_once(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    await pipeline.publish(paid(amount="200.00"))
    await pipeline.publish(refunded("rfd_1", "50.00"))
    await pipeline.publish(refunded("rfd_1", "50.00"))  # redelivered
    assert (await member(pipeline.service)).balance == 150
    last = (await pipeline.service.store.load("cus_ada"))[-1]
    assert last.metadata.type == "crm.loyalty.PointsReversed"
    assert (last.data["points"], last.data["shortfall"], last.data["balance"]) == (50, 0, 150)


async def test_a_passing_failure_is_retried_then_dead_lettered_after_max_attempts(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_member(pipeline.service)
    failures: list[int] = []

    async def store_down(*_: Any) -> Any:
        failures.append(1)
        raise ConnectionError("store unreachable")

    monkeypatch.setattr(consumer, "settle", store_down)
    attempts = pipeline.service.settings.max_attempts
    for _ in range(attempts - 1):
        with pytest.raises(ConnectionError):  # NACKed: the broker delivers it again
            await pipeline.publish(paid())
        assert pipeline.dead_letters == []
    await pipeline.publish(paid())  # the last attempt: dead-lettered and acknowledged

    [dead] = pipeline.dead_letters
    assert dead["dlt_reason"] == (f"failed {attempts} times: ConnectionError: store unreachable")
    assert (dead["dlt_consumer_group"], dead["ce_id"]) == ("crm-loyalty", "evt_pay_1")
    assert len(failures) == attempts
    assert pipeline.count("crm_loyalty_pipeline_events", "dead_lettered") == 1
    assert (await member(pipeline.service)).balance == 0

    # the attempts went with the dead letter: a later failure has a fresh budget
    with pytest.raises(ConnectionError):
        await pipeline.publish(paid())
    assert len(pipeline.dead_letters) == 1


async def test_an_answered_survey_earns_the_bonus_once_even_when_redelivered(
    pipeline: Pipeline,
) -> None:
    await a_member(pipeline.service)
    for _ in range(3):
        await pipeline.answer(survey_answered("tkt_91ab"))
    await pipeline.answer(survey_answered("tkt_91ab", event_id="evt_survey_again"))

    ada = await member(pipeline.service)
    assert ada.balance == 50 and len(ada.bonuses) == 1
    awarded = (await pipeline.service.store.load("cus_ada"))[-1]
    assert awarded.metadata.type == "crm.loyalty.BonusAwarded"
    assert (awarded.data["reason"], awarded.data["reference"]) == ("survey_answered", "tkt_91ab")
    assert (awarded.metadata.actor, awarded.metadata.causation_id) == (
        "service:loyalty",
        "evt_survey_tkt_91ab",
    )
    assert awarded.metadata.correlation_id == "corr_pay"
    assert pipeline.count("crm_loyalty_ticket_events", "applied") == 1
    assert pipeline.count("crm_loyalty_ticket_events", "duplicate") == 3
    assert pipeline.dead_letters == []


async def test_each_answered_ticket_earns_its_own_bonus(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    await pipeline.answer(survey_answered("tkt_1"))
    await pipeline.answer(survey_answered("tkt_2"))
    assert (await member(pipeline.service)).balance == 100


async def test_a_survey_of_a_non_member_is_acknowledged_and_ignored(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    await pipeline.answer(survey_answered(customer="cus_stranger"))
    assert await pipeline.service.store.load("cus_stranger") == []
    assert pipeline.count("crm_loyalty_ticket_events", "not_a_member") == 1
    assert pipeline.dead_letters == []


@pytest.mark.parametrize("settings", [{"survey_bonus_points": 0}], indirect=True)
async def test_no_survey_bonus_when_it_is_set_to_zero(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    await pipeline.answer(survey_answered())
    assert (await member(pipeline.service)).bonuses == ()
    assert pipeline.count("crm_loyalty_ticket_events", "ignored") == 1
    assert pipeline.dead_letters == []


@pytest.mark.parametrize("settings", [{"survey_bonus_points": 120}], indirect=True)
async def test_the_survey_bonus_comes_from_the_settings(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    await pipeline.answer(survey_answered())
    assert (await member(pipeline.service)).balance == 120


async def test_a_broken_survey_is_dead_lettered_with_the_reason(pipeline: Pipeline) -> None:
    await a_member(pipeline.service)
    key, headers, body = survey_answered()
    await pipeline.answer((key, headers, body.replace(b'"csat":5', b'"csat":9')))
    [dead] = pipeline.dead_letters
    assert "contract violation" in dead["dlt_reason"]
    assert dead["dlt_original_topic"] == "crm.tickets.events"


def test_the_survey_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TICKETS_TOPIC", "tickets.test")
    monkeypatch.setenv("CRM_LOYALTY_SURVEY_BONUS_POINTS", "0")
    settings = LoyaltySettings(embedded_backend="memory")
    assert (settings.tickets_topic, settings.survey_bonus_points) == ("tickets.test", 0)
    monkeypatch.setenv("CRM_LOYALTY_SURVEY_BONUS_POINTS", "-1")
    with pytest.raises(ValidationError):
        LoyaltySettings(embedded_backend="memory")
