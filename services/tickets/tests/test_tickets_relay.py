"""The tickets' outbox relay: every event leaves as a valid CloudEvent, personal text opened."""

from __future__ import annotations

from typing import Any

import pytest
from tickets_testing import COMPLAINT, TICKETS, ClientFactory, ok, open_ticket

from crm_contracts import cloudevents
from crm_contracts.tickets import TOPIC
from crm_runtime.testing import on_own_topic, recording_relay, relay_to_kafka
from crm_tickets.bootstrap import TicketsService, bootstrap
from crm_tickets.config import TicketsSettings
from crm_tickets.entrypoints.relay import create_relay_app


async def test_the_relay_publishes_every_ticket_event_as_a_cloudevent(
    service: TicketsService, signed_in: ClientFactory
) -> None:
    agent = signed_in("service_agent", subject="a1")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]
    ok(await agent.post(f"{TICKETS}/{tid}/replies", json={"body": "Dear Ada"}))
    ok(await agent.post(f"{TICKETS}/{tid}/resolve", json={"resolution": "Fixed"}))
    ok(
        await signed_in("service").post(
            f"{TICKETS}/{tid}/survey", json={"csat": 5, "would_recommend": 10, "comment": "top"}
        )
    )
    relay, published = recording_relay(service, "tickets")

    assert await relay.relay_once() == 4
    assert await service.store.count_unpublished() == 0
    names = [event.metadata.type.rsplit(".", 1)[1] for event in published.events]
    assert names == ["TicketOpened", "TicketReplied", "TicketResolved", "SurveyAnswered"]
    for event in published.events:
        key, headers, body = cloudevents.encode(event.metadata, event.data)
        assert key == tid.encode()
        assert headers["ce_source"] == "/crm/tickets"
        cloudevents.decode(headers, body)  # valid against the published contract
    opened, replied, resolved, surveyed = (event.data for event in published.events)
    assert opened["subject"] == COMPLAINT["subject"]
    assert (replied["body"], resolved["resolution"], surveyed["comment"]) == (
        "Dear Ada",
        "Fixed",
        "top",
    )


def test_the_tickets_have_a_topic_and_ports_of_their_own() -> None:
    settings = TicketsSettings()
    assert settings.topic == TOPIC == "crm.tickets.events"
    assert (settings.http_port, settings.relay_health_port, settings.scheduler_health_port) == (
        8104,
        8114,
        8124,
    )
    assert (settings.database, settings.keys_database) == ("crm_tickets", "crm_keys")


@pytest.mark.integration
async def test_the_relay_process_publishes_tickets_to_kafka(
    embedded_kafka: str, service: TicketsService, signed_in: ClientFactory, store_client: Any
) -> None:
    """The relay app's lifespan over the embedded broker, read back with a plain aiokafka client."""
    agent = signed_in("service_agent", subject="a1")
    tid = (await open_ticket(agent, assignee_id="a1"))["id"]
    ok(await agent.post(f"{TICKETS}/{tid}/notes", json={"body": "internal"}))
    settings = on_own_topic(service.settings, embedded_kafka, "tickets")
    relay = create_relay_app(bootstrap(settings, document_client=store_client))
    records, health = await relay_to_kafka(relay, embedded_kafka, settings.topic, expected=2)
    assert (health["status"], health["unpublished_commits"]) == ("ok", 0)
    assert [r.key.decode() for r in records] == [tid] * 2
    opened, noted = (cloudevents.decode(r.headers, r.value) for r in records)
    assert opened[1].subject == COMPLAINT["subject"]  # type: ignore[attr-defined]
    assert noted[1].body == "internal"  # type: ignore[attr-defined]
