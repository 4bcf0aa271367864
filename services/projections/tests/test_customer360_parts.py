"""Property: the customer 360 folded in parts, each from the streams of some contexts, and
the parts combined (``customer360.combined``), is the 360 folded from all of them.

A rebuild in several jobs folds a read model's streams of some contexts in one process and
the others in another (``rebuild_jobs.plan``), then combines the documents. Histories are
random: per customer a contacts stream, pipeline streams (``test_redelivery_property``),
tickets and a loyalty membership; the streams interleave in any order, in the whole fold and
in each part.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from customer_events import NOW
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_folding import Folded, Record
from test_loyalty_boards import member_history
from test_redelivery_property import histories as sales_histories
from ticket_events import (
    breached_on,
    closed_on,
    member_stream,
    opened_on,
    reopened_on,
    replied_on,
    resolved_on,
    surveyed_on,
    ticket_stream,
)

from crm_contracts import DomainEvent
from crm_projections.domain import customer360
from crm_projections.domain.streams import Document, stream_key

CONTEXTS = ("contacts", "pipeline", "tickets", "loyalty")
TICKET_STEPS = ("reply", "breach", "resolve", "reopen", "survey", "close")


@st.composite
def ticket_history(draw: st.DrawFn, ticket_id: str, customer_id: str) -> list[DomainEvent]:
    at = NOW + timedelta(hours=draw(st.integers(0, 24 * 60)))
    kind = draw(st.sampled_from(["complaint", "question"]))
    events: list[DomainEvent] = [opened_on(ticket_id, customer_id, at, kind=kind)]
    for _ in range(draw(st.integers(0, 5))):
        at += timedelta(hours=draw(st.integers(1, 48)))
        step = draw(st.sampled_from(TICKET_STEPS))
        if step == "reply":
            events.append(replied_on(ticket_id, customer_id, at, kind=kind))
        elif step == "breach":
            events.append(breached_on(ticket_id, customer_id, at, kind=kind))
        elif step == "resolve":
            within = draw(st.booleans())
            events.append(resolved_on(ticket_id, customer_id, at, within_sla=within, kind=kind))
        elif step == "reopen":
            events.append(reopened_on(ticket_id, customer_id, at, kind=kind))
        elif step == "survey":
            csat = draw(st.integers(1, 5))
            events.append(surveyed_on(ticket_id, customer_id, at, csat, kind=kind))
        else:
            events.append(closed_on(ticket_id, customer_id, at, kind=kind))
    return events


@st.composite
def every_context(draw: st.DrawFn) -> dict[str, list[Record]]:
    """Streams of all four contexts: contacts and pipeline per customer (with the rules of
    their aggregates), some tickets and a membership for some of the customers."""
    streams, _ = draw(sales_histories())
    customers = sorted(
        {str(records[0][1].customer_id) for records in streams.values()}  # type: ignore[attr-defined]
    )
    for customer_id in customers:
        for n in range(draw(st.integers(0, 2))):
            ticket_id = f"tkt_{customer_id}{n}"
            records = ticket_stream(ticket_id, *draw(ticket_history(ticket_id, customer_id)))
            streams[stream_key(records[0][0])] = records
        if draw(st.booleans()):
            records = member_stream(customer_id, *draw(member_history(customer_id)))
            streams[stream_key(records[0][0])] = records
    return streams


def interleaved(data: st.DataObject, streams: dict[str, list[Record]]) -> list[Record]:
    """Every stream in its order, the streams interleaved at random."""
    pending = {key: list(records) for key, records in streams.items() if records}
    out: list[Record] = []
    while pending:
        key = data.draw(st.sampled_from(sorted(pending)))
        out.append(pending[key].pop(0))
        if not pending[key]:
            del pending[key]
    return out


def context_of(record: Record) -> str:
    return record[0].type.split(".")[1]


def fold(records: list[Record]) -> Folded:
    return Folded(customer360.MODEL).fold(records)


@settings(max_examples=60, deadline=None)
@given(every_context(), st.data())
def test_parts_folded_from_disjoint_contexts_combine_into_the_whole_fold(
    streams: dict[str, list[Record]], data: st.DataObject
) -> None:
    assert {context_of(r) for records in streams.values() for r in records} <= set(CONTEXTS)
    whole = fold(interleaved(data, streams))
    chosen = data.draw(st.lists(st.sampled_from(range(3)), min_size=4, max_size=4))
    groups = [{c for c, g in zip(CONTEXTS, chosen, strict=True) if g == part} for part in range(3)]
    parts = [
        fold(
            interleaved(
                data,
                {
                    key: records
                    for key, records in streams.items()
                    if context_of(records[0]) in contexts
                },
            )
        )
        for contexts in groups
        if contexts
    ]
    combined: dict[str, Document] = {}
    for customer_id in {i for part in parts for i in part.documents}:
        held = [part.documents[customer_id] for part in parts if customer_id in part.documents]
        combined[customer_id] = customer360.combined(held)
    assert combined == whole.documents
    routes: dict[str, str] = {}
    for part in parts:
        assert not routes.keys() & part.routes.keys()
        routes |= part.routes
    assert routes == whole.routes


def test_parts_of_two_customers_one_stream_or_one_section_are_refused() -> None:
    base = customer360.empty("cus_1")
    with pytest.raises(ValueError, match="parts of"):
        customer360.combined([base, customer360.empty("cus_2")])
    stream = {**base, "streams": {"crm.contacts:cus_1": 1}, "revision": 1}
    with pytest.raises(ValueError, match="two parts folded"):
        customer360.combined([stream, stream])
    with pytest.raises(ValueError, match="two parts hold 'loyalty'"):
        customer360.combined([{**base, "loyalty": {}}, {**base, "loyalty": {}}])
    with pytest.raises(ValueError, match="no parts"):
        customer360.combined([])
