"""Tools of the end-to-end tests of the sagas: waiting, reading sagas, topics and traces."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from stack_tools import read_topic

from crm_contracts import cloudevents


def eventually(check: Callable[[], Any], within: float = 20.0, shows: Any = None) -> Any:
    """The first truthy answer of ``check``, polled until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while not (answer := check()):
        assert time.monotonic() < deadline, f"the system did not catch up in time: {shows}"
        time.sleep(0.2)
    return answer


def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def type_of(record: Any) -> str:
    return str(cloudevents.decode(record.headers, record.value)[0].type.rsplit(".", 1)[1])


def types_on(stack: dict[str, Any], topic: str, subject: str, expected: int) -> list[str]:
    records = asyncio.run(read_topic(stack["kafka"], subject, expected, topic=topic))
    return [type_of(r) for r in records]


async def _read_until(
    bootstrap: str, topic: str, subject: str, done: Callable[[list[str]], bool]
) -> list[str]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[str] = []
    try:
        async with asyncio.timeout(20):
            while not done(found):
                batch = await consumer.getmany(timeout_ms=500)
                found += [
                    type_of(m) for ms in batch.values() for m in ms if m.key == subject.encode()
                ]
    finally:
        await consumer.stop()
    return found


def types_until(
    stack: dict[str, Any], topic: str, subject: str, done: Callable[[list[str]], bool]
) -> list[str]:
    """The types of ``subject``'s records on ``topic``, read from the start until ``done``."""
    return asyncio.run(_read_until(stack["kafka"], topic, subject, done))


def saga_when(
    http: httpx.Client, saga_id: str, done: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any]:
    seen: list[str] = []

    def check() -> dict[str, Any] | None:
        answer = http.get(f"/sagas/{saga_id}")
        seen[:] = [answer.text]
        body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return body if body and done(body) else None

    found: dict[str, Any] = eventually(check, within=within, shows=seen)
    return found


def succeeded(saga: dict[str, Any]) -> list[str]:
    return [e["step"] for e in saga["history"] if e["kind"] == "step_succeeded"]


def trace(stack: dict[str, Any], correlation_id: str, *options: str) -> str:
    """``crm trace`` as a newcomer runs it, on the stores of the running stack."""
    crm = Path(sys.executable).with_name("crm")
    traced = subprocess.run(
        [str(crm), "trace", correlation_id, *options],
        env={**stack["env"], "COLUMNS": "200"},
        capture_output=True,
        timeout=60,
    )
    assert traced.returncode == 0, traced.stdout.decode() + traced.stderr.decode()
    return traced.stdout.decode()
