"""The pipeline's outbox relay: every event leaves as a valid CloudEvent, personal data opened."""

from __future__ import annotations

from typing import Any

import pytest
from pipeline_testing import LINES, TERMS, ClientFactory, capture, created, ok

from crm_contracts import cloudevents
from crm_contracts.pipeline import TOPIC
from crm_pipeline.bootstrap import PipelineService, bootstrap
from crm_pipeline.config import PipelineSettings
from crm_pipeline.entrypoints.relay import create_relay_app
from crm_runtime.testing import on_own_topic, recording_relay, relay_to_kafka


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
    relay, published = recording_relay(service, "pipeline")

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
    settings = on_own_topic(service.settings, embedded_kafka, "pipeline")
    relay = create_relay_app(bootstrap(settings, document_client=store_client))  # its own process
    records, health = await relay_to_kafka(relay, embedded_kafka, settings.topic, expected=2)
    assert (health["status"], health["relay"], health["unpublished_commits"]) == (
        "ok",
        "running",
        0,
    )
    assert [r.key.decode() for r in records] == [lead["id"]] * 2
    captured, dropped = (cloudevents.decode(r.headers, r.value) for r in records)
    assert captured[1].email == "ada@example.com"  # type: ignore[attr-defined]
    assert dropped[1].reason == "spam"  # type: ignore[attr-defined]
