"""The loyalty outbox relay: every event leaves as a valid CloudEvent keyed by its stream."""

from __future__ import annotations

from loyalty_testing import MEMBERS, STORES, ClientFactory, created, ok

from crm_contracts import cloudevents
from crm_loyalty.bootstrap import LoyaltyService
from crm_loyalty.entrypoints.relay import create_relay_app
from crm_runtime.testing import recording_relay


async def test_the_relay_publishes_every_loyalty_event_as_a_cloudevent(
    service: LoyaltyService, signed_in: ClientFactory
) -> None:
    admin = signed_in("admin")
    created(await admin.post(STORES, json={"store_id": "sto_1", "name": "A", "city": "B"}))
    created(await admin.post(MEMBERS, json={"customer_id": "cus_1", "home_store_id": "sto_1"}))
    birthday = {"reason": "birthday", "reference": "2026", "points": 5}
    ok(await admin.post(f"{MEMBERS}/cus_1/bonuses", json=birthday))
    relay, published = recording_relay(service, "loyalty")
    assert await relay.relay_once() == 3
    assert await service.store.count_unpublished() == 0
    types = [e.metadata.type for e in published.events]
    assert types == ["crm.loyalty.StoreOpened", "crm.loyalty.MemberEnrolled",
                     "crm.loyalty.BonusAwarded"]  # fmt: skip
    keys = []
    for event in published.events:
        key, headers, body = cloudevents.encode(event.metadata, event.data)
        assert headers["ce_source"] == "/crm/loyalty"
        cloudevents.decode(headers, body)
        keys.append(key)
    assert keys == [b"store/sto_1", b"cus_1", b"cus_1"]


def test_the_relay_process_has_a_health_route(service: LoyaltyService) -> None:
    app = create_relay_app(service)
    assert any(getattr(route, "path", "") == "/health" for route in app.routes)
