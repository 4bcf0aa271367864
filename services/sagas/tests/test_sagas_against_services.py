"""Both flows against the real contacts, loyalty and tickets apps (over ASGI, in memory):
the commands fit their APIs, their policies let the sagas' service token through, and
their Idempotency-Key handling makes a resent command act once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sagas_testing import Clock, unpaid, won

from crm_contacts.bootstrap import bootstrap as contacts_bootstrap
from crm_contacts.config import ContactsSettings
from crm_contacts.entrypoints.http import create_app as contacts_app
from crm_loyalty.bootstrap import bootstrap as loyalty_bootstrap
from crm_loyalty.config import LoyaltySettings
from crm_loyalty.entrypoints.http import create_app as loyalty_app
from crm_runtime.testing import UNLIMITED, bearer, in_memory, local_settings, started
from crm_sagas.application.commands import ServiceCommands
from crm_sagas.bootstrap import SagasService, ServiceToken, bootstrap
from crm_sagas.config import SagasSettings
from crm_sagas.domain import onboarding
from crm_sagas.domain.saga import StepSucceeded
from crm_sagas.entrypoints.runner import deadline_loop
from crm_tickets.bootstrap import bootstrap as tickets_bootstrap
from crm_tickets.config import TicketsSettings
from crm_tickets.entrypoints.http import create_app as tickets_app


@dataclass
class Stack:
    sagas: SagasService
    admin: dict[str, httpx.AsyncClient]
    clients: dict[str, httpx.AsyncClient]
    customer_id: str


@pytest.fixture
def home_store_opened() -> bool:
    """Whether the chain opened the home store before (parametrise to change)."""
    return True


@pytest.fixture
async def stack(tmp_path: Path, clock: Clock, home_store_opened: bool) -> AsyncIterator[Stack]:
    def settings(kind: type[Any]) -> Any:
        return local_settings(kind, tmp_path, rate_limit=UNLIMITED)

    async with AsyncExitStack() as stack:
        apps = {}
        for name, kind, boot, create in (
            ("contacts", ContactsSettings, contacts_bootstrap, contacts_app),
            ("loyalty", LoyaltySettings, loyalty_bootstrap, loyalty_app),
            ("tickets", TicketsSettings, tickets_bootstrap, tickets_app),
        ):
            service = await stack.enter_async_context(
                started(boot(settings(kind), **in_memory(name), clock=clock))
            )
            apps[name] = create(service)

        def clients(headers: dict[str, str] | None = None) -> dict[str, httpx.AsyncClient]:
            return {
                name: httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url=f"http://{name}",
                    headers=headers or {},
                )
                for name, app in apps.items()
            }  # fmt: skip

        sagas_settings = settings(SagasSettings)
        admin = clients(bearer(sagas_settings, "admin", subject="root"))
        answer = await admin["contacts"].post(
            "/contacts/customers", json={"name": "Ada Lovelace", "kind": "person"}
        )
        assert answer.status_code == 201, answer.text
        if home_store_opened:  # as the chain named it: the saga's opening is answered 409
            store = {"store_id": "sto_main", "name": "Main", "city": "Berlin"}
            assert (await admin["loyalty"].post("/loyalty/stores", json=store)).status_code == 201
        sagas = await stack.enter_async_context(
            started(bootstrap(sagas_settings, **in_memory("sagas"), clock=clock,
                              service_clients=clients()))
        )  # fmt: skip
        yield Stack(sagas, admin, clients(), answer.json()["id"])
        for http in admin.values():
            await http.aclose()


async def test_a_won_deal_onboards_a_new_customer_through_the_real_services(
    stack: Stack,
) -> None:
    customer = stack.customer_id
    await stack.sagas.runner.observe(won(customer=customer), None)
    document = await stack.sagas.documents.load("sag_onboarding_opp_1")
    assert document is not None, "no saga"
    assert document["status"] == "completed", document["stuck"]
    assert document["state"]["lifecycle_stage"] == "customer"
    (opening,) = [e for e in document["history"] if e.get("step") == "open_home_store"]
    assert (opening["kind"], opening["status"]) == ("step_refused", 409)  # the chain's store
    profile = (await stack.admin["contacts"].get(f"/contacts/customers/{customer}")).json()
    assert (profile["lifecycle_stage"], profile["purchases"]) == ("customer", 1)
    member = (await stack.admin["loyalty"].get(f"/loyalty/members/{customer}")).json()
    assert member["home_store_id"] == "sto_main"
    tickets = (await stack.admin["tickets"].get(f"/tickets?customer_id={customer}")).json()
    assert [t["kind"] for t in tickets["tickets"]] == ["service_request"]


@pytest.mark.parametrize("home_store_opened", [False])
async def test_the_saga_opens_a_home_store_the_chain_has_not(stack: Stack) -> None:
    customer = stack.customer_id
    await stack.sagas.runner.observe(won(customer=customer), None)
    document = await stack.sagas.documents.load("sag_onboarding_opp_1")
    assert document is not None and document["status"] == "completed", document
    store = (await stack.admin["loyalty"].get("/loyalty/stores/sto_main")).json()
    assert (store["name"], store["city"]) == ("Online shop", "Online")
    member = (await stack.admin["loyalty"].get(f"/loyalty/members/{customer}")).json()
    assert member["home_store_id"] == "sto_main"
    # The next deal's saga opens the same store again: the same opening, not a refusal.
    await stack.sagas.runner.observe(won("opp_2", customer, "evt_won_2"), None)
    document = await stack.sagas.documents.load("sag_onboarding_opp_2")
    assert document is not None and document["status"] == "completed", document["stuck"]
    (opening,) = [e for e in document["history"] if e.get("step") == "open_home_store"]
    assert opening["kind"] == "step_succeeded"
    assert document["state"]["new_customer"] is False  # opp_1 was bought before


async def test_a_first_purchase_recorded_before_the_saga_looked_is_still_onboarded(
    stack: Stack,
) -> None:
    customer = stack.customer_id
    # The deal's OrderPlaced reached contacts before the saga looked the customer up.
    order = {"order_id": "ord_1", "opportunity_id": "opp_1", "at": "2026-11-25T10:00:00Z"}
    url = f"/contacts/customers/{customer}/purchases"
    assert (await stack.admin["contacts"].post(url, json=order)).status_code == 200
    await stack.sagas.runner.observe(won(customer=customer), None)
    document = await stack.sagas.documents.load("sag_onboarding_opp_1")
    assert document is not None and document["status"] == "completed", document["stuck"]
    assert document["state"]["new_customer"] is True
    profile = (await stack.admin["contacts"].get(f"/contacts/customers/{customer}")).json()
    assert (profile["purchases"], profile["purchased_opportunity_ids"]) == (1, ["opp_1"])
    tickets = (await stack.admin["tickets"].get(f"/tickets?customer_id={customer}")).json()
    assert [t["kind"] for t in tickets["tickets"]] == ["service_request"]


async def test_a_customer_who_bought_another_deal_gets_no_onboarding_ticket(
    stack: Stack,
) -> None:
    customer = stack.customer_id
    before = {"order_id": "ord_0", "opportunity_id": "opp_0", "at": "2026-11-01T10:00:00Z"}
    url = f"/contacts/customers/{customer}/purchases"
    assert (await stack.admin["contacts"].post(url, json=before)).status_code == 200
    await stack.sagas.runner.observe(won(customer=customer), None)
    document = await stack.sagas.documents.load("sag_onboarding_opp_1")
    assert document is not None and document["status"] == "completed", document["stuck"]
    assert document["state"]["new_customer"] is False
    profile = (await stack.admin["contacts"].get(f"/contacts/customers/{customer}")).json()
    assert (profile["lifecycle_stage"], profile["purchases"]) == ("repeat_customer", 2)
    tickets = (await stack.admin["tickets"].get(f"/tickets?customer_id={customer}")).json()
    assert tickets["tickets"] == []


async def test_the_won_deal_and_its_order_are_one_purchase_in_contacts(stack: Stack) -> None:
    customer = stack.customer_id
    await stack.sagas.runner.observe(won(customer=customer), None)
    # What contacts' consumer makes of the deal's OrderPlaced: its order, of opportunity opp_1.
    order = {"order_id": "ord_1", "opportunity_id": "opp_1", "at": "2026-11-25T10:00:00Z"}
    url = f"/contacts/customers/{customer}/purchases"
    answer = await stack.admin["contacts"].post(url, json=order)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["lifecycle_stage"], answer.json()["purchases"]) == ("customer", 1)


async def test_a_resent_command_acts_once_in_the_owning_service(stack: Stack) -> None:
    saga = await stack.sagas.runner.observe(won(customer=stack.customer_id), None)
    loaded = await stack.sagas.runner.load(saga[0])
    assert loaded is not None
    sender = ServiceCommands(stack.clients, ServiceToken(stack.sagas.settings), Clock())
    resent = replace(loaded.saga.state, ticket=None, purchase_recorded=False)
    assert [c.step for c in loaded.flow.react(resent)] == [onboarding.PURCHASE, onboarding.TICKET]
    for command in loaded.flow.react(resent):
        entry = await sender.send(saga[0], command, correlation_id="c", causation_id="e")
        assert isinstance(entry, StepSucceeded), entry
    customer = stack.customer_id
    profile = (await stack.admin["contacts"].get(f"/contacts/customers/{customer}")).json()
    assert profile["purchases"] == 1
    tickets = (await stack.admin["tickets"].get(f"/tickets?customer_id={customer}")).json()
    assert len(tickets["tickets"]) == 1


async def test_an_unpaid_order_gets_its_reminder_and_coupon_and_loses_it_unpaid(
    stack: Stack, clock: Clock
) -> None:
    customer = stack.customer_id
    enrol = {"customer_id": customer, "home_store_id": "sto_main"}
    assert (await stack.admin["loyalty"].post("/loyalty/members", json=enrol)).status_code == 201
    await stack.sagas.runner.observe(unpaid(customer=customer), None)
    document = await stack.sagas.documents.load("sag_payment_ord_1")
    assert document is not None and document["status"] == "running", document
    timeline = await stack.admin["contacts"].get(f"/contacts/customers/{customer}/interactions")
    notes = [i for i in timeline.json()["interactions"] if i["kind"] == "note"]
    assert len(notes) == 1 and "ord_1" in notes[0]["summary"]
    loop = deadline_loop(stack.sagas)
    clock.advance(days=6, hours=23)
    await loop.check_due()
    coupons = (await stack.admin["loyalty"].get(f"/loyalty/members/{customer}")).json()["coupons"]
    assert [c["status"] for c in coupons] == ["active"]
    clock.advance(hours=1)
    await loop.check_due()
    document = await stack.sagas.documents.load("sag_payment_ord_1")
    assert document is not None and document["status"] == "compensated", document["stuck"]
    coupons = (await stack.admin["loyalty"].get(f"/loyalty/members/{customer}")).json()["coupons"]
    assert [c["status"] for c in coupons] == ["withdrawn"]
