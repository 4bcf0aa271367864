"""Helpers for tests (importable as tests.support)."""

from __future__ import annotations

import os
import random
import shutil
import socket
from pathlib import Path

_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range and not given before in this run.

    A port the kernel hands out for ``bind(0)`` comes from the range outgoing connections
    take their ports from too: a stack of twenty processes, each connecting to the broker
    and to each other while the others start, can lose a port picked that way before the
    process meant for it binds it.
    """
    low, high = _below_ephemeral()
    for _ in range(500):
        port = random.randint(low, high)
        if port in _GIVEN:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as probe:  # a crowded machine: any free port
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _below_ephemeral() -> tuple[int, int]:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        start = 32768
    return max(1024, start - 12000), start - 1


def docker_available() -> bool:
    if shutil.which("docker") is None and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


NO_DOCKER = "no Docker engine here: real MongoDB/Kafka run only where testcontainers can start them"
