"""The store decider and the configured programme rules (tier table, earn rate)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from loyalty_testing import NOW, PROGRAMME

from crm_contracts.loyalty import StoreOpened, TierBasis
from crm_loyalty.domain import store
from crm_loyalty.domain.errors import AlreadyExists, InvalidInput
from crm_loyalty.domain.programme import Tier, tier_table

OPEN = store.OpenStore("sto_mitte", "Berlin Mitte", "Berlin", NOW)


def test_a_store_opens_once() -> None:
    [opened] = store.decide(OPEN, store.initial_state)
    assert opened == StoreOpened(
        store_id="sto_mitte", name="Berlin Mitte", city="Berlin", opened_at=NOW
    )
    state = store.fold([opened])
    assert store.decide(OPEN, state) == []
    with pytest.raises(AlreadyExists):
        store.decide(store.OpenStore("sto_mitte", "Other", "Berlin", NOW), state)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (store.OpenStore("sto mitte", "A", "B", NOW), "store_id"),
        (store.OpenStore("sto_1", " ", "B", NOW), "name"),
        (store.OpenStore("sto_1", "A", "x" * 201, NOW), "city"),
        (store.OpenStore("sto_1", "A", "B", NOW.replace(tzinfo=None)), "at"),
    ],
)
def test_a_store_refuses_bad_values(command: store.OpenStore, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        store.decide(command, store.initial_state)
    assert refused.value.field == field


def test_a_good_tier_table_is_read_lowest_first() -> None:
    table = tier_table([{"name": "basic", "threshold": 0}, {"name": "vip", "threshold": "250.5"}])
    assert table == (Tier("basic", Decimal(0)), Tier("vip", Decimal("250.5")))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "at least one tier"),
        ([{"name": "silver", "threshold": 5}], "must have threshold 0"),
        ([{"name": "Silver", "threshold": 0}], "lowercase"),
        ([{"name": "s", "threshold": 0}, {"name": "s", "threshold": 1}], "unique"),
        ([{"name": "a", "threshold": 0}, {"name": "b", "threshold": 0}], "must rise"),
        ([{"name": "a", "threshold": 0}, {"name": "b", "threshold": "lots"}], "not a number"),
        ([{"name": "a", "threshold": -1}], "0 or more"),
        ([{"name": "a"}], "name and a threshold"),
        ([{"name": "a", "threshold": True}], "must be a number"),
    ],
)
def test_a_bad_tier_table_says_what_is_wrong(raw: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tier_table(raw)


@pytest.mark.parametrize(
    ("basis", "spend", "points", "tier"),
    [
        (TierBasis.SPEND, "0", 99999, "silver"),
        (TierBasis.SPEND, "999.99", 0, "silver"),
        (TierBasis.SPEND, "1000", 0, "gold"),
        (TierBasis.SPEND, "5000", 0, "platinum"),
        (TierBasis.POINTS, "99999", 999, "silver"),
        (TierBasis.POINTS, "0", 5000, "platinum"),
    ],
)
def test_the_tier_follows_the_configured_basis(
    basis: TierBasis, spend: str, points: int, tier: str
) -> None:
    from dataclasses import replace

    assert replace(PROGRAMME, basis=basis).tier_for(Decimal(spend), points) == tier


@pytest.mark.parametrize(
    ("rate", "amount", "points"),
    [("1", "10.99", 10), ("10", "0.15", 1), ("0.1", "9.99", 0), ("2.5", "4.00", 10)],
)
def test_points_are_the_amount_times_the_rate_rounded_down(
    rate: str, amount: str, points: int
) -> None:
    from dataclasses import replace

    assert replace(PROGRAMME, points_per_unit=Decimal(rate)).points_for(Decimal(amount)) == points
