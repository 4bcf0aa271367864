"""Publishing a record a consumer gave up on to the dead-letter topic, as it came, with
``dlt_*`` headers that say why, where from and when (``crm_stack.dead_letters`` reads and
replays them)."""

from __future__ import annotations

from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage


def dead_letter_headers(message: KafkaMessage, reason: str, group: str) -> dict[str, str]:
    """The record's own headers plus the ``dlt_*`` ones (the reason cut to 2,000 characters)."""
    record = message.raw_message
    headers = dict(message.headers)
    headers.update(
        {
            "dlt_reason": reason[:2000],
            "dlt_original_topic": record.topic,
            "dlt_original_partition": str(record.partition),
            "dlt_original_offset": str(record.offset),
            "dlt_consumer_group": group,
            "dlt_failed_at": datetime.now(UTC).isoformat(),
        }
    )
    return headers


async def publish_dead_letter(
    broker: KafkaBroker,
    message: KafkaMessage,
    reason: str,
    *,
    topic: str,
    group: str,
) -> None:
    """Publish the record's body, under its key, to ``topic`` with the ``dlt_*`` headers;
    ``group`` is the consumer group that gave up on it."""
    await broker.publish(
        message.body,
        topic=topic,
        key=message.raw_message.key,
        headers=dead_letter_headers(message, reason, group),
    )
