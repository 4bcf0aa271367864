"""The churn watch list: which customers may be about to leave, and why, with the evidence.

Pure functions over a customer 360 public view (``customer360.public_view``, or
``with_merged`` of it): each reason is a dict ``{"reason": ..., **evidence}``:

- ``no_interaction``: a customer (stage customer, repeat customer or at risk) with
  no interaction for ``days`` days up to ``now``: the last interaction (id, kind,
  when) and the days since; never any: since registration;
- ``unpaid_orders``: the orders the pipeline flagged unpaid 48 hours after placing
  (nothing paid yet) or overdue, still open: order id, when placed or due, balance;
- ``falling_satisfaction``: the last survey scored below 3, or below the survey
  before it: both surveys (ticket, score, when);
- ``complaints_past_sla``: open complaints that breached an SLA target: ticket id,
  the targets and their deadlines.

A customer merged into another (it lives on as the survivor) or erased is not
watched. The list is read from the 360 documents ``candidates_filter`` selects by
index (see ``INDEXES``), then ``watch_entry`` decides: no event is read.

Two fields the 360 does not keep yet are read when present (proposed to be kept
by the customer 360, top-level in its document and in its public view):
``last_interaction_at`` (the newest interaction's time: the interactions shown
are only the newest ten, and no index can ask "no interaction since" of an
array) and ``service.previous_csat`` (document: ``previous_csat``; the survey
answered before ``last_csat``, same shape). Without them the last interaction
is read from ``latest_interactions`` and only the "below 3" rule of
satisfaction applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from crm_projections.domain.streams import utc

WATCHED_STAGES = ("customer", "repeat_customer", "at_risk")
"""Stages whose silence is a churn risk (a prospect's is not; a churned one is lost)."""
LOW_CSAT = 3
UNPAID_SIGNALS = ("order_unpaid_after_48_hours", "receivable_overdue")
REASONS = ("no_interaction", "unpaid_orders", "falling_satisfaction", "complaints_past_sla")

INDEXES: tuple[tuple[list[tuple[str, int]], bool], ...] = (
    ([("lifecycle_stage", 1), ("last_interaction_at", 1)], False),
    ([("churn_signals.signal", 1)], True),
    ([("service_signals.signal", 1)], True),
    ([("last_csat.csat", 1)], True),
    ([("previous_csat.csat", 1), ("last_csat.csat", 1)], True),
)
"""Indexes of the customer 360 collection ``candidates_filter`` uses, one per clause of
its ``$or`` (every clause indexed, so MongoDB unions index scans instead of scanning), each
with whether it is sparse. A sparse one leaves out the customers without its fields, most of
them (no open signal, no survey answered); its clause asks for a value (a signal named, a
score below or above a bound), which they never have. The silence clause asks for a missing
``last_interaction_at``: its index holds every customer."""

View = Mapping[str, Any]


def _moment(value: datetime | str) -> datetime:
    return utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def last_interaction(view: View) -> dict[str, Any] | None:
    """The newest interaction shown (by when it happened, then id)."""
    shown = view.get("latest_interactions") or []
    if not shown:
        return None
    newest = max(shown, key=lambda i: (_moment(i["at"]), i["interaction_id"]))
    return {"interaction_id": newest["interaction_id"], "kind": newest["kind"], "at": newest["at"]}


def no_interaction(view: View, *, now: datetime, days: int) -> dict[str, Any] | None:
    """Silence for ``days`` days or more: the last interaction was at or before ``now - days``
    (or there never was one and the customer registered at or before then)."""
    if view.get("lifecycle_stage") not in WATCHED_STAGES:
        return None
    cutoff = utc(now) - timedelta(days=days)
    last = last_interaction(view)
    at = view.get("last_interaction_at") or (last or {}).get("at")
    if at is not None:
        if _moment(at) > cutoff:
            return None
        return {
            "reason": "no_interaction",
            "days": days,
            "last_interaction": last if last else {"at": at},
            "days_since": (utc(now) - _moment(at)).days,
        }
    registered = view.get("registered_at")
    if registered is None or _moment(registered) > cutoff:
        return None
    return {
        "reason": "no_interaction",
        "days": days,
        "last_interaction": None,
        "registered_at": registered,
        "days_since": (utc(now) - _moment(registered)).days,
    }


def unpaid_orders(view: View) -> dict[str, Any] | None:
    """The open orders flagged unpaid after 48 hours or overdue (the 360's churn signals)."""
    flagged: dict[str, dict[str, Any]] = {}
    for signal in view.get("churn_signals") or []:
        if signal["signal"] not in UNPAID_SIGNALS:
            continue
        entry = flagged.setdefault(
            signal["order_id"],
            {
                "order_id": signal["order_id"],
                "balance": signal["balance"],
                "currency": signal["currency"],
                "flags": [],
            },
        )
        entry["flags"].append(signal["signal"])
        for field in ("placed_at", "due_date"):
            if field in signal:
                entry[field] = signal[field]
    if not flagged:
        return None
    return {"reason": "unpaid_orders", "orders": [flagged[k] for k in sorted(flagged)]}


def falling_satisfaction(view: View) -> dict[str, Any] | None:
    """The last CSAT below 3, or below the one answered before it."""
    service = view.get("service") or {}
    last = service.get("last_csat")
    if not last:
        return None
    before = service.get("previous_csat")
    low = last["csat"] < LOW_CSAT
    fell = before is not None and last["csat"] < before["csat"]
    if not (low or fell):
        return None
    return {
        "reason": "falling_satisfaction",
        "below": LOW_CSAT if low else None,
        "last": _survey(last),
        "previous": None if before is None else _survey(before),
    }


def _survey(survey: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ticket_id": survey["ticket_id"],
        "csat": survey["csat"],
        "answered_at": survey["answered_at"],
    }


def complaints_past_sla(view: View) -> dict[str, Any] | None:
    """The open complaints past an SLA deadline, with the targets breached and when due."""
    signals = [s for s in view.get("churn_signals") or [] if s["signal"] == "complaint_past_sla"]
    if not signals:
        return None
    breaches = (view.get("service") or {}).get("sla_breaches", {}).get("open", [])
    complaints = []
    for signal in sorted(signals, key=lambda s: s["ticket_id"]):
        due = {b["target"]: b["due"] for b in breaches if b["ticket_id"] == signal["ticket_id"]}
        complaints.append(
            {
                "ticket_id": signal["ticket_id"],
                "breaches": [
                    {"target": target, "due": due.get(target)} for target in signal["breaches"]
                ],
            }
        )
    return {"reason": "complaints_past_sla", "complaints": complaints}


def churn_reasons(view: View, *, now: datetime, days: int) -> list[dict[str, Any]]:
    """Every reason to watch the customer, in the order of ``REASONS``; none for a customer
    merged into another or erased."""
    if view.get("merged_into") or view.get("erased"):
        return []
    found = [
        no_interaction(view, now=now, days=days),
        unpaid_orders(view),
        falling_satisfaction(view),
        complaints_past_sla(view),
    ]
    return [reason for reason in found if reason is not None]


def watch_entry(view: View, *, now: datetime, days: int) -> dict[str, Any] | None:
    """The customer's line on the watch list, None when there is no reason to watch it."""
    reasons = churn_reasons(view, now=now, days=days)
    if not reasons:
        return None
    owner = view.get("owner") or {}
    return {
        "customer_id": view["customer_id"],
        "name": (view.get("profile") or {}).get("name"),
        "owner_id": owner.get("owner_id"),
        "team": owner.get("team"),
        "lifecycle_stage": view.get("lifecycle_stage"),
        "reasons": reasons,
    }


def candidates_filter(*, now: datetime, days: int) -> dict[str, Any]:
    """The filter of the customer 360 documents that may be on the list (a superset:
    ``watch_entry`` decides). Every clause of the ``$or`` is served by one of
    ``INDEXES``; the merged and erased are filtered out of what they fetch."""
    cutoff = utc(now) - timedelta(days=days)
    stages = {"$in": list(WATCHED_STAGES)}
    return {
        "merged_into": None,
        "erased_at": {"$exists": False},
        "$or": [
            {"lifecycle_stage": stages, "last_interaction_at": {"$lte": cutoff}},
            {
                "lifecycle_stage": stages,
                "last_interaction_at": None,
                "registered_at": {"$lte": cutoff},
            },
            {"churn_signals.signal": {"$in": list(UNPAID_SIGNALS)}},
            {"service_signals.signal": "complaint_past_sla"},
            {"last_csat.csat": {"$lt": LOW_CSAT}},
            # fell without going below 3: from 4 or 5 to 3 or 4
            {"previous_csat.csat": {"$gt": LOW_CSAT}, "last_csat.csat": {"$lte": LOW_CSAT + 1}},
        ],
    }
