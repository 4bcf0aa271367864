"""A row per order, from its placing to its last refund: what the KPI boards read of orders.

Every event of an order's stream folds into the row ``<order id>`` (each names
the order). The row keeps who bought and who sold (customer, owner, team), the
total and currency, when it was placed (and the week, month and quarter), the
receivable's balance, whether and when it was settled, flagged overdue and
flagged unpaid 48 hours after placing, and the money refunded.

Besides the current state the row keeps the *dated facts* the KPI boards add up
per period, so any stock (receivables open at the end of a month, their
balance...) is the sum of the flows of the periods before it:

- ``opened_at``: when the receivable opened (the time of ``OrderPlaced``);
- ``moves``: every change of the balance ``[at, delta, overdue]`` (the opening
  total included), ``overdue`` telling whether the receivable was flagged overdue
  once the change was made;
- ``overdue_at`` with ``overdue_entry_balance`` (the balance just before the flag);
- ``settled_at``;
- ``refunds``: ``[{refund_id, amount, currency, at, after_settled}]``.

Times of the receivable are those of the events (``metadata.time``), one clock
per stream; ``placed_at`` is the pipeline's own. ``periods`` lists every board
key (``week:2026-W48``, ``month:2026-11``, ``quarter:2026-Q4``) of every dated
fact: a row counts in the boards of exactly those keys (multikey index).
``touched`` lists those of the facts the latest event added: the boards to refresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import pipeline as p
from crm_projections.domain.money import money
from crm_projections.domain.periods import board_keys_of, periods_of, utc
from crm_projections.domain.streams import (
    Document,
    ReadModel,
    StreamKind,
    Target,
    named,
    recounted,
    stamped,
    stream_kind,
    tally,
)


def target(metadata: EventMetadata, event: DomainEvent) -> Target | None:
    """Every event of an order's stream names the order."""
    if stream_kind(event) is StreamKind.ORDER:
        return Target(named(event, "order_id"))
    return None


def project(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    at = utc(metadata.time)
    row = stamped(document, metadata)
    match event:
        case p.OrderPlaced():
            row |= {
                "order_id": event.order_id,
                "customer_id": event.customer_id,
                "owner_id": event.owner_id,
                "team": event.team,
                "total": money(event.total),
                "currency": event.currency,
                "placed_at": utc(event.placed_at),
                **{f"placed_{g}": x for g, x in periods_of(utc(event.placed_at)).items()},
                "due_date": event.payment_due_date.isoformat(),
                "opened_at": at,
                "balance": money("0"),
                "settled": False,
                "settled_at": None,
                "overdue": False,
                "overdue_at": None,
                "unpaid_after_48_hours": False,
                "unpaid_at": None,
                "refunded": money("0"),
                "refunds": [],
                "moves": [],
            }
            row |= _balance(row, at, event.total)
        case p.ReceivableOpened():
            row |= {"currency": event.currency, "due_date": event.due_date.isoformat()}
            row |= _balance(row, at, event.amount)
        case p.PaymentReceived():
            row |= _balance(row, at, event.balance_after)
        case p.ReceivableSettled():
            row |= _balance(row, at, Decimal(0))
            row |= {
                "settled": True,
                "settled_at": at,
                "overdue": False,
            }
        case p.ReceivableOverdue():
            if not row.get("overdue_at") and not row.get("settled"):
                row |= {
                    "overdue": True,
                    "overdue_at": at,
                    "overdue_entry_balance": row.get("balance", money("0")),
                }
            row |= _balance(row, at, event.balance)
        case p.OrderUnpaidAfter48Hours():
            if not row.get("unpaid_at"):
                row |= {"unpaid_after_48_hours": True, "unpaid_at": at}
            row |= _balance(row, at, event.balance)
        case p.PaymentRefunded():
            refunds = [r for r in row.get("refunds", []) if r["refund_id"] != event.refund_id]
            refunds.append(
                {
                    "refund_id": event.refund_id,
                    "amount": money(event.amount),
                    "currency": event.currency,
                    "at": at,
                    "after_settled": bool(row.get("settled")),
                }
            )
            row |= {
                "refunds": refunds,
                "refunded": money(sum((Decimal(r["amount"]) for r in refunds), Decimal(0))),
            }
    row["periods"] = periods(row)
    row["touched"] = touched(document, row)
    return row


def _balance(row: Document, at: datetime, balance: Decimal | str) -> Document:
    """The new balance and, if it changed, the move that changed it."""
    before = Decimal(row.get("balance") or 0)
    delta = Decimal(balance) - before
    if delta == 0:
        return {"balance": money(balance)}
    move = [at, money(delta), row.get("overdue_at") is not None]
    return {"balance": money(balance), "moves": [*row.get("moves", []), move]}


def facts(row: Document) -> list[datetime]:
    """Every moment the row's boards count something at."""
    moments: list[Any] = [
        row.get("placed_at"),
        row.get("opened_at"),
        row.get("settled_at"),
        row.get("overdue_at"),
        row.get("unpaid_at"),
        *(move[0] for move in row.get("moves", [])),
        *(refund["at"] for refund in row.get("refunds", [])),
    ]
    return [utc(m) for m in moments if m is not None]


def periods(row: Document) -> list[str]:
    """The board keys of the row's dated facts, sorted."""
    return period_keys(facts(row))


def period_keys(moments: Iterable[datetime]) -> list[str]:
    return sorted({key for moment in moments for key in board_keys_of(moment)})


def touched(before: Document, after: Document) -> list[str]:
    """The board keys whose summary the event may have changed: the periods of the facts it
    added (or took), or every period of the row when it changed what all of them count as
    (the order's currency or total). Balance moves and refunds are only ever appended,
    each a fact of its own."""
    if any(before.get(f) not in (None, after.get(f)) for f in ("currency", "total")):
        return periods(after)
    return period_keys(recounted(tally(facts(before)), tally(facts(after))))


def empty(document_id: str) -> Document:
    return {"_id": document_id, "order_id": document_id, "streams": {}, "revision": 0}


MODEL = ReadModel(name="order_rows", target=target, project=project, empty=empty)


def shown(row: Document) -> dict[str, Any]:
    """The row without its bookkeeping (for an API answer)."""
    hidden = {"_id", "streams", "revision", "moves", "periods", "touched", "last_event_id"}
    return {key: value for key, value in row.items() if key not in hidden}
