"""The pipeline's outbox relay: every event leaves as a valid CloudEvent, personal data opened."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pipeline_testing import LINES, TERMS, ClientFactory, capture, created, ok
from prometheus_client import CollectorRegistry

from crm_contracts import cloudevents
from crm_contracts.pipeline import TOPIC
from crm_pipeline.bootstrap import PipelineService, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_pipeline.entrypoints.relay import create_relay_app
from crm_runtime.eventstore import StoredEvent
from crm_runtime.outbox import OutboxRelay, RelayMetrics
from crm_runtime.personal_data import RevealingPublisher


class Published:
    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.events.extend(events)


async def test_the_relay_publishes_every_pipeline_event_as_a_cloudevent(
    service: PipelineService, signed_in: ClientFactory
) -> None:
    rep = signed_in("sales_rep")
    lead = await capture(rep, customer_id="cus_acme")
    opportunity = created(await rep.post(f"/pipeline/leads/{lead['id']}/qualification", json=TERMS))
    quote = created(
        await rep.post(
            "/pipeline/quotes", json={"opportunity_id": opportunity["id"], "lines": LINES}
        )
    )
    ok(await rep.post(f"/pipeline/quotes/{quote['id']}/sent"))
    created(await rep.post(f"/pipeline/quotes/{quote['id']}/accepted"))
    published = Published()
    relay = OutboxRelay(
        service.store,
        RevealingPublisher(published, service.deps.sealed),
        service.relay_lease(),
        RelayMetrics(CollectorRegistry(), "pipeline"),
    )

    assert await relay.relay_once() == 8
    assert await service.store.count_unpublished() == 0
    types = [event.metadata.type.rsplit(".", 1)[1] for event in published.events]
    assert types == [
        "LeadCaptured", "LeadQualified", "OpportunityOpened", "QuoteDrafted", "QuoteSent",
        "QuoteAccepted", "OrderPlaced", "ReceivableOpened",
    ]  # fmt: skip
    for event in published.events:
        key, headers, body = cloudevents.encode(event.metadata, event.data)
        assert key == event.metadata.subject.encode()
        assert headers["ce_source"] == "/crm/pipeline"
        cloudevents.decode(headers, body)  # valid against the published contract
    captured = published.events[0].data
    assert (captured["email"], captured["phone"]) == ("ada@example.com", "+4930901820")


def test_the_pipeline_has_a_topic_and_ports_of_its_own() -> None:
    settings = PipelineSettings()
    assert settings.topic == TOPIC == "crm.pipeline.events"
    assert (settings.http_port, settings.relay_health_port, settings.scheduler_health_port) == (
        8103,
        8113,
        8123,
    )
    assert (settings.database, settings.keys_database) == ("crm_pipeline", "crm_keys")
    assert settings.payment_terms_days == 30


@pytest.mark.integration
async def test_the_relay_process_publishes_the_pipeline_to_kafka(
    embedded_kafka: str, service: PipelineService, signed_in: ClientFactory, store_client: Any
) -> None:
    """The relay app's lifespan over the embedded broker, read back with a plain aiokafka client."""
    rep = signed_in("sales_rep")
    lead = await capture(rep)
    await rep.post(f"/pipeline/leads/{lead['id']}/disqualification", json={"reason": "spam"})
    topic = f"test.pipeline.{uuid.uuid4().hex[:8]}"
    settings = service.settings.model_copy(
        update={"kafka_bootstrap_servers": embedded_kafka, "topic": topic}
    )
    relay = create_relay_app(bootstrap(settings, document_client=store_client))  # its own process
    async with relay.router.lifespan_context(relay):
        records = await consume(embedded_kafka, topic, expected=2)
        transport = httpx.ASGITransport(app=relay)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            health = (await http.get("/health")).json()
    assert (health["status"], health["relay"], health["unpublished_commits"]) == (
        "ok",
        "running",
        0,
    )
    assert [r.key.decode() for r in records] == [lead["id"]] * 2
    captured, dropped = (cloudevents.decode(r.headers, r.value) for r in records)
    assert captured[1].email == "ada@example.com"  # type: ignore[attr-defined]
    assert dropped[1].reason == "spam"  # type: ignore[attr-defined]


async def consume(bootstrap: str, topic: str, expected: int, within: float = 20) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: int(dict(r.headers)["ce_sequence"]))
