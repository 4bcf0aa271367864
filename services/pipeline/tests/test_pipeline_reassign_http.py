"""Handing an opportunity to another rep over HTTP: POST /pipeline/opportunities/{id}/owner."""

from __future__ import annotations

from typing import Any

import pytest
from pipeline_testing import OPPORTUNITIES, ClientFactory, ok, open_deal, problem

from crm_pipeline.bootstrap import PipelineService

WRONG_STATE = "urn:crm:problem:wrong-state"
VALIDATION = "urn:crm:problem:validation"
FORBIDDEN = "urn:crm:problem:forbidden"
REASSIGNED = "crm.pipeline.OpportunityReassigned"
HANDOVER = {"owner_id": "u2", "reason": "u1 left the company"}


def owner(opportunity_id: str) -> str:
    return f"{OPPORTUNITIES}/{opportunity_id}/owner"


async def reassignments(service: PipelineService, opportunity_id: str) -> list[Any]:
    return [e for e in await service.store.load(opportunity_id) if e.metadata.type == REASSIGNED]


async def test_a_manager_hands_a_deal_to_a_teammate(
    signed_in: ClientFactory, service: PipelineService
) -> None:
    deal = await open_deal(signed_in("sales_rep"))
    manager = signed_in("sales_manager", subject="m1")
    answer = await manager.post(owner(deal["id"]), json=HANDOVER)
    handed = ok(answer)
    assert answer.headers["ETag"] == '"2"'
    assert handed == {**deal, "owner_id": "u2", "team": "north", "version": 2}
    assert ok(await manager.get(f"{OPPORTUNITIES}/{deal['id']}")) == handed
    (stored,) = await reassignments(service, deal["id"])
    assert stored.data == {
        "opportunity_id": deal["id"],
        "customer_id": "cus_acme",
        "owner_id": "u2",
        "previous_owner_id": "u1",
        "team": "north",
        "previous_team": "north",
        "reason": "u1 left the company",
        "reassigned_by": "m1",
    }
    assert stored.metadata.actor == "user:m1"


async def test_the_new_owner_works_the_deal_and_the_old_one_no_longer_does(
    signed_in: ClientFactory,
) -> None:
    deal = await open_deal(signed_in("sales_rep"))
    ok(await signed_in("admin", subject="root").post(owner(deal["id"]), json=HANDOVER))
    stage = {"stage": "proposal"}
    problem(await signed_in("sales_rep").post(f"{OPPORTUNITIES}/{deal['id']}/stage", json=stage),
            403, FORBIDDEN)  # fmt: skip
    moved = ok(
        await signed_in("sales_rep", subject="u2").post(
            f"{OPPORTUNITIES}/{deal['id']}/stage", json=stage
        )
    )
    assert (moved["owner_id"], moved["stage"]) == ("u2", "proposal")


async def test_a_saga_hands_over_once_whatever_it_resends(
    signed_in: ClientFactory, service: PipelineService
) -> None:
    deal = await open_deal(signed_in("sales_rep"))
    saga = signed_in("service", subject="sagas", team=None)
    headers = {
        "Idempotency-Key": f"sag_departure_u1:reassign_opportunity:{deal['id']}",
        "X-Correlation-Id": "corr_departure_u1",
        "X-Causation-Id": "evt_departure_requested",
    }
    body = {**HANDOVER, "team": "south"}
    first = await saga.post(owner(deal["id"]), json=body, headers=headers)
    again = await saga.post(owner(deal["id"]), json=body, headers=headers)
    assert ok(again) == ok(first)
    assert (ok(first)["owner_id"], ok(first)["team"]) == ("u2", "south")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Correlation-Id"] == "corr_departure_u1"
    (stored,) = await reassignments(service, deal["id"])
    assert (stored.metadata.correlation_id, stored.metadata.causation_id) == (
        "corr_departure_u1",
        "evt_departure_requested",
    )
    assert (stored.metadata.actor, stored.data["reassigned_by"]) == ("service:sagas", "sagas")
    reused = await saga.post(owner(deal["id"]), json={**body, "owner_id": "u3"}, headers=headers)
    problem(reused, 422, "urn:crm:problem:idempotency-key-reused")


async def test_handing_a_deal_to_its_owner_changes_nothing(
    signed_in: ClientFactory, service: PipelineService
) -> None:
    deal = await open_deal(signed_in("sales_rep"))
    answer = await signed_in("sales_manager", subject="m1").post(
        owner(deal["id"]), json={"owner_id": "u1", "team": "north", "reason": "check"}
    )
    assert ok(answer) == deal
    assert answer.headers["ETag"] == '"1"'
    assert await reassignments(service, deal["id"]) == []


async def test_if_match_guards_the_version(signed_in: ClientFactory) -> None:
    rep = signed_in("sales_rep")
    deal = await open_deal(rep)
    ok(await rep.post(f"{OPPORTUNITIES}/{deal['id']}/stage", json={"stage": "proposal"}))
    manager = signed_in("sales_manager", subject="m1")
    stale = await manager.post(owner(deal["id"]), json=HANDOVER, headers={"If-Match": '"1"'})
    assert problem(stale, 409, "urn:crm:problem:version-conflict")["current_version"] == 2
    current = await manager.post(owner(deal["id"]), json=HANDOVER, headers={"If-Match": '"2"'})
    assert ok(current)["version"] == 3


@pytest.mark.parametrize(("outcome", "body"), [("won", None), ("lost", {"reason": "price"})])
async def test_a_closed_deal_is_not_handed_over(
    signed_in: ClientFactory, outcome: str, body: dict[str, str] | None
) -> None:
    rep = signed_in("sales_rep")
    deal = await open_deal(rep)
    ok(await rep.post(f"{OPPORTUNITIES}/{deal['id']}/{outcome}", json=body))
    refused = await signed_in("admin", subject="root").post(owner(deal["id"]), json=HANDOVER)
    assert problem(refused, 409, WRONG_STATE)["detail"] == (
        f"opportunity {deal['id']} is {outcome}; reopen it before reassigning it"
    )


async def test_an_unknown_deal_is_not_found(signed_in: ClientFactory) -> None:
    problem(
        await signed_in("admin", subject="root").post(owner("opp_nobody"), json=HANDOVER),
        404,
        "urn:crm:problem:not-found",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x"}, "owner_id"),
        ({"owner_id": "u2"}, "reason"),
        ({"owner_id": "", "reason": "x"}, "owner_id"),
        ({"owner_id": "u 2", "reason": "x"}, "owner_id"),
        ({"owner_id": "u2", "reason": ""}, "reason"),
        ({"owner_id": "u2", "reason": "x" * 501}, "reason"),
        ({"owner_id": "u2", "reason": "x", "team": ""}, "team"),
        ({"owner_id": "u2", "reason": "x", "stage": "won"}, "stage"),
        ({"owner_id": 2, "reason": "x"}, "owner_id"),
    ],
)
async def test_bad_input_is_refused_with_the_field(
    signed_in: ClientFactory, body: dict[str, Any], field: str
) -> None:
    deal = await open_deal(signed_in("sales_rep"))
    refused = problem(
        await signed_in("admin", subject="root").post(owner(deal["id"]), json=body),
        422,
        VALIDATION,
    )
    assert [error["field"] for error in refused["errors"]] == [field]


async def test_a_blank_reason_is_refused_by_the_rules(signed_in: ClientFactory) -> None:
    deal = await open_deal(signed_in("sales_rep"))
    refused = await signed_in("admin", subject="root").post(
        owner(deal["id"]), json={"owner_id": "u2", "reason": "   "}
    )
    assert problem(refused, 422)["detail"] == "reason: must not be blank"


@pytest.mark.parametrize(
    ("caller", "deal_team", "body"),
    [
        pytest.param(("sales_rep", "u1", "north"), "north", HANDOVER, id="a rep, their own"),
        pytest.param(("sales_manager", "m1", "north"), "south", HANDOVER,
                     id="a manager, another team's"),
        pytest.param(("sales_manager", "m1", "north"), "north", {**HANDOVER, "team": "south"},
                     id="a manager, to another team"),
        pytest.param(("auditor", "x1", None), "north", HANDOVER, id="an auditor"),
        pytest.param(("marketing", "k1", "north"), "north", HANDOVER, id="marketing"),
    ],
)  # fmt: skip
async def test_who_may_not_hand_over(
    signed_in: ClientFactory,
    caller: tuple[str, str, str | None],
    deal_team: str,
    body: dict[str, str],
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    deal = await open_deal(admin, owner_id="u1", team=deal_team)
    role, subject, team = caller
    refused = await signed_in(role, subject=subject, team=team).post(owner(deal["id"]), json=body)
    problem(refused, 403, FORBIDDEN)
    assert ok(await admin.get(f"{OPPORTUNITIES}/{deal['id']}"))["owner_id"] == "u1"


async def test_an_admin_hands_over_to_any_team(signed_in: ClientFactory) -> None:
    deal = await open_deal(signed_in("sales_rep"))
    handed = ok(
        await signed_in("admin", subject="root", team=None).post(
            owner(deal["id"]), json={**HANDOVER, "owner_id": "u9", "team": "south"}
        )
    )
    assert (handed["owner_id"], handed["team"]) == ("u9", "south")
