"""Merging duplicates and handing over a leaving rep's accounts, over HTTP."""

from __future__ import annotations

from itertools import count
from typing import Any

import httpx
import pytest
from contacts_testing import CUSTOMERS, ClientFactory, problem

from crm_contacts.application import handlers, handovers, merging
from crm_contacts.bootstrap import ContactsService
from crm_contacts.domain.customer import RegisterCustomer
from crm_contracts.contacts import CustomerKind
from crm_runtime.eventstore import CommandContext

HANDOVERS = "/contacts/handovers"
COMMANDS = count()


def by_root() -> CommandContext:
    command_id = f"cmd_{next(COMMANDS)}"
    return CommandContext(command_id, command_id, command_id, "user:root")


async def seed(
    service: ContactsService, customer_id: str, name: str, owner: str, **details: Any
) -> None:
    team = details.pop("team", "north")
    command = RegisterCustomer(
        customer_id, name, CustomerKind.PERSON, owner_id=owner, team=team, **details
    )
    await handlers.execute(service.deps, command, by_root())


@pytest.fixture
def manager(signed_in: ClientFactory) -> httpx.AsyncClient:
    return signed_in("sales_manager", subject="m1", team="north")


# --- merging ---------------------------------------------------------------------------------


@pytest.fixture
async def duplicates(service: ContactsService, manager: httpx.AsyncClient) -> tuple[str, str]:
    """The countess (survivor, no e-mail) and Ada (duplicate, with e-mail, a tag, a visit)."""
    await seed(service, "cus_countess", "Ada, Countess of Lovelace", "u1", phone="+4930901820")
    await seed(service, "cus_ada", "Ada Lovelace", "u2", email="ada@example.com")
    await manager.post(f"{CUSTOMERS}/cus_ada/tags", json={"add": ["poet"]})
    visit = {"kind": "visit", "summary": "Talked about the engine", "at": "2026-01-02T10:00:00Z"}
    await manager.post(f"{CUSTOMERS}/cus_ada/interactions", json=visit)
    return "cus_countess", "cus_ada"


async def test_a_merge_keeps_both_histories_and_the_duplicate_redirects(
    service: ContactsService, manager: httpx.AsyncClient, duplicates: tuple[str, str]
) -> None:
    survivor, merged = duplicates
    answer = await manager.post(
        f"{CUSTOMERS}/{survivor}/merge", json={"merged_id": merged}, headers={"If-Match": '"2"'}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["merged_ids"], body["email"], body["phone"], body["tags"]) == (
        [merged],
        "ada@example.com",  # taken: the survivor had none
        "+4930901820",  # kept
        ["poet"],
    )
    assert answer.headers["etag"] == f'"{body["version"]}"'

    read = await manager.get(f"{CUSTOMERS}/{merged}")
    assert (read.status_code, read.json()["id"]) == (200, survivor)
    assert read.headers["content-location"] == f"{CUSTOMERS}/{survivor}"
    refused = problem(await manager.patch(f"{CUSTOMERS}/{merged}", json={"name": "X"}), 409)
    assert (refused["type"], refused["merged_into"]) == ("urn:crm:problem:merged", survivor)
    assert f"merged into {survivor}" in refused["detail"]

    timeline = (await manager.get(f"{CUSTOMERS}/{survivor}/interactions")).json()
    assert [(i["customer_id"], i["kind"]) for i in timeline["interactions"]] == [(merged, "visit")]
    assert [e.metadata.type for e in await service.store.load(merged)][-1] == (
        "crm.contacts.CustomerMergedInto"
    )
    listed = (await manager.get(CUSTOMERS)).json()["customers"]
    assert [c["id"] for c in listed] == [survivor]


async def test_a_merge_interrupted_after_the_duplicates_side_is_finished_by_sending_it_again(
    service: ContactsService,
    manager: httpx.AsyncClient,
    duplicates: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    survivor, merged = duplicates
    execute = handlers.execute
    calls = count()

    async def crash_on_the_second_stream(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 1:
            raise ConnectionError("the process died between the two streams")
        return await execute(*args, **kwargs)

    monkeypatch.setattr(handlers, "execute", crash_on_the_second_stream)
    with pytest.raises(ConnectionError):
        await merging.merge(service.deps, survivor, merged, by_root())
    monkeypatch.undo()
    refused = await manager.patch(f"{CUSTOMERS}/{merged}", json={"name": "X"})
    problem(refused, 409, "urn:crm:problem:merged")  # the duplicate's side was done

    again = await manager.post(f"{CUSTOMERS}/{survivor}/merge", json={"merged_id": merged})
    assert (again.status_code, again.json()["merged_ids"]) == (200, [merged])


@pytest.mark.parametrize(
    ("merged_id", "status", "detail"),
    [
        pytest.param("cus_countess", 422, "into itself", id="into itself"),
        pytest.param(
            "cus_nobody", 404, "no customer with id cus_nobody", id="an unknown duplicate"
        ),
        pytest.param(
            "cus_company", 409, "a company cannot be merged into a person", id="other kind"
        ),
    ],
)
async def test_a_merge_the_rules_refuse_writes_nothing(
    service: ContactsService,
    manager: httpx.AsyncClient,
    duplicates: tuple[str, str],
    merged_id: str,
    status: int,
    detail: str,
) -> None:
    command = RegisterCustomer(
        "cus_company", "Engines", CustomerKind.COMPANY, owner_id="u1", team="north"
    )
    await handlers.execute(service.deps, command, by_root())
    head = await service.store.head_position()
    answer = await manager.post(f"{CUSTOMERS}/cus_countess/merge", json={"merged_id": merged_id})
    assert detail in problem(answer, status)["detail"]
    assert await service.store.head_position() == head


async def test_only_managers_of_both_customers_and_admins_merge(
    service: ContactsService, signed_in: ClientFactory, duplicates: tuple[str, str]
) -> None:
    survivor, merged = duplicates
    await seed(service, "cus_south", "Ada Lovelace", "u9", team="south")
    rep = signed_in("sales_rep", subject="u1", team="north")
    manager = signed_in("sales_manager", subject="m1", team="north")
    for http, duplicate in [(rep, merged), (manager, "cus_south")]:
        answer = await http.post(f"{CUSTOMERS}/{survivor}/merge", json={"merged_id": duplicate})
        problem(answer, 403, "urn:crm:problem:forbidden")


# --- handovers -------------------------------------------------------------------------------


@pytest.fixture
async def leaving_rep(service: ContactsService) -> list[str]:
    """Rep u1 owns four customers (and u5 one, which stays)."""
    for customer_id in ("cus_d", "cus_b", "cus_a", "cus_c"):
        await seed(service, customer_id, f"Customer {customer_id}", "u1")
    await seed(service, "cus_x", "Someone else's", "u5")
    return ["cus_a", "cus_b", "cus_c", "cus_d"]


async def owners(service: ContactsService, customer_ids: list[str]) -> list[str | None]:
    return [(await handlers.load_customer(service.deps, c)).owner_id for c in customer_ids]


async def test_a_handover_deals_the_customers_round_robin_and_keeps_the_history(
    service: ContactsService, manager: httpx.AsyncClient, leaving_rep: list[str]
) -> None:
    body = {"leaving_rep_id": "u1", "successor_ids": ["u2", "u3"], "reason": "left the company"}
    answer = await manager.post(HANDOVERS, json=body, headers={"Idempotency-Key": "u1-leaves"})

    assert answer.status_code == 201, answer.text
    record = answer.json()
    assert answer.headers["location"] == f"{HANDOVERS}/{record['id']}"
    assert record["id"].startswith("hov_") and record["completed"]
    assert record["moved"] == [
        {"customer_id": "cus_a", "owner_id": "u2"},
        {"customer_id": "cus_b", "owner_id": "u3"},
        {"customer_id": "cus_c", "owner_id": "u2"},
        {"customer_id": "cus_d", "owner_id": "u3"},
    ]
    assert await owners(service, [*leaving_rep, "cus_x"]) == ["u2", "u3", "u2", "u3", "u5"]
    history = await service.store.load("cus_a")
    assert [e.metadata.type for e in history] == [
        "crm.contacts.CustomerRegistered",
        "crm.contacts.CustomerOwnerAssigned",
        "crm.contacts.CustomerOwnerAssigned",
    ]
    assert history[-1].data["previous_owner_id"] == "u1"
    assert history[-1].metadata.causation_id == record["id"]
    assert (await manager.get(f"{HANDOVERS}/{record['id']}")).json() == record

    head = await service.store.head_position()
    again = await manager.post(HANDOVERS, json=body, headers={"Idempotency-Key": "u1-leaves"})
    assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert again.json() == record
    assert await service.store.head_position() == head


async def test_an_interrupted_handover_resumes_from_its_plan(
    service: ContactsService, manager: httpx.AsyncClient, leaving_rep: list[str]
) -> None:
    request = handovers.HandoverRequest("hov_u1", "u1", ("u2",), "left the company")

    async def anyone(_: list[str]) -> None:
        return None

    async def crash_after_two(*args: Any, **kwargs: Any) -> Any:
        if next(moves) == 2:
            raise ConnectionError("the process died mid-handover")
        return await execute(*args, **kwargs)

    execute, moves = handlers.execute, count()
    handlers.execute = crash_after_two  # type: ignore[assignment]
    try:
        with pytest.raises(ConnectionError):
            await handovers.hand_over(service.deps, request, by_root(), anyone)
    finally:
        handlers.execute = execute  # type: ignore[assignment]
    assert await owners(service, leaving_rep) == ["u2", "u2", "u1", "u1"]
    await seed(service, "cus_e", "Joined after the start", "u1")  # not in the plan

    body = {
        "leaving_rep_id": "u1",
        "successor_ids": ["u2"],
        "reason": "left the company",
        "handover_id": "hov_u1",
    }
    resumed = await manager.post(HANDOVERS, json=body)
    assert (resumed.status_code, resumed.json()["completed"]) == (200, True)
    assert len(resumed.json()["moved"]) == 4
    assert await owners(service, [*leaving_rep, "cus_e"]) == ["u2", "u2", "u2", "u2", "u1"]


async def test_a_customer_moved_meanwhile_is_skipped_with_the_reason(
    service: ContactsService, signed_in: ClientFactory, leaving_rep: list[str]
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    request = handovers.HandoverRequest("hov_2", "u1", ("u2",), "left")
    events = handovers.handover.decide(
        handovers.StartHandover("hov_2", "u1", ("u2",), "left", tuple(leaving_rep)),
        handovers.handover.NoHandover(),
    )
    await handlers.append(service.deps, "hov_2", 0, events, by_root())
    await admin.put(f"{CUSTOMERS}/cus_b/owner", json={"owner_id": "u7"})

    outcome = await handovers.hand_over(service.deps, request, by_root(), lambda _: _no_check())
    assert outcome.record["skipped"] == [
        {"customer_id": "cus_b", "reason": "customer cus_b is owned by u7, no longer by u1"}
    ]
    assert await owners(service, leaving_rep) == ["u2", "u7", "u2", "u2"]


async def _no_check() -> None:
    return None


@pytest.mark.parametrize(
    ("role", "team", "body", "status"),
    [
        pytest.param("sales_rep", "north", {}, 403, id="a rep"),
        pytest.param("sales_manager", "south", {}, 403, id="another team's manager"),
        pytest.param("sales_manager", "north", {"team": "south"}, 403, id="into another team"),
        pytest.param("admin", None, {"team": "south"}, 201, id="an admin, into another team"),
        pytest.param(
            "sales_manager",
            "north",
            {"successor_ids": ["u1"]},
            422,
            id="the leaving rep as successor",
        ),
        pytest.param("sales_manager", "north", {"successor_ids": []}, 422, id="no successor"),
    ],
)
async def test_who_may_hand_over_what(
    service: ContactsService,
    signed_in: ClientFactory,
    leaving_rep: list[str],
    role: str,
    team: str | None,
    body: dict[str, Any],
    status: int,
) -> None:
    request = {"leaving_rep_id": "u1", "successor_ids": ["u2"], "reason": "left", **body}
    answer = await signed_in(role, subject="x1", team=team).post(HANDOVERS, json=request)
    assert answer.status_code == status, answer.text
    if status != 201:
        assert await owners(service, leaving_rep) == ["u1"] * 4
