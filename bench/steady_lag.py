"""Steady-state lag: the projections service folding a realistic mix at a fixed rate.

The projections service runs on the harness's broker and a fresh embedded
SQLite store: by default as two processes, each folding a group of the read
models (``GROUPS``; the second group's in a database of its own), or as one
process folding all of them (``groups=1``, as ``make up`` runs it). The harness produces
the records the outbox relays would publish (CloudEvents, keyed by stream,
personal fields revealed, ``ce_position`` set) for a mixed history
(``bench.mix``: contacts, pipeline, tickets, loyalty), open loop at a fixed
rate for a bounded time, whatever the consumer does. Records are encoded
before the clock starts; each record's envelope time is its scheduled send
time, its payload keeps the history's own business times.

Lag is measured on probes (``PROBED``): every customer registration in the mix
(about one event in eight) and every order placed (one in fifty). A probe's
lag runs from its *scheduled* send time to the first poll that finds its row:
the customer's in ``customer_rows``, the order's in ``order_rows``, the last
read model each group folds, so the probe was folded through every read model
of its group (nearly every one with one process). Records of one partition
are folded in order, so the probes sample the lag of every event. One watcher
per probed read model polls the store for its oldest pending probes every
``poll`` seconds (at most
``WATCH_AT_ONCE`` ids per query, so a growing backlog does not load the
store more). Probes of the first ``warmup`` seconds are not counted. After
the last send, the harness waits at most ``grace`` seconds; probes still
unseen then count with the time they waited (a lower bound), and the row
says how many.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.commits import ACTOR
from bench.mix import CONTEXTS, TOPICS, mixed_history
from bench.stats import Latencies
from bench.system import running_system
from crm_contracts import EventMetadata, cloudevents
from crm_contracts import contacts as c
from crm_contracts import pipeline as p
from crm_projections.bootstrap import bootstrap as bootstrap_projections
from crm_projections.config import ProjectionsSettings
from crm_runtime.kafka import ensure_topics

WATCH_AT_ONCE = 256
PROBED = {"customer_rows": c.CustomerRegistered, "order_rows": p.OrderPlaced}
"""The read model each kind of probe waits for, by the event that creates its row."""
GROUPS = (
    ("customer360", "customer_rows"),
    ("receivables_by_rep", "forecast", "stores", "deals", "tickets", "members", "order_rows"),
)
"""The read models each projections process folds with ``groups=2``."""
SECOND_DATABASE = "crm_projections_b"
"""Where the second group's read models are kept (a SQLite file of their own)."""


def group_settings(groups: int) -> list[dict[str, str]]:
    """The environment of each projections process: one folding everything, or two
    folding ``GROUPS``, the second group's read models placed in ``SECOND_DATABASE``."""
    if groups == 1:
        return [{}]
    placed = ",".join(f"{name}={SECOND_DATABASE}" for name in GROUPS[1])
    return [
        {"CRM_PROJECTIONS_FOLD": ",".join(names), "CRM_PROJECTIONS_DATABASES": placed}
        for names in GROUPS
    ]


@dataclass
class SteadyLagResult:
    rate: float
    seconds: float
    warmup: float
    produced: int = 0
    send_rate: float = 0.0  # records/s the producer achieved over the measured window
    probes: int = 0
    lag: Latencies = field(default_factory=lambda: Latencies.of([]))
    lag_by: dict[str, Latencies] = field(default_factory=dict)  # per probed read model
    groups: int = 1  # projections processes folding groups of read models (GROUPS)
    fetch_min_bytes: int = 1  # what each projections fetch waited for
    unseen: int = 0  # probes not visible when the grace ran out (counted as waited)
    fold_rate: float | None = None  # records/s from the first send to the last probe seen
    acknowledged: int = 0  # records the consumer group had committed when the grace ended
    acknowledged_rate: float | None = None  # acknowledged / seconds since the first send
    caught_up_after: float | None = None  # seconds after the last send until the last probe
    load: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process


Record = tuple[str, bytes, list[tuple[str, bytes]], bytes]


def records(count: int) -> tuple[list[Record], dict[int, tuple[str, str]]]:
    """``count`` records of a mixed history in send order, and the probes by index: the
    read model and the id of the row each waits for."""
    history = mixed_history(count, tag="lag")
    out: list[Record] = []
    probes: dict[int, tuple[str, str]] = {}
    positions = dict.fromkeys(CONTEXTS, 0)
    for commit in history:
        positions[commit.context] += 1
        for offset, event in enumerate(commit.events):
            number = f"{len(out):012d}"
            metadata = EventMetadata(
                id=f"evt_lag{number}",
                type=event.event_type,
                schema_version=event.schema_version,
                source=CONTEXTS[commit.context],
                subject=commit.stream_id,
                sequence=commit.first + offset,
                time=commit.time,  # replaced by the send time below
                correlation_id=f"cmd_lag{number}",
                causation_id=f"cmd_lag{number}",
                actor=ACTOR,
            )
            for probed, kind in PROBED.items():
                if isinstance(event, kind):
                    probes[len(out)] = (probed, commit.stream_id)
            key, headers, body = cloudevents.encode(
                metadata, event.model_dump(mode="json"), position=positions[commit.context]
            )
            listed = [(k, v.encode()) for k, v in headers.items() if k != "ce_time"]
            out.append((TOPICS[commit.context], key, listed, body))
    return out[:count], {i: probe for i, probe in probes.items() if i < count}


class Watcher:
    """Resolves probes as their rows appear: one query per tick for the oldest pending."""

    def __init__(self, rows: Any, poll: float) -> None:
        self._rows = rows
        self._poll = poll
        self.pending: dict[str, float] = {}  # customer id -> scheduled send time (insertion order)
        self.seen: dict[str, float] = {}  # customer id -> lag (s)
        self.last_seen_at = 0.0

    def expect(self, customer_id: str, due: float) -> None:
        self.pending[customer_id] = due

    async def run(self) -> None:
        while True:
            if self.pending:
                oldest = list(itertools.islice(self.pending, WATCH_AT_ONCE))
                cursor = self._rows.find({"_id": {"$in": oldest}}, projection={"_id": 1})
                found = await cursor.to_list(length=None)
                now = time.perf_counter()
                for document in found:
                    due = self.pending.pop(document["_id"], None)
                    if due is not None:
                        self.seen[document["_id"]] = now - due
                        self.last_seen_at = now
            await asyncio.sleep(self._poll)


async def measure_steady_lag(
    bootstrap: str,
    rate: float,
    seconds: float,
    warmup: float,
    grace: float,
    poll: float,
    startup_seconds: float,
    replicas: int = 1,
    groups: int = 1,
    fetch_min_bytes: int = 1,
) -> SteadyLagResult:
    """``replicas`` processes folding every read model in one consumer group, or (``groups``
    2) one process per group of ``GROUPS``; each waits for ``fetch_min_bytes`` per fetch."""
    result = SteadyLagResult(
        rate=rate, seconds=seconds, warmup=warmup, groups=groups, fetch_min_bytes=fetch_min_bytes
    )
    count = round(rate * (seconds + warmup))
    sample, probes = records(count)
    environments = group_settings(groups)
    settings = [ProjectionsSettings(**env) for env in environments]  # type: ignore[arg-type]
    consumed = [_topics(env) for env in environments]
    await ensure_topics(bootstrap, list(TOPICS.values()), partitions=3)
    async with running_system(
        bootstrap,
        ("projections",),
        startup_seconds,
        replicas={"projections": replicas} if groups == 1 else None,
        groups=environments if groups > 1 else (),
        environment={"CRM_PROJECTIONS_FETCH_MIN_BYTES": str(fetch_min_bytes)},
    ) as system:
        placed = settings[0]
        watchers = {
            probed: Watcher(system.store[placed.database_of(probed)][probed], poll)
            for probed in PROBED
        }
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="bench-steady-lag")
        await producer.start()
        watching = [asyncio.create_task(watcher.run()) for watcher in watchers.values()]
        cpu_before, own_before = _cpu(system.pids), _own_cpu()
        load_before = os.getloadavg()
        try:
            start = time.perf_counter() + 0.1
            measured_from = start + warmup
            sends = []
            sent_measured = 0
            for index, (topic, key, headers, body) in enumerate(sample):
                due = start + index / rate
                wait = due - time.perf_counter()
                if wait > 0.002:
                    await asyncio.sleep(wait)
                stamped = [*headers, ("ce_time", _iso(time.time() - (time.perf_counter() - due)))]
                sends.append(await producer.send(topic, value=body, key=key, headers=stamped))
                if due >= measured_from:
                    sent_measured += 1
                    if (probe := probes.get(index)) is not None:
                        watchers[probe[0]].expect(probe[1], due)
            await asyncio.gather(*sends)
            last_send = time.perf_counter()
            result.produced = len(sample)
            result.send_rate = sent_measured / max(1e-9, last_send - measured_from)
            result.probes = sum(1 for i in probes if start + i / rate >= measured_from)
            deadline = last_send + grace
            while any(w.pending for w in watchers.values()) and time.perf_counter() < deadline:
                await asyncio.sleep(poll)
            now = time.perf_counter()
            waited = {
                probed: [*w.seen.values(), *(now - due for due in w.pending.values())]
                for probed, w in watchers.items()
            }
            result.unseen = sum(len(w.pending) for w in watchers.values())
            result.lag = Latencies.of([lag for lags in waited.values() for lag in lags])
            result.lag_by = {probed: Latencies.of(lags) for probed, lags in waited.items()}
            per_topic = Counter(topic for topic, *_ in sample)
            acknowledged = []
            for group, topics in zip(settings, consumed, strict=True):
                others = sum(n for topic, n in per_topic.items() if topic not in topics)
                acknowledged.append(others + await _committed(bootstrap, group.group_id, topics))
            result.acknowledged = min(acknowledged)  # every group is done with this many
            result.acknowledged_rate = result.acknowledged / max(1e-9, now - start)
            last_seen = max(w.last_seen_at for w in watchers.values())
            if not result.unseen and last_seen:
                result.caught_up_after = max(0.0, last_seen - last_send)
                result.fold_rate = len(sample) / (last_seen - start)
            result.load = {
                "before": [round(x, 2) for x in load_before],
                "after": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
            }
            cpu_after = _cpu(system.pids)
            result.cpu = {
                name: round(cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0), 1)
                for name in cpu_after
            }
            result.cpu["harness"] = round(_own_cpu() - own_before, 1)
        finally:
            for task in watching:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await producer.stop()
    return result


def _topics(env: dict[str, str]) -> list[str]:
    """The topics a projections process with this environment consumes."""
    service = bootstrap_projections(ProjectionsSettings(embedded_backend="memory", **env))
    return service.topics


async def _committed(bootstrap: str, group: str, topics: list[str]) -> int:
    """Records the consumer group has acknowledged (committed offsets), over every partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        await consumer.topics()  # the partitions' metadata
        total = 0
        for topic in topics:
            for partition in consumer.partitions_for_topic(topic) or set():
                total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()


def _iso(epoch: float) -> bytes:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z").encode()


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) of every process in each component's process group."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(pids, 0.0)
    groups = {pid: name for name, pid in pids.items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = groups.get(int(fields[2]))  # pgrp
        if name is not None:
            totals[name] += (int(fields[11]) + int(fields[12])) / ticks
    return totals


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
