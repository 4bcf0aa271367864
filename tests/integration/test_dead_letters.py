"""``crm dead-letters``: what the projections consumer dead-letters can be listed and replayed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_runtime.documents import open_document_client
from crm_runtime.kafka import ensure_topics
from crm_runtime.settings import RuntimeSettings
from crm_runtime.shredding import MongoKeyVault
from crm_stack.cli import app
from crm_stack.dead_letters import read_dead_letters
from tests.integration.kafka_records import produce, registration

pytestmark = pytest.mark.integration


@dataclass
class Topics:
    events: str
    dead_letters: str


@pytest.fixture
async def topics(embedded_kafka: str) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    found = Topics(f"test.events.{suffix}", f"test.dlt.{suffix}")
    await ensure_topics(embedded_kafka, [found.events, found.dead_letters])
    return found


@pytest.fixture
async def projections(embedded_kafka: str, topics: Topics) -> AsyncIterator[ProjectionsService]:
    """The projections consumer, failing the first event it folds (the store was down)."""
    service = bootstrap(
        ProjectionsSettings(
            embedded_backend="memory",
            kafka_bootstrap_servers=embedded_kafka,
            contacts_topic=topics.events,
            dead_letter_topic=topics.dead_letters,
            consumer_group=f"g-{uuid.uuid4().hex[:6]}",
            max_attempts=1,
        )
    )
    apply, prepare = service.customer360.apply, service.customer360.prepare_batch
    failures = [RuntimeError("store unreachable")]

    async def down_once(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return await apply(*args)

    async def prepare_while_down(*args: Any) -> Any:
        if failures:  # the batch's one pass fails as well, then the record on its own
            raise RuntimeError("store unreachable")
        return await prepare(*args)

    service.customer360.apply = down_once  # type: ignore[method-assign]
    service.customer360.prepare_batch = prepare_while_down  # type: ignore[method-assign]
    await service.broker.start()
    yield service
    await service.broker.stop()
    await service.close()


def crm(embedded_kafka: str, data_dir: Path, *args: str) -> Result:
    env = {"CRM_KAFKA_BOOTSTRAP_SERVERS": embedded_kafka, "CRM_DATA_DIR": str(data_dir)}
    return CliRunner().invoke(app, ["dead-letters", *args], env={**env, "COLUMNS": "250"})


async def eventually(check: Any, within: float = 20) -> Any:
    async with asyncio.timeout(within):
        while not (found := await check()):
            await asyncio.sleep(0.05)
    return found


async def test_a_dead_letter_is_listed_and_replayed_once_the_cause_is_fixed(
    embedded_kafka: str, topics: Topics, projections: ProjectionsService, tmp_path: Path
) -> None:
    record = registration("cus_grace")
    with structlog.testing.capture_logs():
        await produce(embedded_kafka, topics.events, record)
        [letter] = await eventually(lambda: read_dead_letters(embedded_kafka, topics.dead_letters))
    assert await projections.customer360.get("cus_grace") is None

    listed = await asyncio.to_thread(
        crm, embedded_kafka, tmp_path, "list", "--topic", topics.dead_letters, "--json"
    )
    assert listed.exit_code == 0, listed.output
    [shown] = json.loads(listed.output)
    headers = shown["headers"]
    assert headers["dlt_reason"] == "failed 1 times: RuntimeError: store unreachable"
    assert (headers["dlt_original_topic"], headers["dlt_original_offset"]) == (topics.events, "0")
    assert (shown["key"], headers["ce_correlationid"]) == ("cus_grace", "corr-dlt")
    assert "body" not in shown  # bodies may hold personal data: only with --body
    table = await asyncio.to_thread(
        crm, embedded_kafka, tmp_path, "list", "--topic", topics.dead_letters
    )
    assert "store unreachable" in table.output and "cus_grace" in table.output

    replayed = await asyncio.to_thread(
        crm,
        embedded_kafka,
        tmp_path,
        "replay",
        "--topic",
        topics.dead_letters,
        "--partition",
        str(letter.partition),
        "--offset",
        str(letter.offset),
    )

    assert replayed.exit_code == 0, replayed.output
    assert f"replayed {letter.partition}:{letter.offset} to {topics.events}" in replayed.output
    view = await eventually(lambda: projections.customer360.get("cus_grace"))
    assert view["profile"]["name"] == "Grace Hopper"
    key, original_headers, body = record
    [again] = [
        r
        for r in await read_dead_letters(embedded_kafka, topics.events)  # any topic reads alike
        if r.offset == 1
    ]
    assert (again.key, again.value) == (key, body)
    assert not [name for name, _ in again.headers if name.startswith("dlt_")]
    assert set(original_headers) <= set(again.headers)


async def test_records_of_an_erased_customer_are_not_replayed(
    embedded_kafka: str, topics: Topics, tmp_path: Path
) -> None:
    key, headers, body = registration("cus_erased")
    dead = [*headers, ("dlt_original_topic", topics.events.encode()), ("dlt_reason", b"x")]
    await produce(embedded_kafka, topics.dead_letters, (key, dead, body))
    client = open_document_client(RuntimeSettings(data_dir=tmp_path))
    await MongoKeyVault(client["crm_keys"]["data_keys"]).destroy("cus_erased", at=datetime.now(UTC))
    await client.close()

    replayed = await asyncio.to_thread(
        crm, embedded_kafka, tmp_path, "replay", "--topic", topics.dead_letters
    )

    assert replayed.exit_code == 1
    assert "skipped" in replayed.output and "cus_erased was erased since" in replayed.output
    assert await read_dead_letters(embedded_kafka, topics.events) == []


async def test_replay_explains_what_it_cannot_find(
    embedded_kafka: str, topics: Topics, tmp_path: Path
) -> None:
    missing_offset = await asyncio.to_thread(
        crm, embedded_kafka, tmp_path, "replay", "--topic", topics.dead_letters, "--offset", "7"
    )
    missing_topic = await asyncio.to_thread(
        crm, embedded_kafka, tmp_path, "list", "--topic", f"nothing.{uuid.uuid4().hex[:6]}"
    )

    assert missing_offset.exit_code == 1
    assert f"no dead letter at offset 7 in {topics.dead_letters}" in missing_offset.output
    assert missing_topic.exit_code == 1 and "does not exist" in missing_topic.output
