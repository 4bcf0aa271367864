"""Order routes: read an order with its receivable, record a payment, refund one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from crm_pipeline.application import handlers
from crm_pipeline.application.policy import PIPELINE_POLICY, READ_ORDER, RECORD_PAYMENT
from crm_pipeline.application.streams import execute
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.domain.errors import InvalidInput
from crm_pipeline.domain.order import RecordPayment, RefundPayment
from crm_pipeline.entrypoints.answers import Order
from crm_pipeline.entrypoints.conventions import answer, owner_of
from crm_pipeline.entrypoints.requests import PaymentRequest, RefundRequest
from crm_runtime.commands_http import (
    IdempotencyKey,
    IfMatch,
    context_of,
    idempotency_of,
    version_from,
)
from crm_runtime.guard import Caller


def order_routes(service: PipelineService) -> APIRouter:
    router = APIRouter(prefix="/orders", tags=["orders"])
    deps = service.deps
    orders = deps.deciders.order

    @router.get("/{order_id}", response_model=Order)
    async def get_order(caller: Caller, order_id: str, response: Response) -> dict[str, Any]:
        """The order and its receivable: total, paid, balance, due date and its flags."""
        loaded = await handlers.existing(deps, orders, order_id)
        PIPELINE_POLICY.authorise(caller, READ_ORDER, owner_of(loaded.state))
        response.headers["ETag"] = f'"{loaded.version}"'
        return orders.view(loaded.state, loaded.version)

    @router.post(
        "/{order_id}/payments",
        response_model=Order,
        responses={422: {"description": "Invalid, or more than the balance (over-payment)."}},
    )
    async def record_payment(
        caller: Caller,
        order_id: str,
        request: Request,
        response: Response,
        body: PaymentRequest,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Deduct a payment from the receivable; the answer is the order as it now is.

        The payment's reference is ``payment_id``, or else the Idempotency-Key: a
        reference already counted is not counted again.
        """
        loaded = await handlers.existing(deps, orders, order_id)
        PIPELINE_POLICY.authorise(caller, RECORD_PAYMENT, owner_of(loaded.state))
        payment_id = body.payment_id or idempotency_key
        if not payment_id:
            raise InvalidInput(
                "payment_id", "give the payment's reference, or send an Idempotency-Key"
            )
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            orders,
            order_id,
            RecordPayment(order_id, payment_id, body.amount, body.currency),
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        return await answer(deps, request, response, outcome, idempotency)

    @router.post(
        "/{order_id}/refunds",
        response_model=Order,
        responses={422: {"description": "Invalid, or more than the payment has left to refund."}},
    )
    async def refund_payment(
        caller: Caller,
        order_id: str,
        request: Request,
        response: Response,
        body: RefundRequest,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Give money of one payment back (same policy as recording a payment).

        At most what the payment paid minus its earlier refunds; the refund's reference is
        ``refund_id``, or else the Idempotency-Key. The receivable does not reopen.
        """
        loaded = await handlers.existing(deps, orders, order_id)
        PIPELINE_POLICY.authorise(caller, RECORD_PAYMENT, owner_of(loaded.state))
        refund_id = body.refund_id or idempotency_key
        if not refund_id:
            raise InvalidInput(
                "refund_id", "give the refund's reference, or send an Idempotency-Key"
            )
        idempotency = idempotency_of(request, caller, idempotency_key, body)
        outcome = await execute(
            deps,
            orders,
            order_id,
            RefundPayment(
                order_id, body.payment_id, refund_id, body.amount, body.currency, deps.clock()
            ),
            context_of(request, caller),
            expected_version=version_from(if_match),
            loaded=loaded,
            idempotency=idempotency,
        )
        return await answer(deps, request, response, outcome, idempotency)

    return router
