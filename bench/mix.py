"""A realistic mix of the four contexts' events, for the rebuild and the steady-state lag.

Per customer: a contacts stream (registered with an owner, then a few detail
changes and logged interactions); about a third open an opportunity (stage
moves, then won or lost; a won deal has a quote, an order with its receivable,
and one or two payments that settle it, some orders going overdue first); a
quarter open a support ticket (assigned, replied, resolved, often surveyed,
closed); three in ten join the loyalty programme (enrolled at a store, earn
points on a few purchases, some redeem). A few stores open first. Customers
start over a year, their streams interleave in time order, each stream's
commits stay in sequence. About 8 events per customer: most customers have a
few events, the active ones many more.

Every event is built from its contract class (so it validates as a real one
would) and dumped to its JSON payload once; commits are then written in the
shape ``EventStore.append`` writes (``bench.commits``), personal fields sealed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm_contracts import DomainEvent
from crm_contracts import contacts as c
from crm_contracts import loyalty as lo
from crm_contracts import pipeline as p
from crm_contracts import tickets as t

CONTEXTS = {
    "contacts": c.SOURCE,
    "pipeline": p.SOURCE,
    "tickets": t.SOURCE,
    "loyalty": lo.SOURCE,
}
TOPICS = {"contacts": c.TOPIC, "pipeline": p.TOPIC, "tickets": t.TOPIC, "loyalty": lo.TOPIC}
DATABASES = {
    "contacts": "crm_contacts",
    "pipeline": "crm_pipeline",
    "tickets": "crm_tickets",
    "loyalty": "crm_loyalty",
}
START = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
STORES = [f"sto_{n}" for n in range(1, 21)]
REPS = [(f"rep{n}", f"team{n % 4}") for n in range(1, 41)]
AGENTS = [f"agent{n}" for n in range(1, 31)]


@dataclass(frozen=True)
class MixCommit:
    """One commit of one context's stream: its events, and when it was appended."""

    context: str
    stream_id: str
    first: int
    time: datetime
    events: tuple[DomainEvent, ...]


@dataclass
class _Stream:
    context: str
    stream_id: str
    commits: list[tuple[datetime, tuple[DomainEvent, ...]]]


def mixed_history(events: int, *, seed: int = 11, tag: str = "") -> list[MixCommit]:
    """Commits holding at least ``events`` events (the last customer may overshoot a little),
    in time order; stores first."""
    rng = random.Random(f"{seed}{tag}")
    streams = [
        _Stream("loyalty", store, [(START - timedelta(days=1), (_store(store),))])
        for store in STORES
    ]
    total = len(streams)
    number = 0
    while total < events:
        customer = _customer(rng, f"cus_mix{tag}{number:07d}", number)
        streams.extend(customer)
        total += sum(len(e) for s in customer for _, e in s.commits)
        number += 1
    commits = [
        MixCommit(stream.context, stream.stream_id, first, at, evs)
        for stream in streams
        for first, (at, evs) in _numbered(stream.commits)
    ]
    commits.sort(key=lambda commit: commit.time)
    return commits


def _numbered(
    commits: list[tuple[datetime, tuple[DomainEvent, ...]]],
) -> Iterator[tuple[int, tuple[datetime, tuple[DomainEvent, ...]]]]:
    first = 1
    for commit in commits:
        yield first, commit
        first += len(commit[1])


def _customer(rng: random.Random, cid: str, number: int) -> list[_Stream]:
    at = START + timedelta(seconds=rng.randrange(365 * 86400))
    owner, team = rng.choice(REPS)
    contacts = _Stream("contacts", cid, [(at, _registration(cid, number, owner, team, rng))])
    moment = at
    for index in range(rng.choice((0, 0, 1, 1, 2, 3))):
        moment += timedelta(hours=rng.randrange(1, 240))
        contacts.commits.append((moment, (_contact_change(cid, index, moment, rng),)))
    streams = [contacts]
    if rng.random() < 0.35:
        streams += _deal(rng, cid, number, at, owner, team)
    if rng.random() < 0.25:
        streams.append(_ticket(rng, cid, number, at))
    if rng.random() < 0.30:
        streams.append(_member(rng, cid, at))
    return streams


def _registration(
    cid: str, number: int, owner: str, team: str, rng: random.Random
) -> tuple[DomainEvent, ...]:
    return (
        c.CustomerRegistered(
            customer_id=cid,
            name=f"Mix Customer {number}",
            kind=rng.choice(list(c.CustomerKind)),
            email=f"mix.customer.{number}@example.com",
            phone="+4930901820",
        ),
        c.CustomerOwnerAssigned(customer_id=cid, owner_id=owner, team=team),
    )


def _contact_change(cid: str, index: int, at: datetime, rng: random.Random) -> DomainEvent:
    if rng.random() < 0.5:
        return c.CustomerDetailsChanged(customer_id=cid, phone=f"+4930{rng.randrange(10**6):06d}")
    return c.InteractionLogged(
        customer_id=cid,
        interaction_id=f"int_{cid}_{index}",
        kind=rng.choice(list(c.InteractionKind)),
        at=at,
        summary="Called about the next order",
        logged_by="user:bench-writer",
    )


def _deal(
    rng: random.Random, cid: str, number: int, at: datetime, owner: str, team: str
) -> list[_Stream]:
    opp, quo, order = f"opp_mix{number:07d}", f"quo_mix{number:07d}", f"ord_mix{number:07d}"
    amount = Decimal(rng.randrange(500, 50_000))
    moment = at + timedelta(days=rng.randrange(1, 10))
    opened = p.OpportunityOpened(
        opportunity_id=opp,
        customer_id=cid,
        title="Espresso machines",
        amount=amount,
        currency="EUR",
        stage=p.Stage.QUALIFICATION,
        probability=10,
        expected_close_date=(moment + timedelta(days=60)).date(),
        owner_id=owner,
        team=team,
    )
    deal = _Stream("pipeline", opp, [(moment, (opened,))])
    stage = p.Stage.QUALIFICATION
    for to, probability in ((p.Stage.PROPOSAL, 40), (p.Stage.NEGOTIATION, 70))[
        : rng.choice((1, 2))
    ]:
        moment += timedelta(days=rng.randrange(1, 15))
        moved = p.OpportunityStageMoved(
            opportunity_id=opp, from_stage=stage, to_stage=to, probability=probability
        )
        deal.commits.append((moment, (moved,)))
        stage = to
    moment += timedelta(days=rng.randrange(1, 15))
    if rng.random() >= 0.55:
        lost = p.OpportunityLost(
            opportunity_id=opp,
            owner_id=owner,
            team=team,
            from_stage=stage,
            reason="chose a competitor",
            probability=0,
        )
        deal.commits.append((moment, (lost,)))
        return [deal]
    line = p.QuoteLine(
        sku="ESP-2",
        description="Espresso machine",
        quantity=Decimal(1),
        unit_price=amount,
        discount_percent=Decimal(0),
        net_amount=amount,
    )
    drafted = p.QuoteDrafted(
        quote_id=quo,
        opportunity_id=opp,
        customer_id=cid,
        owner_id=owner,
        team=team,
        currency="EUR",
        lines=(line,),
        total=amount,
    )
    quote = _Stream("pipeline", quo, [(moment, (drafted,))])
    quote.commits.append((moment + timedelta(hours=2), (p.QuoteSent(quote_id=quo),)))
    moment += timedelta(days=rng.randrange(1, 7))
    won = p.OpportunityWon(
        opportunity_id=opp,
        customer_id=cid,
        owner_id=owner,
        team=team,
        from_stage=stage,
        amount=amount,
        currency="EUR",
        probability=100,
    )
    deal.commits.append((moment, (won,)))
    return [deal, quote, _order(rng, order, quo, opp, cid, owner, team, amount, moment)]


def _order(
    rng: random.Random,
    order: str,
    quo: str,
    opp: str,
    cid: str,
    owner: str,
    team: str,
    amount: Decimal,
    at: datetime,
) -> _Stream:
    due: date = (at + timedelta(days=30)).date()
    placed = p.OrderPlaced(
        order_id=order,
        quote_id=quo,
        opportunity_id=opp,
        customer_id=cid,
        owner_id=owner,
        team=team,
        total=amount,
        currency="EUR",
        placed_at=at,
        payment_due_date=due,
    )
    receivable = p.ReceivableOpened(
        order_id=order,
        customer_id=cid,
        owner_id=owner,
        team=team,
        amount=amount,
        currency="EUR",
        due_date=due,
    )
    stream = _Stream("pipeline", order, [(at, (placed, receivable))])
    balance, moment = amount, at
    if rng.random() < 0.1:
        moment += timedelta(days=31)
        overdue = p.ReceivableOverdue(
            order_id=order,
            customer_id=cid,
            owner_id=owner,
            team=team,
            due_date=due,
            days_overdue=1,
            balance=balance,
            currency="EUR",
        )
        stream.commits.append((moment, (overdue,)))
    parts = [amount] if rng.random() < 0.7 else [amount / 2, amount - amount / 2]
    for index, part in enumerate(parts):
        moment += timedelta(days=rng.randrange(1, 20))
        balance -= part
        payment = p.PaymentReceived(
            order_id=order,
            customer_id=cid,
            payment_id=f"pay_{order}_{index}",
            amount=part,
            currency="EUR",
            balance_after=balance,
        )
        events: tuple[DomainEvent, ...] = (payment,)
        if balance == 0:
            settled = p.ReceivableSettled(
                order_id=order, customer_id=cid, amount=amount, currency="EUR"
            )
            events = (payment, settled)
        stream.commits.append((moment, events))
    return stream


def _ticket(rng: random.Random, cid: str, number: int, at: datetime) -> _Stream:
    ticket = f"tkt_mix{number:07d}"
    agent = rng.choice(AGENTS)
    kind = rng.choice(("question", "question", "complaint", "service_request"))
    moment = at + timedelta(days=rng.randrange(1, 60))

    def snap(status: str, assignee: str | None = agent) -> dict[str, object]:
        return {
            "ticket_id": ticket,
            "customer_id": cid,
            "kind": kind,
            "priority": "normal",
            "status": status,
            "team": "support",
            "assignee_id": assignee,
        }

    opened = t.TicketOpened(
        **snap("new", None),
        channel=t.Channel.EMAIL,
        subject="The machine leaks",
        description="Water under the machine since Monday.",
        opened_by="user:bench-agent",
        opened_at=moment,
        first_response_due=moment + timedelta(hours=4),
        resolution_due=moment + timedelta(hours=24),
    )
    stream = _Stream("tickets", ticket, [(moment, (opened,))])
    step = moment + timedelta(minutes=rng.randrange(5, 60))
    assigned = t.TicketAssigned(**snap("open"), assigned_by="lead1", assigned_at=step)
    stream.commits.append((step, (assigned,)))
    step += timedelta(minutes=rng.randrange(10, 300))
    replied = t.TicketReplied(
        **snap("open"),
        reply_id=f"rep_{ticket}",
        body="We are sending a technician.",
        author_id=agent,
        replied_at=step,
        first_response=True,
        first_response_within_sla=step - moment <= timedelta(hours=4),
    )
    stream.commits.append((step, (replied,)))
    step += timedelta(hours=rng.randrange(1, 48))
    resolved = t.TicketResolved(
        **snap("resolved"),
        resolution="Replaced the seal.",
        resolved_by=agent,
        opened_at=moment,
        resolved_at=step,
        resolution_due=moment + timedelta(hours=24),
        within_sla=step - moment <= timedelta(hours=24),
    )
    stream.commits.append((step, (resolved,)))
    if rng.random() < 0.5:
        step += timedelta(hours=rng.randrange(1, 24))
        surveyed = t.SurveyAnswered(
            **snap("resolved"),
            csat=rng.randrange(1, 6),
            would_recommend=rng.randrange(0, 11),
            comment=None,
            answered_at=step,
            recorded_by=agent,
        )
        stream.commits.append((step, (surveyed,)))
    step += timedelta(days=3)
    closed = t.TicketClosed(**snap("closed"), closed_by=agent, closed_at=step)
    stream.commits.append((step, (closed,)))
    return stream


def _member(rng: random.Random, cid: str, at: datetime) -> _Stream:
    store = rng.choice(STORES)
    moment = at + timedelta(days=rng.randrange(0, 30))
    enrolled = lo.MemberEnrolled(
        customer_id=cid, home_store_id=store, tier="silver", enrolled_at=moment
    )
    stream = _Stream("loyalty", f"mbr_{cid}", [(moment, (enrolled,))])
    balance = 0
    purchases = rng.choice((1, 1, 2, 3, 4))
    for index in range(purchases):
        moment += timedelta(days=rng.randrange(1, 40))
        points = rng.randrange(5, 200)
        balance += points
        earned = lo.PointsEarned(
            customer_id=cid,
            home_store_id=store,
            entry_id=f"earn:pay_{cid}_{index}",
            points=points,
            reason="purchase",
            order_id=f"ord_{cid}_{index}",
            payment_id=f"pay_{cid}_{index}",
            amount=Decimal(points),
            currency="EUR",
            earned_at=moment,
            expires_at=moment + timedelta(days=365),
            order_count=index + 1,
            balance=balance,
        )
        stream.commits.append((moment, (earned,)))
    if balance >= 50 and rng.random() < 0.2:
        moment += timedelta(days=rng.randrange(1, 20))
        redeemed = lo.PointsRedeemed(
            customer_id=cid,
            home_store_id=store,
            redemption_id=f"red_{cid}",
            points=50,
            description="Free coffee",
            lots=(lo.LotUse(entry_id=f"earn:pay_{cid}_0", points=50),),
            redeemed_at=moment,
            balance=balance - 50,
        )
        stream.commits.append((moment, (redeemed,)))
    return stream


def _store(store: str) -> lo.StoreOpened:
    return lo.StoreOpened(store_id=store, name=store, city="Berlin", opened_at=START)


def event_count(history: list[MixCommit]) -> int:
    return sum(len(commit.events) for commit in history)


def by_context(history: list[MixCommit]) -> dict[str, int]:
    """Events per context (the mix's proportions)."""
    counts = dict.fromkeys(CONTEXTS, 0)
    for commit in history:
        counts[commit.context] += len(commit.events)
    return counts
