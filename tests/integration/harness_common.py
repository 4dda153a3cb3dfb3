"""What every part of the worker tests' harness needs: the repository root, test app ids, polling
with a deadline, free loopback ports.

A module of its own so that the other harness modules (topic_reset, topic_io, scenarios,
incident_compare, worker_harness) can share these without importing each other.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
#: Every test app id starts with this, so a reset also removes earlier test apps' changelogs.
APP_PREFIX = "hubit-"


#: The ``hub worker`` processes tests started, by name (app id / worker id), until seen exited.
_WORKERS: list[tuple[str, subprocess.Popen[bytes]]] = []


def track_worker(name: str, proc: subprocess.Popen[bytes]) -> None:
    """Remember a started worker, so that a topic reset can refuse to run under it."""
    _WORKERS.append((name, proc))


def running_workers() -> list[str]:
    """The names of tracked workers still running.

    A worker left running past its test reads the next test's events again under its own app
    id, with its own frames and ticks: dead letters and late events the next test never made
    (test_worker_hostile.py's flood flake, 2026-12-06).
    """
    _WORKERS[:] = [(n, p) for n, p in _WORKERS if p.poll() is None]
    return [n for n, _ in _WORKERS]


def new_app_id(name: str) -> str:
    return f"{APP_PREFIX}{name}-{uuid.uuid4().hex[:8]}"


def wait_until(check: Callable[[], Any], *, timeout: float, interval: float = 0.25,
               what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
