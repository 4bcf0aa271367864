"""What the simulated R&D system answers (the embedded default only; a real R&D system
replaces it in production): a request in, its reply out.

Pure and deterministic, so a redelivered request gets the very same answer (and, through
``crm_contracts.rnd.reply_metadata``, the same reply id):

- a requirement of **low** business value is declined: R&D capacity goes to medium and high
  value requirements;
- otherwise it is **estimated** from the requirement id: 2 to 15 days by a SHA-256 of the id,
  as is for urgent and high priority, doubled for normal and low (the team works on them
  between other things), never above ``MAX_ESTIMATE_DAYS``;
- an estimate above the **capacity** (``CRM_RND_SIMULATOR_CAPACITY_DAYS``) is declined;
- the rest is **scheduled**: work starts a few days after the day of the request, the more
  urgent the sooner (``LEAD_DAYS``), and is delivered ``estimate_days`` days after it starts.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

from crm_contracts.rnd import (
    BusinessValue,
    RequirementDeclined,
    RequirementEstimateRequested,
    RequirementScheduled,
    RndReply,
)
from crm_contracts.tickets import Priority

SMALLEST_ESTIMATE_DAYS = 2
LARGEST_BASE_ESTIMATE_DAYS = 15
MAX_ESTIMATE_DAYS = 20
"""No requirement is estimated above four working weeks, whatever its priority."""
SLOWER = {Priority.URGENT: 1, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 2}
"""How much longer work of each priority takes (fitted in between other work)."""
LEAD_DAYS = {Priority.URGENT: 1, Priority.HIGH: 2, Priority.NORMAL: 5, Priority.LOW: 10}
"""Days from the request to the start of the work, by priority."""
LOW_VALUE_REASON = "R&D capacity goes to medium and high value requirements this quarter"


def estimate_days(requirement_id: str, priority: Priority) -> int:
    """The simulated estimate of a requirement: the same for the same id and priority."""
    digest = hashlib.sha256(requirement_id.encode()).digest()
    spread = LARGEST_BASE_ESTIMATE_DAYS - SMALLEST_ESTIMATE_DAYS + 1
    base = SMALLEST_ESTIMATE_DAYS + int.from_bytes(digest[:8], "big") % spread
    return min(base * SLOWER[priority], MAX_ESTIMATE_DAYS)


def decide(
    request: RequirementEstimateRequested,
    requested_on: date,
    *,
    capacity_days: int,
    team: str,
) -> RndReply:
    """R&D's answer to ``request``, sent on ``requested_on`` (the request's ``ce_time``)."""
    if request.business_value == BusinessValue.LOW:
        return RequirementDeclined(
            request_id=request.request_id,
            requirement_id=request.requirement_id,
            reason=LOW_VALUE_REASON,
        )
    days = estimate_days(request.requirement_id, request.priority)
    if days > capacity_days:
        return RequirementDeclined(
            request_id=request.request_id,
            requirement_id=request.requirement_id,
            reason=f"Estimated at {days} days, more than the {capacity_days} days R&D can give "
            "one requirement this quarter",
        )
    starts = requested_on + timedelta(days=LEAD_DAYS[request.priority])
    return RequirementScheduled(
        request_id=request.request_id,
        requirement_id=request.requirement_id,
        estimate_days=days,
        scheduled_for=starts,
        delivery_by=starts + timedelta(days=days),
        rnd_team=team,
        note="Simulated R&D (embedded default): estimate and dates are made up.",
    )


def wait_before_answering(requested_at: datetime, now: datetime, delay: timedelta) -> float:
    """Seconds to wait so the answer comes ``delay`` after the request was sent: none for a
    request that waited that long already (a backlog, a redelivery), never more than
    ``delay`` (a sender's clock ahead of ours)."""
    remaining = (requested_at + delay - now).total_seconds()
    return max(0.0, min(remaining, delay.total_seconds()))
