"""Recording a purchase another context reported: follows merges, tolerates races."""

from __future__ import annotations

from dataclasses import replace

from crm_contacts.application import handlers
from crm_contacts.application.handlers import Dependencies, Outcome
from crm_contacts.domain.customer import CustomerWasMerged, RecordPurchase
from crm_runtime.eventstore import CommandContext, WrongExpectedVersion

MAX_MERGE_HOPS = 10
RACE_RETRIES = 3


async def record_purchase(
    deps: Dependencies, command: RecordPurchase, context: CommandContext
) -> Outcome:
    """Record the purchase for the customer, or for the survivor it was merged into.

    Idempotent per deal (the decider counts a purchase whose order or opportunity it
    has seen once), so a redelivered or concurrent message changes nothing twice; a lost
    race is retried on the new state.
    """
    for _ in range(MAX_MERGE_HOPS):
        for attempt in range(RACE_RETRIES):
            try:
                return await handlers.execute(deps, command, context)
            except WrongExpectedVersion:
                if attempt == RACE_RETRIES - 1:
                    raise
            except CustomerWasMerged as merged:
                command = replace(command, customer_id=merged.survivor_id)
                break
    raise RuntimeError(f"customer {command.customer_id}: more than {MAX_MERGE_HOPS} merges deep")
