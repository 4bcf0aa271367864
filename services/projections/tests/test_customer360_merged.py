"""A survivor's customer 360 read through its merges: ``with_merged`` on plain views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_projections.domain.customer360 import merged_ids, public_view, with_merged

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def view(customer_id: str, **fields: Any) -> dict[str, Any]:
    """The public view of a plain stored document."""
    return public_view({"_id": customer_id, "customer_id": customer_id, "streams": {}, **fields})


def talked(customer_id: str, *hours: int) -> list[dict[str, Any]]:
    return [
        {
            "interaction_id": f"int_{customer_id}_{h}",
            "kind": "call",
            "at": T0 + timedelta(hours=h),
            "summary": f"{customer_id} at {h}",
            "logged_by": "user:u1",
        }
        for h in sorted(hours, reverse=True)
    ]


def receivable(order_id: str, balance: str, currency: str, *, due: str, late: bool) -> Any:
    return {
        "order_id": order_id,
        "total": balance,
        "balance": balance,
        "currency": currency,
        "due_date": due,
        "overdue": late,
    }


def order(order_id: str, total: str, currency: str, *, days: int) -> dict[str, Any]:
    return {
        order_id: {
            "order_id": order_id,
            "placed_at": T0 + timedelta(days=days),
            "total": total,
            "balance": total,
            "currency": currency,
            "due_date": "2026-12-01",
            "settled": False,
        }
    }


def ticket(ticket_id: str, *, days: int, status: str, csat: int | None = None) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "kind": "complaint",
        "status": status,
        "opened_at": T0 + timedelta(days=days),
        "csat": None if csat is None else csat,
    }


SURVIVOR = view(
    "cus_1",
    profile={"name": "Ada", "kind": "person", "email": "ada@example.com", "phone": None},
    owner={"owner_id": "u1", "team": "north"},
    lifecycle_stage="customer",
    merged_from=["cus_2"],
    revenue_won={"EUR": "100.10", "USD": "5.00"},
    order_count=1,
    last_order_at=T0,
    orders=order("ord_1", "10.05", "EUR", days=0),
    open_tickets=[ticket("tkt_1", days=1, status="open")],
    recent_tickets=[ticket("tkt_1", days=1, status="open")],
    ticket_count=1,
    last_csat={"ticket_id": "tkt_0", "csat": 2, "would_recommend": 3, "answered_at": T0},
    sla_breaches={"count": 1, "open": [{"ticket_id": "tkt_1", "target": "resolution", "due": T0}]},
    assignees=["a1"],
    receivables={
        "items": [receivable("ord_1", "10.05", "EUR", due="2026-12-01", late=True)],
        "open_balance": {"EUR": "10.05"},
        "overdue_balance": {"EUR": "10.05"},
    },
    churn_signals=[{"signal": "receivable_overdue", "order_id": "ord_1"}],
    interactions=talked("cus_1", 1, 5),
)
DUPLICATE = view(
    "cus_2",
    profile={"name": "A. Lovelace", "kind": "person", "email": None, "phone": "+44"},
    owner={"owner_id": "u3", "team": "south"},
    merged_into="cus_1",
    revenue_won={"EUR": "0.20", "GBP": "7.00"},
    order_count=2,
    last_order_at=T0 + timedelta(days=2),
    orders={
        **order("ord_2", "0.01", "EUR", days=1),
        **order("ord_3", "3.00", "GBP", days=2),
    },
    open_tickets=[],
    recent_tickets=[ticket("tkt_2", days=3, status="closed", csat=5)],
    ticket_count=1,
    last_csat={
        "ticket_id": "tkt_2",
        "csat": 5,
        "would_recommend": 9,
        "answered_at": T0 + timedelta(days=4),
    },
    assignees=["a2", "a1"],
    receivables={
        "items": [
            receivable("ord_2", "0.01", "EUR", due="2026-11-15", late=False),
            receivable("ord_3", "3.00", "GBP", due="2026-12-20", late=False),
        ],
        "open_balance": {"EUR": "0.01", "GBP": "3.00"},
        "overdue_balance": {},
    },
    churn_signals=[{"signal": "order_unpaid_after_48_hours", "order_id": "ord_3"}],
    interactions=talked("cus_2", 3, 7),
)


def test_without_merges_the_view_is_the_survivors_own() -> None:
    alone = view("cus_1", interactions=talked("cus_1", 1))
    assert with_merged(alone, {}) == alone


def test_sales_sections_are_summed_per_currency_exactly() -> None:
    combined = with_merged(SURVIVOR, {"cus_2": DUPLICATE})

    assert combined["revenue_won"] == {"EUR": "100.30", "GBP": "7.00", "USD": "5.00"}
    orders = combined["orders"]
    assert (orders["count"], orders["last_placed_at"]) == (3, T0 + timedelta(days=2))
    assert [o["order_id"] for o in orders["recent"]] == ["ord_3", "ord_2", "ord_1"]
    assert [r["order_id"] for r in combined["receivables"]["items"]] == ["ord_2", "ord_1", "ord_3"]


def test_service_sections_are_combined() -> None:
    combined = with_merged(SURVIVOR, {"cus_2": DUPLICATE})

    service = combined["service"]
    assert [t["ticket_id"] for t in service["open_tickets"]] == ["tkt_1"]
    assert [t["ticket_id"] for t in service["recent_tickets"]] == ["tkt_2", "tkt_1"]
    assert service["ticket_count"] == 2
    assert service["last_csat"]["ticket_id"] == "tkt_2"  # the newest answer of either
    assert service["sla_breaches"]["count"] == 1
    assert combined["assignees"] == ["a1", "a2"]
    assert combined["loyalty"] is None  # the survivor's own
    assert combined["receivables"]["open_balance"] == {"EUR": "10.06", "GBP": "3.00"}
    assert combined["receivables"]["overdue_balance"] == {"EUR": "10.05"}
    assert [s["signal"] for s in combined["churn_signals"]] == [
        "order_unpaid_after_48_hours",
        "receivable_overdue",
    ]


def test_the_profile_owner_and_links_stay_the_survivors() -> None:
    combined = with_merged(SURVIVOR, {"cus_2": DUPLICATE})

    for field in ("customer_id", "profile", "owner", "lifecycle_stage", "merged_into", "streams"):
        assert combined[field] == SURVIVOR[field]
    assert combined["merged_from"] == ["cus_2"]


def test_interactions_are_merged_newest_first_and_cut_to_ten() -> None:
    combined = with_merged(SURVIVOR, {"cus_2": DUPLICATE})
    assert [i["interaction_id"] for i in combined["latest_interactions"]] == [
        "int_cus_2_7",
        "int_cus_1_5",
        "int_cus_2_3",
        "int_cus_1_1",
    ]

    busy = view("cus_1", merged_from=["cus_2"], interactions=talked("cus_1", *range(0, 20, 2)))
    chatty = view("cus_2", interactions=talked("cus_2", *range(1, 21, 2)))
    shown = with_merged(busy, {"cus_2": chatty})["latest_interactions"]
    assert [i["at"] for i in shown] == [T0 + timedelta(hours=h) for h in range(19, 9, -1)]


def test_stored_times_as_text_sort_like_datetimes() -> None:
    late = view("cus_2", interactions=[{**talked("cus_2", 9)[0], "at": "2026-11-01T18:00:00"}])
    combined = with_merged(SURVIVOR, {"cus_2": late})
    assert combined["latest_interactions"][0]["interaction_id"] == "int_cus_2_9"


def test_merges_are_followed_recursively_and_cycles_are_ignored() -> None:
    survivor = view("cus_1", merged_from=["cus_2"], revenue_won={"EUR": "1.00"})
    views = {
        "cus_2": view("cus_2", merged_from=["cus_3", "cus_1"], revenue_won={"EUR": "2.00"}),
        "cus_3": view("cus_3", merged_from=["cus_2", "cus_4"], revenue_won={"EUR": "4.00"}),
        # cus_4 is not folded yet: skipped
    }

    assert merged_ids(survivor, views) == ["cus_2", "cus_3"]
    assert with_merged(survivor, views)["revenue_won"] == {"EUR": "7.00"}


def test_a_survivor_merged_from_itself_counts_once() -> None:
    odd = view("cus_1", merged_from=["cus_1"], revenue_won={"EUR": "1.00"})
    assert merged_ids(odd, {"cus_1": odd}) == []
    assert with_merged(odd, {"cus_1": odd})["revenue_won"] == {"EUR": "1.00"}
