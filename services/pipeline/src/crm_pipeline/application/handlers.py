"""Use cases of the pipeline: each is one command on one stream, or one that leads to another.

Two commands touch two streams: qualifying a lead opens its opportunity, and
accepting a quote places its order. Each appends to its own stream first,
then to the other; the second aggregate's id is derived from the first
(``opp_<lead hex>``, ``ord_<quote hex>``), so a retry after a crash between
the two appends completes the second and never makes two. The answer (the
opportunity or the order) is stored with the first commit, for replays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from crm_pipeline.application.deciders import Deciders
from crm_pipeline.domain import opportunity, order, quote
from crm_pipeline.domain.errors import NotFound
from crm_pipeline.domain.lead import QualifyLead
from crm_pipeline.domain.opportunity import OpportunityTerms
from crm_pipeline.domain.quote import AcceptQuote, LineItem
from crm_runtime.eventstore import CommandContext, Idempotency, WrongExpectedVersion
from crm_runtime.streams import (
    Decider,
    Dependencies,
    Loaded,
    Outcome,
    answer_of,
    append,
    check_version,
    execute,
    kept_answer,
    load,
    replayed_answer,
    retry_on_conflict,
    step_context,
)

C = TypeVar("C")
S = TypeVar("S")
C2 = TypeVar("C2")
S2 = TypeVar("S2")


@dataclass(frozen=True)
class PipelineDependencies(Dependencies):
    deciders: Deciders
    payment_terms_days: int


async def existing(deps: Dependencies, decider: Decider[C, S], stream_id: str) -> Loaded[S]:
    """The aggregate, or NotFound."""
    loaded = await load(deps, decider, stream_id)
    if not decider.exists(loaded.state):
        raise NotFound(decider.kind, stream_id)
    return loaded


async def settle(
    deps: Dependencies,
    decider: Decider[C, S],
    stream_id: str,
    command: C,
    context: CommandContext,
) -> Outcome:
    """Run a command that must take effect whoever else writes the stream meanwhile.

    For internal follow-ups and scheduled checks: on a version conflict the command is
    decided again on the new state, where it is usually a no-op.
    """
    return await retry_on_conflict(lambda _: execute(deps, decider, stream_id, command, context))


async def qualify_lead(
    deps: PipelineDependencies,
    command: QualifyLead,
    terms: OpportunityTerms,
    context: CommandContext,
    *,
    expected_version: int | None = None,
    idempotency: Idempotency | None = None,
    loaded: Loaded[Any] | None = None,
) -> Outcome:
    """Qualify the lead, then open its opportunity; answers with the opportunity."""

    def opening(lead: Any) -> tuple[str, opportunity.OpenOpportunity]:
        command = opportunity.opening_for(lead, terms)
        return command.opportunity_id, command

    return await _then(
        deps,
        deps.deciders.lead,
        command.lead_id,
        command,
        deps.deciders.opportunity,
        opening,
        context,
        expected_version=expected_version,
        idempotency=idempotency,
        loaded=loaded,
    )


async def accept_quote(
    deps: PipelineDependencies,
    quote_id: str,
    context: CommandContext,
    *,
    expected_version: int | None = None,
    idempotency: Idempotency | None = None,
    loaded: Loaded[Any] | None = None,
) -> Outcome:
    """Accept the quote, then place its order (which opens the receivable); answers the order."""
    command = AcceptQuote(quote_id, quote.order_id_for(quote_id), accepted_at=deps.clock())

    def placing(accepted: Any) -> tuple[str, order.PlaceOrder]:
        command = order.placing_for(accepted, deps.payment_terms_days)
        return command.order_id, command

    return await _then(
        deps,
        deps.deciders.quote,
        quote_id,
        command,
        deps.deciders.order,
        placing,
        context,
        expected_version=expected_version,
        idempotency=idempotency,
        loaded=loaded,
    )


async def draft_quote(
    deps: PipelineDependencies,
    priced: opportunity.OpportunityState,
    quote_id: str,
    lines: Sequence[LineItem],
    context: CommandContext,
    *,
    currency: str | None = None,
    idempotency: Idempotency | None = None,
) -> Outcome:
    """Draft a quote for an opportunity already loaded (and authorised) by the caller."""
    command = quote.draft_for(priced, quote_id, lines, currency)
    return await execute(
        deps,
        deps.deciders.quote,
        quote_id,
        command,
        context,
        expected_version=0,
        idempotency=idempotency,
    )


async def _then(
    deps: Dependencies,
    first: Decider[C, S],
    stream_id: str,
    command: C,
    then: Decider[C2, S2],
    follow: Callable[[S], tuple[str, C2]],
    context: CommandContext,
    *,
    expected_version: int | None,
    idempotency: Idempotency | None,
    loaded: Loaded[S] | None,
) -> Outcome:
    """``command`` on its stream, then the command its new state leads to on another one."""
    with deps.tracer.start_as_current_span(
        f"{first.service}.{type(command).__name__}",
        attributes={"crm.stream_id": stream_id, "crm.command_id": context.command_id},
    ):
        replay = await replayed_answer(deps, idempotency, then.placeholders)
        if replay is not None:
            done = await load(deps, first, stream_id)
            await settle(deps, then, *follow(done.state), step_context(context, then.kind))
            return replay
        if loaded is None or loaded.stream_id != stream_id:
            loaded = await load(deps, first, stream_id)
        check_version(loaded, expected_version)
        decided = first.decide(command, loaded.state)
        next_id, next_command = follow(first.fold(decided, loaded.state))
        following = await load(deps, then, next_id)
        leads_to = then.decide(next_command, following.state)
        version = following.version + len(leads_to)
        view = then.view(then.fold(leads_to, following.state), version)
        if decided:
            appended = await append(
                deps,
                loaded,
                decided,
                context,
                idempotency=idempotency,
                result=await kept_answer(deps, stream_id, view, then.personal),
            )
            if not appended.ours:  # a concurrent request with the same key was first
                await settle(deps, then, next_id, next_command, step_context(context, then.kind))
                return await answer_of(deps, appended.commit, then.placeholders)
        if not leads_to:
            return Outcome(view, version, changed=bool(decided))
        try:
            await append(deps, following, leads_to, step_context(context, then.kind))
        except WrongExpectedVersion:  # a retry running alongside did it first
            return await settle(deps, then, next_id, next_command, step_context(context, "again"))
        return Outcome(view, version)
