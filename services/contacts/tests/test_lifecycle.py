"""Lifecycle stages over HTTP, and placed orders from the pipeline's Kafka topic as purchases
(FastStream's TestKafkaBroker, in memory: a handler's error reaches the publisher instead of
making the broker redeliver, so a redelivery is written as publishing the record again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import count
from typing import Any

import httpx
import pytest
from contacts_testing import CUSTOMERS, ClientFactory, problem, register
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from crm_contacts.application import handlers, merging
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain.customer import RegisterCustomer, Registered
from crm_contracts import EventMetadata, cloudevents
from crm_contracts.contacts import CustomerKind, LifecycleStage
from crm_contracts.pipeline import OrderPlaced
from crm_contracts.registry import DomainEvent
from crm_runtime.eventstore import CommandContext

PLACED_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SEEDS = count()


def seeding() -> CommandContext:
    """A command of the test's own (each append needs its own command id)."""
    command_id = f"cmd_seed_{next(SEEDS)}"
    return CommandContext(command_id, "corr_seed", command_id, "user:root")


@dataclass(frozen=True)
class DeadLetter:
    key: bytes
    headers: dict[str, str]
    body: bytes


@dataclass
class Pipeline:
    """The pipeline's topic as the contacts consumer reads it, and its dead letters."""

    broker: Any
    service: ContactsService
    dead_letters: list[DeadLetter] = field(default_factory=list)

    async def publish(self, record: tuple[bytes, dict[str, str], bytes]) -> None:
        key, headers, body = record
        topic = self.service.settings.pipeline_topic
        await self.broker.publish(body, topic=topic, key=key, headers=headers)


@pytest.fixture
async def pipeline(service: ContactsService) -> AsyncIterator[Pipeline]:
    dead_letters: list[DeadLetter] = []

    @service.broker.subscriber(service.settings.dead_letter_topic)
    async def capture(message: KafkaMessage) -> None:
        dead_letters.append(
            DeadLetter(message.raw_message.key, dict(message.headers), message.body)
        )

    async with TestKafkaBroker(service.broker) as broker:
        yield Pipeline(broker, service, dead_letters)


def order_placed(
    customer_id: str,
    order_id: str = "ord_1",
    event_id: str = "evt_o1",
    opportunity_id: str | None = None,
) -> tuple[bytes, dict[str, str], bytes]:
    """OrderPlaced of ``order_id``, of the deal ``opportunity_id`` (opp_1 for ord_1...)."""
    event = OrderPlaced(
        order_id=order_id,
        quote_id="quo_1",
        opportunity_id=opportunity_id or "opp_" + order_id.removeprefix("ord_"),
        customer_id=customer_id,
        owner_id="u1",
        team="north",
        total="21600.00",
        currency="EUR",
        placed_at=PLACED_AT,
        payment_due_date=date(2026, 12, 24),
    )
    return record(event, order_id, event_id)


def record(event: DomainEvent, subject: str, event_id: str) -> tuple[bytes, dict[str, str], bytes]:
    metadata = EventMetadata(
        id=event_id,
        type=event.event_type,
        schema_version=event.schema_version,
        source="/crm/pipeline",
        subject=subject,
        sequence=1,
        time=PLACED_AT,
        correlation_id="corr_deal_7",
        causation_id="cmd_accept_quote",
        actor="user:u1",
    )
    return cloudevents.encode(metadata, event.model_dump(mode="json"))


async def a_prospect(service: ContactsService, customer_id: str = "cus_ada") -> str:
    command = RegisterCustomer(customer_id, "Ada Lovelace", CustomerKind.PERSON, owner_id="u1")
    await handlers.execute(service.deps, command, seeding())
    return customer_id


async def stage_of(service: ContactsService, customer_id: str) -> tuple[LifecycleStage, int]:
    state = await handlers.load_customer(service.deps, customer_id)
    return state.stage, len(state.order_ids)


# --- placed orders from Kafka ----------------------------------------------------------------


async def test_a_placed_order_makes_a_prospect_a_customer(pipeline: Pipeline) -> None:
    ada = await a_prospect(pipeline.service)

    await pipeline.publish(order_placed(ada))

    assert await stage_of(pipeline.service, ada) == (LifecycleStage.CUSTOMER, 1)
    recorded, moved = (await pipeline.service.store.load(ada))[-2:]
    assert (recorded.metadata.type, moved.metadata.type) == (
        "crm.contacts.CustomerPurchaseRecorded",
        "crm.contacts.CustomerLifecycleStageChanged",
    )
    for event in (recorded, moved):
        assert (event.metadata.actor, event.metadata.causation_id) == ("service:contacts", "evt_o1")
        assert event.metadata.correlation_id == "corr_deal_7"
    assert moved.data == {
        "customer_id": ada,
        "from_stage": "prospect",
        "to_stage": "customer",
        "reason": "first purchase",
        "caused_by": "order:ord_1",
    }
    assert pipeline.dead_letters == []


async def test_a_redelivered_order_counts_once_and_a_second_one_makes_a_repeat_customer(
    pipeline: Pipeline,
) -> None:
    ada = await a_prospect(pipeline.service)
    first = order_placed(ada)
    await pipeline.publish(first)
    head = await pipeline.service.store.head_position()

    await pipeline.publish(first)
    assert await pipeline.service.store.head_position() == head
    await pipeline.publish(order_placed(ada, "ord_2", "evt_o2"))

    assert await stage_of(pipeline.service, ada) == (LifecycleStage.REPEAT_CUSTOMER, 2)


@pytest.mark.parametrize("saga_first", [True, False], ids=["saga first", "order first"])
async def test_a_won_deal_and_its_order_are_one_purchase(
    pipeline: Pipeline, signed_in: ClientFactory, saga_first: bool
) -> None:
    ada = await a_prospect(pipeline.service)
    saga = signed_in("service", subject="sagas", team=None)
    won = {"opportunity_id": "opp_1", "at": "2026-11-20T16:00:00Z"}

    async def deal_won() -> dict[str, Any]:
        answer = await saga.post(f"{CUSTOMERS}/{ada}/purchases", json=won)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    if saga_first:
        assert (await deal_won())["purchases"] == 1
        await pipeline.publish(order_placed(ada))  # ord_1 of opp_1
    else:
        await pipeline.publish(order_placed(ada))
        assert (await deal_won())["purchases"] == 1

    assert await stage_of(pipeline.service, ada) == (LifecycleStage.CUSTOMER, 1)
    recorded = [
        e.data
        for e in await pipeline.service.store.load(ada)
        if e.metadata.type == "crm.contacts.CustomerPurchaseRecorded"
    ]
    reference = "opp_1" if saga_first else "ord_1"  # a won deal has no order yet
    assert [(r["order_id"], r["opportunity_id"]) for r in recorded] == [(reference, "opp_1")]
    # Another deal's order is a further purchase.
    await pipeline.publish(order_placed(ada, "ord_2", "evt_o2"))
    assert await stage_of(pipeline.service, ada) == (LifecycleStage.REPEAT_CUSTOMER, 2)
    assert pipeline.dead_letters == []


async def test_other_pipeline_events_are_acknowledged_and_ignored(pipeline: Pipeline) -> None:
    ada = await a_prospect(pipeline.service)
    key, headers, _ = order_placed(ada)
    won = {**headers, "ce_type": "crm.pipeline.OpportunityWon", "ce_id": "evt_w1"}
    await pipeline.publish((key, won, b'{"opportunity_id": "opp_1", "customer_id": "cus_ada"}'))

    assert await stage_of(pipeline.service, ada) == (LifecycleStage.PROSPECT, 0)
    assert pipeline.dead_letters == []


async def test_an_order_of_a_merged_customer_goes_to_the_survivor(pipeline: Pipeline) -> None:
    ada = await a_prospect(pipeline.service, "cus_ada")
    countess = await a_prospect(pipeline.service, "cus_countess")
    await merging.merge(pipeline.service.deps, countess, ada, seeding())

    await pipeline.publish(order_placed(ada))

    assert await stage_of(pipeline.service, countess) == (LifecycleStage.CUSTOMER, 1)


async def test_an_order_of_an_erased_customer_is_acknowledged_and_not_recorded(
    pipeline: Pipeline,
) -> None:
    ada = await a_prospect(pipeline.service)
    await handlers.execute(pipeline.service.deps, handlers.customer.EraseCustomer(ada), seeding())
    head = await pipeline.service.store.head_position()

    await pipeline.publish(order_placed(ada))

    assert await pipeline.service.store.head_position() == head
    assert pipeline.dead_letters == []


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        pytest.param(
            lambda key, headers, body: (key, headers, b'{"order_id": "ord_1"}'),
            "contract violation: invalid crm.pipeline.OrderPlaced payload",
            id="an OrderPlaced that breaks its schema",
        ),
        pytest.param(
            lambda key, headers, body: (key, {"content-type": "application/json"}, body),
            "contract violation: not a CloudEvents 1.0 message",
            id="no CloudEvents headers",
        ),
        pytest.param(
            lambda key, headers, body: order_placed("cus_nobody"),
            "rejected: no customer with id cus_nobody",
            id="an order of a customer contacts does not know",
        ),
    ],
)
async def test_a_message_that_can_never_succeed_is_dead_lettered_with_its_reason(
    pipeline: Pipeline, edit: Any, reason: str
) -> None:
    await a_prospect(pipeline.service)
    poison = edit(*order_placed("cus_ada"))

    await pipeline.publish(poison)  # acknowledged: no error reaches the broker

    (dead,) = pipeline.dead_letters
    assert dead.headers["dlt_reason"].startswith(reason)
    assert dead.headers["dlt_original_topic"] == "crm.pipeline.events"
    assert dead.headers["dlt_consumer_group"] == "crm-contacts"
    assert {"dlt_original_partition", "dlt_original_offset", "dlt_failed_at"} <= set(dead.headers)
    assert (dead.key, dead.body) == (poison[0], poison[2])
    assert await stage_of(pipeline.service, "cus_ada") == (LifecycleStage.PROSPECT, 0)


@pytest.mark.parametrize("settings", [{"max_attempts": 2}], indirect=True)
async def test_a_failure_that_may_pass_is_retried_then_dead_lettered(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await a_prospect(pipeline.service)
    failures = [ConnectionError("document store unreachable")]
    store = pipeline.service.store
    append = store.append

    async def down_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await append(*args, **kwargs)

    monkeypatch.setattr(store, "append", down_once)
    message = order_placed(ada)
    with pytest.raises(ConnectionError):  # NACKed: the broker delivers it again
        await pipeline.publish(message)
    await pipeline.publish(message)
    assert await stage_of(pipeline.service, ada) == (LifecycleStage.CUSTOMER, 1)

    failures.extend([ConnectionError("still down"), ConnectionError("down")])
    second = order_placed(ada, "ord_2", "evt_o2")
    with pytest.raises(ConnectionError):
        await pipeline.publish(second)
    await pipeline.publish(second)  # attempt 2 of 2: dead-lettered and acknowledged
    (dead,) = pipeline.dead_letters
    assert dead.headers["dlt_reason"].startswith("failed 2 times: ConnectionError: still down")


# --- stages by hand over HTTP ----------------------------------------------------------------


@pytest.fixture
def manager(signed_in: ClientFactory) -> httpx.AsyncClient:
    return signed_in("sales_manager", subject="m1", team="north")


async def test_a_rep_moves_a_prospect_to_interested_and_a_purchase_makes_a_customer(
    signed_in: ClientFactory,
) -> None:
    rep = signed_in("sales_rep", subject="u1", team="north")
    ada = (await register(rep))["id"]
    url = f"{CUSTOMERS}/{ada}"

    interested = await rep.put(f"{url}/lifecycle-stage", json={"stage": "interested"})
    assert (interested.status_code, interested.json()["lifecycle_stage"]) == (200, "interested")
    bought = {"order_id": "ord_1", "at": "2026-11-24T09:30:00Z"}
    problem(await rep.post(f"{url}/purchases", json=bought), 403, "urn:crm:problem:forbidden")
    service = signed_in("service", subject="pipeline", team=None)
    answer = await service.post(f"{url}/purchases", json=bought)
    assert (answer.status_code, answer.json()["lifecycle_stage"]) == (200, "customer")
    assert answer.json()["purchases"] == 1


async def test_a_purchase_names_its_order_its_deal_or_both(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep", subject="u1", team="north")
    ada = (await register(rep))["id"]
    url = f"{CUSTOMERS}/{ada}/purchases"
    service = signed_in("service", subject="sagas", team=None)
    at = "2026-11-24T09:30:00Z"

    async def post(body: dict[str, Any]) -> tuple[str, int]:
        answer = await service.post(url, json={**body, "at": at})
        assert answer.status_code == 200, answer.text
        return answer.json()["lifecycle_stage"], answer.json()["purchases"]

    assert await post({"opportunity_id": "opp_1"}) == ("customer", 1)  # the won deal
    assert await post({"order_id": "ord_1", "opportunity_id": "opp_1"}) == ("customer", 1)
    assert await post({"order_id": None, "opportunity_id": "opp_1"}) == ("customer", 1)
    assert await post({"order_id": "ord_2"}) == ("repeat_customer", 2)  # no deal named
    assert await post({"order_id": "ord_3", "opportunity_id": "opp_3"}) == ("repeat_customer", 3)


async def test_the_customer_names_the_deals_of_its_purchases(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep", subject="u1", team="north")
    ada = (await register(rep))["id"]
    url = f"{CUSTOMERS}/{ada}"
    service = signed_in("service", subject="pipeline", team=None)
    assert (await service.get(url)).json()["purchased_opportunity_ids"] == []
    at = "2026-11-24T09:30:00Z"

    async def bought(body: dict[str, Any]) -> dict[str, Any]:
        answer = await service.post(f"{url}/purchases", json={**body, "at": at})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    placed = await bought({"order_id": "ord_9", "opportunity_id": "opp_9"})
    assert (placed["purchases"], placed["purchased_opportunity_ids"]) == (1, ["opp_9"])
    await bought({"opportunity_id": "opp_9"})  # the same deal, won: counted once
    await bought({"order_id": "ord_2"})  # a purchase of no known deal
    await bought({"opportunity_id": "opp_1"})  # a won deal, no order yet
    for reader in (service, rep):
        customer = (await reader.get(url)).json()
        assert customer["purchases"] == 3
        assert customer["purchased_opportunity_ids"] == ["opp_1", "opp_9"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"at": "2026-11-24T09:30:00Z"}, "", id="neither order nor deal"),
        pytest.param(
            {"order_id": None, "opportunity_id": None, "at": "2026-11-24T09:30:00Z"},
            "",
            id="both null",
        ),
        pytest.param(
            {"opportunity_id": "opp 1", "at": "2026-11-24T09:30:00Z"},
            "opportunity_id",
            id="not a reference",
        ),
        pytest.param({"opportunity_id": "opp_1"}, "at", id="no time"),
    ],
)
async def test_a_purchase_without_an_order_or_a_deal_is_refused(
    signed_in: ClientFactory, body: dict[str, Any], field: str
) -> None:
    rep = signed_in("sales_rep", subject="u1", team="north")
    ada = (await register(rep))["id"]
    service = signed_in("service", subject="sagas", team=None)
    answer = await service.post(f"{CUSTOMERS}/{ada}/purchases", json=body)
    refused = problem(answer, 422, "urn:crm:problem:validation")
    assert field in [e["field"] for e in refused["errors"]], refused
    if not field:  # the body as a whole
        assert "order_id or opportunity_id is required" in str(refused["errors"])
    profile = (await service.get(f"{CUSTOMERS}/{ada}")).json()
    assert profile["purchases"] == 0


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        pytest.param({"stage": "at_risk"}, 422, "a reason is needed", id="at risk, no reason"),
        pytest.param({"stage": "customer"}, 409, "follows from purchases", id="customer by hand"),
        pytest.param(
            {"stage": "churned", "reason": "gone"},
            409,
            "can become churned",
            id="a prospect churns",
        ),
        pytest.param({"stage": "vip"}, 422, "stage", id="no such stage"),
    ],
)
async def test_a_move_the_rules_refuse(
    manager: httpx.AsyncClient, body: dict[str, Any], status: int, detail: str
) -> None:
    ada = (await register(manager, "u1"))["id"]
    refused = problem(await manager.put(f"{CUSTOMERS}/{ada}/lifecycle-stage", json=body), status)
    assert detail in refused["detail"]


async def test_at_risk_with_a_reason_and_back(
    manager: httpx.AsyncClient, signed_in: ClientFactory, service: ContactsService
) -> None:
    ada = (await register(manager, "u1"))["id"]
    pipeline = signed_in("service", subject="pipeline", team=None)
    await pipeline.post(
        f"{CUSTOMERS}/{ada}/purchases", json={"order_id": "o1", "at": "2026-01-01T00:00:00"}
    )
    url = f"{CUSTOMERS}/{ada}/lifecycle-stage"
    at_risk = await manager.put(url, json={"stage": "at_risk", "reason": "no order for 6 months"})
    assert at_risk.json()["lifecycle_stage"] == "at_risk"
    back = await manager.put(url, json={"stage": "customer", "reason": "called, all well"})
    assert back.json()["lifecycle_stage"] == "customer"
    state = await handlers.load_customer(service.deps, ada)
    assert isinstance(state, Registered)
    changes = [e for e in await service.store.load(ada) if e.metadata.type.endswith("StageChanged")]
    assert [(e.data["to_stage"], e.data["caused_by"]) for e in changes] == [
        ("customer", "order:o1"),
        ("at_risk", "manual"),
        ("customer", "manual"),
    ]
