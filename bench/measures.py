"""The rows of the report: each figure of the system beside its raw ceiling.

Any stage result may be missing (the stage failed or ran out of time): its
rows then say "n/a" instead of the run failing.
"""

from __future__ import annotations

from bench.config import BenchConfig
from bench.kafka_ceiling import KafkaCeiling
from bench.load import LoadResult
from bench.rebuild import RebuildResult
from bench.stats import Latencies, Measure
from bench.steady_lag import SteadyLagResult
from bench.store_ceiling import SingleInserts, StoreCeiling
from bench.system_stage import SystemResult

NONE = Latencies.of([])


def system_measures(
    config: BenchConfig,
    system: SystemResult,
    kafka: KafkaCeiling | None,
    store: StoreCeiling | None,
) -> list[Measure]:
    opened = system.open_loop.load if system.open_loop else None
    closed = system.closed_loop.load if system.closed_loop else None
    lag = system.lag.lag if system.lag else NONE
    singles = store.singles if store else ()
    raw_open = singles[0].latency if len(singles) > 0 else NONE
    raw_closed = singles[1].rate if len(singles) > 1 else None
    raw = kafka.latency if kafka else NONE
    drain = system.drain
    rate = f"{config.command_rate:g}/s"
    return [
        Measure(
            f"command latency p50 @ {rate}, open loop",
            opened.latency.p50_ms if opened else None,
            "ms",
            raw_open.p50_ms,
            "raw insert_one p50",
            lower_is_better=True,
            note=_outcomes(opened, system.open_loop.from_commits if system.open_loop else None),
        ),
        Measure(
            f"command latency p99 @ {rate}",
            opened.latency.p99_ms if opened else None,
            "ms",
            raw_open.p99_ms,
            "raw insert_one p99",
            lower_is_better=True,
        ),
        Measure(
            "command rate achieved / target",
            opened.rate if opened else None,
            "/s",
            config.command_rate,
            "target rate",
        ),
        Measure(
            f"command throughput, closed loop x{config.closed_loop_concurrency}",
            closed.rate if closed else None,
            "/s",
            raw_closed,
            "raw insert_one rate",
            note=_outcomes(closed, system.closed_loop.from_commits if system.closed_loop else None),
        ),
        Measure(
            f"command-to-read-model lag p50 @ {config.lag_rate:g}/s",
            lag.p50_ms,
            "ms",
            raw.p50_ms,
            "raw produce-to-consume p50",
            lower_is_better=True,
            note=_outcomes(system.lag.commands if system.lag else None, system.lag_from_commits),
        ),
        Measure(
            "command-to-read-model lag p99",
            lag.p99_ms,
            "ms",
            raw.p99_ms,
            "raw produce-to-consume p99",
            lower_is_better=True,
        ),
        Measure(
            f"outbox relay publish rate, backlog {config.backlog_commits}",
            drain.relay_rate if drain else None,
            "events/s",
            kafka.produce_rate if kafka else None,
            "raw produce rate",
        ),
        Measure(
            f"projection fold rate, backlog {config.backlog_commits}",
            drain.projection_rate if drain else None,
            "events/s",
            kafka.consume_rate if kafka else None,
            "raw consume rate",
        ),
    ]


def rebuild_measure(config: BenchConfig, rebuild: RebuildResult | None) -> Measure:
    note = "target: at least half the ceiling"
    if rebuild is not None:
        mix = ", ".join(f"{context} {count}" for context, count in rebuild.mix.items())
        note = (
            f"{rebuild.events} events ({mix}), {rebuild.customers} customers, "
            f"{rebuild.read_models} read models in {rebuild.jobs} "
            f"{'process' if rebuild.jobs == 1 else 'processes'} (the ceiling in one); "
            "target: at least half the ceiling; the ceiling: the faster of its runs before "
            f"and after the rebuild ({', '.join(f'{r:.1f} s' for r in rebuild.raw_runs)})"
        )
        if not rebuild.complete:
            note += f"; PARTIAL: {rebuild.folded} folded before the {rebuild.seconds:.0f} s limit"
    return Measure(
        f"projection rebuild rate, {config.rebuild_events} events, all read models",
        rebuild.rate if rebuild else None,
        "events/s",
        rebuild.raw_rate if rebuild else None,
        "raw read + batched write",
        note=note,
    )


def steady_measures(
    config: BenchConfig, steady: SteadyLagResult | None, kafka: KafkaCeiling | None
) -> list[Measure]:
    lag = steady.lag if steady else NONE
    raw = kafka.latency if kafka else NONE
    rate = f"{config.steady_rate:g} events/s"
    note = "target p99 < 1 s"
    if steady is not None:
        by = ", ".join(
            f"{name} {found.count} p99 {found.p99_ms:,.0f} ms"
            for name, found in steady.lag_by.items()
            if found.p99_ms is not None
        )
        shape = (
            "one projections process"
            if steady.groups == 1
            else f"{steady.groups} projections processes, each folding a group of read models"
        )
        if steady.fetch_min_bytes > 1:
            shape += f", fetches of at least {steady.fetch_min_bytes:,} bytes"
        note = (
            f"{steady.probes} probes ({by}) over {steady.seconds:g} s, {steady.produced} "
            f"records, {shape}; target p99 < 1 s"
        )
        if steady.unseen:
            note += f"; {steady.unseen} probes unseen after the grace (counted as waited)"
    return [
        Measure(
            f"steady-state lag p50 @ {rate}",
            lag.p50_ms,
            "ms",
            raw.p50_ms,
            "raw produce-to-consume p50",
            lower_is_better=True,
            note=note,
        ),
        Measure(
            "steady-state lag p99",
            lag.p99_ms,
            "ms",
            raw.p99_ms,
            "raw produce-to-consume p99",
            lower_is_better=True,
        ),
        Measure(
            f"projection fold rate @ {rate} offered",
            (steady.fold_rate or steady.acknowledged_rate) if steady else None,
            "events/s",
            steady.send_rate if steady else None,
            "send rate achieved",
            note=_steady_cpu(steady),
        ),
    ]


def _steady_cpu(steady: SteadyLagResult | None) -> str:
    if steady is None:
        return ""
    cpu = ", ".join(f"{name} {seconds:g} s" for name, seconds in steady.cpu.items())
    text = f"CPU: {cpu}; load {steady.load.get('before')} -> {steady.load.get('after')}"
    if steady.caught_up_after is not None:
        text += f"; caught up {steady.caught_up_after:.1f} s after the last send"
    else:
        text += (
            f"; NOT caught up: {steady.acknowledged} of {steady.produced} records acknowledged "
            f"by the end of the grace (the rate shown)"
        )
    return text


def ceiling_measures(kafka: KafkaCeiling | None, store: StoreCeiling | None) -> list[Measure]:
    rows = []
    if kafka is not None:
        shape = f"{kafka.records} records, ~{kafka.body_bytes} B body, {kafka.header_count} headers"
        rows += [
            Measure("raw aiokafka produce", kafka.produce_rate, "records/s", note=shape),
            Measure("raw aiokafka consume", kafka.consume_rate, "records/s"),
            Measure("raw produce-to-consume p50", kafka.latency.p50_ms, "ms"),
            Measure("raw produce-to-consume p99", kafka.latency.p99_ms, "ms"),
        ]
    if store is not None:
        batched = f"raw store insert_many, {store.batch_docs} commits"
        rows.append(Measure(batched, store.batch_rate, "docs/s", note="batches of 500"))
        rows += [_single_row(single) for single in store.singles]
    return rows


def _single_row(single: SingleInserts) -> Measure:
    return Measure(
        f"raw store insert_one from {single.from_size} docs",
        single.rate,
        "docs/s",
        note=f"{single.count} inserts, p50 {single.latency.p50_ms:.1f} ms, "
        f"p99 {single.latency.p99_ms:.1f} ms",
    )


def _outcomes(load: LoadResult | None, from_commits: int | None) -> str:
    if load is None:
        return ""
    text = f"{load.succeeded}/{load.sent} ok"
    if load.failed:
        text += f", {load.failed} failed ({'; '.join(load.errors)})"
    if load.unfinished:
        text += f", {load.unfinished} unanswered at the deadline"
    if from_commits is not None:
        text += f"; the store held {from_commits} commits at the start"
    return text
