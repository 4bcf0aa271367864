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

from crm_stack.launcher import SERVICES
from tests.support import free_port


@pytest.fixture(scope="module")
def stack_settings() -> dict[str, str]:
    """CRM_* settings a test module gives its stack (override it in the module)."""
    return {}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, stack_settings: dict[str, str]
) -> Iterator[dict[str, Any]]:
    ports = {service.name: free_port() for service in SERVICES}
    ports["kafka"] = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")}
    env.update({service.port_variable: str(ports[service.name]) for service in SERVICES})
    env.update(
        CRM_EMBEDDED_KAFKA_PORT=str(ports["kafka"]),
        CRM_DATA_DIR=str(tmp_path_factory.mktemp("crm-data")),
        **stack_settings,
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
