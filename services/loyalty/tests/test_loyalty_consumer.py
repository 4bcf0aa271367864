"""The consumer of the pipeline's payments and refunds, through FastStream's TestKafkaBroker
(in memory: a redelivery is written as publishing the same record again)."""

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

from crm_contracts import EventMetadata, cloudevents
from crm_contracts.pipeline import OrderPlaced, PaymentReceived, PaymentRefunded
from crm_contracts.registry import DomainEvent
from crm_loyalty.application import handlers
from crm_loyalty.bootstrap import LoyaltyService
from crm_loyalty.domain.member import Enrol, Member
from crm_loyalty.domain.store import OpenStore
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

    async def publish(self, record: tuple[bytes, dict[str, str], bytes]) -> None:
        key, headers, body = record
        await self.broker.publish(
            body, topic=self.service.settings.pipeline_topic, key=key, headers=headers
        )


@pytest.fixture
async def pipeline(service: LoyaltyService) -> AsyncIterator[Pipeline]:
    dead: list[dict[str, str]] = []

    @service.broker.subscriber(service.settings.dead_letter_topic)
    async def capture(message: KafkaMessage) -> None:
        dead.append(dict(message.headers))

    async with TestKafkaBroker(service.broker) as broker:
        yield Pipeline(broker, service, dead)


def record(event: DomainEvent, event_id: str) -> tuple[bytes, dict[str, str], bytes]:
    metadata = EventMetadata(
        id=event_id,
        type=event.event_type,
        schema_version=event.schema_version,
        source="/crm/pipeline",
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
