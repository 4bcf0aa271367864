"""Running sagas: an event starts or concerns one, its commands are sent, the answers recorded.

Every change is recorded before the next command goes out, compare-and-set on the saga's
revision: a process killed between two steps leaves a document from which any replica
continues (``advance`` sends what ``resume`` says is outstanding, with the same
idempotency keys). A command's answer is recorded only while its step is still outstanding,
so two runners racing on one saga (the consumer and the deadline loop, or two replicas)
record it once. A step that failed is sent again after a growing pause; after
``max_attempts`` the saga is stuck (``failed``) for an operator.

Each step is a span in the trace of the event that started the saga (its traceparent is
kept in the document), named ``saga <type> <step>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from opentelemetry.trace import Status as SpanStatus
from prometheus_client import CollectorRegistry, Counter

from crm_runtime.telemetry import context_from_traceparent
from crm_sagas.application.commands import ServiceCommands
from crm_sagas.application.documents import SagaDocuments
from crm_sagas.domain import saga as core
from crm_sagas.domain.saga import (
    Cancelled,
    Decided,
    DecisionNotAwaited,
    DecisionNotYours,
    Entry,
    Flow,
    Observed,
    Retried,
    Saga,
    SagaCommand,
    SagaNotCancellable,
    SagaNotRetryable,
    Started,
    Status,
    StepFailed,
    StepRefused,
    StepSucceeded,
    Trigger,
)

log = structlog.get_logger("crm.sagas.runner")
MAX_ROUNDS = 1000
"""Steps ``advance`` takes in one call at most (a departure moves one item per step)."""
TURN = 50
"""Steps the deadline loop takes for one saga before it turns to the next due one."""
CAS_RETRIES = 10


class SagaNotFound(Exception):
    def __init__(self, saga_id: str) -> None:
        super().__init__(f"no saga {saga_id}")


class SagaConflict(Exception):
    """Writers kept racing on one saga; the caller may try again."""


@dataclass(frozen=True)
class RunnerOptions:
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    in_flight_grace_seconds: float = 30.0
    """Outstanding commands not answered within this are sent again by the deadline loop."""


@dataclass(frozen=True)
class Loaded:
    document: dict[str, Any]
    flow: Flow[Any]
    history: list[Entry]
    saga: Saga[Any]

    @property
    def id(self) -> str:
        return str(self.document["_id"])

    @property
    def status(self) -> Status:
        return core.status(self.flow, self.saga)

    def seen(self, event_id: str) -> bool:
        return any(
            isinstance(e, Started | Observed) and e.trigger.event_id == event_id
            for e in self.history
        )


class SagaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.steps = Counter(
            "crm_sagas_steps",
            "Commands sagas sent, by saga type, step and outcome.",
            ["type", "step", "outcome"],
            registry=registry,
        )
        self.ended = Counter(
            "crm_sagas_ended",
            "Sagas that reached a status other than running, by type and status.",
            ["type", "status"],
            registry=registry,
        )


class SagaRunner:
    def __init__(
        self,
        documents: SagaDocuments,
        flows: Sequence[Flow[Any]],
        commands: ServiceCommands,
        *,
        clock: Callable[[], datetime],
        tracer: Tracer,
        metrics: SagaMetrics,
        options: RunnerOptions,
    ) -> None:
        self.documents = documents
        self.flows: Mapping[str, Flow[Any]] = {flow.type: flow for flow in flows}
        self._commands = commands
        self._clock = clock
        self._tracer = tracer
        self._metrics = metrics
        self._options = options

    # --- events ----------------------------------------------------------------------------

    async def observe(self, trigger: Trigger, traceparent: str | None) -> list[str]:
        """Start the sagas ``trigger`` starts, record it in those it concerns, and advance
        them; answers their ids. A redelivered event changes nothing twice."""
        touched: list[str] = []
        for flow in self.flows.values():
            saga_id = flow.starting(trigger)
            if saga_id is not None and await self._start(flow, saga_id, trigger, traceparent):
                touched.append(saga_id)
                continue
            saga_id = saga_id or flow.following(trigger)
            if saga_id is None:
                continue

            def observed(loaded: Loaded, trigger: Trigger = trigger) -> list[Entry]:
                if loaded.seen(trigger.event_id) or loaded.status is not Status.RUNNING:
                    return []
                return [Observed(self._clock(), trigger)]

            if await self._record(saga_id, observed) is not None:
                touched.append(saga_id)
        for saga_id in touched:
            await self.advance(saga_id)
        return touched

    async def request(
        self, flow_type: str, trigger: Trigger, traceparent: str | None
    ) -> tuple[Loaded, bool]:
        """Start the saga a person's request makes (e.g. a rep's departure); the runner's
        deadline loop takes it up at once. Answers it, and whether it is new (a saga the
        same request started already is answered as it is)."""
        flow = self.flows[flow_type]
        saga_id = flow.starting(trigger)
        if saga_id is None:
            raise ValueError(f"{trigger.type} starts no {flow_type} saga")
        created = await self._start(flow, saga_id, trigger, traceparent, prompt=True)
        loaded = await self.load(saga_id)
        assert loaded is not None
        return loaded, created

    async def decide(self, saga_id: str, decided: Decided, only_if_asked: bool) -> Loaded:
        """Record a person's decision the saga waits for; the runner acts on it at once.

        Raises DecisionNotAwaited when the saga does not wait for it (decided already, or
        not at that step), DecisionNotYours when ``only_if_asked`` and the saga asks others,
        and the flow's own error for a decision it cannot read. Checked on the saga as it
        is when the decision is written (compare-and-set)."""

        def record(loaded: Loaded) -> list[Entry]:
            awaited = loaded.flow.awaits(loaded.saga.state)
            if loaded.status is not Status.RUNNING:
                raise DecisionNotAwaited(saga_id, decided.step, f"it is {loaded.status.value}")
            if decided.step not in awaited:
                raise DecisionNotAwaited(saga_id, decided.step, "not at that step now")
            if only_if_asked and decided.by not in awaited[decided.step]:
                raise DecisionNotYours(saga_id, decided.step, decided.by)
            loaded.flow.check_decision(decided)
            return [decided]

        return await self._operate(saga_id, record)

    async def _start(
        self,
        flow: Flow[Any],
        saga_id: str,
        trigger: Trigger,
        traceparent: str | None,
        *,
        prompt: bool = False,
    ) -> bool:
        started = Started(self._clock(), trigger)
        saga = core.start(flow, started)
        document = self._document(
            {
                "_id": saga_id,
                "type": flow.type,
                "correlation_id": trigger.correlation_id,
                "traceparent": traceparent,
                "started_at": started.at,
                "revision": 0,
            },
            flow,
            [started],
            saga,
        )
        if prompt and document["status"] == Status.RUNNING.value:
            document["due_at"] = started.at
        created = await self.documents.insert(document)
        if created:
            log.info("saga started", saga_id=saga_id, type=flow.type, event_id=trigger.event_id)
        return created

    # --- progress --------------------------------------------------------------------------

    async def advance(self, saga_id: str, max_rounds: int = MAX_ROUNDS) -> Loaded | None:
        """Record a due deadline, then send the outstanding commands one at a time, each
        answer recorded before the next; stops at a failure (retried after its pause).

        After ``max_rounds`` steps with more to send, the saga is left due at once: the
        deadline loop takes turns between sagas (a departure moving thousands of items
        does not hold up the others)."""
        loaded = await self.load(saga_id)
        for _ in range(max_rounds):
            if loaded is None:
                return None
            now = self._clock()
            if core.on_deadline(loaded.flow, loaded.saga, now):
                loaded = await self._record(
                    saga_id, lambda fresh: core.on_deadline(fresh.flow, fresh.saga, self._clock())
                )
                continue
            commands = core.resume(loaded.flow, loaded.saga)
            retry_at = self._retry_at(loaded.saga)
            if not commands or (retry_at is not None and retry_at > now):
                return loaded
            command = commands[0]
            entry = await self._send(loaded, command)

            def answered(
                fresh: Loaded, step: str = command.step, entry: Entry = entry
            ) -> list[Entry]:
                outstanding = {c.step for c in core.resume(fresh.flow, fresh.saga)}
                return [entry] if step in outstanding else []

            loaded = await self._record(saga_id, answered)
            if isinstance(entry, StepFailed):
                return loaded
        if loaded is not None:
            await self.documents.due_again(saga_id, int(loaded.document["revision"]), self._clock())
        return loaded

    async def _send(self, loaded: Loaded, command: SagaCommand) -> Entry:
        parent = context_from_traceparent(loaded.document.get("traceparent"))
        token = otel_context.attach(parent)
        try:
            with self._tracer.start_as_current_span(
                f"saga {loaded.flow.type} {command.step}",
                kind=SpanKind.CLIENT,
                attributes={
                    "crm.saga.id": loaded.id,
                    "crm.saga.type": loaded.flow.type,
                    "crm.saga.step": command.step,
                    "crm.correlation_id": str(loaded.document["correlation_id"]),
                    "http.request.method": command.method,
                    "crm.service": command.service,
                },
            ) as span:
                entry = await self._commands.send(
                    loaded.id,
                    command,
                    correlation_id=str(loaded.document["correlation_id"]),
                    causation_id=loaded.saga.cause,
                )
                outcome = _outcome(entry)
                span.set_attribute("crm.saga.outcome", outcome)
                if isinstance(entry, StepFailed):
                    span.set_status(SpanStatus(StatusCode.ERROR, entry.error))
        finally:
            otel_context.detach(token)
        self._metrics.steps.labels(loaded.flow.type, command.step, outcome).inc()
        log.info("saga step", saga_id=loaded.id, step=command.step, outcome=outcome)
        return entry

    # --- operators -------------------------------------------------------------------------

    async def retry(self, saga_id: str, by: str) -> Loaded:
        """A failed saga tries again: at once, from the deadline loop."""

        def retried(loaded: Loaded) -> list[Entry]:
            if loaded.status is not Status.FAILED:
                raise SagaNotRetryable(saga_id, loaded.status)
            return [Retried(self._clock(), by)]

        return await self._operate(saga_id, retried)

    async def cancel(self, saga_id: str, by: str, reason: str) -> Loaded:
        def cancelled(loaded: Loaded) -> list[Entry]:
            if loaded.status not in (Status.RUNNING, Status.FAILED):
                raise SagaNotCancellable(saga_id, loaded.status)
            return [Cancelled(self._clock(), by, reason)]

        return await self._operate(saga_id, cancelled)

    async def _operate(self, saga_id: str, make: Callable[[Loaded], list[Entry]]) -> Loaded:
        loaded = await self._record(saga_id, make)
        if loaded is None:
            raise SagaNotFound(saga_id)
        return loaded

    # --- the document ----------------------------------------------------------------------

    async def load(self, saga_id: str) -> Loaded | None:
        document = await self.documents.load(saga_id)
        if document is None:
            return None
        flow = self.flows[str(document["type"])]
        history = [core.entry_from_document(e) for e in document["history"]]
        saga = core.replay(flow, history, max_attempts=self._options.max_attempts)
        return Loaded(document, flow, history, saga)

    async def _record(self, saga_id: str, make: Callable[[Loaded], list[Entry]]) -> Loaded | None:
        """Append what ``make`` answers for the saga as it is now; on a lost race, read it
        again and ask again. None when there is no such saga."""
        for _ in range(CAS_RETRIES):
            loaded = await self.load(saga_id)
            if loaded is None:
                return None
            entries = make(loaded)
            if not entries:
                return loaded
            saga = loaded.saga
            for entry in entries:
                saga = core.evolve(
                    loaded.flow, saga, entry, max_attempts=self._options.max_attempts
                )
            history = [*loaded.history, *entries]
            revision = int(loaded.document["revision"])
            document = self._document(
                {**loaded.document, "revision": revision + 1}, loaded.flow, history, saga
            )
            if await self.documents.replace(document, revision):
                after = core.status(loaded.flow, saga)
                if after is not loaded.status and after is not Status.RUNNING:
                    self._metrics.ended.labels(loaded.flow.type, after.value).inc()
                    log.info("saga ended", saga_id=saga_id, status=after.value)
                return Loaded(document, loaded.flow, history, saga)
        raise SagaConflict(f"saga {saga_id}: {CAS_RETRIES} writes in a row lost a race")

    def _document(
        self, base: dict[str, Any], flow: Flow[Any], history: list[Entry], saga: Saga[Any]
    ) -> dict[str, Any]:
        now = self._clock()
        status = core.status(flow, saga)
        deadline = core.deadline(flow, saga)
        retry_at = self._retry_at(saga)
        due: list[datetime] = []
        if status is Status.RUNNING:
            if deadline is not None:
                due.append(deadline.at)
            if retry_at is not None:
                due.append(retry_at)
            elif core.resume(flow, saga):
                grace = timedelta(seconds=self._options.in_flight_grace_seconds)
                last = history[-1]
                # A person's entry (retry, decision, request) is taken up at once; else the
                # commands are in flight and sent again only if their sender died.
                due.append(last.at if last.prompt else now + grace)
        return {
            **base,
            "status": status.value,
            "state": flow.view(saga.state),
            "history": [core.entry_to_document(e) for e in history],
            "deadline": {"name": deadline.name, "at": deadline.at} if deadline else None,
            "due_at": min(due) if due else None,
            "retry_at": retry_at if status is Status.RUNNING else None,
            "attempts": dict(saga.attempts),
            "stuck": saga.stuck,
            "cause": saga.cause,
            "outstanding": [c.step for c in core.resume(flow, saga)],
            "updated_at": now,
        }

    def _retry_at(self, saga: Saga[Any]) -> datetime | None:
        if not saga.attempts or saga.last_failure_at is None:
            return None
        pause = core.retry_pause(
            max(saga.attempts.values()),
            base_seconds=self._options.retry_base_seconds,
            max_seconds=self._options.retry_max_seconds,
        )
        return saga.last_failure_at + timedelta(seconds=pause)


def _outcome(entry: Entry) -> str:
    if isinstance(entry, StepSucceeded):
        return "succeeded"
    if isinstance(entry, StepRefused):
        return "refused"
    return "failed"
