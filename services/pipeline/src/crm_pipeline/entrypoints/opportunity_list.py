"""The list of opportunities: by owner, customer and status, in pages ordered by id.

It reads the opportunity rows (``application.opportunity_rows``), caught up with the
event store first, so a caller sees what it has just done (a deal handed over, won or
lost). A page ends with ``next``, the cursor to pass as ``after`` for the following
one: paging by id stays correct while the deals of an earlier page change hands.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from crm_pipeline.application.opportunity_rows import Reach, summary
from crm_pipeline.application.policy import LIST_OPPORTUNITIES, PIPELINE_POLICY
from crm_pipeline.bootstrap import PipelineService
from crm_pipeline.entrypoints.answers import OpportunityList
from crm_runtime.auth import Principal
from crm_runtime.guard import Caller
from crm_runtime.policy import Forbidden, Scope

ID = r"^[\w.@:-]+$"
Id = Annotated[str | None, Query(min_length=1, max_length=200, pattern=ID)]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        pattern=ID,
        description="Where the page starts: the ``next`` of the page before.",
    ),
]


class Status(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


def opportunity_list_routes(service: PipelineService) -> APIRouter:
    router = APIRouter(prefix="/opportunities", tags=["opportunities"])

    @router.get("", response_model=OpportunityList)
    async def list_opportunities(
        caller: Caller,
        owner_id: Id = None,
        customer_id: Id = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        after: Cursor = None,
    ) -> dict[str, Any]:
        """Opportunities matching every filter given, ordered by id, ``limit`` a page.

        Sales reps see their own, managers their team's, auditors, admins and services
        every one; a filter outside what the caller sees finds nothing.
        """
        reach = reach_of(caller)
        await service.opportunity_rows.catch_up()
        page = await service.opportunity_rows.page(
            owner_id=owner_id,
            customer_id=customer_id,
            status=status.value if status is not None else None,
            reach=reach,
            after=after,
            limit=limit,
        )
        return {"opportunities": [summary(row) for row in page.rows], "next": page.next}

    return router


def reach_of(caller: Principal) -> Reach | None:
    """Whose opportunities the caller may list; None: everyone's."""
    match PIPELINE_POLICY.scope_of(caller, LIST_OPPORTUNITIES):
        case Scope.ANY:
            return None
        case Scope.TEAM:
            return Reach(caller.subject, caller.team)
        case Scope.OWN:
            return Reach(caller.subject)
    raise Forbidden(caller, LIST_OPPORTUNITIES, "not granted to these roles")
