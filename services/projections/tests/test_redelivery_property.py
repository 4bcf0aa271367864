"""Property: at-least-once delivery (interleaved streams of both contexts, redeliveries, a full
replay) folds every read model to what the plain history folds to, and to the contract's sums.

Histories are random but valid: per customer a contacts stream, and pipeline streams of
opportunities, quotes and orders, each following its aggregate's rules. Each stream is
delivered in order, streams interleave freely (pipeline events may come before the
registration), any suffix of what a stream delivered may come again, then everything is
replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from customer_events import (
    NOW,
    Record,
    changed,
    drafted,
    interaction,
    lost,
    moved,
    numbered,
    opened,
    overdue,
    paid,
    pipeline,
    placed,
    registered,
    reopened,
    settled,
    unpaid,
    won,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_folding import Folded, folded

from crm_contracts import DomainEvent
from crm_contracts import contacts as c
from crm_contracts import pipeline as p
from crm_contracts.pipeline import Outcome, Stage
from crm_projections.domain import customer360, forecast, receivables
from crm_projections.domain.money import by_currency, money
from crm_projections.domain.streams import stream_key

MODELS = (customer360.MODEL, receivables.MODEL, forecast.MODEL)
OWNERS = {"u1": "north", "u2": "north", "u3": "south"}
NAMES = st.sampled_from(["Ada", "Grace", "Hedy", "Katherine"])
EMAILS = st.sampled_from(["a@example.com", "b@example.org", "c@example.net"])
PHONES = st.sampled_from(["+447700900123", "+4930901820", "+15550100"])
CURRENCIES = st.sampled_from(["EUR", "USD"])
CENTS = st.integers(1, 5_000_000)
OPEN_STAGES = [(Stage.NEEDS_ANALYSIS, 20), (Stage.PROPOSAL, 50), (Stage.NEGOTIATION, 75)]


def amount(cents: int) -> str:
    return money(Decimal(cents) / 100)


@dataclass
class Expected:
    """What the history means, tracked while it is drawn (not by the read models' code)."""

    opportunities: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)


@st.composite
def contacts_stream(draw: st.DrawFn, customer_id: str) -> list[DomainEvent]:
    events: list[DomainEvent] = [
        registered(
            customer_id, draw(NAMES), email=draw(st.none() | EMAILS), phone=draw(st.none() | PHONES)
        )
    ]
    for _ in range(draw(st.integers(0, 6))):
        events.append(
            draw(
                st.sampled_from(
                    [
                        changed(customer_id, name=draw(NAMES), email=draw(st.none() | EMAILS)),
                        changed(customer_id, cleared=("phone",)),
                        c.CustomerOwnerAssigned(
                            customer_id=customer_id, owner_id="u1", team="north"
                        ),
                        c.CustomerClassified(
                            customer_id=customer_id, classification=c.Classification.TARGET
                        ),
                        c.CustomerSegmentsAssigned(
                            customer_id=customer_id, segments=("need:training",)
                        ),
                        c.CustomerValueTierSet(
                            customer_id=customer_id, value_tier=c.ValueTier.BEST
                        ),
                        c.CustomerTagged(customer_id=customer_id, tags=("vip",)),
                        c.CustomerUntagged(customer_id=customer_id, tags=("vip",)),
                        interaction(customer_id, draw(st.integers(1, 20))),
                    ]
                )
            )
        )
    if draw(st.booleans()):
        events.append(c.CustomerErased(customer_id=customer_id))
    return events


@st.composite
def opportunity_stream(
    draw: st.DrawFn, opportunity_id: str, customer_id: str, expected: Expected
) -> list[DomainEvent]:
    owner_id = draw(st.sampled_from(sorted(OWNERS)))
    state = {
        "amount": amount(draw(CENTS)),
        "currency": draw(CURRENCIES),
        "probability": 10,
        "stage": Stage.QUALIFICATION,
        "closes": NOW.date() + timedelta(days=draw(st.integers(0, 400))),
        "status": "open",
        "owner_id": owner_id,
        "team": OWNERS[owner_id],
    }
    events: list[DomainEvent] = [
        opened(
            opportunity_id,
            customer_id,
            amount=state["amount"],
            currency=state["currency"],
            closes=state["closes"],
            owner_id=owner_id,
            team=state["team"],
        )
    ]
    for _ in range(draw(st.integers(0, 6))):
        if state["status"] != "open":
            outcome = Outcome.WON if state["status"] == "won" else Outcome.LOST
            stage, probability = draw(st.sampled_from(OPEN_STAGES))
            events.append(reopened(opportunity_id, outcome, stage=stage, probability=probability))
            state |= {"status": "open", "stage": stage, "probability": probability}
            continue
        step = draw(st.sampled_from(["move", "amount", "date", "won", "lost"]))
        if step == "move":
            stage, probability = draw(st.sampled_from(OPEN_STAGES))
            events.append(moved(opportunity_id, stage, probability, from_=state["stage"]))
            state |= {"stage": stage, "probability": probability}
        elif step == "amount":
            new = amount(draw(CENTS))
            events.append(
                p.OpportunityAmountChanged(
                    opportunity_id=opportunity_id,
                    amount=new,
                    previous_amount=state["amount"],
                    currency=state["currency"],
                )
            )
            state["amount"] = new
        elif step == "date":
            closes = state["closes"] + timedelta(days=draw(st.integers(1, 120)))
            events.append(
                p.OpportunityCloseDateChanged(
                    opportunity_id=opportunity_id,
                    expected_close_date=closes,
                    previous_close_date=state["closes"],
                )
            )
            state["closes"] = closes
        elif step == "won":
            events.append(
                won(
                    opportunity_id,
                    customer_id,
                    state["amount"],
                    currency=state["currency"],
                    owner_id=owner_id,
                    team=state["team"],
                )
            )
            state |= {"status": "won", "probability": 100}
        else:
            events.append(lost(opportunity_id, owner_id=owner_id, team=state["team"]))
            state |= {"status": "lost", "probability": 0}
    expected.opportunities[opportunity_id] = {**state, "customer_id": customer_id}
    return events


@st.composite
def quote_stream(draw: st.DrawFn, quote_id: str, customer_id: str) -> list[DomainEvent]:
    events: list[DomainEvent] = [drafted(quote_id, quote_id.replace("quo_", "opp_"), customer_id)]
    if draw(st.booleans()):
        events.append(p.QuoteSent(quote_id=quote_id))
        events.append(
            draw(
                st.sampled_from(
                    [
                        p.QuoteAccepted(quote_id=quote_id, order_id="ord_x", accepted_at=NOW),
                        p.QuoteRejected(quote_id=quote_id, reason="too expensive"),
                    ]
                )
            )
        )
    return events


@st.composite
def order_stream(
    draw: st.DrawFn, order_id: str, customer_id: str, expected: Expected
) -> list[DomainEvent]:
    owner_id = draw(st.sampled_from(sorted(OWNERS)))
    total_cents = draw(CENTS)
    currency = draw(CURRENCIES)
    who = {"currency": currency, "owner_id": owner_id, "team": OWNERS[owner_id]}
    events: list[DomainEvent] = placed(
        order_id,
        customer_id,
        amount(total_cents),
        currency=currency,
        owner_id=owner_id,
        team=OWNERS[owner_id],
        placed_at=NOW + timedelta(hours=draw(st.integers(0, 500))),
        due=date(2026, 12, 1) + timedelta(days=draw(st.integers(0, 60))),
    )
    state = {"balance": total_cents, "overdue": False, "unpaid": False, "settled": False}
    for _ in range(draw(st.integers(0, 4))):
        step = draw(st.sampled_from(["pay", "overdue", "unpaid", "settle"]))
        if step == "pay" and state["balance"] > 1:
            part = draw(st.integers(1, state["balance"] - 1))
            state["balance"] -= part
            events.append(
                paid(
                    order_id, customer_id, amount(part), amount(state["balance"]), currency=currency
                )
            )
        elif step == "overdue" and not state["overdue"]:
            events.append(overdue(order_id, customer_id, amount(state["balance"]), **who))
            state["overdue"] = True
        elif step == "unpaid" and not state["unpaid"] and state["balance"] == total_cents:
            events.append(unpaid(order_id, customer_id, amount(total_cents), **who))
            state["unpaid"] = True
        elif step == "settle":
            events.append(
                paid(order_id, customer_id, amount(state["balance"]), "0.00", currency=currency)
            )
            events.append(settled(order_id, customer_id, amount(total_cents), currency=currency))
            state |= {"balance": 0, "settled": True}
            break
    expected.orders[order_id] = {**state, **who, "customer_id": customer_id}
    return events


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, list[Record]], Expected]:
    expected = Expected()
    streams: dict[str, list[Record]] = {}

    def add(records: list[Record]) -> None:
        streams[stream_key(records[0][0])] = records

    for number in range(draw(st.integers(1, 3))):
        customer_id = f"cus_{number}"
        add(numbered(customer_id, *draw(contacts_stream(customer_id))))
        for n in range(draw(st.integers(0, 2))):
            opportunity_id = f"opp_{number}{n}"
            add(
                pipeline(
                    opportunity_id, *draw(opportunity_stream(opportunity_id, customer_id, expected))
                )
            )
        if draw(st.booleans()):
            add(pipeline(f"quo_{number}", *draw(quote_stream(f"quo_{number}", customer_id))))
        for n in range(draw(st.integers(0, 2))):
            order_id = f"ord_{number}{n}"
            add(pipeline(order_id, *draw(order_stream(order_id, customer_id, expected))))
    return streams, expected


def at_least_once(data: st.DataObject, streams: dict[str, list[Record]]) -> list[Record]:
    """Interleave the streams, redeliver suffixes of what each stream already delivered
    (a consumer restarting from an older commit), then replay everything."""
    pending = {key: list(records) for key, records in streams.items()}
    delivered: dict[str, list[Record]] = {key: [] for key in streams}
    deliveries: list[Record] = []
    while any(pending.values()):
        key = data.draw(st.sampled_from(sorted(k for k, left in pending.items() if left)))
        record = pending[key].pop(0)
        delivered[key].append(record)
        deliveries.append(record)
        if data.draw(st.booleans()):
            start = data.draw(st.integers(0, len(delivered[key]) - 1))
            deliveries += delivered[key][start:]
    for records in streams.values():
        deliveries += records
    return deliveries


def expected_profile(records: list[Record]) -> dict[str, Any]:
    """The profile after the history, by the contract's words rather than by ``project``."""
    profile: dict[str, Any] = {}
    for _, event in records:
        if isinstance(event, c.CustomerRegistered):
            profile = {
                "name": event.name,
                "kind": event.kind.value,
                "email": event.email,
                "phone": event.phone,
            }
        elif isinstance(event, c.CustomerDetailsChanged):
            changes = {"name": event.name, "email": event.email, "phone": event.phone}
            profile |= {field: value for field, value in changes.items() if value is not None}
            profile |= dict.fromkeys(event.cleared)
        elif isinstance(event, c.CustomerErased):
            profile = {"name": "[erased]", "kind": profile["kind"], "email": None, "phone": None}
    return profile


@settings(max_examples=60, deadline=None)
@given(history=histories(), data=st.data())
def test_redeliveries_and_replays_fold_every_read_model_to_the_history_once(
    history: tuple[dict[str, list[Record]], Expected], data: st.DataObject
) -> None:
    streams, expected = history
    deliveries = at_least_once(data, streams)
    for model in MODELS:
        live = Folded(model).fold(deliveries)  # raises Unroutable on any gap or unknown stream
        plain = folded(model, *reversed(streams.values()))  # each stream once, pipeline first
        assert live.documents == plain, model.name

    customers = folded(customer360.MODEL, *streams.values())
    for key, records in streams.items():
        if key.startswith("contacts:"):
            document = customers[records[0][0].subject]
            assert document["profile"] == expected_profile(records)
            assert document["streams"][key] == len(records)
    for customer_id, document in customers.items():
        mine = [o for o in expected.opportunities.values() if o["customer_id"] == customer_id]
        assert document.get("revenue_won", {}) == by_currency(
            (o["currency"], o["amount"]) for o in mine if o["status"] == "won"
        )
        owed = [
            o
            for o in expected.orders.values()
            if o["customer_id"] == customer_id and not o["settled"]
        ]
        assert document.get("receivables", {}).get("open_balance", {}) == by_currency(
            (o["currency"], amount(o["balance"])) for o in owed
        )

    reps = folded(receivables.MODEL, *streams.values())
    for owner_id, document in reps.items():
        owed = [
            o for o in expected.orders.values() if o["owner_id"] == owner_id and not o["settled"]
        ]
        assert document["open_total"] == by_currency(
            (o["currency"], amount(o["balance"])) for o in owed
        )
        assert document["overdue_total"] == by_currency(
            (o["currency"], amount(o["balance"])) for o in owed if o["overdue"]
        )
        assert document["team"] == OWNERS[owner_id]

    rows = folded(forecast.MODEL, *streams.values())
    summary = forecast.summarise(rows.values())
    open_deals = [o for o in expected.opportunities.values() if o["status"] == "open"]
    assert {cur: sums["weighted"] for cur, sums in summary["totals"].items()} == by_currency(
        (o["currency"], Decimal(o["amount"]) * o["probability"] / 100) for o in open_deals
    )
