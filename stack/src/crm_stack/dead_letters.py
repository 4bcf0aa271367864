"""``crm dead-letters``: inspect a dead-letter topic and replay its records where they came from.

A consumer that cannot process a record publishes it to its dead-letter topic
(``crm.projections.dlt``) with the original key, body and headers plus
``dlt_reason``, ``dlt_original_topic``, ``dlt_original_partition``,
``dlt_original_offset``, ``dlt_consumer_group`` and ``dlt_failed_at`` (see
docs/adr/0005). ``list`` reads the topic from the beginning without joining a
consumer group (nothing is committed, nothing is consumed away). ``replay``
republishes records to their original topic, with the original key and
headers minus ``dlt_*``, once the cause is fixed. Every consumer group of that
topic sees the record again; consumers are idempotent, so those that already
processed it change nothing. Records of a customer erased since are not
replayed: that would publish personal data again that erasure took away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from crm_contracts.keys import key_owner, personal_key_field

cli = typer.Typer(help="Inspect and replay dead-lettered messages.", no_args_is_help=True)

DLT_PREFIX = "dlt_"
READ_TIMEOUT_SECONDS = 30.0


class DeadLetterError(Exception):
    """Something an operator must act on; the message says what."""


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return None

    @property
    def original_topic(self) -> str | None:
        return self.header("dlt_original_topic")

    @property
    def subject(self) -> str | None:
        if subject := self.header("ce_subject"):
            return subject
        return self.key.decode("utf-8", "replace") if self.key else None

    @property
    def key_owner(self) -> str | None:
        """Whose data key sealed the record's personal data: its subject, or the id its
        body names where the context's contract says so (a ticket's customer)."""
        subject = self.subject
        source = self.header("ce_source")
        if subject is None or source is None or personal_key_field(source) is None:
            return subject
        try:
            data = json.loads(self.value or b"{}")
        except ValueError:
            return subject
        return key_owner(source, subject, data) if isinstance(data, dict) else subject

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had before it was dead-lettered."""
        return [(k, v) for k, v in self.headers if not k.startswith(DLT_PREFIX)]

    def as_json(self, *, with_body: bool) -> dict[str, Any]:
        found: dict[str, Any] = {
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode("utf-8", "replace") if self.key else None,
            "headers": {k: v.decode("utf-8", "replace") for k, v in self.headers},
        }
        if with_body:
            found["body"] = self.value.decode("utf-8", "replace") if self.value else None
        return found


async def read_dead_letters(
    bootstrap_servers: str,
    topic: str,
    *,
    partition: int | None = None,
    offset: int | None = None,
) -> list[DeadLetter]:
    """Every record of ``topic`` (or of one partition, or at one offset), oldest first."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="crm-dead-letters",
    )
    try:
        await consumer.start()
        await consumer.topics()  # fetches the cluster's metadata
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise DeadLetterError(f"topic {topic} does not exist on {bootstrap_servers}")
        if partition is not None and partition not in partitions:
            raise DeadLetterError(f"topic {topic} has no partition {partition}")
        chosen = [TopicPartition(topic, p) for p in sorted(partitions) if partition in (None, p)]
        starts = await consumer.beginning_offsets(chosen)
        ends = await consumer.end_offsets(chosen)
        ranges: dict[Any, tuple[int, int]] = {}  # partition -> [first, stop)
        for tp in chosen:
            first, stop = (starts[tp], ends[tp]) if offset is None else (offset, offset + 1)
            if starts[tp] <= first < ends[tp]:
                ranges[tp] = (first, min(stop, ends[tp]))
        if not ranges:
            return []
        consumer.assign(list(ranges))
        for tp, (first, _) in ranges.items():
            consumer.seek(tp, first)

        async def behind() -> bool:
            positions = [await consumer.position(tp) for tp in ranges]
            return any(at < stop for at, (_, stop) in zip(positions, ranges.values(), strict=True))

        letters: list[DeadLetter] = []
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            while await behind():
                batches = await consumer.getmany(*ranges, timeout_ms=500)
                for tp, records in batches.items():
                    letters.extend(
                        DeadLetter(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
                        for r in records
                        if r.offset < ranges[tp][1]
                    )
        return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
    finally:
        await consumer.stop()


async def erased_subjects(letters: Sequence[DeadLetter]) -> set[str]:
    """The subjects among ``letters`` whose personal data was erased (key destroyed)."""
    from crm_contacts.config import ContactsSettings
    from crm_runtime.documents import open_document_client
    from crm_runtime.shredding import MongoKeyVault

    settings = ContactsSettings()
    client = open_document_client(settings, app_name="crm-dead-letters")
    try:
        vault = MongoKeyVault(client[settings.keys_database]["data_keys"])
        subjects = {letter.key_owner for letter in letters if letter.key_owner}
        return {subject for subject in subjects if await vault.is_destroyed(subject)}
    except Exception as error:
        raise DeadLetterError(
            f"cannot check for erased customers in {settings.keys_database} ({error}); "
            "nothing replayed"
        ) from error
    finally:
        await client.close()


async def replay(bootstrap_servers: str, letters: Sequence[DeadLetter]) -> list[str]:
    """Republish ``letters`` to their original topics; one line per record says what happened."""
    from aiokafka import AIOKafkaProducer

    erased = await erased_subjects(letters)
    outcomes: list[str] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, client_id="crm-dead-letters")
    try:
        await producer.start()
        for letter in letters:
            where = f"{letter.partition}:{letter.offset}"
            if not letter.original_topic:
                outcomes.append(f"skipped {where}: no dlt_original_topic header")
                continue
            if letter.key_owner in erased:
                outcomes.append(f"skipped {where}: {letter.key_owner} was erased since")
                continue
            sent = await producer.send_and_wait(
                letter.original_topic,
                letter.value,
                key=letter.key,
                headers=letter.replay_headers(),
            )
            outcomes.append(
                f"replayed {where} to {sent.topic} partition {sent.partition} offset {sent.offset}"
            )
    finally:
        await producer.stop()
    return outcomes


def _failure(error: Exception, bootstrap_servers: str, topic: str) -> str:
    from aiokafka.errors import KafkaError

    if isinstance(error, TimeoutError):
        return f"reading {topic} did not finish within {READ_TIMEOUT_SECONDS:.0f} s"
    if isinstance(error, KafkaError | OSError):
        return f"Kafka at {bootstrap_servers} (CRM_KAFKA_BOOTSTRAP_SERVERS) failed: {error}"
    return str(error)


def _defaults(topic: str | None) -> tuple[str, str]:
    from crm_projections.config import ProjectionsSettings

    settings = ProjectionsSettings()
    return settings.kafka_bootstrap_servers, topic or settings.dead_letter_topic


TopicOption = Annotated[
    str | None,
    typer.Option(help="The dead-letter topic; default CRM_PROJECTIONS_DEAD_LETTER_TOPIC."),
]
PartitionOption = Annotated[int | None, typer.Option(min=0, help="Only this partition.")]


@cli.command("list")
def list_(
    topic: TopicOption = None,
    partition: PartitionOption = None,
    body: Annotated[
        bool, typer.Option("--body", help="Show bodies too (they may hold personal data).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")] = False,
) -> None:
    """List dead-lettered records: where each came from, why it failed, what it was."""
    from aiokafka.errors import KafkaError
    from rich.console import Console
    from rich.table import Table

    bootstrap_servers, topic = _defaults(topic)
    try:
        letters = asyncio.run(read_dead_letters(bootstrap_servers, topic, partition=partition))
    except (DeadLetterError, TimeoutError, KafkaError, OSError) as error:
        Console(stderr=True, soft_wrap=True).print(_failure(error, bootstrap_servers, topic))
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps([letter.as_json(with_body=body) for letter in letters], indent=2))
        return
    console = Console()
    if not letters:
        console.print(f"{topic} holds no dead letters")
        return
    table = Table(title=f"{topic}: {len(letters)} dead letters")
    for column in ("partition:offset", "failed at", "from", "type", "subject", "correlation"):
        table.add_column(column)
    table.add_column("reason", overflow="fold")
    if body:
        table.add_column("body", overflow="fold")
    for letter in letters:
        origin = (
            f"{letter.original_topic} "
            f"{letter.header('dlt_original_partition')}:{letter.header('dlt_original_offset')}"
        )
        row = [
            f"{letter.partition}:{letter.offset}",
            letter.header("dlt_failed_at") or "",
            origin,
            letter.header("ce_type") or "",
            letter.subject or "",
            letter.header("ce_correlationid") or "",
            letter.header("dlt_reason") or "",
        ]
        if body:
            row.append(letter.value.decode("utf-8", "replace") if letter.value else "")
        table.add_row(*row)
    console.print(table)
    console.print(
        "Replay one with `crm dead-letters replay --partition P --offset N` once the cause is "
        "fixed; `crm trace <correlation>` shows what led to it."
    )


@cli.command("replay")
def replay_(
    topic: TopicOption = None,
    partition: PartitionOption = None,
    offset: Annotated[
        int | None, typer.Option(min=0, help="Only the record at this offset.")
    ] = None,
) -> None:
    """Republish dead letters to their original topic (all of them, or the one chosen)."""
    from aiokafka.errors import KafkaError
    from rich.console import Console

    bootstrap_servers, topic = _defaults(topic)
    err = Console(stderr=True, soft_wrap=True)
    try:
        letters = asyncio.run(
            read_dead_letters(bootstrap_servers, topic, partition=partition, offset=offset)
        )
        if offset is not None and len(letters) > 1:
            found = ", ".join(str(letter.partition) for letter in letters)
            raise DeadLetterError(
                f"offset {offset} exists on partitions {found} of {topic}: add --partition"
            )
        if not letters:
            where = "" if offset is None else f" at offset {offset}"
            raise DeadLetterError(f"no dead letter{where} in {topic}")
        outcomes = asyncio.run(replay(bootstrap_servers, letters))
    except (DeadLetterError, TimeoutError, KafkaError, OSError) as error:
        err.print(_failure(error, bootstrap_servers, topic))
        raise typer.Exit(1) from None
    for line in outcomes:
        print(line)
    if any(line.startswith("skipped") for line in outcomes):
        raise typer.Exit(1)
