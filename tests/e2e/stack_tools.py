"""Tools of the end-to-end tests: tokens, clients and topic readers for a running stack."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def token(env: dict[str, str], role: str, user: str, team: str) -> str:
    """A bearer token minted the way the README tells a newcomer to: ``crm token``."""
    crm = Path(sys.executable).with_name("crm")
    minted = subprocess.run(
        [str(crm), "token", "--role", role, "--user", user, "--team", team],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return minted.stdout.decode().strip()


def client(stack: dict[str, Any], bearer: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=stack["base"],
        timeout=10,
        headers={"Authorization": f"Bearer {bearer or stack['manager']}"},
    )


async def read_topic(
    bootstrap: str, subject: str, expected: int, topic: str = "crm.contacts.events"
) -> list[Any]:
    """The records of ``subject`` on ``topic``, read from the start until ``expected`` came."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(20):
            while len(found) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                found += [m for ms in batch.values() for m in ms if m.key == subject.encode()]
    finally:
        await consumer.stop()
    return found
