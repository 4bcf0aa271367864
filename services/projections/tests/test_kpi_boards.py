"""The KPI boards and the KPIs: given customers' and orders' streams, when their rows are
summarised per period, then the KPIs are those a hand calculation gives; and, as a property,
those a plain recomputation from the event list gives, whatever the delivery (interleaved,
redelivered, replayed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from customer_events import (
    at_times,
    changed,
    interaction,
    numbered,
    overdue,
    paid,
    pipeline,
    placed,
    purchase_recorded,
    refunded,
    registered,
    settled,
    stage_changed,
    unpaid,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_folding import Folded, Record, folded

from crm_contracts import DomainEvent
from crm_contracts import contacts as c
from crm_contracts import pipeline as p
from crm_projections.domain import customer_rows, kpi_boards, order_rows
from crm_projections.domain.money import money
from crm_projections.domain.periods import (
    BOARD_GRANULARITIES,
    bounds,
    period_of,
    utc,
)
from crm_projections.domain.streams import Document, stream_key

S = c.LifecycleStage
T0 = datetime(2026, 10, 1, tzinfo=UTC)
Summary = Callable[[str, list[Document]], Document]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def boards_of(name: str, rows: Iterable[Document], summarise: Summary) -> dict[str, Document]:
    """Every board of a period the rows have a fact in, by board id, summarised from the rows
    ``select`` picks (``{"periods": key}``: a multikey match)."""
    rows = list(rows)
    every = {key for row in rows for key in row["periods"]}
    return {
        f"{name}:{key}": summarise(key, [r for r in rows if key in r[kpi_boards.PERIODS]])
        for key in every
    }


def earlier(boards: dict[str, Document], name: str, period: str) -> list[Document]:
    """The boards ``earlier_filter`` selects (a range of ``_id``)."""
    bounds_ = kpi_boards.earlier_filter(name, period)["_id"]
    return [b for i, b in boards.items() if bounds_["$gte"] <= i < bounds_["$lt"]]


def kpis_of(
    period: str,
    customers: dict[str, Document],
    orders: dict[str, Document],
    **counts: int,
) -> dict[str, Any]:
    cb = boards_of(kpi_boards.CUSTOMERS, customers.values(), kpi_boards.customer_summary)
    ob = boards_of(kpi_boards.ORDERS, orders.values(), kpi_boards.order_summary)
    key = kpi_boards.board_key(period)
    return kpi_boards.kpis(
        period,
        customers=cb.get(f"{kpi_boards.CUSTOMERS}:{key}") or kpi_boards.customer_summary(key, []),
        customers_before=earlier(cb, kpi_boards.CUSTOMERS, period),
        orders=ob.get(f"{kpi_boards.ORDERS}:{key}") or kpi_boards.order_summary(key, []),
        orders_before=earlier(ob, kpi_boards.ORDERS, period),
        **{
            "complaints_opened": 0,
            "csat_sum": 0,
            "csat_count": 0,
            "deals_won": 0,
            "deals_lost": 0,
            **counts,
        },
    )


# --- a month worked out by hand ------------------------------------------------------------


def december() -> tuple[dict[str, Document], dict[str, Document]]:
    """cus_a and cus_b became customers in November; in December cus_a churns, cus_b buys
    again, cus_c registers, buys and churns; cus_d never buys."""
    streams = [
        at_times(
            numbered(
                "cus_a",
                registered("cus_a"),
                purchase_recorded("cus_a", "ord_1", at=day(40)),
                stage_changed("cus_a", S.CUSTOMER, caused_by="order:ord_1"),
                stage_changed("cus_a", S.CHURNED, from_=S.CUSTOMER),
            ),
            day(1),
            day(40),
            day(40),
            day(70),
        ),
        at_times(
            numbered(
                "cus_b",
                registered("cus_b"),
                purchase_recorded("cus_b", "ord_2", at=day(45)),
                stage_changed("cus_b", S.CUSTOMER, caused_by="order:ord_2"),
                purchase_recorded("cus_b", "ord_3", at=day(65)),
                stage_changed("cus_b", S.REPEAT_CUSTOMER, from_=S.CUSTOMER),
            ),
            day(2),
            day(45),
            day(45),
            day(65),
            day(65),
        ),
        at_times(
            numbered(
                "cus_c",
                registered("cus_c"),
                purchase_recorded("cus_c", "ord_4", at=day(62)),
                stage_changed("cus_c", S.CUSTOMER, caused_by="order:ord_4"),
                stage_changed("cus_c", S.CHURNED, from_=S.CUSTOMER),
            ),
            day(61),
            day(62),
            day(62),
            day(80),
        ),
        at_times(numbered("cus_d", registered("cus_d")), day(3)),
    ]
    orders = [
        at_times(
            pipeline(
                "ord_1",
                *placed("ord_1", "cus_a", "100.00", placed_at=day(40)),
                paid("ord_1", "cus_a", "100.00", "0.00"),
                settled("ord_1", "cus_a", "100.00"),
            ),
            day(40),
            day(40),
            day(50),
        ),
        at_times(
            pipeline(
                "ord_2",
                *placed("ord_2", "cus_b", "200.00", placed_at=day(45)),
                paid("ord_2", "cus_b", "200.00", "0.00"),
                settled("ord_2", "cus_b", "200.00"),
                refunded("ord_2", "cus_b", "20.00"),
            ),
            day(45),
            day(45),
            day(64),
            day(64),
            day(75),
        ),
        at_times(
            pipeline(
                "ord_3",
                *placed("ord_3", "cus_b", "300.00", placed_at=day(65)),
                overdue("ord_3", "cus_b", "300.00"),
                paid("ord_3", "cus_b", "100.00", "200.00"),
            ),
            day(65),
            day(65),
            day(85),
            day(88),
        ),
        at_times(
            pipeline(
                "ord_4", *placed("ord_4", "cus_c", "50.00", currency="USD", placed_at=day(62))
            ),
            day(62),
        ),
    ]
    return folded(customer_rows.MODEL, *streams), folded(order_rows.MODEL, *orders)


def test_the_kpis_of_a_month_are_the_hand_calculation() -> None:
    # given November and December
    customers, orders = december()
    # when December's KPIs are worked out of the boards
    got = kpis_of(
        "2026-12",
        customers,
        orders,
        complaints_opened=1,
        csat_sum=7,
        csat_count=2,
        deals_won=3,
        deals_lost=1,
    )
    # then: cus_a and cus_b were active on 1 December, cus_a churned (cus_c too, but it was
    # not active when December began)
    assert (got["inputs"]["active_at_start"], got["inputs"]["churned"]) == (2, 2)
    assert got["churn_rate"] == "0.5000"
    # a, b and c bought, b twice
    assert got["repeat_purchase_rate"] == "0.3333"
    # settled: 100 + 200 - 20 refunded, over 3 purchasers
    assert got["customer_lifetime_value"] == {"EUR": "93.33"}
    # ord_3 and ord_4 were placed in December
    assert got["complaint_rate"] == "0.5000"
    assert got["average_csat"] == "3.50"
    # open on 31 December: ord_3 (200.00 EUR left, overdue) and ord_4 (50.00 USD)
    assert got["overdue_ratio"] == {
        "count": "0.5000",
        "amount": {"EUR": "1.0000", "USD": "0.0000"},
    }
    assert got["conversion_rate"] == "0.7500"


def test_november_knew_nothing_of_december() -> None:
    customers, orders = december()
    got = kpis_of("2026-11", customers, orders)
    assert got["inputs"]["active_at_start"] == 0
    assert got["churn_rate"] is None  # nobody was active on 1 November
    assert got["repeat_purchase_rate"] == "0.0000"  # a and b had bought once
    assert got["customer_lifetime_value"] == {"EUR": "50.00"}  # ord_1 settled, 2 purchasers
    assert got["overdue_ratio"] == {"count": "0.0000", "amount": {"EUR": "0.0000"}}
    assert (got["complaint_rate"], got["average_csat"], got["conversion_rate"]) == (
        "0.0000",
        None,
        None,
    )


def test_the_week_and_the_quarter_agree_with_the_month_where_they_coincide() -> None:
    customers, orders = december()
    quarter = kpis_of("2026-Q4", customers, orders)
    assert quarter["inputs"]["active_at_start"] == 0
    assert quarter["repeat_purchase_rate"] == "0.3333"  # by 31 December, as the month
    week = kpis_of("2026-W49", customers, orders)  # 30 Nov - 6 Dec
    assert week["inputs"]["active_at_start"] == 2


def test_earlier_boards_are_a_range_of_ids_of_one_granularity() -> None:
    assert kpi_boards.earlier_filter("kpi_orders", "2026-W05") == {
        "_id": {"$gte": "kpi_orders:week:", "$lt": "kpi_orders:week:2026-W05"}
    }
    with pytest.raises(ValueError, match="week, month or quarter"):
        kpi_boards.board_key("2026")


# --- property: any delivery of any history gives the plain recomputation --------------------

CURRENCIES = st.sampled_from(["EUR", "USD"])


def amount(cents: int) -> str:
    return money(Decimal(cents) / 100)


@st.composite
def moments(draw: st.DrawFn, count: int) -> list[datetime]:
    """Non-decreasing times over about five months, on the hour (so boundaries are hit)."""
    start = draw(st.integers(0, 24 * 120))
    steps = draw(
        st.lists(st.integers(0, 48) | st.integers(0, 24 * 20), min_size=count, max_size=count)
    )
    hours = [start]
    for step in steps[1:]:
        hours.append(hours[-1] + step)
    return [T0 + timedelta(hours=h) for h in hours]


@st.composite
def customer_stream(draw: st.DrawFn, customer_id: str, merged: dict[str, Any]) -> list[Record]:
    """A contacts stream following the lifecycle rules; a duplicate ends merged into
    ``merged['survivor']``, a survivor takes ``merged['orders']`` in."""
    events: list[DomainEvent] = [registered(customer_id)]
    stage, orders, backdate = S.PROSPECT, 0, []
    for _ in range(draw(st.integers(0, 8))):
        step = draw(
            st.sampled_from(
                ["buy", "buy", "interested", "at_risk", "churned", "back", "noise", "talk"]
            )
        )
        if step == "buy":
            orders += 1
            order_id = f"{customer_id}_o{orders}"
            events.append(purchase_recorded(customer_id, order_id))
            backdate.append((len(events) - 1, draw(st.integers(0, 24 * 12))))
            to = S.CUSTOMER if orders == 1 else S.REPEAT_CUSTOMER
            if stage is not to:
                events.append(stage_changed(customer_id, to, from_=stage))
                stage = to
        elif step == "interested" and stage is S.PROSPECT:
            events.append(stage_changed(customer_id, S.INTERESTED, from_=stage))
            stage = S.INTERESTED
        elif step == "at_risk" and stage in (S.CUSTOMER, S.REPEAT_CUSTOMER):
            events.append(stage_changed(customer_id, S.AT_RISK, from_=stage))
            stage = S.AT_RISK
        elif step == "churned" and stage in (S.CUSTOMER, S.REPEAT_CUSTOMER, S.AT_RISK):
            events.append(stage_changed(customer_id, S.CHURNED, from_=stage))
            stage = S.CHURNED
        elif step == "back" and stage is S.AT_RISK:
            to = S.CUSTOMER if orders == 1 else S.REPEAT_CUSTOMER
            events.append(stage_changed(customer_id, to, from_=stage))
            stage = to
        elif step == "noise":
            events.append(changed(customer_id, name="Ada King"))
        elif step == "talk":
            events.append(interaction(customer_id, draw(st.integers(1, 20))))
    mine = {f"{customer_id}_o{n}" for n in range(1, orders + 1)}
    if merged.get("duplicate") == customer_id:
        events.append(c.CustomerMergedInto(customer_id=customer_id, survivor_id=merged["survivor"]))
    if merged.get("survivor") == customer_id and merged.get("orders"):
        events.append(
            c.CustomersMerged(
                customer_id=customer_id,
                merged_id=merged["duplicate"],
                order_ids=tuple(sorted(merged["orders"] - mine)),
            )
        )
    merged.setdefault("orders_of", {})[customer_id] = mine
    times = draw(moments(len(events)))
    for index, hours in backdate:  # placed up to 12 days before it was recorded
        event = events[index]
        assert isinstance(event, c.CustomerPurchaseRecorded)
        events[index] = purchase_recorded(
            customer_id, event.order_id, at=times[index] - timedelta(hours=hours)
        )
    return at_times(numbered(customer_id, *events), *times)


@st.composite
def order_stream(draw: st.DrawFn, order_id: str, customer_id: str) -> list[Record]:
    currency = draw(CURRENCIES)
    total = draw(st.integers(100, 500_000))
    first = draw(moments(1))[0]
    events: list[DomainEvent] = placed(
        order_id,
        customer_id,
        amount(total),
        currency=currency,
        placed_at=first - timedelta(hours=draw(st.integers(0, 30))),
    )
    balance, paid_in, refunds, flags = total, 0, 0, set()
    for _ in range(draw(st.integers(0, 6))):
        step = draw(st.sampled_from(["pay", "overdue", "unpaid", "settle", "refund"]))
        if step == "pay" and balance > 1 and "settled" not in flags:
            part = draw(st.integers(1, balance - 1))
            balance -= part
            paid_in += part
            events.append(
                paid(order_id, customer_id, amount(part), amount(balance), currency=currency)
            )
        elif step == "overdue" and not flags & {"overdue", "settled"}:
            events.append(overdue(order_id, customer_id, amount(balance), currency=currency))
            flags.add("overdue")
        elif step == "unpaid" and not flags & {"unpaid", "settled"} and balance == total:
            events.append(unpaid(order_id, customer_id, amount(total), currency=currency))
            flags.add("unpaid")
        elif step == "settle" and "settled" not in flags:
            events.append(paid(order_id, customer_id, amount(balance), "0.00", currency=currency))
            events.append(settled(order_id, customer_id, amount(total), currency=currency))
            paid_in += balance
            balance = 0
            flags.add("settled")
        elif step == "refund" and paid_in > refunds:
            part = draw(st.integers(1, paid_in - refunds))
            refunds += part
            events.append(
                refunded(
                    order_id,
                    customer_id,
                    amount(part),
                    refund_id=f"rfd_{order_id}_{len(events)}",
                    currency=currency,
                )
            )
    times = draw(moments(len(events)))
    times = [first + (t - times[0]) for t in times]
    return at_times(pipeline(order_id, *events), *times)


@st.composite
def histories(draw: st.DrawFn) -> dict[str, list[Record]]:
    streams: dict[str, list[Record]] = {}
    count = draw(st.integers(1, 4))
    ids = [f"cus_{n}" for n in range(count)]
    merged: dict[str, Any] = {}
    if count > 1 and draw(st.booleans()):
        merged = {"duplicate": ids[-1], "survivor": ids[0]}
    for customer_id in reversed(ids):  # the duplicate (last) first: the survivor takes its orders
        if merged.get("survivor") == customer_id:
            merged["orders"] = merged.get("orders_of", {}).get(merged["duplicate"], set())
        records = draw(customer_stream(customer_id, merged))
        streams[stream_key(records[0][0])] = records
    for n in range(draw(st.integers(0, 5))):
        records = draw(order_stream(f"ord_{n}", draw(st.sampled_from(ids))))
        streams[stream_key(records[0][0])] = records
    return streams


def refreshed_live(
    model: Any, deliveries: list[Record], name: str, summarise: Summary
) -> dict[str, Document]:
    """The boards as the rows projector keeps them: after every delivery (a duplicate too),
    each board of ``keys`` of the row before and after is summarised from the rows it
    selects then."""
    state = Folded(model)
    boards: dict[str, Document] = {}
    for meta, event in deliveries:
        target = model.target(meta, event)
        if target is None:
            continue
        before = state.documents.get(target.document_id)
        state.apply(meta, event)
        after = state.documents[target.document_id]
        for key in kpi_boards.keys(before or {}) | kpi_boards.keys(after):
            selected = [r for r in state.documents.values() if key in r["periods"]]
            boards[f"{name}:{key}"] = summarise(key, selected)
    return boards


def at_least_once(data: st.DataObject, streams: dict[str, list[Record]]) -> list[Record]:
    """Interleave the streams, redeliver suffixes of what each already delivered, replay all."""
    pending = {key: list(records) for key, records in streams.items()}
    delivered: dict[str, list[Record]] = {key: [] for key in streams}
    deliveries: list[Record] = []
    while any(pending.values()):
        key = data.draw(st.sampled_from(sorted(k for k, left in pending.items() if left)))
        record = pending[key].pop(0)
        delivered[key].append(record)
        deliveries.append(record)
        if data.draw(st.booleans()):
            deliveries += delivered[key][data.draw(st.integers(0, len(delivered[key]) - 1)) :]
    for records in streams.values():
        deliveries += records
    return deliveries


# The plain recomputation: the state of each customer and order at a moment, read straight
# off its events (those before the moment), with the KPIs' definitions; no rows, no flows.

ACTIVE = {S.CUSTOMER, S.REPEAT_CUSTOMER, S.AT_RISK}


def customer_at(records: list[Record], moment: datetime) -> dict[str, Any]:
    """Stage, purchases and whether merged away, from the events before ``moment``."""
    stage, purchases, merged = None, {}, False
    for meta, event in records:
        if utc(meta.time) >= moment:
            continue
        if isinstance(event, c.CustomerRegistered):
            stage = S.PROSPECT
        elif isinstance(event, c.CustomerLifecycleStageChanged):
            stage = event.to_stage
        elif isinstance(event, c.CustomerMergedInto):
            merged = True
        elif isinstance(event, c.CustomersMerged):
            purchases.update({o: meta.time for o in event.order_ids if o not in purchases})
    for _, event in records:  # a purchase counts from when its order was placed
        if isinstance(event, c.CustomerPurchaseRecorded) and utc(event.at) < moment:
            purchases.setdefault(event.order_id, event.at)
    return {"stage": stage, "purchases": len(purchases), "merged": merged}


def churned_during(records: list[Record], start: datetime, end: datetime) -> bool:
    return any(
        isinstance(event, c.CustomerLifecycleStageChanged)
        and event.to_stage is S.CHURNED
        and start <= utc(meta.time) < end
        for meta, event in records
    )


def order_at(records: list[Record], moment: datetime) -> dict[str, Any]:
    """Open or not, balance, overdue, and the net settled revenue, before ``moment``."""
    state: dict[str, Any] = {"open": False, "settled": False, "overdue": False, "refunds": 0}
    for meta, event in records:
        if utc(meta.time) >= moment:
            break
        match event:
            case p.OrderPlaced():
                state |= {"open": True, "balance": event.total, "total": event.total}
                state["currency"] = event.currency
            case p.ReceivableOpened():
                state["balance"] = event.amount
            case p.PaymentReceived():
                state["balance"] = event.balance_after
            case p.ReceivableOverdue() | p.OrderUnpaidAfter48Hours():
                state["balance"] = event.balance
                state["overdue"] = state["overdue"] or isinstance(event, p.ReceivableOverdue)
            case p.ReceivableSettled():
                state |= {"open": False, "settled": True, "balance": Decimal(0)}
            case p.PaymentRefunded():
                state["refunds"] += event.amount
    return state


def rate(part: Decimal | int, whole: Decimal | int) -> str | None:
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))


def recomputed(streams: dict[str, list[Record]], period: str) -> dict[str, Any]:
    start, end = bounds(period)
    customers = [r for k, r in streams.items() if k.startswith("contacts:")]
    orders = [r for k, r in streams.items() if k.startswith("pipeline:")]
    active_at_start = churned = purchasers = repeaters = 0
    for records in customers:
        before, after = customer_at(records, start), customer_at(records, end)
        if before["stage"] in ACTIVE and not before["merged"]:
            active_at_start += 1
            churned += churned_during(records, start, end)
        if not after["merged"]:
            purchasers += after["purchases"] >= 1
            repeaters += after["purchases"] >= 2
    revenue: dict[str, Decimal] = {}
    open_balance: dict[str, Decimal] = {}
    overdue_balance: dict[str, Decimal] = {}
    opened = overdue_count = placed_count = 0
    for records in orders:
        first = records[0][1]
        assert isinstance(first, p.OrderPlaced)
        placed_count += start <= utc(first.placed_at) < end
        state = order_at(records, end)
        cur = first.currency
        if state["settled"]:
            revenue[cur] = revenue.get(cur, Decimal(0)) + state["total"] - state["refunds"]
        if state["open"]:
            opened += 1
            open_balance[cur] = open_balance.get(cur, Decimal(0)) + state["balance"]
            if state["overdue"]:
                overdue_count += 1
                overdue_balance[cur] = overdue_balance.get(cur, Decimal(0)) + state["balance"]
    nonzero = {cur: value for cur, value in revenue.items() if value != 0}
    return {
        "churn_rate": rate(churned, active_at_start),
        "repeat_purchase_rate": rate(repeaters, purchasers),
        "customer_lifetime_value": {
            cur: None if purchasers == 0 else money(value / purchasers)
            for cur, value in sorted(nonzero.items())
        },
        "complaint_rate": rate(3, placed_count),
        "overdue_ratio": {
            "count": rate(overdue_count, opened),
            "amount": {
                cur: rate(overdue_balance.get(cur, Decimal(0)), value)
                for cur, value in sorted(open_balance.items())
                if value != 0
            },
        },
    }


def periods_around(streams: dict[str, list[Record]]) -> set[str]:
    """Every week, month and quarter of the history, and the one after it."""
    times = [utc(meta.time) for records in streams.values() for meta, _ in records]
    found = set()
    for moment in (*times, max(times) + timedelta(days=100)):
        found |= {period_of(moment, g) for g in BOARD_GRANULARITIES}
    return found


@settings(max_examples=60, deadline=None)
@given(streams=histories(), data=st.data())
def test_kpis_of_any_delivery_are_the_plain_recomputation_of_the_history(
    streams: dict[str, list[Record]], data: st.DataObject
) -> None:
    deliveries = at_least_once(data, streams)
    live = {
        m.name: Folded(m).fold(deliveries).documents
        for m in (customer_rows.MODEL, order_rows.MODEL)
    }
    plain = {m.name: folded(m, *streams.values()) for m in (customer_rows.MODEL, order_rows.MODEL)}
    assert live == plain  # in order, with duplicates, after a replay: the same rows
    customers, orders = live["customer_rows"], live["order_rows"]
    # refreshed only where the rows changed, the boards are those of the rows in the end
    for model, name, summarise, rows in (
        (customer_rows.MODEL, kpi_boards.CUSTOMERS, kpi_boards.customer_summary, customers),
        (order_rows.MODEL, kpi_boards.ORDERS, kpi_boards.order_summary, orders),
    ):
        assert refreshed_live(model, deliveries, name, summarise) == boards_of(
            name, rows.values(), summarise
        )
    # and the customers' boards of many periods at once (a rebuild's one pass, a refresh of
    # several) are each period's own, a period no row counts in too
    keys = {key for row in customers.values() for key in row["periods"]} | {"month:2020-01"}
    assert kpi_boards.customer_summaries(keys, list(customers.values())) == {
        key: kpi_boards.customer_summary(
            key, [r for r in customers.values() if key in r["periods"]]
        )
        for key in keys
    }
    for period in sorted(periods_around(streams)):
        got = kpis_of(period, customers, orders, complaints_opened=3)
        want = recomputed(streams, period)
        assert {k: got[k] for k in want} == want, period
