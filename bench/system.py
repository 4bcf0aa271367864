"""The CRM running as ``make up`` runs it: each service its own process, on a fresh store.

Planned and supervised by ``crm_stack.launcher.Stack`` (the code behind
``crm up``), on free loopback ports, against the harness's broker and a
embedded SQLite store in a temporary folder; the gateway is left out (the
harness talks to each service directly). Stopped on the way out, always.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from crm_runtime.auth import mint_token
from crm_runtime.documents import open_document_client
from crm_runtime.policy import Role
from crm_runtime.settings import RuntimeSettings
from crm_stack.embedded_broker import free_port
from crm_stack.launcher import Process, Stack, StartupFailed

PORTS = {
    "contacts": "CRM_CONTACTS_PORT",
    "contacts-relay": "CRM_CONTACTS_RELAY_PORT",
    "projections": "CRM_PROJECTIONS_PORT",
    "gateway": "CRM_GATEWAY_PORT",
}


# The per-caller limit (50/s and 1000/min by default) would shape the load the harness
# offers; the limiter still runs on every request, with a budget it never reaches.
RATE_LIMIT = "1000000/second"


@dataclass(frozen=True)
class RunningSystem:
    contacts_url: str
    projections_url: str
    data_dir: Path
    store: Any  # a document client on the same SQLite files, for the harness's own checks
    writer_token: str  # a sales manager: registers customers of the "bench" team
    reader_token: str  # marketing: reads every view masked (no access-log write per read)
    pids: dict[str, int] = field(default_factory=dict)  # process group of each component

    @property
    def contacts_db(self) -> Any:
        return self.store["crm_contacts"]

    @property
    def projections_db(self) -> Any:
        return self.store["crm_projections"]


@contextlib.asynccontextmanager
async def running_system(
    bootstrap: str,
    components: Sequence[str],
    startup_seconds: float,
    *,
    replicas: Mapping[str, int] | None = None,
    groups: Sequence[Mapping[str, str]] = (),
    environment: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningSystem]:
    """The components as ``crm up`` plans them; ``replicas`` runs more processes of a
    component (``projections-2``... on ports of their own), as a Deployment scaled out;
    ``groups`` runs one projections process per entry, each with that environment on top
    (the read models it folds, where they are kept), as one Deployment per group;
    ``environment`` is set for every process."""
    data_dir = Path(tempfile.mkdtemp(prefix="crm-bench-system-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")}
    env.update({variable: str(free_port()) for variable in PORTS.values()})
    env.update(
        CRM_DATA_DIR=str(data_dir),
        CRM_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        CRM_RATE_LIMIT=RATE_LIMIT,
    )
    env.update(environment or {})
    stack = Stack.plan(env)
    stack.processes = [p for p in stack.processes if p.name in components]
    for name, count in (replicas or {}).items():
        stack.processes.extend(_replicas(stack, name, count))
    if groups:
        (first,) = [p for p in stack.processes if p.name == "projections"]
        more = _replicas(stack, "projections", len(groups))
        for process, group_env in zip([first, *more], groups, strict=True):
            process.env.update(group_env)
        stack.processes.extend(more)
    starting = asyncio.ensure_future(
        asyncio.to_thread(stack.start, Console(quiet=True), startup_seconds)
    )
    settings = RuntimeSettings(data_dir=data_dir, embedded_backend="sqlite")
    store = open_document_client(settings)
    try:
        try:
            await asyncio.shield(starting)
        except StartupFailed as error:
            raise StartupFailed(f"{error}\n{_log_tails(stack)}") from error
        yield RunningSystem(
            contacts_url=stack.env["CRM_CONTACTS_URL"],
            projections_url=stack.env["CRM_PROJECTIONS_URL"],
            data_dir=data_dir,
            store=store,
            writer_token=mint_token(
                settings, subject="bench-writer", roles=[Role.SALES_MANAGER], team="bench"
            ),
            reader_token=mint_token(settings, subject="bench-reader", roles=[Role.MARKETING]),
            pids={p.name: p.popen.pid for p in stack.processes if p.popen is not None},
        )
    finally:
        with contextlib.suppress(BaseException):
            await starting  # never stop while a start is still spawning processes
        # shielded: a second cancellation cannot leave processes behind (asyncio.run
        # waits for the thread before it returns)
        await asyncio.shield(asyncio.to_thread(stack.stop))
        await store.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _replicas(stack: Stack, name: str, count: int) -> list[Process]:
    """Processes 2..count of the component ``name``, each on a free port of its own."""
    (first,) = [p for p in stack.processes if p.name == name]
    variable = "CRM_" + name.upper().replace("-", "_") + "_PORT"
    more = []
    for number in range(2, count + 1):
        port = free_port()
        health = None
        if first.health_url is not None:
            health = first.health_url.replace(f":{first.port}/", f":{port}/", 1)
        more.append(
            Process(
                f"{name}-{number}",
                list(first.argv),
                f"http://127.0.0.1:{port}",
                health,
                port,
                env={variable: str(port)},
            )
        )
    return more


def _log_tails(stack: Stack, lines: int = 8) -> str:
    tails = []
    for process in stack.processes:
        log = stack.log_dir / f"{process.name}.log"
        if log.exists():
            text = log.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {process.name} ---\n" + "\n".join(text))
    return "\n".join(tails)
