"""What every part of the worker tests' harness needs: the repository root, test app ids, polling
with a deadline, free loopback ports.

A module of its own so that the other harness modules (topic_reset, topic_io, scenarios,
incident_compare, worker_harness) can share these without importing each other.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
#: Every test app id starts with this, so a reset also removes earlier test apps' changelogs.
APP_PREFIX = "hubit-"


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
