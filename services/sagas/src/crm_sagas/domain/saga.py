"""What every saga shares: its history entries, the commands it sends, and the generic
evolve/react/resume around one flow's own rules.

A saga is the mirror image of a decider: it does not decide on commands, it reacts to what
happened (a domain event it observed, the answer to a command it sent, a deadline that
passed, an operator's word) with the commands the next step needs. Its history is a list of
``Entry``; its state is the fold of that history; ``resume`` answers the commands still
outstanding, so a restarted process sends them again (with the same idempotency keys) and
never doubles an effect. The clock is an input: every entry carries its time.

A ``Flow`` (onboarding, payment reminder) supplies the business: its state, how entries
move it, which commands are outstanding, its deadline and its outcome. The generic layer
here adds what every saga has: transient failures counted until the saga gives up (stuck,
``failed``, for an operator), refusals the flow does not expect (``failed`` with the
reason), and the operator's retry and cancel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar


class Status(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    COMPENSATED = "compensated"


TERMINAL = frozenset({Status.COMPLETED, Status.CANCELLED, Status.COMPENSATED})
"""Ends for good. ``failed`` is not among them: an operator may retry a failed saga."""


@dataclass(frozen=True)
class Trigger:
    """A domain event a saga observed: its id, type, payload (the contract's JSON) and time."""

    event_id: str
    type: str
    subject: str
    data: Mapping[str, Any]
    correlation_id: str
    at: datetime


@dataclass(frozen=True)
class SagaCommand:
    """A request to the service that owns the next step.

    ``step`` names it within the saga (saga id + step is its Idempotency-Key); ``keep``
    names the fields of the answer worth recording (never personal data).
    """

    step: str
    service: str
    method: str
    path: str
    body: Mapping[str, Any] | None = None
    keep: tuple[str, ...] = ()
    event_type: str | None = None
    """For ``method="PUBLISH"``: the contract type of the message; ``path`` is its topic."""
    subject: str | None = None
    """For ``method="PUBLISH"``: the aggregate the message is about (its Kafka key)."""
    at: datetime | None = None
    """For ``method="PUBLISH"``: the message's time, from the saga's state (a resend is the
    same message)."""


PUBLISH = "PUBLISH"
"""The method of a command that is a message on a Kafka topic (to a system with no API)."""


def publication(
    step: str,
    topic: str,
    event_type: str,
    subject: str,
    payload: Mapping[str, Any],
    at: datetime,
) -> SagaCommand:
    """A message the saga publishes about ``subject`` as of ``at``: done when the broker
    acknowledged it. Its id derives from the saga and the step, so a resend is the same
    message."""
    return SagaCommand(
        step, "kafka", PUBLISH, topic, body=payload, event_type=event_type, subject=subject,
        at=at,
    )  # fmt: skip


@dataclass(frozen=True)
class Deadline:
    name: str
    at: datetime


# --- history entries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    kind: ClassVar[str]
    prompt: ClassVar[bool] = False
    """Recorded by a person (over HTTP): the runner takes the saga up at once."""
    at: datetime


@dataclass(frozen=True)
class Started(Entry):
    """The event that started the saga."""

    kind: ClassVar[str] = "started"
    trigger: Trigger


@dataclass(frozen=True)
class Observed(Entry):
    """A later event of the saga's business (e.g. the order was paid)."""

    kind: ClassVar[str] = "observed"
    trigger: Trigger


@dataclass(frozen=True)
class StepSucceeded(Entry):
    """The service did it (or had done it already): a 2xx answer, the kept fields of it."""

    kind: ClassVar[str] = "step_succeeded"
    step: str
    status: int
    answer: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepRefused(Entry):
    """The service refused for good (a 4xx problem): the flow may expect it, or it fails."""

    kind: ClassVar[str] = "step_refused"
    step: str
    status: int
    detail: str


@dataclass(frozen=True)
class StepFailed(Entry):
    """A failure that may pass (unreachable, 5xx, 429): tried again after a pause."""

    kind: ClassVar[str] = "step_failed"
    step: str
    error: str


@dataclass(frozen=True)
class DeadlinePassed(Entry):
    kind: ClassVar[str] = "deadline_passed"
    name: str
    due: datetime | None = None
    """When it was due (``at`` is when it was found passed); none in older histories."""


@dataclass(frozen=True)
class Retried(Entry):
    """An operator asked a failed saga to try again."""

    kind: ClassVar[str] = "retried"
    prompt: ClassVar[bool] = True
    by: str


@dataclass(frozen=True)
class Decided(Entry):
    """A person answered the question a step asks (e.g. sales confirms a requirement's value).

    ``details`` are the decision's fields the flow reads (never personal data).
    """

    kind: ClassVar[str] = "decided"
    prompt: ClassVar[bool] = True
    step: str
    by: str
    accepted: bool
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancelled(Entry):
    """An operator stopped the saga; nothing more is sent."""

    kind: ClassVar[str] = "cancelled"
    by: str
    reason: str


ENTRY_KINDS: dict[str, type[Entry]] = {
    kind.kind: kind
    for kind in (
        Started,
        Observed,
        StepSucceeded,
        StepRefused,
        StepFailed,
        DeadlinePassed,
        Retried,
        Decided,
        Cancelled,
    )
}


def entry_to_document(entry: Entry) -> dict[str, Any]:
    """The entry as stored in the saga's history (a trigger as a nested document)."""
    document: dict[str, Any] = {"kind": entry.kind}
    for part in fields(entry):
        value = getattr(entry, part.name)
        if isinstance(value, Trigger):
            value = {name.name: getattr(value, name.name) for name in fields(value)}
            value["data"] = dict(value["data"])
        elif isinstance(value, Mapping):
            value = dict(value)
        document[part.name] = value
    return document


def entry_from_document(document: Mapping[str, Any]) -> Entry:
    values = {k: v for k, v in document.items() if k != "kind"}
    if "trigger" in values:
        values["trigger"] = Trigger(**values["trigger"])
    return ENTRY_KINDS[str(document["kind"])](**values)


# --- one flow's rules ------------------------------------------------------------------------

S = TypeVar("S")


class Flow(Protocol[S]):
    """The business of one saga type: pure, given its configuration when built."""

    @property
    def type(self) -> str: ...

    def starting(self, trigger: Trigger) -> str | None:
        """The id of the saga ``trigger`` starts (derived from it), if it starts one."""

    def following(self, trigger: Trigger) -> str | None:
        """The id of a running saga ``trigger`` concerns (e.g. the order was paid)."""

    def initial_state(self, started: Started) -> S:
        """The state the starting event makes."""

    def evolve(self, state: S, entry: Entry) -> S:
        """The state after ``entry`` (successes, expected refusals, events, deadlines)."""

    def react(self, state: S) -> list[SagaCommand]:
        """The commands outstanding in ``state``: sent until an answer is recorded."""

    def deadline(self, state: S) -> Deadline | None:
        """The next deadline, if the saga waits for one."""

    def outcome(self, state: S) -> Status:
        """running, completed, compensated or failed, as the business sees it."""

    def expects(self, state: S, refused: StepRefused) -> bool:
        """True when the refusal is an answer the flow reads (e.g. 404: not a member)."""

    def view(self, state: S) -> dict[str, Any]:
        """The state as the API shows it."""

    def awaits(self, state: S) -> Mapping[str, frozenset[str]]:
        """The decisions a person may take now: step -> the users asked (empty: anyone the
        policy lets decide)."""

    def check_decision(self, decided: Decided) -> None:
        """Raises (a ValueError) for a decision the flow cannot read."""


@dataclass(frozen=True)
class Saga(Generic[S]):
    """A flow's state plus what every saga tracks."""

    state: S
    cause: str
    """The event id the next commands are caused by (the latest observed)."""
    attempts: Mapping[str, int] = field(default_factory=dict)
    stuck: str | None = None
    """Why the saga stopped for an operator (gave up retrying, or an unexpected refusal)."""
    cancelled: bool = False
    last_failure_at: datetime | None = None


def start(flow: Flow[S], started: Started) -> Saga[S]:
    return Saga(state=flow.initial_state(started), cause=started.trigger.event_id)


def evolve(flow: Flow[S], saga: Saga[S], entry: Entry, *, max_attempts: int) -> Saga[S]:
    """The saga after ``entry``; ``max_attempts`` transient failures of a step make it stuck."""
    match entry:
        case Started():
            return start(flow, entry)
        case Cancelled():
            return replace(saga, cancelled=True)
        case Retried():
            return replace(saga, stuck=None, attempts={}, state=flow.evolve(saga.state, entry))
        case StepFailed(step=step):
            attempts = {**saga.attempts, step: saga.attempts.get(step, 0) + 1}
            stuck = saga.stuck
            if attempts[step] >= max_attempts:
                stuck = f"{step} failed {attempts[step]} times; last: {entry.error}"
            return replace(saga, attempts=attempts, stuck=stuck, last_failure_at=entry.at)
        case StepRefused() if not flow.expects(saga.state, entry):
            return replace(saga, stuck=f"{entry.step} refused ({entry.status}): {entry.detail}")
        case StepSucceeded(step=step) | StepRefused(step=step):
            attempts = {k: v for k, v in saga.attempts.items() if k != step}
            return replace(saga, attempts=attempts, state=flow.evolve(saga.state, entry))
        case Observed():
            return replace(saga, cause=entry.trigger.event_id, state=flow.evolve(saga.state, entry))
    return replace(saga, state=flow.evolve(saga.state, entry))


def replay(flow: Flow[S], history: Sequence[Entry], *, max_attempts: int) -> Saga[S]:
    """The saga its history makes (the first entry is the one that started it)."""
    first = history[0]
    if not isinstance(first, Started):
        raise ValueError("a saga's history begins with the event that started it")
    saga = start(flow, first)
    for entry in history[1:]:
        saga = evolve(flow, saga, entry, max_attempts=max_attempts)
    return saga


def status(flow: Flow[S], saga: Saga[S]) -> Status:
    if saga.cancelled:
        return Status.CANCELLED
    if saga.stuck is not None:
        return Status.FAILED
    return flow.outcome(saga.state)


def is_terminal(flow: Flow[S], saga: Saga[S]) -> bool:
    return status(flow, saga) in TERMINAL


def resume(flow: Flow[S], saga: Saga[S]) -> list[SagaCommand]:
    """The commands to send now: none once the saga ended or waits for an operator."""
    if status(flow, saga) is not Status.RUNNING:
        return []
    return flow.react(saga.state)


def react(flow: Flow[S], saga: Saga[S], entry: Entry, *, max_attempts: int) -> list[SagaCommand]:
    """The commands ``entry`` leads to: those outstanding once it is recorded."""
    return resume(flow, evolve(flow, saga, entry, max_attempts=max_attempts))


def deadline(flow: Flow[S], saga: Saga[S]) -> Deadline | None:
    return flow.deadline(saga.state) if status(flow, saga) is Status.RUNNING else None


def on_deadline(flow: Flow[S], saga: Saga[S], now: datetime) -> list[Entry]:
    """``DeadlinePassed`` when the pending deadline is due at ``now``; else nothing."""
    pending = deadline(flow, saga)
    if pending is None or pending.at > now:
        return []
    return [DeadlinePassed(at=now, name=pending.name, due=pending.at)]


# --- flows that must progress every so often ---------------------------------------------------

STEP_DEADLINE = "step"


def step_deadline(
    *, done: bool, timed_out: str | None, since: datetime, limit: timedelta
) -> Deadline | None:
    """The deadline of a flow whose every step must be answered within ``limit`` of the last
    progress (``since``): none once done or timed out."""
    if done or timed_out is not None:
        return None
    return Deadline(STEP_DEADLINE, since + limit)


def step_outcome(*, done: bool, timed_out: str | None) -> Status:
    """Failed (for an operator) once timed out, completed once done, else running."""
    if timed_out is not None:
        return Status.FAILED
    return Status.COMPLETED if done else Status.RUNNING


def timed_out_reason(limit: timedelta, pending: Sequence[SagaCommand]) -> str:
    """Why a flow timed out: the steps it still waited for."""
    waiting = ", ".join(c.step for c in pending) or "nothing"
    return f"no answer within {limit} to {waiting}"


def retry_pause(attempts: int, *, base_seconds: float, max_seconds: float) -> float:
    """Seconds before a failed step is sent again: doubling from ``base_seconds``."""
    return float(min(base_seconds * 2 ** max(attempts - 1, 0), max_seconds))


class DecisionNotAwaited(Exception):
    """A decision the saga does not wait for (already taken, or not its step now)."""

    def __init__(self, saga_id: str, step: str, why: str) -> None:
        super().__init__(f"saga {saga_id} does not wait for a {step} decision: {why}")
        self.title = "Decision not awaited"


class DecisionNotYours(Exception):
    """A decision the saga asks of other people."""

    def __init__(self, saga_id: str, step: str, by: str) -> None:
        super().__init__(f"saga {saga_id} does not ask {by} for the {step} decision")


class SagaNotRetryable(Exception):
    def __init__(self, saga_id: str, current: Status) -> None:
        super().__init__(f"saga {saga_id} is {current.value}; only a failed saga can be retried")
        self.title = "Saga not failed"


class SagaNotCancellable(Exception):
    def __init__(self, saga_id: str, current: Status) -> None:
        super().__init__(f"saga {saga_id} already ended ({current.value}); it cannot be cancelled")
        self.title = "Saga already ended"
