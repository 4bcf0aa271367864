"""``crm trace``: the causal chain of one correlation, rebuilt from the event stores alone.

Every event records its correlation id (the conversation it belongs to) and
its causation id (what caused it: the command, or an earlier event). A command
answers its correlation id as ``X-Correlation-Id``; any answer names its trace
as ``X-Trace-Id``. Given either, this reads every context's event store and
prints the chain as a tree: each root is a cause outside the stores (a command),
with the events it caused beneath, and events caused by events (sagas) nested
under them. It needs no tracing backend and no data keys: it shows metadata,
never payloads.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from crm_contacts.config import ContactsSettings
from crm_contracts.contacts import SOURCE as CONTACTS_SOURCE
from crm_contracts.loyalty import SOURCE as LOYALTY_SOURCE
from crm_contracts.pipeline import SOURCE as PIPELINE_SOURCE
from crm_contracts.tickets import SOURCE as TICKETS_SOURCE
from crm_loyalty.config import LoyaltySettings
from crm_pipeline.config import PipelineSettings
from crm_runtime.documents import describe_store, open_document_client
from crm_runtime.eventstore import EventStore, StoredEvent
from crm_tickets.config import TicketsSettings


@dataclass(frozen=True)
class EventStoreSource:
    """One bounded context's event store, found through that context's own settings."""

    context: str
    settings: Callable[[], Any]
    """The context's settings class: RuntimeSettings with the event store's ``database``."""
    source: str

    def open(self) -> tuple[Any, EventStore]:
        settings = self.settings()
        client = open_document_client(settings, app_name="crm-trace")
        return client, EventStore(client[settings.database], source=self.source)

    def describe(self) -> str:
        settings = self.settings()
        return f"{self.context}: database {settings.database}, {describe_store(settings)}"


# Every context's event store; a new context adds its line here.
SOURCES: tuple[EventStoreSource, ...] = (
    EventStoreSource("contacts", ContactsSettings, CONTACTS_SOURCE),
    EventStoreSource("pipeline", PipelineSettings, PIPELINE_SOURCE),
    EventStoreSource("tickets", TicketsSettings, TICKETS_SOURCE),
    EventStoreSource("loyalty", LoyaltySettings, LOYALTY_SOURCE),
)


class NothingFound(LookupError):
    pass


@dataclass(frozen=True)
class TracedEvent:
    context: str
    stored: StoredEvent

    @property
    def id(self) -> str:
        return self.stored.metadata.id

    @property
    def trace_id(self) -> str | None:
        parts = (self.stored.traceparent or "").split("-")
        return parts[1] if len(parts) == 4 else None

    def as_json(self) -> dict[str, Any]:
        meta = self.stored.metadata
        return {
            "id": meta.id,
            "time": meta.time.isoformat(),
            "context": self.context,
            "source": meta.source,
            "type": meta.type,
            "schema_version": meta.schema_version,
            "subject": meta.subject,
            "sequence": meta.sequence,
            "actor": meta.actor,
            "correlation_id": meta.correlation_id,
            "causation_id": meta.causation_id,
            "trace_id": self.trace_id,
            "traceparent": self.stored.traceparent,
            "position": self.stored.position,
        }


@dataclass
class Node:
    """An event and the events it caused."""

    event: TracedEvent
    caused: list[Node] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**self.event.as_json(), "caused": [child.as_json() for child in self.caused]}


@dataclass
class Cause:
    """A root of the chain: a cause that is not an event of the stores (a command, usually)."""

    id: str
    caused: list[Node] = field(default_factory=list)
    loop: bool = False

    @property
    def kind(self) -> str:
        if self.loop:
            return "causation loop at"
        return "command" if self.id.startswith("cmd_") else "outside cause"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "caused": [child.as_json() for child in self.caused],
        }


@dataclass(frozen=True)
class Trace:
    correlation_ids: tuple[str, ...]
    events: tuple[TracedEvent, ...]
    causes: tuple[Cause, ...]
    trace_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "correlation_ids": list(self.correlation_ids),
            "trace_id": self.trace_id,
            "events": [event.as_json() for event in self.events],
            "causes": [cause.as_json() for cause in self.causes],
        }


def causal_tree(events: Sequence[TracedEvent]) -> list[Cause]:
    """Roots are causation ids that name no event here; every event sits under its cause.

    Events are taken in time order. Causes that loop (never written by this code)
    are cut at the loop's earliest event, which becomes a root, so nothing is lost.
    """
    ordered = sorted(events, key=lambda e: (e.stored.metadata.time, e.stored.position))
    nodes = {event.id: Node(event) for event in ordered}
    causes: dict[str, Cause] = {}
    for event in ordered:
        cause_id = event.stored.metadata.causation_id
        if cause_id == event.id:  # caused by itself: a loop of one
            causes.setdefault(cause_id, Cause(cause_id, loop=True)).caused.append(nodes[event.id])
        elif cause_id in nodes:
            nodes[cause_id].caused.append(nodes[event.id])
        else:
            causes.setdefault(cause_id, Cause(cause_id)).caused.append(nodes[event.id])
    reached: set[str] = set()

    def walk(children: list[Node]) -> None:
        for child in children:
            if child.event.id not in reached:
                reached.add(child.event.id)
                walk(child.caused)

    for cause in causes.values():
        walk(cause.caused)
    for event in ordered:
        if event.id not in reached:  # in a causation loop: cut it here
            node = nodes[event.id]
            cause_id = event.stored.metadata.causation_id
            nodes[cause_id].caused.remove(node)
            causes.setdefault(cause_id, Cause(cause_id, loop=True)).caused.append(node)
            walk([node])
    return list(causes.values())


async def find_trace(
    stores: Sequence[tuple[str, EventStore]],
    correlation_id: str | None = None,
    *,
    trace_id: str | None = None,
) -> Trace:
    """Read the events of a correlation (or of the correlations a trace appended) everywhere."""
    if trace_id is not None:
        found = [c for _, store in stores for c in await store.correlations_of_trace(trace_id)]
        correlation_ids = tuple(dict.fromkeys(found))
    elif correlation_id:
        correlation_ids = (correlation_id,)
    else:
        raise ValueError("give a correlation id or a trace id")
    events = [
        TracedEvent(context, stored)
        for correlation in correlation_ids
        for context, store in stores
        for stored in await store.by_correlation(correlation)
    ]
    if not events:
        raise NothingFound(
            f"no event has trace id {trace_id}"
            if trace_id is not None
            else f"no event has correlation id {correlation_id}"
        )
    events.sort(key=lambda e: (e.stored.metadata.time, e.stored.position))
    return Trace(correlation_ids, tuple(events), tuple(causal_tree(events)), trace_id)


async def trace_sources(
    sources: Sequence[EventStoreSource],
    correlation_id: str | None = None,
    *,
    trace_id: str | None = None,
) -> Trace:
    opened = [(source.context, *source.open()) for source in sources]
    try:
        return await find_trace(
            [(context, store) for context, _, store in opened], correlation_id, trace_id=trace_id
        )
    finally:
        for _, client, _ in opened:
            await client.close()


def render(trace: Trace) -> Tree:
    contexts = sorted({event.context for event in trace.events})
    title = Text.assemble(
        ("correlation ", "bold"),
        (", ".join(trace.correlation_ids), "bold cyan"),
        f"  {len(trace.events)} events from {', '.join(contexts)}",
    )
    if trace.trace_id:
        title.append(f"  (found by trace {trace.trace_id})", style="dim")
    tree = Tree(title)
    for cause in trace.causes:
        branch = tree.add(Text.assemble((f"{cause.kind} ", "bold"), (cause.id, "magenta")))
        _add_nodes(branch, cause.caused)
    return tree


def _add_nodes(branch: Tree, nodes: Sequence[Node]) -> None:
    for node in nodes:
        meta = node.event.stored.metadata
        label = Text.assemble(
            (_utc(meta.time).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z", "dim"),
            "  ",
            (node.event.context, "green"),
            "  ",
            (meta.type.rsplit(".", 1)[-1], "bold"),
            "  ",
            f"{meta.subject}@{meta.sequence}",
            "\n",
            ("by ", "dim"),
            meta.actor,
            ("  event ", "dim"),
            meta.id,
            ("  trace ", "dim"),
            node.event.trace_id or "-",
        )
        _add_nodes(branch.add(label), node.caused)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


TRACE_ID = re.compile(r"[0-9a-f]{32}")


def run(correlation_id: str | None, trace_id: str | None, as_json: bool) -> int:
    """The ``crm trace`` command: print the chain and answer 0, or explain and answer 1."""
    err = Console(stderr=True, soft_wrap=True)
    correlation_id = correlation_id.strip() if correlation_id is not None else None
    trace_id = trace_id.strip() if trace_id is not None else None
    if (not correlation_id) == (not trace_id):
        err.print("give a correlation id, or --trace-id (one of them)")
        return 2
    if trace_id is not None and not TRACE_ID.fullmatch(trace_id.lower()):
        err.print(f"a trace id is 32 hex digits (the X-Trace-Id header), not {trace_id!r}")
        return 2
    try:
        trace = asyncio.run(
            trace_sources(SOURCES, correlation_id, trace_id=trace_id.lower() if trace_id else None)
        )
    except NothingFound as nothing:
        err.print(f"{nothing} in the event stores:")
        for source in SOURCES:
            err.print(f"  {source.describe()}")
        err.print(
            "A command that was refused or changed nothing appends no events. Check the id "
            "(X-Correlation-Id of the command's answer) and that CRM_MONGODB_URL / "
            "CRM_DATA_DIR point at the stores of that deployment."
        )
        return 1
    if as_json:
        print(json.dumps(trace.as_json(), indent=2))
    else:
        Console().print(render(trace))
    return 0
