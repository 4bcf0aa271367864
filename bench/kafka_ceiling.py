"""Raw ceilings of the broker: aiokafka producer and consumer rates, produce-to-consume latency.

The records are our own CloudEvents (binary mode, keyed by customer id, plus a
``traceparent``), encoded before timing starts: encoding is the relay's work,
not the broker's. Producer settings are aiokafka's defaults, which FastStream
(and so the relay) uses too: acks=1, linger 0, 16 KiB batches.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.commits import ACTOR, TRACEPARENT
from bench.histories import customer_histories
from bench.stats import Latencies
from crm_contracts import EventMetadata, cloudevents
from crm_contracts.contacts import SOURCE
from crm_runtime.kafka import ensure_topics

Record = tuple[bytes, list[tuple[str, bytes]], bytes]


@dataclass(frozen=True)
class KafkaCeiling:
    records: int
    body_bytes: int
    header_count: int
    produce_rate: float
    consume_rate: float
    latency: Latencies


def sample_records(count: int) -> list[Record]:
    """``count`` CloudEvents records of customer events, as the relay sends them."""
    records: list[Record] = []
    now = datetime.now(UTC)
    for planned in customer_histories(count, 4, tag="kafka"):
        for offset, event in enumerate(planned.events):
            number = f"{len(records):032d}"
            metadata = EventMetadata(
                id=f"evt_{number}",
                type=event.event_type,
                schema_version=event.schema_version,
                source=SOURCE,
                subject=planned.stream_id,
                sequence=planned.first + offset,
                time=now,
                correlation_id=f"cmd_{number}",
                causation_id=f"cmd_{number}",
                actor=ACTOR,
            )
            key, headers, body = cloudevents.encode(metadata, event.model_dump(mode="json"))
            listed = [(name, value.encode()) for name, value in headers.items()]
            records.append((key, [*listed, ("traceparent", TRACEPARENT.encode())], body))
    return records[:count]


async def measure_kafka(
    bootstrap: str, records: int, latency_records: int, latency_rate: float
) -> KafkaCeiling:
    topic, latency_topic = "bench.raw.throughput", "bench.raw.latency"
    await ensure_topics(bootstrap, [topic, latency_topic], partitions=3)
    sample = sample_records(records)
    produce_rate = await _produce(bootstrap, topic, sample)
    consume_rate = await _consume(bootstrap, topic, len(sample))
    latency = await _round_trips(bootstrap, latency_topic, sample[:latency_records], latency_rate)
    return KafkaCeiling(
        records=len(sample),
        body_bytes=round(sum(len(r[2]) for r in sample) / len(sample)),
        header_count=len(sample[0][1]),
        produce_rate=produce_rate,
        consume_rate=consume_rate,
        latency=latency,
    )


async def _produce(bootstrap: str, topic: str, records: list[Record]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="bench-raw-producer")
    await producer.start()
    try:
        started = time.perf_counter()
        pending = [
            await producer.send(topic, value=body, key=key, headers=headers)
            for key, headers, body in records
        ]
        await asyncio.gather(*pending)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


def _consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    # fetch_max_wait_ms as the projections service sets it (CRM_PROJECTIONS_FETCH_MAX_WAIT_MS)
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )


async def _consume(bootstrap: str, topic: str, expected: int) -> float:
    consumer = _consumer(bootstrap, topic)
    await consumer.start()
    try:
        started = time.perf_counter()
        seen = 0
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=500)
            seen += sum(len(messages) for messages in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _round_trips(bootstrap: str, topic: str, records: list[Record], rate: float) -> Latencies:
    """Send at ``rate`` per second; latency = consumer receipt - scheduled send time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="bench-raw-latency")
    consumer = _consumer(bootstrap, topic)
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"prime")  # the consumer is fetching
        while not any((await consumer.getmany(timeout_ms=500)).values()):
            pass
        latencies: list[float] = []

        async def receive() -> None:
            while len(latencies) < len(records):
                batch = await consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                for messages in batch.values():
                    latencies.extend(now - float(dict(m.headers)["bench_sent"]) for m in messages)

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for index, (key, headers, body) in enumerate(records):
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent = [*headers, ("bench_sent", repr(due).encode())]
            await producer.send(topic, value=body, key=key, headers=sent)
        await receiver
        return Latencies.of(latencies)
    finally:
        await producer.stop()
        await consumer.stop()
