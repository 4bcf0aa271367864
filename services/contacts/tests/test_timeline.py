"""The interaction timeline: logged by reps on their own customers, read newest first a page
at a time; summaries and notes are personal data (sealed at rest)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from contacts_testing import CUSTOMERS, ClientFactory, problem, register

from crm_contacts.bootstrap import ContactsService, utc_now


@pytest.fixture
def rep(signed_in: ClientFactory) -> httpx.AsyncClient:
    return signed_in("sales_rep", subject="u1", team="north")


async def test_interactions_are_logged_and_read_newest_first_a_page_at_a_time(
    rep: httpx.AsyncClient, service: ContactsService
) -> None:
    ada = (await register(rep))["id"]
    url = f"{CUSTOMERS}/{ada}/interactions"
    start = (utc_now() - timedelta(days=10)).replace(microsecond=0)
    kinds = ["visit", "call", "quote_sent", "complaint", "note"]
    for day, kind in enumerate(kinds):
        at = (start + timedelta(days=day)).isoformat()
        logged = await rep.post(
            url, json={"kind": kind, "summary": f"{kind} on day {day}", "at": at}
        )
        assert logged.status_code == 201, logged.text
    body = logged.json()
    assert body | {"id": None} == {
        "id": None,
        "customer_id": ada,
        "kind": "note",
        "at": (start + timedelta(days=4)).isoformat(),
        "summary": "note on day 4",
        "notes": None,
        "logged_by": "user:u1",
    }
    assert logged.headers["etag"] == '"7"'

    first = (await rep.get(url, params={"limit": 2})).json()
    second = (await rep.get(url, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    last = (await rep.get(url, params={"limit": 2, "cursor": second["next_cursor"]})).json()
    pages = [[i["kind"] for i in page["interactions"]] for page in (first, second, last)]
    assert pages == [["note", "complaint"], ["quote_sent", "call"], ["visit"]]
    assert last["next_cursor"] is None
    stored = (await service.store.load(ada))[-1]
    assert stored.data["summary"].startswith("pii:v1:")


async def test_a_replayed_log_answers_the_same_interaction(rep: httpx.AsyncClient) -> None:
    ada = (await register(rep))["id"]
    url = f"{CUSTOMERS}/{ada}/interactions"
    call = {"kind": "call", "summary": "Asked for a quote", "notes": "Prefers mornings"}
    first = await rep.post(url, json=call, headers={"Idempotency-Key": "call-1"})
    again = await rep.post(url, json=call, headers={"Idempotency-Key": "call-1"})
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.json() == first.json()
    assert len((await rep.get(url)).json()["interactions"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"kind": "telepathy", "summary": "x"}, "kind", id="no such kind"),
        pytest.param({"kind": "call", "summary": ""}, "summary", id="no summary"),
        pytest.param({"kind": "call", "summary": "x", "at": "yesterday"}, "at", id="not a time"),
    ],
)
async def test_an_invalid_interaction_is_refused(
    rep: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    ada = (await register(rep))["id"]
    refused = problem(await rep.post(f"{CUSTOMERS}/{ada}/interactions", json=body), 422)
    assert field in refused["detail"]


async def test_an_interaction_in_the_future_is_refused(rep: httpx.AsyncClient) -> None:
    ada = (await register(rep))["id"]
    tomorrow = (utc_now() + timedelta(days=1)).isoformat()
    answer = await rep.post(
        f"{CUSTOMERS}/{ada}/interactions", json={"kind": "call", "summary": "x", "at": tomorrow}
    )
    assert "in the future" in problem(answer, 422, "urn:crm:problem:validation")["detail"]


async def test_who_reads_and_writes_the_timeline(
    rep: httpx.AsyncClient, signed_in: ClientFactory
) -> None:
    ada = (await register(rep))["id"]
    url = f"{CUSTOMERS}/{ada}/interactions"
    mate = signed_in("sales_rep", subject="u2", team="north")
    assert (await mate.get(url)).status_code == 200  # the team reads it
    problem(await mate.post(url, json={"kind": "note", "summary": "x"}), 403)  # not theirs
    for role in ("marketing", "auditor"):
        problem(await signed_in(role, subject="k1", team=None).get(url), 403)
    problem(await rep.get(url, params={"cursor": "bm90IG91cnM"}), 400)
