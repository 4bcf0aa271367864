"""Helpers for tests (importable as tests.support)."""

from __future__ import annotations

import os
import shutil
import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
