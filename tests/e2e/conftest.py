"""The `make up` stack as processes, one per test module, on free ports and a fresh store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stack_tools import token

from tests.support import free_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    names = ("gateway", "contacts", "relay", "projections", "kafka")
    more = ("pipeline", "pipeline-relay", "scheduler", "consumer")
    ports = {name: free_port() for name in (*names, *more)}
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")}
    env.update(
        CRM_GATEWAY_PORT=str(ports["gateway"]),
        CRM_CONTACTS_PORT=str(ports["contacts"]),
        CRM_CONTACTS_RELAY_PORT=str(ports["relay"]),
        CRM_PROJECTIONS_PORT=str(ports["projections"]),
        CRM_CONTACTS_CONSUMER_PORT=str(ports["consumer"]),
        CRM_PIPELINE_PORT=str(ports["pipeline"]),
        CRM_PIPELINE_RELAY_PORT=str(ports["pipeline-relay"]),
        CRM_PIPELINE_SCHEDULER_PORT=str(ports["scheduler"]),
        CRM_EMBEDDED_KAFKA_PORT=str(ports["kafka"]),
        CRM_DATA_DIR=str(tmp_path_factory.mktemp("crm-data")),
    )
    crm = Path(sys.executable).with_name("crm")
    process = subprocess.Popen(
        [str(crm), "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{ports['gateway']}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"crm up exited early:\n{output}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        pytest.fail("the stack did not become healthy within 90 s")
    info = {
        "process": process,
        "base": base,
        "kafka": f"127.0.0.1:{ports['kafka']}",
        "env": env,
        "manager": token(env, "sales_manager", "m1", "north"),
    }
    yield info
    if process.poll() is None:
        # SIGTERM lets `crm up` stop its children; SIGKILL would orphan them.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
