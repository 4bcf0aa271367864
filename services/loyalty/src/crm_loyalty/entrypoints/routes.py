"""Routes of stores and members: translate a request into a command, authorise, answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from crm_loyalty.application import handlers, policy
from crm_loyalty.application.handlers import store_stream
from crm_loyalty.application.policy import LOYALTY_POLICY, of_store
from crm_loyalty.application.streams import Outcome
from crm_loyalty.bootstrap import LoyaltyService
from crm_loyalty.domain import member
from crm_loyalty.domain.store import OpenStore
from crm_loyalty.entrypoints.requests import (
    BonusRequest,
    CouponRedemptionRequest,
    CouponRequest,
    EnrolRequest,
    HomeStoreRequest,
    OpenStoreRequest,
    RedemptionRequest,
    WithdrawalRequest,
)
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.eventstore import Idempotency
from crm_runtime.guard import Caller
from crm_runtime.http import answer_correlation
from crm_runtime.policy import Forbidden


async def _answer(
    service: LoyaltyService,
    request: Request,
    response: Response,
    outcome: Outcome,
    idempotency: Idempotency | None,
    *,
    created: bool = False,
) -> dict[str, Any]:
    response.headers["ETag"] = f'"{outcome.version}"'
    if created and (outcome.changed or outcome.replayed):
        response.status_code = 201
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        if idempotency is not None:
            original = await service.store.find_by_idempotency_key(idempotency)
            if original is not None and original.events:
                answer_correlation(request, original.events[0].metadata.correlation_id)
    return outcome.view


def store_routes(service: LoyaltyService) -> APIRouter:
    router = APIRouter(prefix="/stores", tags=["stores"])
    deps = service.deps

    @router.post("", responses={201: {"description": "Created."}})
    async def open_store(
        caller: Caller,
        body: OpenStoreRequest,
        request: Request,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Open a store of the chain (members can then call it home)."""
        LOYALTY_POLICY.authorise(caller, policy.OPEN_STORE, of_store(body.store_id))
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        command = OpenStore(body.store_id, body.name, body.city, deps.clock())
        outcome = await handlers.open_store(
            deps, command, context_of(request, caller), idempotency=idempotency
        )
        return await _answer(service, request, response, outcome, idempotency, created=True)

    @router.get("/{store_id}")
    async def get_store(caller: Caller, store_id: str, response: Response) -> dict[str, Any]:
        """The store, with its members, new members (30 days) and repeat purchasers."""
        loaded = await handlers.existing(deps, deps.deciders.store, store_stream(store_id))
        LOYALTY_POLICY.authorise(caller, policy.READ_STORE, of_store(store_id))
        await handlers.follow(deps)
        counts = await service.roster.store_counts(store_id, deps.clock())
        response.headers["ETag"] = f'"{loaded.version}"'
        rate = counts["repeat_purchasers"] / counts["purchasers"] if counts["purchasers"] else 0.0
        return {
            **deps.deciders.store.view(loaded.state, loaded.version),
            **counts,
            "repeat_purchase_rate": round(rate, 4),
        }

    return router


def member_routes(service: LoyaltyService) -> APIRouter:
    router = APIRouter(prefix="/members", tags=["members"])
    deps = service.deps
    members = deps.deciders.member

    async def run(
        caller: Any,
        action: str,
        customer_id: str,
        command_of: Any,
        request: Request,
        response: Response,
        body: BaseModel | None,
        if_match: str | None,
        idempotency_key: str | None,
        *,
        check: Any = None,
        created: bool = False,
    ) -> dict[str, Any]:
        loaded = await handlers.existing(deps, members, customer_id)
        state: Any = loaded.state
        LOYALTY_POLICY.authorise(caller, action, of_store(state.home_store_id))
        if check is not None:
            check(state)
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await handlers.on_member(
            deps,
            command_of(deps.clock()),
            context_of(request, caller),
            expected_version=version_from(if_match),
            idempotency=idempotency,
            loaded=loaded,
        )
        return await _answer(service, request, response, outcome, idempotency, created=created)

    @router.post("", responses={201: {"description": "Created."}})
    async def enrol(
        caller: Caller,
        body: EnrolRequest,
        request: Request,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Enrol a customer as a member of a home store, in the lowest tier."""
        LOYALTY_POLICY.authorise(caller, policy.ENROL, of_store(body.home_store_id))
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await handlers.on_member(
            deps,
            member.Enrol(body.customer_id, body.home_store_id, deps.clock()),
            context_of(request, caller),
            idempotency=idempotency,
        )
        return await _answer(service, request, response, outcome, idempotency, created=True)

    @router.get("/{customer_id}")
    async def get_member(caller: Caller, customer_id: str, response: Response) -> dict[str, Any]:
        """Tier, balance, lots with their expiry, coupons and the latest history."""
        loaded = await handlers.existing(deps, members, customer_id)
        state: Any = loaded.state
        LOYALTY_POLICY.authorise(caller, policy.READ_MEMBER, of_store(state.home_store_id))
        response.headers["ETag"] = f'"{loaded.version}"'
        return members.view(loaded.state, loaded.version)

    @router.post("/{customer_id}/home-store")
    async def change_home_store(
        caller: Caller,
        customer_id: str,
        body: HomeStoreRequest,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Move the member to another store."""
        return await run(
            caller, policy.MOVE_MEMBER, customer_id,
            lambda at: member.ChangeHomeStore(customer_id, body.home_store_id, at),
            request, response, body, if_match, idempotency_key,
        )  # fmt: skip

    @router.post("/{customer_id}/bonuses")
    async def award_bonus(
        caller: Caller,
        customer_id: str,
        body: BonusRequest,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Award bonus points for a birthday, a referral or an answered survey (once per
        reason and reference)."""

        def allowed(state: Any) -> None:
            if not policy.may_award(caller, body.reason, state.home_store_id):
                raise Forbidden(caller, policy.AWARD_BONUS, f"not for a {body.reason.value} bonus")

        return await run(
            caller, policy.AWARD_BONUS, customer_id,
            lambda at: member.AwardBonus(customer_id, body.reason, body.reference, body.points, at),
            request, response, body, if_match, idempotency_key, check=allowed,
        )  # fmt: skip

    @router.post(
        "/{customer_id}/redemptions",
        responses={422: {"description": "Not enough points (the problem states the balance)."}},
    )
    async def redeem_points(
        caller: Caller,
        customer_id: str,
        body: RedemptionRequest,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Spend points, oldest lots first; never below zero."""
        return await run(
            caller, policy.REDEEM_POINTS, customer_id,
            lambda at: member.RedeemPoints(
                customer_id, body.redemption_id, body.points, body.description, at
            ),
            request, response, body, if_match, idempotency_key,
        )  # fmt: skip

    @router.post("/{customer_id}/coupons", responses={201: {"description": "Issued."}})
    async def issue_coupon(
        caller: Caller,
        customer_id: str,
        body: CouponRequest,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Issue a coupon; one that costs points takes them on issue (refused if too few)."""
        return await run(
            caller, policy.ISSUE_COUPON, customer_id,
            lambda at: member.IssueCoupon(
                customer_id, body.coupon_id, body.reward, body.description, body.valid_until,
                at, points_cost=body.points_cost, value=body.value, currency=body.currency,
                reference=body.reference,
            ),
            request, response, body, if_match, idempotency_key, created=True,
        )  # fmt: skip

    @router.post("/{customer_id}/coupons/{coupon_id}/redeem")
    async def redeem_coupon(
        caller: Caller,
        customer_id: str,
        coupon_id: str,
        request: Request,
        response: Response,
        body: CouponRedemptionRequest | None = None,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Use a coupon (once; a second redemption is refused with 409)."""
        store_id = body.store_id if body is not None else None
        return await run(
            caller, policy.REDEEM_COUPON, customer_id,
            lambda at: member.RedeemCoupon(customer_id, coupon_id, at, store_id),
            request, response, body, if_match, idempotency_key,
        )  # fmt: skip

    @router.post("/{customer_id}/coupons/{coupon_id}/withdraw")
    async def withdraw_coupon(
        caller: Caller,
        customer_id: str,
        coupon_id: str,
        body: WithdrawalRequest,
        request: Request,
        response: Response,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Take an unused coupon back (operators, sagas); points it cost are returned."""
        return await run(
            caller, policy.WITHDRAW_COUPON, customer_id,
            lambda at: member.WithdrawCoupon(customer_id, coupon_id, body.reason, at),
            request, response, body, if_match, idempotency_key,
        )  # fmt: skip

    return router
