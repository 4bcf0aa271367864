"""The loyalty HTTP API through bootstrap and the embedded store: answers, ETags, problems."""

from __future__ import annotations

import httpx
import pytest
from loyalty_testing import MEMBERS, STORES, ClientFactory, Clock, created, ok, problem

from crm_loyalty.bootstrap import LoyaltyService

MITTE = {"store_id": "sto_mitte", "name": "Berlin Mitte", "city": "Berlin"}
HAMBURG = {"store_id": "sto_hh", "name": "Hamburg", "city": "Hamburg"}


async def setup(admin: httpx.AsyncClient, customer_id: str = "cus_ada") -> dict[str, object]:
    created(await admin.post(STORES, json=MITTE))
    return created(
        await admin.post(MEMBERS, json={"customer_id": customer_id, "home_store_id": "sto_mitte"})
    )


async def test_health(client: ClientFactory) -> None:
    assert ok(await client().get("/loyalty/health"))["status"] == "ok"


async def test_a_store_opens_and_a_member_enrols_there(signed_in: ClientFactory) -> None:
    admin = signed_in("admin")
    store = created(await admin.post(STORES, json=MITTE))
    assert store["id"] == "sto_mitte"
    answer = await admin.post(
        MEMBERS, json={"customer_id": "cus_ada", "home_store_id": "sto_mitte"}
    )
    member = created(answer)
    assert answer.headers["ETag"] == '"1"'
    assert (member["tier"], member["balance"], member["home_store_id"]) == (
        "silver",
        0,
        "sto_mitte",
    )
    again = await admin.post(MEMBERS, json={"customer_id": "cus_ada", "home_store_id": "sto_mitte"})
    assert again.status_code == 200  # the same enrolment: nothing new


async def test_enrolling_at_an_unknown_store_is_not_found(signed_in: ClientFactory) -> None:
    answer = await signed_in("admin").post(
        MEMBERS, json={"customer_id": "cus_ada", "home_store_id": "sto_nowhere"}
    )
    assert "no store" in problem(answer, 404)["detail"]


async def test_bonus_redemption_and_the_balance_problem(signed_in: ClientFactory) -> None:
    admin = signed_in("admin")
    await setup(admin)
    url = f"{MEMBERS}/cus_ada"
    ok(await admin.post(f"{url}/bonuses", json={"reason": "referral", "reference": "cus_bob",
                                                "points": 120}))  # fmt: skip
    referral = {"reason": "referral", "reference": "cus_bob", "points": 120}
    same = ok(await admin.post(f"{url}/bonuses", json=referral))
    assert same["balance"] == 120
    refused = problem(
        await admin.post(f"{url}/redemptions", json={"redemption_id": "r1", "points": 121,
                                                     "description": "dessert"}),
        422, "urn:crm:problem:not-enough-points",
    )  # fmt: skip
    assert refused["balance"] == 120 and "has 120 points" in refused["detail"]
    spent = ok(await admin.post(f"{url}/redemptions", json={"redemption_id": "r1", "points": 100,
                                                            "description": "dessert"}))  # fmt: skip
    assert spent["balance"] == 20
    assert [h["kind"] for h in spent["history"]] == ["bonus:referral", "redeemed"]


async def test_if_match_guards_against_lost_updates(signed_in: ClientFactory) -> None:
    admin = signed_in("admin")
    await setup(admin)
    created(await admin.post(STORES, json=HAMBURG))
    url = f"{MEMBERS}/cus_ada/home-store"
    stale = await admin.post(url, json={"home_store_id": "sto_hh"}, headers={"If-Match": '"7"'})
    assert problem(stale, 409, "urn:crm:problem:version-conflict")["current_version"] == 1
    moved = await admin.post(url, json={"home_store_id": "sto_hh"}, headers={"If-Match": '"1"'})
    assert ok(moved)["home_store_id"] == "sto_hh" and moved.headers["ETag"] == '"2"'


async def test_an_idempotency_key_replays_the_answer(signed_in: ClientFactory) -> None:
    admin = signed_in("admin")
    await setup(admin)
    body = {"redemption_id": "r1", "points": 1, "description": "x"}
    birthday = {"reason": "birthday", "reference": "2026", "points": 5}
    ok(await admin.post(f"{MEMBERS}/cus_ada/bonuses", json=birthday))
    first = await admin.post(f"{MEMBERS}/cus_ada/redemptions", json=body,
                             headers={"Idempotency-Key": "k1"})  # fmt: skip
    second = await admin.post(f"{MEMBERS}/cus_ada/redemptions", json=body,
                              headers={"Idempotency-Key": "k1"})  # fmt: skip
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await admin.post(f"{MEMBERS}/cus_ada/redemptions", json={**body, "points": 2},
                             headers={"Idempotency-Key": "k1"})  # fmt: skip
    problem(other, 422, "urn:crm:problem:idempotency-key-reused")


async def test_coupons_issue_redeem_once_and_withdraw(
    signed_in: ClientFactory, clock: Clock
) -> None:
    admin = signed_in("admin")
    await setup(admin)
    url = f"{MEMBERS}/cus_ada/coupons"
    until = (clock.now.replace(year=2027)).isoformat()
    coupon = {"coupon_id": "cpn_1", "reward": "set_menu_offer", "description": "Set menu for two",
              "valid_until": until}  # fmt: skip
    issued = await admin.post(url, json=coupon)
    assert created(issued)["coupons"][0]["status"] == "active"
    ok(await admin.post(f"{url}/cpn_1/redeem", json={"store_id": "sto_mitte"}))
    again = await admin.post(f"{url}/cpn_1/redeem")
    assert problem(again, 409, "urn:crm:problem:wrong-state")["title"] == "Coupon redeemed"
    created(await admin.post(url, json={**coupon, "coupon_id": "cpn_2"}))
    withdrawn = ok(await admin.post(f"{url}/cpn_2/withdraw", json={"reason": "order paid"}))
    assert [c["status"] for c in withdrawn["coupons"]] == ["redeemed", "withdrawn"]
    costly = await admin.post(url, json={**coupon, "coupon_id": "cpn_3", "points_cost": 10})
    assert problem(costly, 422, "urn:crm:problem:not-enough-points")["balance"] == 0


async def test_a_store_answers_its_member_counts(
    signed_in: ClientFactory, service: LoyaltyService
) -> None:
    admin = signed_in("admin")
    await setup(admin, "cus_ada")
    created(
        await admin.post(MEMBERS, json={"customer_id": "cus_bob", "home_store_id": "sto_mitte"})
    )
    store = ok(await admin.get(f"{STORES}/sto_mitte"))
    assert (store["members"], store["new_members_30_days"], store["repeat_purchasers"]) == (2, 2, 0)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (STORES, {"store_id": "bad id", "name": "x", "city": "y"}),
        (STORES, {"store_id": "s1", "name": "x", "city": "y", "extra": 1}),
        (MEMBERS, {"customer_id": "cus_1"}),
        (f"{MEMBERS}/cus_ada/bonuses", {"reason": "lottery", "reference": "r", "points": 1}),
        (f"{MEMBERS}/cus_ada/bonuses", {"reason": "birthday", "reference": "r", "points": 1.5}),
        (f"{MEMBERS}/cus_ada/redemptions", {"redemption_id": "r", "points": 0, "description": "x"}),
        (f"{MEMBERS}/cus_ada/coupons", {"coupon_id": "c", "reward": "discount",
                                        "description": "x", "valid_until": "2027-01-01T00:00:00"}),
    ],
)  # fmt: skip
async def test_bad_input_is_a_problem(signed_in: ClientFactory, path: str, body: object) -> None:
    admin = signed_in("admin")
    await setup(admin)
    problem(await admin.post(path, json=body), 422)


async def test_unknown_members_and_coupons_are_not_found(signed_in: ClientFactory) -> None:
    admin = signed_in("admin")
    await setup(admin)
    problem(await admin.get(f"{MEMBERS}/cus_nobody"), 404)
    problem(await admin.get(f"{STORES}/sto_nowhere"), 404)
    problem(await admin.post(f"{MEMBERS}/cus_ada/coupons/cpn_x/redeem"), 404)


async def test_no_token_is_401(client: ClientFactory) -> None:
    problem(await client().get(f"{MEMBERS}/cus_ada"), 401)
