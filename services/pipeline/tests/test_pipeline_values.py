"""Exact money: the domain's value rules, the HTTP edge that reads numbers, and the contract."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from crm_contracts import REGISTRY
from crm_contracts.pipeline import (
    LeadCaptured,
    PaymentReceived,
    QuoteDrafted,
)
from crm_contracts.registry import personal_fields
from crm_pipeline.domain import values
from crm_pipeline.domain.errors import InvalidInput
from crm_pipeline.entrypoints.requests import Amount, Percent, Quantity


@pytest.mark.parametrize(
    ("given", "exact"),
    [
        (Decimal("12.5"), "12.50"),
        (Decimal("12.50"), "12.50"),
        (Decimal("12.500"), "12.50"),  # trailing zeros are not more precision
        (12, "12.00"),
        (Decimal("0.01"), "0.01"),
        (Decimal("9999999999999.99"), "9999999999999.99"),
    ],
)
def test_money_is_kept_to_the_cent(given: Any, exact: str) -> None:
    assert str(values.money(given)) == exact


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (12.5, "must be an exact decimal"),
        (True, "must be an exact decimal"),
        ("12.50", "must be an exact decimal"),
        (None, "must be an exact decimal"),
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("Infinity"), "must be a finite number"),
        (Decimal("0"), "must be more than 0"),
        (Decimal("-0.01"), "must be more than 0"),
        (Decimal("0.001"), "must have at most 2 decimal places"),
        (Decimal("10000000000000"), "must be at most"),
    ],
)
def test_money_refuses_what_is_not_an_exact_positive_amount(given: Any, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as refused:
        values.money(given, "price")
    assert refused.value.field == "price"


def test_zero_is_money_where_allowed_but_never_below() -> None:
    assert values.money(Decimal(0), allow_zero=True) == Decimal("0.00")
    with pytest.raises(InvalidInput, match="must not be negative"):
        values.money(Decimal("-1"), allow_zero=True)


@pytest.mark.parametrize(
    ("rule", "given", "reason"),
    [
        (values.quantity, Decimal(0), "more than 0"),
        (values.quantity, Decimal("1.0001"), "at most 3 decimal places"),
        (values.quantity, 1.5, "exact decimal"),
        (values.percent, Decimal("100.01"), "from 0 to 100"),
        (values.percent, Decimal("-0.01"), "from 0 to 100"),
        (values.percent, Decimal("1.001"), "at most 2 decimal places"),
    ],
)
def test_quantities_and_percentages(rule: Any, given: Any, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        rule(given)


@pytest.mark.parametrize(
    ("value", "refused"),
    [("EUR", False), ("JPY", False), ("eur", True), ("EURO", True), ("E1R", True), ("", True)],
)
def test_currencies_are_iso_4217_codes(value: str, refused: bool) -> None:
    if refused:
        with pytest.raises(InvalidInput, match="ISO 4217"):
            values.currency(value)
    else:
        assert values.currency(value) == value


class Edge(BaseModel):
    amount: Amount | None = None
    quantity: Quantity | None = None
    percent: Percent | None = None


@pytest.mark.parametrize(
    ("field", "sent", "read"),
    [
        ("amount", "12.50", "12.50"),
        ("amount", 12, "12"),
        ("amount", 12.5, "12.5"),
        ("amount", 0.1, "0.1"),
        ("amount", 1e2, "100.0"),
        ("amount", 10**20, "100000000000000000000"),  # the domain then says: too large
        ("quantity", "2.125", "2.125"),
        ("quantity", 0.125, "0.125"),
        ("percent", "12.5", "12.5"),
    ],
)
def test_the_edge_reads_strings_integers_and_short_numbers_exactly(
    field: str, sent: Any, read: str
) -> None:
    assert str(getattr(Edge.model_validate({field: sent}), field)) == read


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ("amount", 12.345),
        ("amount", 0.1 + 0.2),
        ("amount", "12.345"),
        ("amount", "1e3"),
        ("amount", " 12"),
        ("amount", "+12"),
        ("amount", float("nan")),
        ("amount", float("inf")),
        ("amount", 1e16),
        ("amount", True),
        ("amount", [1]),
        ("quantity", 0.0001),
        ("percent", "1.234"),
    ],
)
def test_the_edge_refuses_inexact_numbers(field: str, sent: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        Edge.model_validate({field: sent})
    assert refused.value.errors()[0]["loc"] == (field,)


def test_the_contract_carries_money_as_strings_and_refuses_floats() -> None:
    payment = PaymentReceived(
        order_id="ord_1",
        customer_id="cus_1",
        payment_id="p1",
        amount=Decimal("12.5"),
        currency="EUR",
        balance_after=Decimal(0),
    )
    data = payment.model_dump(mode="json")
    assert (data["amount"], data["balance_after"]) == ("12.50", "0.00")
    assert REGISTRY.parse(PaymentReceived.event_type, 1, data) == payment
    with pytest.raises(ValidationError, match="not a float"):
        PaymentReceived.model_validate({**data, "amount": 12.5})
    with pytest.raises(ValidationError):
        PaymentReceived.model_validate({**data, "amount": "12.505"})
    schema = PaymentReceived.model_json_schema()["properties"]["amount"]
    assert (schema["type"], schema["pattern"]) == ("string", r"^[0-9]{1,13}(\.[0-9]{1,2})?$")


def test_quote_lines_serialise_their_numbers_as_strings() -> None:
    line = {
        "sku": "S",
        "description": "d",
        "quantity": "2.500",
        "unit_price": "10",
        "discount_percent": "12.50",
        "net_amount": "21.875",
    }
    with pytest.raises(ValidationError):  # a net amount is in cents
        QuoteDrafted.model_validate(
            {"quote_id": "q", "opportunity_id": "o", "customer_id": "c", "owner_id": "u",
             "currency": "EUR", "lines": [line], "total": "21.88"}
        )  # fmt: skip
    drafted = QuoteDrafted.model_validate(
        {"quote_id": "q", "opportunity_id": "o", "customer_id": "c", "owner_id": "u",
         "currency": "EUR", "lines": [{**line, "net_amount": "21.88"}], "total": "21.88"}
    )  # fmt: skip
    (dumped,) = drafted.model_dump(mode="json")["lines"]
    assert (dumped["quantity"], dumped["unit_price"], dumped["discount_percent"]) == (
        "2.5",
        "10.00",
        "12.5",
    )


def test_a_leads_contact_details_are_personal_data() -> None:
    assert personal_fields(LeadCaptured) == {"name", "email", "phone"}
    every = {name for model in REGISTRY.types.values() for name in personal_fields(model)}
    pipeline = [m for m in REGISTRY.types.values() if m.event_type.startswith("crm.pipeline.")]
    assert [m.__name__ for m in pipeline if personal_fields(m)] == ["LeadCaptured"]
    assert {"name", "email", "phone"} <= every
