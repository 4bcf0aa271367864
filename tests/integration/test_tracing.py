"""One trace from the HTTP command through append, Kafka and the read-model write."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from crm_contacts.bootstrap import bootstrap as bootstrap_contacts
from crm_contacts.config import ContactsSettings
from crm_contacts.entrypoints.http import create_app
from crm_projections.bootstrap import bootstrap as bootstrap_projections
from crm_projections.config import ProjectionsSettings
from crm_runtime.auth import mint_token
from crm_runtime.kafka import KafkaEventPublisher, build_broker, ensure_topics
from crm_runtime.outbox import OutboxRelay, RelayMetrics
from crm_runtime.personal_data import RevealingPublisher
from crm_runtime.telemetry import build_tracer_provider

pytestmark = pytest.mark.integration


async def test_one_trace_links_post_append_publish_consume_and_upsert(
    embedded_kafka: str, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    topic = f"test.trace.{uuid.uuid4().hex[:8]}"
    await ensure_topics(embedded_kafka, [topic])

    contacts = bootstrap_contacts(
        ContactsSettings(embedded_backend="memory", data_dir=tmp_path),
        tracer_provider=build_tracer_provider("crm-contacts", exporter=exporter),
    )
    await contacts.start()
    transport = httpx.ASGITransport(app=create_app(contacts))
    token = mint_token(contacts.settings, subject="u1", roles=["sales_rep"], team="north")
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://contacts",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        answer = await http.post(
            "/contacts/customers", json={"name": "Grace Hopper", "kind": "person"}
        )
    assert answer.status_code == 201
    customer_id = answer.json()["id"]

    relay_broker = build_broker(
        embedded_kafka,
        tracer_provider=build_tracer_provider("crm-contacts-relay", exporter=exporter),
        client_id="relay",
    )
    await relay_broker.connect()
    relay = OutboxRelay(
        contacts.store,
        RevealingPublisher(KafkaEventPublisher(relay_broker, topic), contacts.deps.sealed),
        contacts.relay_lease(),
        RelayMetrics(CollectorRegistry(), "contacts"),
    )
    assert await relay.relay_once() == 2  # CustomerRegistered, CustomerOwnerAssigned
    await relay_broker.stop()

    projections = bootstrap_projections(
        ProjectionsSettings(
            embedded_backend="memory",
            kafka_bootstrap_servers=embedded_kafka,
            contacts_topic=topic,
            consumer_group=f"g-{uuid.uuid4().hex[:6]}",
        ),
        tracer_provider=build_tracer_provider("crm-projections", exporter=exporter),
    )
    await projections.broker.start()
    try:
        async with asyncio.timeout(20):
            while ((await projections.customer360.get(customer_id)) or {}).get("owner") is None:
                await asyncio.sleep(0.05)
    finally:
        await projections.broker.stop()
        await projections.close()
        await contacts.close()

    spans = exporter.get_finished_spans()
    by_id: dict[int, Any] = {s.context.span_id: s for s in spans}

    def first(name: str, kind: SpanKind | None = None, count: int = 1) -> Any:
        """The earliest span of that name (each of the command's events makes its own)."""
        found = [s for s in spans if s.name == name and (kind is None or s.kind == kind)]
        assert len(found) == count, (name, [s.name for s in spans])
        return min(found, key=lambda s: s.start_time)

    def ancestors(span: Any) -> list[str]:
        chain = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            chain.append(span.name)
        return chain

    server = first("POST /contacts/customers", SpanKind.SERVER)
    append = first("eventstore.append")
    create = first(f"{topic} create", SpanKind.PRODUCER, count=2)
    publish = first(f"{topic} publish", SpanKind.PRODUCER, count=2)
    process = first(f"{topic} fold", SpanKind.CONSUMER, count=2)  # one per record
    upsert = first("customer360.upsert", count=2)
    first(f"{topic} process", SpanKind.CONSUMER)  # FastStream's own, of the whole batch

    assert {s.context.trace_id for s in (server, append, create, publish, process, upsert)} == {
        server.context.trace_id
    }

    assert "POST /contacts/customers" in ancestors(append)
    assert create.parent.span_id == append.context.span_id
    assert publish.parent.span_id == create.context.span_id
    # The Kafka hop: the consumer's span continues the producer's context from the headers.
    assert process.parent.span_id == create.context.span_id
    assert process.parent.is_remote
    assert upsert.parent.span_id == process.context.span_id
    assert process.attributes["messaging.system"] == "kafka"
    key = process.attributes["messaging.kafka.message.key"]
    assert (key.decode() if isinstance(key, bytes) else key) == customer_id
