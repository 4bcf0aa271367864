"""The list of opportunities: GET /pipeline/opportunities, from the rows the follower keeps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pipeline_testing import (
    LEADS,
    OPPORTUNITIES,
    TERMS,
    ClientFactory,
    capture,
    created,
    ok,
    open_deal,
    problem,
)

SHOWN = {"id", "customer_id", "owner_id", "team", "stage", "status", "amount", "currency"}


async def listed(http: httpx.AsyncClient, **query: Any) -> dict[str, Any]:
    return ok(await http.get(OPPORTUNITIES, params=query))


def ids(page: dict[str, Any]) -> list[str]:
    return [row["id"] for row in page["opportunities"]]


async def seed(admin: httpx.AsyncClient, *owners: tuple[str, str], **deal: Any) -> list[str]:
    """One deal per (owner, team), in id order."""
    return [
        (await open_deal(admin, owner_id=owner_id, team=team, **deal))["id"]
        for owner_id, team in owners
    ]


@pytest.fixture
def admin(signed_in: ClientFactory) -> httpx.AsyncClient:
    return signed_in("admin", subject="root", team=None)


async def test_a_reps_open_deals_are_listed_with_what_a_handover_needs(
    admin: httpx.AsyncClient,
) -> None:
    first, _, third = await seed(admin, ("u1", "north"), ("u2", "north"), ("u1", "north"))
    ok(await admin.post(f"{OPPORTUNITIES}/{third}/stage", json={"stage": "proposal"}))
    ok(await admin.patch(f"{OPPORTUNITIES}/{third}", json={"amount": "5000.5"}))
    page = await listed(admin, owner_id="u1", status="open")
    assert page == {
        "opportunities": [
            {
                "id": first,
                "customer_id": "cus_acme",
                "owner_id": "u1",
                "team": "north",
                "stage": "qualification",
                "status": "open",
                "amount": "48000.00",
                "currency": "EUR",
            },
            {
                "id": third,
                "customer_id": "cus_acme",
                "owner_id": "u1",
                "team": "north",
                "stage": "proposal",
                "status": "open",
                "amount": "5000.50",
                "currency": "EUR",
            },
        ],
        "next": None,
    }


async def test_the_list_follows_handovers_wins_losses_and_reopenings(
    admin: httpx.AsyncClient,
) -> None:
    handed, won, lost = await seed(admin, *[("u1", "north")] * 3)
    handover = {"owner_id": "u2", "team": "south", "reason": "u1 left"}
    ok(await admin.post(f"{OPPORTUNITIES}/{handed}/owner", json=handover))
    ok(await admin.post(f"{OPPORTUNITIES}/{won}/won"))
    ok(await admin.post(f"{OPPORTUNITIES}/{lost}/lost", json={"reason": "price"}))
    assert ids(await listed(admin, owner_id="u1", status="open")) == []
    assert ids(await listed(admin, owner_id="u1")) == [won, lost]
    assert ids(await listed(admin, owner_id="u1", status="won")) == [won]
    (row,) = (await listed(admin, owner_id="u2", status="open"))["opportunities"]
    assert (row["id"], row["owner_id"], row["team"]) == (handed, "u2", "south")
    (row,) = (await listed(admin, status="lost"))["opportunities"]
    assert (row["id"], row["stage"]) == (lost, "lost")
    ok(await admin.post(f"{OPPORTUNITIES}/{lost}/reopen"))
    (row,) = (await listed(admin, owner_id="u1", status="open"))["opportunities"]
    assert (row["id"], row["stage"], row["status"]) == (lost, "qualification", "open")


async def test_a_qualified_lead_lists_its_opportunity(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    await seed(signed_in("admin", subject="root"), ("u1", "north"))  # of another customer
    lead = await capture(rep, customer_id="cus_ada")
    terms = {**TERMS, "amount": "100"}
    opportunity = created(await rep.post(f"{LEADS}/{lead['id']}/qualification", json=terms))
    (row,) = (await listed(rep, customer_id="cus_ada"))["opportunities"]
    assert (row["id"], row["owner_id"], row["amount"]) == (opportunity["id"], "u1", "100.00")


@pytest.mark.parametrize("count", [1, 4, 5])
async def test_pages_go_through_every_deal_once_in_id_order(
    admin: httpx.AsyncClient, count: int
) -> None:
    seeded = await seed(admin, *[("u1", "north")] * count)
    await seed(admin, ("u2", "north"))
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        query = {"owner_id": "u1", "limit": 2, **({"after": cursor} if cursor else {})}
        page = await listed(admin, **query)
        pages += 1
        assert 1 <= len(page["opportunities"]) <= 2
        seen += ids(page)
        cursor = page["next"]
        if cursor is None:
            break
        assert cursor == seen[-1]
    assert seen == sorted(seeded)
    assert pages == (count + 1) // 2  # no empty last page when the deals fill the pages


async def test_a_handover_page_by_page_leaves_no_deal_behind(admin: httpx.AsyncClient) -> None:
    """What the rep-departure saga does: list a page, hand it over, list the next."""
    seeded = await seed(admin, *[("u1", "north")] * 5)
    handed: list[str] = []
    cursor = None
    while True:
        query = {"owner_id": "u1", "status": "open", "limit": 2}
        page = await listed(admin, **query, **({"after": cursor} if cursor else {}))
        for opportunity_id in ids(page):
            body = {"owner_id": "u2", "reason": "u1 left"}
            ok(await admin.post(f"{OPPORTUNITIES}/{opportunity_id}/owner", json=body))
            handed.append(opportunity_id)
        cursor = page["next"]
        if cursor is None:
            break
    assert handed == seeded
    assert (await listed(admin, owner_id="u1", status="open"))["opportunities"] == []
    assert ids(await listed(admin, owner_id="u2", status="open")) == seeded


async def test_the_limit_defaults_to_100(admin: httpx.AsyncClient) -> None:
    await seed(admin, *[("u1", "north")] * 101)
    page = await listed(admin)
    assert len(page["opportunities"]) == 100
    assert page["next"] == page["opportunities"][-1]["id"]
    assert len((await listed(admin, after=page["next"]))["opportunities"]) == 1


async def test_each_role_lists_what_it_may_see(
    admin: httpx.AsyncClient, signed_in: ClientFactory
) -> None:
    own, mate, other = await seed(admin, ("u1", "north"), ("u2", "north"), ("u9", "south"))
    every = [own, mate, other]
    seen = {
        "rep": ids(await listed(signed_in("sales_rep"))),
        "manager": ids(await listed(signed_in("sales_manager", subject="m1"))),
        "auditor": ids(await listed(signed_in("auditor", subject="x1", team=None))),
        "service": ids(await listed(signed_in("service", subject="sagas", team=None))),
        "admin": ids(await listed(admin)),
    }
    assert seen == {
        "rep": [own],
        "manager": [own, mate],
        "auditor": every,
        "service": every,
        "admin": every,
    }
    rep = signed_in("sales_rep")
    assert ids(await listed(rep, owner_id="u2")) == []  # a filter never widens the reach
    assert ids(await listed(signed_in("sales_manager", subject="m1"), owner_id="u9")) == []
    for role in ("marketing", "service_agent", "store_manager"):
        problem(await signed_in(role).get(OPPORTUNITIES), 403, "urn:crm:problem:forbidden")


async def test_a_deal_handed_into_the_team_shows_for_its_manager(
    admin: httpx.AsyncClient, signed_in: ClientFactory
) -> None:
    (deal,) = await seed(admin, ("u9", "south"))
    manager = signed_in("sales_manager", subject="m1")
    assert ids(await listed(manager)) == []
    body = {"owner_id": "u2", "team": "north", "reason": "u9 left"}
    ok(await admin.post(f"{OPPORTUNITIES}/{deal}/owner", json=body))
    assert ids(await listed(manager)) == [deal]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"status": "pending"}, "query.status"),
        ({"status": "proposal"}, "query.status"),
        ({"after": ""}, "query.after"),
        ({"after": "opp 1"}, "query.after"),
        ({"owner_id": "x" * 201}, "query.owner_id"),
        ({"customer_id": "a/b"}, "query.customer_id"),
    ],
)
async def test_bad_queries_are_refused_with_the_parameter(
    admin: httpx.AsyncClient, query: dict[str, Any], field: str
) -> None:
    refused = problem(
        await admin.get(OPPORTUNITIES, params=query), 422, "urn:crm:problem:validation"
    )
    assert [error["field"] for error in refused["errors"]] == [field]


async def test_every_row_answers_the_same_fields(admin: httpx.AsyncClient) -> None:
    await seed(admin, ("u1", "north"), ("u2", "south"))
    page = await listed(admin, limit=500)
    assert [set(row) for row in page["opportunities"]] == [SHOWN, SHOWN]
